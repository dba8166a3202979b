// Shared helpers for the core tests: temporary files and small geometries.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include "otlp_mmap/layout.hpp"
#include "otlp_mmap/reader.hpp"
#include "otlp_mmap/writer.hpp"

namespace otlp_mmap::testing {

// A tmpfs of `size` (mount syntax: "2m") mounted for one test, unmounted afterwards; needs root.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& size) {
    char tmpl[] = "/tmp/otlp-mmap-tmpfs-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    const std::string opts = "size=" + size;
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      error_ = std::string("mount tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  std::string file(const std::string& name = "telemetry.otlp") const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("otlp-mmap-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name = "telemetry.otlp") const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline WriterConfig small_config(uint64_t slots = 64, uint64_t slot_size = 512) {
  WriterConfig c;
  c.geometry = layout::Geometry{{layout::RingGeometry{slots, slot_size}, layout::RingGeometry{slots, slot_size},
                                 layout::RingGeometry{slots, slot_size}},
                                4096};
  c.dictionary_max_bytes = 1 << 20;
  return c;
}

inline ReaderOptions fast_reader(std::chrono::milliseconds grace = std::chrono::milliseconds(50)) {
  ReaderOptions o;
  o.torn_grace = grace;
  return o;
}

// A second mapping of the file, for tests that play a misbehaving writer by hand.
struct RawRing {
  MappedFile file;
  Ring ring;
  RawRing(const std::string& path, const FileLayout& lay, layout::RingKind k)
      : file(::open(path.c_str(), O_RDWR), path, std::filesystem::file_size(path)),
        ring(file.base() + lay.ring_offset(k), lay.geometry.ring(k), file.identity() + lay.ring_offset(k)) {}
};

// Text that differs with `seed` at every position, so a mixed-up or torn record shows.
inline std::string pattern(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed * 31 + i * 7 + i / 26) % 26);
  return s;
}

// A span start record of the given ids, name and attributes.
inline SpanEventView span_start(std::string_view trace, std::string_view span, std::string_view name,
                                std::span<const KeyValueView> attributes) {
  SpanEventView s;
  s.type = SpanEventType::kStart;
  s.trace_id = trace;
  s.span_id = span;
  s.name = name;
  s.attributes = attributes;
  return s;
}

inline std::string id_bytes(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i + 1);
  return s;
}

}  // namespace otlp_mmap::testing

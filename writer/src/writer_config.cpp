// WriterConfig: defaults, the OTLP_MMAP_* environment variables, and validation.
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "otlp_mmap/writer.hpp"

namespace otlp_mmap {

namespace {

uint64_t parse_size(const char* name, const char* text) {
  std::string s(text);
  if (s.empty()) throw std::invalid_argument(std::string(name) + " is empty");
  uint64_t mult = 1;
  char last = static_cast<char>(std::tolower(static_cast<unsigned char>(s.back())));
  if (last == 'k' || last == 'm' || last == 'g') {
    mult = last == 'k' ? 1024 : last == 'm' ? 1024 * 1024 : uint64_t{1024} * 1024 * 1024;
    s.pop_back();
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || end == nullptr || *end != '\0' || s[0] == '-') {
    throw std::invalid_argument(std::string(name) + "=" + text + " is not a whole number (suffixes k, m, g allowed)");
  }
  if (static_cast<uint64_t>(v) > UINT64_MAX / mult)
    throw std::invalid_argument(std::string(name) + "=" + text + " is too large");
  return static_cast<uint64_t>(v) * mult;
}

void env_size(const char* name, uint64_t& target) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') target = parse_size(name, v);
}

}  // namespace

WriterConfig WriterConfig::from_env() {
  WriterConfig c;
  static constexpr const char* kSlots[] = {"OTLP_MMAP_EVENTS_SLOTS", "OTLP_MMAP_SPANS_SLOTS",
                                           "OTLP_MMAP_MEASUREMENTS_SLOTS"};
  static constexpr const char* kSlotSize[] = {"OTLP_MMAP_EVENTS_SLOT_SIZE", "OTLP_MMAP_SPANS_SLOT_SIZE",
                                              "OTLP_MMAP_MEASUREMENTS_SLOT_SIZE"};
  for (size_t i = 0; i < 3; ++i) {
    env_size(kSlots[i], c.geometry.rings[i].num_buffers);
    env_size(kSlotSize[i], c.geometry.rings[i].buffer_size);
  }
  env_size("OTLP_MMAP_DICTIONARY_INITIAL_BYTES", c.geometry.dictionary_initial_bytes);
  env_size("OTLP_MMAP_DICTIONARY_MAX_BYTES", c.dictionary_max_bytes);
  env_size("OTLP_MMAP_INTERN_CACHE_BYTES", c.intern_cache_bytes);
  env_size("OTLP_MMAP_MAX_ENTRY_BYTES", c.max_entry_bytes);
  env_size("OTLP_MMAP_MAX_VALUE_BYTES", c.max_value_bytes);
  env_size("OTLP_MMAP_MAX_RECORD_BYTES", c.max_record_bytes);
  c.trust = TrustPolicy::from_env();
  if (const char* v = std::getenv("OTLP_MMAP_EXTENSIONS"); v != nullptr && *v != '\0') {
    const std::string s(v);
    if (s == "none" || s == "0" || s == "false") {
      c.extensions = false;
    } else if (s == "all" || s == "1" || s == "true") {
      c.extensions = true;
    } else {
      throw std::invalid_argument("OTLP_MMAP_EXTENSIONS=" + s + " must be 'all' (default) or 'none'");
    }
  }
  if (const char* v = std::getenv("OTLP_MMAP_FILE_MODE"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    unsigned long m = std::strtoul(v, &end, 8);
    if (*end != '\0' || m > 0777) {
      throw std::invalid_argument(std::string("OTLP_MMAP_FILE_MODE=") + v + " is not an octal file mode like 0600");
    }
    c.file_mode = static_cast<mode_t>(m);
  }
  c.validate();
  return c;
}

void WriterConfig::validate() const {
  for (auto k : layout::kRingKinds) {
    if (auto err = layout::check_ring_geometry(geometry.ring(k))) {
      throw std::invalid_argument(std::string(layout::ring_name(k)) + " ring: " + std::string(*err) + " (got " +
                                  std::to_string(geometry.ring(k).num_buffers) + " slots of " +
                                  std::to_string(geometry.ring(k).buffer_size) + " bytes)");
    }
  }
  if (geometry.dictionary_initial_bytes < 1024 || geometry.dictionary_initial_bytes % 8 != 0) {
    throw std::invalid_argument("dictionary initial size must be at least 1024 bytes and a multiple of 8");
  }
  if (dictionary_max_bytes < geometry.dictionary_initial_bytes || dictionary_max_bytes > (uint64_t{64} << 30)) {
    throw std::invalid_argument("dictionary maximum size must be between its initial size and 64 GiB");
  }
  // Readers refuse entries above 16 MiB; below 256 bytes ordinary keys would be cut.
  if (max_entry_bytes < 256 || max_entry_bytes > (uint64_t{16} << 20)) {
    throw std::invalid_argument(
        "OTLP_MMAP_MAX_ENTRY_BYTES (maximum dictionary entry) must be between 256 bytes and "
        "16 MiB (got " +
        std::to_string(max_entry_bytes) + ")");
  }
  // Readers refuse multi-slot records above 16 MiB by default (ReaderOptions::max_record_bytes).
  if (max_value_bytes < 256 || max_value_bytes > (uint64_t{16} << 20)) {
    throw std::invalid_argument(
        "OTLP_MMAP_MAX_VALUE_BYTES (longest value in a record) must be between 256 bytes and 16 MiB (got " +
        std::to_string(max_value_bytes) + ")");
  }
  if (max_record_bytes < 256 || max_record_bytes > (uint64_t{16} << 20)) {
    throw std::invalid_argument(
        "OTLP_MMAP_MAX_RECORD_BYTES (largest record) must be between 256 bytes and 16 MiB (got " +
        std::to_string(max_record_bytes) + ")");
  }
  // Whoever can write the file can forge or hide telemetry (FORMAT.md §11): never create
  // one that anybody may write, and one that the group may write only when such files are
  // trusted on reopening too (otherwise the next start would refuse its own file).
  const auto mode_text = [&] {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(file_mode));
    return std::string(buf);
  };
  if (file_mode > 0777) throw std::invalid_argument("OTLP_MMAP_FILE_MODE=" + mode_text() + " is not a mode like 0600");
  if ((file_mode & S_IWOTH) != 0) {
    throw std::invalid_argument("OTLP_MMAP_FILE_MODE=" + mode_text() +
                                " lets every user write the telemetry file (forge or hide telemetry); refused");
  }
  if ((file_mode & S_IWGRP) != 0 && !trust.shared_writable) {
    throw std::invalid_argument("OTLP_MMAP_FILE_MODE=" + mode_text() +
                                " lets the group write the telemetry file; refused unless "
                                "OTLP_MMAP_ALLOW_SHARED_WRITABLE=1");
  }
}

}  // namespace otlp_mmap

// The mapped otlp-mmap file: one mapping per process, validation of a file's layout,
// and growth of the file that never shrinks it or moves memory.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

#include "otlp_mmap/layout.hpp"

namespace otlp_mmap {

class FileError : public std::runtime_error {
 public:
  enum class Code {
    kNotFound,        // the path does not exist
    kNotInitialized,  // exists but no writer has published version 1 yet (retry later)
    kUnsupported,     // another protocol version
    kCorrupt,         // too short, bad geometry, out-of-bounds offsets
    kIo,              // a system call failed (also: no space on the file system)
    kUntrusted,       // not a regular file, or owned by someone else
  };
  FileError(Code code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

// A layout read from a file and checked against its size. Offsets are absolute.
struct FileLayout {
  layout::Geometry geometry;
  std::array<uint64_t, 3> ring_offsets{};
  uint64_t dictionary_offset = 0;
  uint64_t first_entry_offset() const { return dictionary_offset + layout::dictionary_header::kSize; }
  uint64_t ring_offset(layout::RingKind k) const { return ring_offsets[static_cast<size_t>(k)]; }
};

// Checks a mapped header + ring headers against the file size. Throws FileError
// (kNotInitialized for a short or version-0 file, kUnsupported, kCorrupt) with a message
// naming the file and the problem.
FileLayout validate_layout(const uint8_t* base, uint64_t file_size, const std::string& path);

// Loss counters kept in the file (shared by every writer process).
struct WriterCounters {
  std::array<uint64_t, 3> dropped_full{};  // per ring
  uint64_t dropped_unencodable = 0;
  uint64_t truncated_values = 0;
  uint64_t dropped_skipped = 0;
};

class MappedFile {
 public:
  // Maps `window` bytes of the file (more than its size is fine: the tail is only touched
  // after the file has grown to cover it, so growth never moves memory). Takes ownership
  // of `fd` once constructed; if mapping fails it throws and the caller still owns `fd`.
  MappedFile(int fd, std::string path, uint64_t window, bool writable = true);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* base() const { return base_; }
  uint64_t window() const { return window_; }
  bool writable() const { return writable_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  // Names the file independently of this mapping's address (device and inode).
  uint64_t identity() const { return identity_; }

  // Size of the file as last observed by this process.
  uint64_t known_size() const { return known_size_.load(std::memory_order_acquire); }
  uint64_t refresh_size();
  // Makes the first `needed` bytes safe to store into: the file at least that long AND its
  // blocks reserved (fallocate), rounded up to `chunk` within the window, so that a store
  // can never raise SIGBUS on a full file system. Concurrent growth by other processes is
  // safe: the file is only ever extended. Returns false when the window is exhausted or the
  // file system has no space (then nothing was written and the file was never ftruncated);
  // last_grow_errno() tells which error it was (0 for the window).
  bool ensure_size(uint64_t needed, uint64_t chunk);
  // Declares the first `bytes` of the file reserved (the writer did it when it created or
  // adopted the file), so ensure_size starts reserving from there.
  void set_reserved(uint64_t bytes);
  uint64_t reserved() const { return reserved_.load(std::memory_order_acquire); }
  int last_grow_errno() const { return last_grow_errno_.load(std::memory_order_relaxed); }

  template <class T>
  std::atomic_ref<T> atomic_at(uint64_t offset) const {
    static_assert(std::atomic_ref<T>::is_always_lock_free, "cross-process atomics must be lock-free");
    return std::atomic_ref<T>(*reinterpret_cast<T*>(base_ + offset));
  }

 private:
  int fd_;
  std::string path_;
  uint8_t* base_ = nullptr;
  uint64_t window_ = 0;
  bool writable_ = true;
  uint64_t identity_ = 0;
  std::atomic<uint64_t> known_size_{0};
  // Bytes from offset 0 known to have real blocks behind them (fallocate succeeded, or the
  // file system cannot reserve blocks at all and this is simply the size we extended to).
  std::atomic<uint64_t> reserved_{0};
  std::atomic<int> last_grow_errno_{0};
  std::mutex grow_mu_;
};

// The loss counters of a file whose dictionary header is at `dictionary_offset`.
WriterCounters read_writer_counters(const MappedFile& file, uint64_t dictionary_offset);

uint64_t now_unix_nanos();

}  // namespace otlp_mmap

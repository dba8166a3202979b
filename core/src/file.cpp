#include "otlp_mmap/file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>

namespace otlp_mmap {

using layout::RingKind;
namespace fh = layout::file_header;
namespace rh = layout::ring_header;

namespace {

int64_t load_i64(const uint8_t* base, uint64_t off) {
  return std::atomic_ref<const int64_t>(*reinterpret_cast<const int64_t*>(base + off)).load(std::memory_order_acquire);
}

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw FileError(FileError::Code::kCorrupt, path + ": not a valid otlp-mmap file: " + what);
}

}  // namespace

FileLayout validate_layout(const uint8_t* base, uint64_t size, const std::string& path) {
  if (size < fh::kSize) {
    throw FileError(FileError::Code::kNotInitialized,
                    path + ": file is " + std::to_string(size) + " bytes, shorter than the 64-byte header");
  }
  int64_t version = load_i64(base, fh::kVersion);
  if (version == 0) throw FileError(FileError::Code::kNotInitialized, path + ": not initialised yet (version 0)");
  if (version != layout::kVersion) {
    throw FileError(FileError::Code::kUnsupported,
                    path + ": otlp-mmap version " + std::to_string(version) + " is not supported (supported: 1)");
  }
  FileLayout out;
  for (auto k : layout::kRingKinds) {
    out.ring_offsets[static_cast<size_t>(k)] = static_cast<uint64_t>(load_i64(base, layout::header_offset_field(k)));
  }
  out.dictionary_offset = static_cast<uint64_t>(load_i64(base, fh::kDictionaryOffset));

  uint64_t prev_end = fh::kSize;
  for (auto k : layout::kRingKinds) {
    const auto name = std::string(layout::ring_name(k));
    uint64_t off = out.ring_offset(k);
    uint64_t next = k == RingKind::kMeasurements ? out.dictionary_offset : out.ring_offsets[static_cast<size_t>(k) + 1];
    if (off < prev_end || off % 8 != 0 || off > size || size - off < rh::kSize) {
      corrupt(path, name + " ring offset " + std::to_string(off) + " is out of bounds or misaligned");
    }
    layout::RingGeometry g{static_cast<uint64_t>(load_i64(base, off + rh::kNumBuffers)),
                           static_cast<uint64_t>(load_i64(base, off + rh::kBufferSize))};
    // Other implementations allow any slot size; only the power-of-two count and sane
    // bounds are required to read safely.
    if (g.num_buffers == 0 || !std::has_single_bit(g.num_buffers) || g.num_buffers > layout::kMaxRingSlots) {
      corrupt(path, name + " ring has " + std::to_string(static_cast<int64_t>(g.num_buffers)) +
                        " slots; it must be a power of two no larger than 2^26");
    }
    if (g.buffer_size < 2 || g.buffer_size > layout::kMaxSlotSize) {
      corrupt(path,
              name + " ring slot size " + std::to_string(static_cast<int64_t>(g.buffer_size)) + " is out of range");
    }
    if (next < off || next - off < g.bytes() || next > size) {
      corrupt(path, name + " ring (" + std::to_string(g.bytes()) + " bytes at " + std::to_string(off) +
                        ") overlaps the next section or the end of the file");
    }
    out.geometry.rings[static_cast<size_t>(k)] = g;
    prev_end = off + g.bytes();
  }
  if (out.dictionary_offset % 8 != 0 || out.dictionary_offset > size ||
      size - out.dictionary_offset < layout::dictionary_header::kSize) {
    corrupt(path, "dictionary offset " + std::to_string(out.dictionary_offset) + " is out of bounds or misaligned");
  }
  out.geometry.dictionary_initial_bytes = size - out.first_entry_offset();
  return out;
}

MappedFile::MappedFile(int fd, std::string path, uint64_t window, bool writable)
    : fd_(fd), path_(std::move(path)), window_(window), writable_(writable) {
  void* p = ::mmap(nullptr, window_, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED | MAP_NORESERVE, fd_, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    throw FileError(FileError::Code::kIo, path_ + ": mmap failed: " + std::strerror(err));
  }
  base_ = static_cast<uint8_t*>(p);
  struct stat st {};
  if (::fstat(fd_, &st) == 0) {
    identity_ = (static_cast<uint64_t>(st.st_dev) << 40) ^ (static_cast<uint64_t>(st.st_ino) << 8);
  }
  refresh_size();
}

MappedFile::~MappedFile() {
  if (base_ != nullptr) ::munmap(base_, window_);
  ::close(fd_);
}

uint64_t MappedFile::refresh_size() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return known_size();
  uint64_t s = static_cast<uint64_t>(st.st_size);
  uint64_t cur = known_size_.load(std::memory_order_relaxed);
  while (s > cur && !known_size_.compare_exchange_weak(cur, s, std::memory_order_acq_rel)) {
  }
  return known_size_.load(std::memory_order_acquire);
}

void MappedFile::set_reserved(uint64_t bytes) {
  uint64_t cur = reserved_.load(std::memory_order_relaxed);
  while (bytes > cur && !reserved_.compare_exchange_weak(cur, bytes, std::memory_order_acq_rel)) {
  }
}

namespace {

// fallocate mode 0: allocates [off, off + len) and extends the file if that ends beyond it;
// never shrinks. Returns 0 or the errno.
int allocate(int fd, uint64_t off, uint64_t len) {
  for (;;) {
    if (::fallocate(fd, 0, static_cast<off_t>(off), static_cast<off_t>(len)) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

bool cannot_reserve(int err) { return err == EOPNOTSUPP || err == ENOSYS; }

}  // namespace

bool MappedFile::ensure_size(uint64_t needed, uint64_t chunk) {
  if (needed <= reserved()) return true;
  if (needed > window_) {
    last_grow_errno_.store(0, std::memory_order_relaxed);
    return false;
  }
  std::lock_guard<std::mutex> lock(grow_mu_);
  const uint64_t from = reserved();
  if (needed <= from) return true;
  uint64_t target = needed;
  if (chunk > 0) target = std::min(window_, (needed + chunk - 1) / chunk * chunk);
  // Reserve from what we know is backed, not from the current size: another process may
  // have extended the file sparsely (an older writer, another implementation), and a store
  // into a hole on a full file system is a SIGBUS. fallocate only ever extends a file, so
  // two processes growing it at once cannot shrink each other's work (ftruncate could).
  int err = allocate(fd_, from, target - from);
  if (err != 0 && target > needed && !cannot_reserve(err)) {
    // Nearly full: the rounded-up chunk may not fit where the entry itself does.
    target = needed;
    err = allocate(fd_, from, target - from);
  }
  if (err == 0) {
    set_reserved(target);
    refresh_size();
    return true;
  }
  if (!cannot_reserve(err)) {
    // No space (ENOSPC, EDQUOT, EFBIG) or another failure: growth fails. Never ftruncate
    // here: that would extend the file with holes that a store could not fill. A failed
    // fallocate may have extended the file partly on some file systems; only fstat's
    // size is trusted from now on, and nothing beyond `from` is assumed reserved.
    last_grow_errno_.store(err, std::memory_order_relaxed);
    refresh_size();
    return false;
  }
  // The file system cannot reserve blocks at all: a locked grow-only ftruncate (sparse; a
  // store into it can still fail if that file system fills up, documented).
  if (::flock(fd_, LOCK_EX) != 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd_, &st) == 0;
  if (ok && static_cast<uint64_t>(st.st_size) < target) ok = ::ftruncate(fd_, static_cast<off_t>(target)) == 0;
  const int truncate_err = ok ? 0 : errno;
  ::flock(fd_, LOCK_UN);
  if (!ok) {
    last_grow_errno_.store(truncate_err, std::memory_order_relaxed);
    return false;
  }
  set_reserved(target);
  return refresh_size() >= needed;
}

WriterCounters read_writer_counters(const MappedFile& file, uint64_t dictionary_offset) {
  namespace dh = layout::dictionary_header;
  auto at = [&](uint64_t f) { return file.atomic_at<uint64_t>(dictionary_offset + f).load(std::memory_order_relaxed); };
  WriterCounters c;
  for (auto k : layout::kRingKinds) c.dropped_full[static_cast<size_t>(k)] = at(layout::dropped_full_field(k));
  c.dropped_unencodable = at(dh::kDroppedUnencodable);
  c.truncated_values = at(dh::kTruncatedValues);
  c.dropped_skipped = at(dh::kDroppedSkipped);
  return c;
}

uint64_t now_unix_nanos() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace otlp_mmap

// One ring of the file: many producers (threads and processes), one consumer.
//
// A producer claims a sequence number with a CAS on writer_index, writes the slot, then
// publishes it by storing the sequence's lap number into availability[slot] (release).
// The consumer reads availability (acquire), copies the record out, then advances
// reader_index (release), which is what lets producers reuse the slot.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <string>

#include "otlp_mmap/layout.hpp"

namespace otlp_mmap {

// ThreadSanitizer tracks happens-before by virtual address, but a writer and a reader map
// the file at different addresses. These annotations name the synchronising field by
// (file identity, offset) instead, so TSan sees the release/acquire pairs that really
// exist. They compile to nothing in other builds.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
inline void* tsan_key(uint64_t identity) {
  static char keys[1 << 16];
  return &keys[(identity * 0x9E3779B97F4A7C15ull) >> 48];
}
inline void tsan_acquire(uint64_t identity) { __tsan_acquire(tsan_key(identity)); }
inline void tsan_release(uint64_t identity) { __tsan_release(tsan_key(identity)); }
#else
inline void tsan_acquire(uint64_t) {}
inline void tsan_release(uint64_t) {}
#endif

// Sequence arithmetic wraps instead of overflowing: indices are read from a shared file
// that a broken or hostile process may have set to anything.
constexpr int64_t seq_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
constexpr int64_t seq_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class Ring {
 public:
  Ring() = default;
  // `identity` names this ring's memory independently of where it is mapped (file
  // identity + ring offset); only the TSan annotations use it.
  Ring(uint8_t* start, layout::RingGeometry g, uint64_t identity = 0)
      : identity_(identity),
        start_(start),
        n_(g.num_buffers),
        b_(g.buffer_size),
        mask_(g.num_buffers - 1),
        shift_(std::countr_zero(g.num_buffers)) {}

  uint64_t num_buffers() const { return n_; }
  uint64_t buffer_size() const { return b_; }

  std::atomic_ref<int64_t> reader_index() const { return ref64(layout::ring_header::kReaderIndex); }
  std::atomic_ref<int64_t> writer_index() const { return ref64(layout::ring_header::kWriterIndex); }
  std::atomic_ref<int32_t> availability(int64_t idx) const {
    return std::atomic_ref<int32_t>(*reinterpret_cast<int32_t*>(start_ + layout::ring_header::kAvailability +
                                                                4 * (static_cast<uint64_t>(idx) & mask_)));
  }
  uint8_t* slot(int64_t idx) const {
    return start_ + layout::ring_header::kSize + 4 * n_ + (static_cast<uint64_t>(idx) & mask_) * b_;
  }
  int32_t flag(int64_t idx) const { return layout::availability_flag(idx, shift_); }
  uint64_t availability_identity(int64_t idx) const {
    return identity_ + layout::ring_header::kAvailability + 4 * (static_cast<uint64_t>(idx) & mask_);
  }
  // Marks the reader's advance (release) and a producer's observation of a slot (acquire)
  // for ThreadSanitizer; see tsan_key.
  void note_consumed() const { tsan_release(identity_ + layout::ring_header::kReaderIndex); }
  void note_published_seen(int64_t idx) const { tsan_acquire(availability_identity(idx)); }

  bool is_published(int64_t idx, int32_t avail) const {
    return avail == flag(idx) || avail == layout::availability_flag_truncated_first(idx, shift_);
  }

  // Writes a fresh ring header: indices -1, every availability -1. Slots are left alone.
  void initialize() const {
    std::atomic_ref<int64_t>(*reinterpret_cast<int64_t*>(start_ + layout::ring_header::kNumBuffers))
        .store(static_cast<int64_t>(n_), std::memory_order_relaxed);
    std::atomic_ref<int64_t>(*reinterpret_cast<int64_t*>(start_ + layout::ring_header::kBufferSize))
        .store(static_cast<int64_t>(b_), std::memory_order_relaxed);
    reader_index().store(-1, std::memory_order_relaxed);
    writer_index().store(-1, std::memory_order_relaxed);
    for (uint64_t i = 0; i < n_; ++i) availability(static_cast<int64_t>(i)).store(-1, std::memory_order_relaxed);
  }

  // ------------------------------------------------------------------ producer side

  enum class Claim { kOk, kFull };

  // Claims the next sequence. A full ring is retried `full_retries` times with a short,
  // growing pause (a few microseconds in all), then reported; CAS contention is retried
  // (lock-free: another producer progressed) and never reported as full.
  Claim claim(int64_t& idx, int full_retries) const {
    auto w = writer_index();
    auto r = reader_index();
    int64_t cur = w.load(std::memory_order_relaxed);
    int full_seen = 0;
    for (;;) {
      int64_t rd = r.load(std::memory_order_acquire);
      tsan_acquire(identity_ + layout::ring_header::kReaderIndex);
      // Slot cur+1 was last used by sequence cur+1-N; it is free once that was consumed.
      if (seq_sub(seq_sub(seq_add(cur, 1), static_cast<int64_t>(n_)), rd) > 0) {
        if (full_seen++ >= full_retries) return Claim::kFull;
        for (int i = 0; i < (2 << std::min(full_seen - 1, 7)); ++i) cpu_relax();
        cur = w.load(std::memory_order_relaxed);
        continue;
      }
      if (w.compare_exchange_weak(cur, seq_add(cur, 1), std::memory_order_acq_rel, std::memory_order_relaxed)) {
        idx = seq_add(cur, 1);
        return Claim::kOk;
      }
    }
  }

  // Publishes a written slot. Returns false (and publishes nothing) when the consumer
  // already gave up on this sequence as torn: the record is then lost and the caller
  // counts it.
  bool publish(int64_t idx) const {
    if (seq_sub(reader_index().load(std::memory_order_acquire), idx) >= 0) return false;
    tsan_release(availability_identity(idx));
    availability(idx).store(flag(idx), std::memory_order_release);
    return true;
  }

 private:
  std::atomic_ref<int64_t> ref64(uint64_t off) const {
    return std::atomic_ref<int64_t>(*reinterpret_cast<int64_t*>(start_ + off));
  }

  uint64_t identity_ = 0;
  uint8_t* start_ = nullptr;
  uint64_t n_ = 0;
  uint64_t b_ = 0;
  uint64_t mask_ = 0;
  int shift_ = 0;
};

}  // namespace otlp_mmap

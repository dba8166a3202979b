// One ring of the file: many producers (threads and processes), one consumer.
//
// A producer claims a sequence number with a CAS on writer_index, writes the slot, then
// publishes it by storing the sequence's lap number into availability[slot] (release).
// The consumer reads availability (acquire), copies the record out, then advances
// reader_index (release), which is what lets producers reuse the slot. Producers keep a
// process-local cache of reader_index and reload the shared one only when the cache says
// the ring is full (see claim).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <limits>
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
  // A copy names the same ring but starts with an empty reader-index cache, so that every
  // cached value was stored by a thread that loaded it from the ring (see claim).
  Ring(const Ring& o)
      : identity_(o.identity_), start_(o.start_), n_(o.n_), b_(o.b_), mask_(o.mask_), shift_(o.shift_) {}
  Ring& operator=(const Ring& o) {
    identity_ = o.identity_;
    start_ = o.start_;
    n_ = o.n_;
    b_ = o.b_;
    mask_ = o.mask_;
    shift_ = o.shift_;
    reader_cache_.value.store(kNoCache, std::memory_order_relaxed);
    return *this;
  }

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

  // Claims the next `k` consecutive sequences (k > 1 for a record spread over k slots,
  // FORMAT.md §9.17), the first in `idx`, in one CAS and only when all k slots are free.
  // A full ring is retried `full_retries` times with a short,
  // growing pause (a few microseconds in all), then reported; CAS contention is retried
  // (lock-free: another producer progressed) and never reported as full.
  //
  // The fullness check uses this Ring object's cache of reader_index (Aeron's head cache,
  // the Disruptor's gating-sequence cache), shared by the threads of this process, and
  // loads the ring's field only when the cached value cannot prove the slot free: about
  // once per N claims while the consumer keeps up. (In the version-1 layout reader_index
  // shares a cache line with writer_index, which the CAS takes anyway, so this saves a
  // load and an ordering point rather than a coherence miss; docs/FORMAT.md §4.4.)
  // Why it is safe:
  //  * reader_index only grows (modulo 2^64) and every cached value was loaded from it, so
  //    the cache is never ahead of it: a stale cache can make the ring look fuller than it
  //    is (then we reload), never free a slot that is still unread.
  //  * The cache proves slots cur+1..cur+k free when cur+k-N <= c <= cur, i.e.
  //    0 <= cur-c <= N-k, one unsigned comparison. Outside that window (writer_index moved on by other processes,
  //    the cache empty, an index a broken process wrote) we reload and decide exactly as
  //    without a cache.
  //  * FORMAT.md §4.4: the consumer's reads of the slot we overwrite must happen before our
  //    writes. The thread that refreshed the cache loaded reader_index with acquire
  //    (synchronising with the consumer's release store), then stored the cache with
  //    release; a thread using the cache loads it with acquire. Happens-before is
  //    transitive, so the consumer's reads happen before our writes whichever thread of
  //    this process loaded reader_index. ThreadSanitizer follows the same chain: the
  //    refreshing thread's tsan_acquire on the reader-index identity, then the cache's own
  //    release/acquire, which it sees natively.
  //  * The CAS re-validates `cur`, so the slot checked is the slot claimed.
  Claim claim(int64_t& idx, int full_retries, uint64_t k = 1) const {
    if (k == 0 || k > n_) return Claim::kFull;  // could never be free at once
    auto w = writer_index();
    int64_t cur = w.load(std::memory_order_relaxed);
    int64_t rd = reader_cache_.value.load(std::memory_order_acquire);
    int full_seen = 0;
    const auto span = static_cast<int64_t>(k);
    for (;;) {
      if (rd == kNoCache || static_cast<uint64_t>(seq_sub(cur, rd)) > n_ - k) {
        rd = reload_reader_index(rd);
        // Slot cur+k was last used by sequence cur+k-N; it (and every slot before it) is free
        // once that was consumed.
        if (seq_sub(seq_sub(seq_add(cur, span), static_cast<int64_t>(n_)), rd) > 0) {
          if (full_seen++ >= full_retries) return Claim::kFull;
          for (int i = 0; i < (2 << std::min(full_seen - 1, 7)); ++i) cpu_relax();
          cur = w.load(std::memory_order_relaxed);
          continue;
        }
      }
      if (w.compare_exchange_weak(cur, seq_add(cur, span), std::memory_order_acq_rel, std::memory_order_relaxed)) {
        idx = seq_add(cur, 1);
        return Claim::kOk;
      }
    }
  }

  // This object's cached reader_index (INT64_MIN while empty); for tests.
  int64_t cached_reader_index() const { return reader_cache_.value.load(std::memory_order_relaxed); }

  // Publishes a written slot. Returns false (and publishes nothing) when the consumer
  // already gave up on this sequence as torn: the record is then lost and the caller
  // counts it.
  // The check is a real load of reader_index, never the cache: a skip that happened after
  // our claim is only visible there. It is rare-path safety, and its line is the one the
  // claim's CAS has just written.
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

  static constexpr int64_t kNoCache = std::numeric_limits<int64_t>::min();

  // Loads reader_index from the ring (acquire: the synchronisation of FORMAT.md §4.4) and
  // shares it with the other threads of this process (release). `seen` is the cache value
  // this thread last read: an unchanged index is not stored again, so producers spinning
  // on a full ring do not write the cache's line.
  int64_t reload_reader_index(int64_t seen) const {
    const int64_t rd = reader_index().load(std::memory_order_acquire);
    tsan_acquire(identity_ + layout::ring_header::kReaderIndex);
    if (rd != seen) reader_cache_.value.store(rd, std::memory_order_release);
    return rd;
  }

  // Read-only after construction, read by every thread.
  uint64_t identity_ = 0;
  uint8_t* start_ = nullptr;
  uint64_t n_ = 0;
  uint64_t b_ = 0;
  uint64_t mask_ = 0;
  int shift_ = 0;
  // Read by every claim, written about once per N claims (when the ring looks full): on a
  // cache line of its own, so that its stores do not evict the fields above (or the next
  // Ring of an array). Two threads refreshing at once may store out of order and move it
  // back; that is safe (it stays behind reader_index) and costs one more reload.
  struct alignas(64) ReaderCache {
    std::atomic<int64_t> value{kNoCache};
  };
  mutable ReaderCache reader_cache_;
};
static_assert(sizeof(Ring) == 128, "the reader-index cache has a cache line of its own");

}  // namespace otlp_mmap

// The consumer side of one ring: the record copied out, and the torn-slot timer.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "otlp_mmap/mapping_guard.hpp"
#include "otlp_mmap/ring.hpp"
#include "otlp_mmap/slot_record.hpp"

namespace otlp_mmap {

// Consumer-side state of one ring: the record copied out, and the torn-slot timer.
class RingConsumer {
 public:
  enum class Result { kEmpty, kRecord, kPending, kSkippedTorn, kCorrupt, kFault };

  RingConsumer() = default;
  RingConsumer(Ring ring, std::chrono::nanoseconds torn_grace) : ring_(ring), grace_(torn_grace) {}

  // Reads the next record into `payload` (the protobuf bytes, without length prefix).
  // kCorrupt: the slot's length prefix is invalid; the slot is consumed and skipped.
  // kPending: claimed but not yet published; kSkippedTorn: pending for longer than the
  // grace period (its writer died between claim and publish), consumed and skipped.
  // kFault: touching the ring raised SIGBUS (the file shrank under the reader, or a page
  // the filesystem cannot back); nothing was consumed and the ring must not be read again.
  Result next(std::string& payload) {
    // The guarded region must not allocate (mapping_guard.hpp): the buffer is sized to a
    // whole slot first (no allocation once it has been), the record copied into it under
    // the guard, and the string cut to the record's length afterwards.
    const uint64_t b = ring_.buffer_size();
    if (payload.size() < b) payload.resize(b);
    Result res = Result::kEmpty;
    uint64_t len = 0;
    char* buf = payload.data();
    if (!mapping_guard::guarded([&] { res = next_unguarded(buf, len); })) {
      payload.clear();
      return Result::kFault;
    }
    payload.resize(res == Result::kRecord ? len : 0);
    return res;
  }

  const Ring& ring() const { return ring_; }

  // Unread records (claimed minus consumed), as the ring's indices say.
  int64_t backlog() const {
    return seq_sub(ring_.writer_index().load(std::memory_order_acquire),
                   ring_.reader_index().load(std::memory_order_acquire));
  }

 private:
  // Loads and stores of the mapping only; `buf` holds a whole slot.
  Result next_unguarded(char* buf, uint64_t& len) {
    auto r = ring_.reader_index();
    int64_t next = seq_add(r.load(std::memory_order_relaxed), 1);
    // Never read past the last claimed sequence, whatever the availability array says (a
    // corrupt file could otherwise make stale slots look new). writer_index is shared
    // with every producer, so it is re-read only once the reader has caught up with it.
    if (!writer_known_ || seq_sub(known_writer_, next) < 0) {
      writer_known_ = true;
      known_writer_ = ring_.writer_index().load(std::memory_order_acquire);
      if (seq_sub(known_writer_, next) < 0) {
        stuck_idx_ = -2;
        return Result::kEmpty;
      }
    }
    for (int attempt = 0;; ++attempt) {
      int32_t avail = ring_.availability(next).load(std::memory_order_acquire);
      if (ring_.is_published(next, avail)) {
        ring_.note_published_seen(next);
        stuck_idx_ = -2;
        const auto p = slot_record::payload(ring_.slot(next), ring_.buffer_size());
        if (p) {
          std::memcpy(buf, p->data(), p->size());
          len = p->size();
        }
        ring_.note_consumed();
        r.store(next, std::memory_order_release);
        return p ? Result::kRecord : Result::kCorrupt;
      }
      // The re-check below found it published after all: read it (once).
      if (attempt > 0) break;
      auto now = std::chrono::steady_clock::now();
      if (stuck_idx_ != next) {
        stuck_idx_ = next;
        stuck_since_ = now;
        return Result::kPending;
      }
      if (now - stuck_since_ < grace_) return Result::kPending;
      // Re-check: the writer may have published while we were deciding (next iteration).
    }
    stuck_idx_ = -2;
    ring_.note_consumed();
    r.store(next, std::memory_order_release);
    return Result::kSkippedTorn;
  }

  Ring ring_;
  std::chrono::nanoseconds grace_{0};
  int64_t stuck_idx_ = -2;
  int64_t known_writer_ = 0;
  bool writer_known_ = false;
  std::chrono::steady_clock::time_point stuck_since_{};
};

}  // namespace otlp_mmap

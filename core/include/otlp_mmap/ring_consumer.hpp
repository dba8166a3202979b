// The consumer side of one ring: the record copied out, and the torn-slot timer.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "otlp_mmap/ring.hpp"
#include "otlp_mmap/slot_record.hpp"

namespace otlp_mmap {

// Consumer-side state of one ring: the record copied out, and the torn-slot timer.
class RingConsumer {
 public:
  enum class Result { kEmpty, kRecord, kPending, kSkippedTorn, kCorrupt };

  RingConsumer() = default;
  RingConsumer(Ring ring, std::chrono::nanoseconds torn_grace) : ring_(ring), grace_(torn_grace) {}

  // Reads the next record into `payload` (the protobuf bytes, without length prefix).
  // kCorrupt: the slot's length prefix is invalid; the slot is consumed and skipped.
  // kPending: claimed but not yet published; kSkippedTorn: pending for longer than the
  // grace period (its writer died between claim and publish), consumed and skipped.
  Result next(std::string& payload) {
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
    int32_t avail = ring_.availability(next).load(std::memory_order_acquire);
    if (ring_.is_published(next, avail)) {
      ring_.note_published_seen(next);
      stuck_idx_ = -2;
      bool ok = copy_out(next, payload);
      ring_.note_consumed();
      r.store(next, std::memory_order_release);
      return ok ? Result::kRecord : Result::kCorrupt;
    }
    auto now = std::chrono::steady_clock::now();
    if (stuck_idx_ != next) {
      stuck_idx_ = next;
      stuck_since_ = now;
      return Result::kPending;
    }
    if (now - stuck_since_ < grace_) return Result::kPending;
    // Re-check: the writer may have published while we were deciding.
    avail = ring_.availability(next).load(std::memory_order_acquire);
    if (ring_.is_published(next, avail)) return this->next(payload);
    stuck_idx_ = -2;
    ring_.note_consumed();
    r.store(next, std::memory_order_release);
    return Result::kSkippedTorn;
  }

  const Ring& ring() const { return ring_; }

  // Unread records (claimed minus consumed), as the ring's indices say.
  int64_t backlog() const {
    return seq_sub(ring_.writer_index().load(std::memory_order_acquire),
                   ring_.reader_index().load(std::memory_order_acquire));
  }

 private:
  bool copy_out(int64_t idx, std::string& payload) const {
    const auto p = slot_record::payload(ring_.slot(idx), ring_.buffer_size());
    if (!p) return false;
    payload.assign(p->data(), p->size());
    return true;
  }

  Ring ring_;
  std::chrono::nanoseconds grace_{0};
  int64_t stuck_idx_ = -2;
  int64_t known_writer_ = 0;
  bool writer_known_ = false;
  std::chrono::steady_clock::time_point stuck_since_{};
};

}  // namespace otlp_mmap

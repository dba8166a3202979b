// The consumer side of one ring: the record copied out, and the torn-slot timer.
#pragma once

#include <algorithm>
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
  enum class Result { kEmpty, kRecord, kFragment, kPending, kSkippedTorn, kCorrupt, kFault };

  RingConsumer() = default;
  RingConsumer(Ring ring, std::chrono::nanoseconds torn_grace) : ring_(ring), grace_(torn_grace) {}

  // Reads the next record into `payload` (the protobuf bytes, without length prefix).
  // kFragment: the slot holds part of a record that spans several slots (FORMAT.md §9.17):
  // `payload` is that part and fragment() says which; a RecordAssembler puts them together.
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
    payload.resize(res == Result::kRecord || res == Result::kFragment ? len : 0);
    return res;
  }

  // The slot the last kFragment came from: its sequence, and what its prefix says (its
  // `bytes` are not kept: they are in the payload).
  int64_t sequence() const { return seq_; }
  const slot_record::Slot& fragment() const { return fragment_; }

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
        fragment_ = slot_record::parse(ring_.slot(next), ring_.buffer_size());
        len = fragment_.bytes.size();
        // An invalid slot parses to no bytes (a null span): memcpy must not see it.
        if (len > 0) std::memcpy(buf, fragment_.bytes.data(), len);
        fragment_.bytes = {};
        seq_ = next;
        ring_.note_consumed();
        r.store(next, std::memory_order_release);
        switch (fragment_.kind) {
          case slot_record::Slot::Kind::kRecord: return Result::kRecord;
          case slot_record::Slot::Kind::kInvalid: return Result::kCorrupt;
          default: return Result::kFragment;
        }
      }
      // The re-check below found it published after all: read it (once).
      if (attempt > 0) break;
      // A sequence claimed before an earlier skip's timer started has been pending for the
      // whole grace period too: skipped without a wait of its own, so that the k slots of a
      // record whose writer died before publishing any of them cost one grace, not k.
      if (!torn_horizon_known_ || seq_sub(torn_horizon_, next) < 0) {
        auto now = std::chrono::steady_clock::now();
        if (stuck_idx_ != next) {
          stuck_idx_ = next;
          stuck_since_ = now;
          // Every sequence up to it was claimed by now. No more than N can be outstanding: a
          // larger writer_index is not trusted, so one grace never skips more than a ring.
          stuck_writer_ = std::min(known_writer_, seq_add(next, static_cast<int64_t>(ring_.num_buffers()) - 1),
                                   [](int64_t a, int64_t b) { return seq_sub(a, b) < 0; });
          return Result::kPending;
        }
        if (now - stuck_since_ < grace_) return Result::kPending;
        torn_horizon_ = stuck_writer_;
        torn_horizon_known_ = true;
      }
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
  int64_t stuck_writer_ = 0;
  // Sequences up to this one were claimed at least a grace period ago (see next_unguarded).
  int64_t torn_horizon_ = 0;
  bool torn_horizon_known_ = false;
  int64_t seq_ = -1;
  slot_record::Slot fragment_;
  int64_t known_writer_ = 0;
  bool writer_known_ = false;
  std::chrono::steady_clock::time_point stuck_since_{};
};

}  // namespace otlp_mmap

// The consumer side of one ring: slots taken in batches, and the torn-slot timer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "otlp_mmap/mapping_guard.hpp"
#include "otlp_mmap/ring.hpp"
#include "otlp_mmap/slot_batch.hpp"
#include "otlp_mmap/slot_record.hpp"

namespace otlp_mmap {

// Consumer-side state of one ring.
//
// take() consumes up to `max` slots in one pass under the SIGBUS guard: each slot's bytes are
// copied once into the batch (a plain memcpy into memory reserved beforehand), and
// reader_index is stored once at the end, so that writers see the whole pass freed at once
// and the line every producer reads is written once per pass instead of once per record.
// The records are then decoded outside the guard, from the batch: code that allocates and
// updates maps never runs where a fault could abandon it half-way.
//
// Torn slots: a claimed but unpublished slot is pending. It is skipped once it has been seen
// pending for the grace period, from the first time a pass found that very sequence pending
// (the time a reader spends behind never counts against a slot it has not seen), and its
// flag is read once more just before the skip. A skip stores reader_index at once, which
// keeps the window of the residual race of FORMAT.md §9.6 one slot wide.
class RingConsumer {
 public:
  // How a pass ended. kEmpty: nothing more is claimed; kPending: the next slot is claimed but
  // not published (within its grace); kMax: `max` slots taken, or the batch is full;
  // kFault: touching the ring raised SIGBUS (the file shrank under the reader, or a page the
  // filesystem cannot back); nothing of that pass was consumed and the ring must not be read
  // again.
  enum class End { kEmpty, kPending, kMax, kFault };
  // One slot at a time (next()).
  enum class Result { kEmpty, kRecord, kFragment, kPending, kSkippedTorn, kCorrupt, kFault };

  RingConsumer() = default;
  RingConsumer(Ring ring, std::chrono::nanoseconds torn_grace) : ring_(ring), grace_(torn_grace) {}

  // Consumes up to `max` slots (at most SlotBatch::kMaxSlots) into `out`, cleared first.
  End take(SlotBatch& out, size_t max) {
    max = std::min(max, SlotBatch::kMaxSlots);
    out.prepare(max, ring_.buffer_size());
    if (max == 0) return End::kMax;
    End end = End::kEmpty;
    if (!mapping_guard::guarded([&] { end = take_unguarded(out, max); })) {
      out.clear();
      return End::kFault;
    }
    return end;
  }

  // The next slot, its bytes in `payload` (the protobuf bytes, without length prefix).
  // kFragment: the slot holds part of a record that spans several slots (FORMAT.md §9.17):
  // `payload` is that part (take() also gives its sequence and prefix, for a RecordAssembler).
  // kCorrupt: the slot's length prefix is invalid; the slot is consumed and skipped.
  // kPending: claimed but not yet published; kSkippedTorn: pending for longer than the
  // grace period (its writer died between claim and publish), consumed and skipped.
  Result next(std::string& payload) {
    const End end = take(single_, 1);
    payload.clear();
    if (single_.empty()) {
      if (end == End::kFault) return Result::kFault;
      return end == End::kPending ? Result::kPending : Result::kEmpty;
    }
    const SlotBatch::Entry& e = single_[0];
    payload.assign(single_.bytes(e));
    switch (e.kind) {
      case SlotBatch::Kind::kRecord: return Result::kRecord;
      case SlotBatch::Kind::kFragment: return Result::kFragment;
      case SlotBatch::Kind::kTorn: return Result::kSkippedTorn;
      case SlotBatch::Kind::kCorrupt: return Result::kCorrupt;
    }
    return Result::kCorrupt;
  }

  const Ring& ring() const { return ring_; }

  // Unread records (claimed minus consumed), as the ring's indices say.
  int64_t backlog() const {
    return seq_sub(ring_.writer_index().load(std::memory_order_acquire),
                   ring_.reader_index().load(std::memory_order_acquire));
  }

 private:
  enum class Step { kTaken, kSkipped, kPending, kFull };

  // Loads and stores of the mapping, and stores into memory reserved beforehand, only.
  End take_unguarded(SlotBatch& out, size_t max) {
    auto r = ring_.reader_index();
    const int64_t first = r.load(std::memory_order_relaxed);
    int64_t consumed = first;  // the last sequence this pass consumed
    End end = End::kMax;
    while (out.size() < max) {
      const int64_t next = seq_add(consumed, 1);
      // Never read past the last claimed sequence, whatever the availability array says (a
      // corrupt file could otherwise make stale slots look new). writer_index is shared
      // with every producer, so it is re-read only once the reader has caught up with it.
      if (!writer_known_ || seq_sub(known_writer_, next) < 0) {
        writer_known_ = true;
        known_writer_ = ring_.writer_index().load(std::memory_order_acquire);
        if (seq_sub(known_writer_, next) < 0) {
          stuck_idx_ = kNone;
          end = End::kEmpty;
          break;
        }
      }
      const Step step = take_slot(next, out);
      if (step == Step::kPending || step == Step::kFull) {
        end = step == Step::kPending ? End::kPending : End::kMax;
        break;
      }
      consumed = next;
      if (step == Step::kSkipped) {
        ring_.note_consumed();
        r.store(consumed, std::memory_order_release);
      }
    }
    if (consumed != first) {
      ring_.note_consumed();
      r.store(consumed, std::memory_order_release);
    }
    return end;
  }

  // Sequence `next`, claimed: copied into `out` if published (kTaken; kFull when the batch
  // has no room for it, which then starts the next pass), skipped after its grace (kSkipped),
  // or left pending.
  Step take_slot(int64_t next, SlotBatch& out) {
    for (int attempt = 0;; ++attempt) {
      const int32_t avail = ring_.availability(next).load(std::memory_order_acquire);
      if (ring_.is_published(next, avail)) {
        ring_.note_published_seen(next);
        const slot_record::Slot slot = slot_record::parse(ring_.slot(next), ring_.buffer_size());
        if (slot.bytes.size() > out.room()) return Step::kFull;
        stuck_idx_ = kNone;
        out.add(kind_of(slot), next, slot, slot.bytes);
        return Step::kTaken;
      }
      // The re-check below found it still pending: skipped.
      if (attempt > 0) break;
      // A sequence claimed before an earlier skip's timer started has been pending for the
      // whole grace period too: skipped without a wait of its own, so that the k slots of a
      // record whose writer died before publishing any of them cost one grace, not k.
      if (!torn_horizon_known_ || seq_sub(torn_horizon_, next) < 0) {
        const auto now = std::chrono::steady_clock::now();
        if (stuck_idx_ != next) {
          stuck_idx_ = next;
          stuck_since_ = now;
          // Every sequence up to it was claimed by now. No more than N can be outstanding: a
          // larger writer_index is not trusted, so one grace never skips more than a ring.
          stuck_writer_ = std::min(known_writer_, seq_add(next, static_cast<int64_t>(ring_.num_buffers()) - 1),
                                   [](int64_t a, int64_t b) { return seq_sub(a, b) < 0; });
          return Step::kPending;
        }
        if (now - stuck_since_ < grace_) return Step::kPending;
        torn_horizon_ = stuck_writer_;
        torn_horizon_known_ = true;
      }
      // Re-check: the writer may have published while we were deciding (next iteration).
    }
    stuck_idx_ = kNone;
    out.add(SlotBatch::Kind::kTorn, next, {}, {});
    return Step::kSkipped;
  }

  static SlotBatch::Kind kind_of(const slot_record::Slot& slot) {
    switch (slot.kind) {
      case slot_record::Slot::Kind::kRecord: return SlotBatch::Kind::kRecord;
      case slot_record::Slot::Kind::kInvalid: return SlotBatch::Kind::kCorrupt;
      default: return SlotBatch::Kind::kFragment;
    }
  }

  static constexpr int64_t kNone = -2;  // no sequence is being timed (sequences start at 0)

  Ring ring_;
  std::chrono::nanoseconds grace_{0};
  int64_t stuck_idx_ = kNone;
  int64_t stuck_writer_ = 0;
  // Sequences up to this one were claimed at least a grace period ago (see take_slot).
  int64_t torn_horizon_ = 0;
  bool torn_horizon_known_ = false;
  int64_t known_writer_ = 0;
  bool writer_known_ = false;
  std::chrono::steady_clock::time_point stuck_since_{};
  SlotBatch single_;  // next()'s pass of one slot
};

}  // namespace otlp_mmap

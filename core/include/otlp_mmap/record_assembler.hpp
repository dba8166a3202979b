// Puts records that span several slots (docs/FORMAT.md §9.17) back together on the consumer
// side. The consumer hands it the slots of one ring in sequence order, already copied out of
// the mapping; it keeps at most one record in progress and checks every claim a slot makes:
// the head's length against the reader's limit and the ring's size, and each continuation's
// head sequence and position. Whatever does not line up is reported, never trusted.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "otlp_mmap/ring.hpp"
#include "otlp_mmap/slot_record.hpp"

namespace otlp_mmap {

class RecordAssembler {
 public:
  enum class Step : uint8_t {
    kIncomplete,  // the slot was taken; more of the record is to come
    kComplete,    // the record is whole: record() holds it
    kOrphan,      // a continuation of no record in progress (its head was lost): skipped
    kInvalid,     // a head whose length the reader refuses: skipped
  };
  struct Fed {
    Step step = Step::kIncomplete;
    // A record in progress was abandoned because this slot does not continue it.
    bool lost_partial = false;
  };

  RecordAssembler() = default;
  // `max_record_bytes` bounds what a head may announce (and so what is allocated); a record
  // spans at most `ring_slots` slots of `slot_size` bytes.
  RecordAssembler(uint64_t max_record_bytes, uint64_t ring_slots, uint64_t slot_size)
      : max_(max_record_bytes), ring_slots_(ring_slots), slot_size_(slot_size) {}

  // Feeds a head or continuation slot of sequence `seq`: `s` is what its prefix says, `bytes`
  // its part of the record, copied out of the mapping (s.bytes is not used). Whole records and
  // invalid slots are the consumer's business: call interrupt() for them.
  Fed feed(const slot_record::Slot& s, int64_t seq, std::string_view bytes) {
    Fed out;
    if (s.kind == slot_record::Slot::Kind::kHead) {
      out.lost_partial = interrupt();
      if (s.length > max_ || slot_record::slots_needed(s.length, slot_size_) == 0 ||
          slot_record::slots_needed(s.length, slot_size_) > ring_slots_ || bytes.size() >= s.length) {
        out.step = Step::kInvalid;
        return out;
      }
      active_ = true;
      expected_ = seq_add(seq, 1);
      head_ = seq;
      length_ = s.length;
      record_.clear();
      record_.append(bytes);
      out.step = Step::kIncomplete;
      return out;
    }
    if (!active_ || seq != expected_ || !slot_record::names_head(s.head, head_)) {
      out.lost_partial = interrupt();
      out.step = Step::kOrphan;
      return out;
    }
    record_.append(bytes.substr(0, std::min<uint64_t>(length_ - record_.size(), bytes.size())));
    expected_ = seq_add(seq, 1);
    if (record_.size() < length_) {
      out.step = Step::kIncomplete;
      return out;
    }
    active_ = false;
    out.step = Step::kComplete;
    return out;
  }

  // Something other than the expected continuation came (a whole record, an invalid or torn
  // slot): the record in progress is lost. Returns whether there was one.
  bool interrupt() {
    const bool had = active_;
    active_ = false;
    return had;
  }

  bool in_progress() const { return active_; }
  // The sequence of the last completed (or current) record's head.
  int64_t head() const { return head_; }
  // The record completed by the last kComplete; the caller may swap it out.
  std::string& record() { return record_; }

 private:
  uint64_t max_ = 0;
  uint64_t ring_slots_ = 0;
  uint64_t slot_size_ = 0;
  bool active_ = false;
  int64_t head_ = 0;
  int64_t expected_ = 0;
  uint64_t length_ = 0;
  std::string record_;
};

}  // namespace otlp_mmap

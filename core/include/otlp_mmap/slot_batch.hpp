// Slots taken from one ring in one pass (RingConsumer::take), in sequence order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "otlp_mmap/slot_record.hpp"

namespace otlp_mmap {

// What each slot of a pass held: a whole record, a part of a record spread over several slots
// (FORMAT.md §9.17), a claimed slot skipped as torn, or an unreadable prefix. The bytes of
// records and parts lie back to back in one buffer that is reused from pass to pass, so that
// draining allocates nothing once the buffers have grown. A view stays valid until the batch
// is cleared or taken into again.
class SlotBatch {
 public:
  enum class Kind : uint8_t { kRecord, kFragment, kTorn, kCorrupt };
  struct Entry {
    Kind kind = Kind::kCorrupt;
    int64_t seq = 0;
    slot_record::Slot slot;  // kFragment: what its prefix says (its `bytes` are not kept)
    size_t offset = 0;       // kRecord, kFragment: the bytes, in the batch's buffer
    size_t length = 0;
  };

  // Bytes one pass copies at most (at least one whole slot, so that every slot fits), and
  // slots per pass (a torn or empty slot adds no bytes, so bytes alone do not bound them).
  static constexpr size_t kMaxBytes = size_t{1} << 20;
  static constexpr size_t kMaxSlots = 16384;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const Entry& operator[](size_t i) const { return entries_[i]; }
  std::string_view bytes(const Entry& e) const { return {bytes_.data() + e.offset, e.length}; }
  void clear() {
    entries_.clear();
    used_ = 0;
  }

 private:
  friend class RingConsumer;

  // Sized before the guarded pass, so that the pass allocates nothing (mapping_guard.hpp).
  void prepare(size_t max_slots, uint64_t slot_size) {
    clear();
    const size_t slot = static_cast<size_t>(std::max<uint64_t>(slot_size, 1));
    const size_t want = std::max(slot, max_slots >= kMaxBytes / slot ? kMaxBytes : max_slots * slot);
    if (bytes_.size() < want) bytes_.resize(want);
    if (entries_.capacity() < max_slots) entries_.reserve(max_slots);
  }
  size_t room() const { return bytes_.size() - used_; }
  // No allocation: prepare reserved the capacity. `bytes` must fit room().
  void add(Kind kind, int64_t seq, const slot_record::Slot& slot, std::string_view bytes) {
    Entry& e = entries_.emplace_back();
    e.kind = kind;
    e.seq = seq;
    e.slot = slot;
    e.slot.bytes = {};
    e.offset = used_;
    e.length = bytes.size();
    // An invalid slot's bytes are a null view: memcpy must not see it.
    if (!bytes.empty()) std::memcpy(bytes_.data() + used_, bytes.data(), bytes.size());
    used_ += bytes.size();
  }

  std::string bytes_;
  std::vector<Entry> entries_;
  size_t used_ = 0;
};

}  // namespace otlp_mmap

// Open-addressing hash table from an attribute-set hash to a series number. It stores only
// (hash, series); the caller confirms a candidate by comparing the attribute sets, so hash
// collisions cost a comparison, never a wrong series.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace otlp_mmap::collector::metrics_detail {

class SeriesIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // The series whose hash is `hash` and for which `same(series)` holds, or kNone.
  template <class Same>
  uint32_t find(uint64_t hash, Same&& same) const {
    if (slots_.empty()) return kNone;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.series == kNone) return kNone;
      if (s.hash == hash && same(s.series)) return s.series;
    }
  }

  // Room for `n` entries: inserting up to `n` then allocates nothing.
  void reserve(size_t n) {
    while (n * 2 > slots_.size()) grow();
  }

  void insert(uint64_t hash, uint32_t series) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(hash, series);
    ++size_;
  }

  // Empties the table, keeping its slots: re-inserting as many entries allocates nothing.
  void clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    size_ = 0;
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t series = kNone;
  };

  void place(uint64_t hash, uint32_t series) {
    size_t i = hash & mask_;
    while (slots_[i].series != kNone) i = (i + 1) & mask_;
    slots_[i] = Slot{hash, series};
  }

  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : slots_.size() * 2, Slot{});  // may throw: nothing changed
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.series != kNone) place(s.hash, s.series);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace otlp_mmap::collector::metrics_detail

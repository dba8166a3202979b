// Cutting a record's values to the per-value limit (OTLP_MMAP_MAX_VALUE_BYTES) before the record
// is fitted to its ring (FORMAT.md §9.5): only on the slow path, for records larger than the
// limit, so the common small record never pays for it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "otlp_mmap/messages.hpp"

namespace otlp_mmap::writer_detail {

// Views of values with every string and bytes value longer than the limit cut (strings at a
// UTF-8 character boundary). Arrays, key-value lists and links are copied only where something
// inside them changes; the copies live as long as this object.
class ValueCap {
 public:
  explicit ValueCap(uint64_t limit) : limit_(limit) {}
  ValueCap(const ValueCap&) = delete;
  ValueCap& operator=(const ValueCap&) = delete;

  std::string_view text(std::string_view s);
  const AnyValueView* value(const AnyValueView* v);
  std::span<const KeyValueView> attributes(std::span<const KeyValueView> in);
  std::span<const LinkView> links(std::span<const LinkView> in);

  // Cuts every value of the record in place (its views then point into this object).
  void apply(EventView& e);
  void apply(MeasurementView& m);
  void apply(SpanEventView& s);

  // Values cut so far.
  uint64_t cut() const { return cut_; }

 private:
  bool too_long(const AnyValueView& v) const;
  bool too_long(std::span<const KeyValueView> kvs) const;
  AnyValueView capped(const AnyValueView& v);

  template <class T>
  std::vector<T>& keep() {
    auto owned = std::make_shared<std::vector<T>>();
    auto& ref = *owned;
    owned_.push_back(std::move(owned));
    return ref;
  }

  uint64_t limit_;
  uint64_t cut_ = 0;
  std::vector<std::shared_ptr<void>> owned_;
};

}  // namespace otlp_mmap::writer_detail

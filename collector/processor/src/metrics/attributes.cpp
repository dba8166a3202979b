#include "attributes.hpp"

#include <algorithm>
#include <bit>
#include <functional>
#include <numeric>
#include <string_view>

namespace otlp_mmap::collector::metrics_detail {
namespace {

using opentelemetry::proto::common::v1::ArrayValue;
using opentelemetry::proto::common::v1::KeyValueList;

// 64-bit finaliser (murmur3's fmix64) and an order-dependent combination step.
inline uint64_t fmix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}
inline uint64_t combine(uint64_t h, uint64_t v) { return fmix(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2))); }
inline uint64_t hash_bytes(const std::string& s) { return std::hash<std::string_view>{}(s); }

uint64_t hash_value(const AnyValue& v, uint64_t h);

uint64_t hash_key_value(const KeyValue& kv, uint64_t h) {
  h = combine(h, hash_bytes(kv.key()));
  if (kv.key_strindex() != 0) h = combine(h, static_cast<uint64_t>(kv.key_strindex()));
  return hash_value(kv.value(), h);
}

uint64_t hash_value(const AnyValue& v, uint64_t h) {
  h = combine(h, static_cast<uint64_t>(v.value_case()));
  switch (v.value_case()) {
    case AnyValue::kStringValue: return combine(h, hash_bytes(v.string_value()));
    case AnyValue::kBoolValue: return combine(h, v.bool_value() ? 1 : 0);
    case AnyValue::kIntValue: return combine(h, static_cast<uint64_t>(v.int_value()));
    case AnyValue::kDoubleValue: return combine(h, std::bit_cast<uint64_t>(v.double_value()));
    case AnyValue::kBytesValue: return combine(h, hash_bytes(v.bytes_value()));
    case AnyValue::kStringValueStrindex: return combine(h, static_cast<uint64_t>(v.string_value_strindex()));
    case AnyValue::kArrayValue:
      h = combine(h, static_cast<uint64_t>(v.array_value().values_size()));
      for (const AnyValue& e : v.array_value().values()) h = hash_value(e, h);
      return h;
    case AnyValue::kKvlistValue:
      h = combine(h, static_cast<uint64_t>(v.kvlist_value().values_size()));
      for (const KeyValue& e : v.kvlist_value().values()) h = hash_key_value(e, h);
      return h;
    case AnyValue::VALUE_NOT_SET: return h;
  }
  return h;
}

bool equal_key_values(const KeyValue& a, const KeyValue& b) {
  return a.key() == b.key() && a.key_strindex() == b.key_strindex() && equal_values(a.value(), b.value());
}

}  // namespace

bool equal_values(const AnyValue& a, const AnyValue& b) {
  if (a.value_case() != b.value_case()) return false;
  switch (a.value_case()) {
    case AnyValue::kStringValue: return a.string_value() == b.string_value();
    case AnyValue::kBoolValue: return a.bool_value() == b.bool_value();
    case AnyValue::kIntValue: return a.int_value() == b.int_value();
    case AnyValue::kDoubleValue:
      return std::bit_cast<uint64_t>(a.double_value()) == std::bit_cast<uint64_t>(b.double_value());
    case AnyValue::kBytesValue: return a.bytes_value() == b.bytes_value();
    case AnyValue::kStringValueStrindex: return a.string_value_strindex() == b.string_value_strindex();
    case AnyValue::kArrayValue: {
      const ArrayValue& x = a.array_value();
      const ArrayValue& y = b.array_value();
      if (x.values_size() != y.values_size()) return false;
      for (int i = 0; i < x.values_size(); ++i)
        if (!equal_values(x.values(i), y.values(i))) return false;
      return true;
    }
    case AnyValue::kKvlistValue: {
      const KeyValueList& x = a.kvlist_value();
      const KeyValueList& y = b.kvlist_value();
      if (x.values_size() != y.values_size()) return false;
      for (int i = 0; i < x.values_size(); ++i)
        if (!equal_key_values(x.values(i), y.values(i))) return false;
      return true;
    }
    case AnyValue::VALUE_NOT_SET: return true;
  }
  return false;
}

void canonical_order(std::span<const KeyValue> attrs, std::vector<uint32_t>& order) {
  const size_t n = attrs.size();
  order.resize(n);
  std::iota(order.begin(), order.end(), 0u);
  if (n < 2) return;
  bool sorted = true;
  for (size_t i = 1; i < n && sorted; ++i) sorted = attrs[i - 1].key() < attrs[i].key();
  if (sorted) return;  // strictly increasing: already canonical, no duplicates
  // Stable by key (equal keys keep their input order), so the last of a run is the last given.
  auto less = [&](uint32_t a, uint32_t b) {
    int c = attrs[a].key().compare(attrs[b].key());
    return c < 0 || (c == 0 && a < b);
  };
  if (n <= 16) {
    for (size_t i = 1; i < n; ++i) {
      uint32_t x = order[i];
      size_t j = i;
      for (; j > 0 && less(x, order[j - 1]); --j) order[j] = order[j - 1];
      order[j] = x;
    }
  } else {
    std::sort(order.begin(), order.end(), less);
  }
  size_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n && attrs[order[i]].key() == attrs[order[i + 1]].key()) continue;  // a later one wins
    order[w++] = order[i];
  }
  order.resize(w);
}

uint64_t hash_attributes(std::span<const KeyValue> attrs, std::span<const uint32_t> order) {
  uint64_t h = order.size();
  for (uint32_t i : order) h = hash_key_value(attrs[i], h);
  return h;
}

bool equal_attributes(std::span<const KeyValue> canonical, std::span<const KeyValue> attrs,
                      std::span<const uint32_t> order) {
  if (canonical.size() != order.size()) return false;
  for (size_t i = 0; i < order.size(); ++i)
    if (!equal_key_values(canonical[i], attrs[order[i]])) return false;
  return true;
}

void canonicalize(google::protobuf::RepeatedPtrField<KeyValue>& attrs) {
  // A RepeatedPtrField is not contiguous: canonicalise a contiguous copy.
  std::vector<KeyValue> copy(attrs.begin(), attrs.end());
  std::vector<uint32_t> order;
  canonical_order(copy, order);
  attrs.Clear();
  for (uint32_t i : order) *attrs.Add() = std::move(copy[i]);
}

std::string sort_key(std::span<const KeyValue> canonical) {
  std::string out;
  for (const KeyValue& kv : canonical) {
    out += kv.key();
    out += '\0';
    out += kv.value().SerializeAsString();
    out += '\1';
  }
  return out;
}

}  // namespace otlp_mmap::collector::metrics_detail

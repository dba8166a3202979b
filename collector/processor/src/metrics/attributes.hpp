// Attribute sets of metric series: canonical order, hashing and equality, computed straight on
// the OTLP KeyValues so that finding an existing series allocates nothing.
//
// Canonical form: sorted by key (byte order); when a key repeats, the last occurrence wins.
// Values compare exactly (doubles by their bits), so 0.0 and -0.0 are distinct attribute values
// and a NaN equals the same NaN.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "opentelemetry/proto/common/v1/common.pb.h"

namespace otlp_mmap::collector::metrics_detail {

using KeyValue = opentelemetry::proto::common::v1::KeyValue;
using AnyValue = opentelemetry::proto::common::v1::AnyValue;

// Indices into `attrs` in canonical order, duplicates removed. `order` is reused (no
// allocation once it has grown to the largest attribute count seen).
void canonical_order(std::span<const KeyValue> attrs, std::vector<uint32_t>& order);

// Hash of the attribute set `attrs` taken in `order`. Equal sets hash equally whatever the
// order or duplication of their input.
uint64_t hash_attributes(std::span<const KeyValue> attrs, std::span<const uint32_t> order);

// Whether `canonical` (a stored canonical set) equals `attrs` taken in `order`.
bool equal_attributes(std::span<const KeyValue> canonical, std::span<const KeyValue> attrs,
                      std::span<const uint32_t> order);

bool equal_values(const AnyValue& a, const AnyValue& b);

// A canonical copy of `attrs` into a repeated field (resource and scope attributes).
void canonicalize(google::protobuf::RepeatedPtrField<KeyValue>& attrs);

// Deterministic bytes of a canonical set, used to order data points in the output.
std::string sort_key(std::span<const KeyValue> canonical);

}  // namespace otlp_mmap::collector::metrics_detail

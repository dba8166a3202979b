// The protocol's messages (proto/mmap.proto), in two shapes:
//  - *View structs borrow their bytes and are encoded straight into a ring slot;
//  - owned structs are what the reader decodes from untrusted bytes.
// Field numbers live only in messages.cpp and proto/mmap.proto.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "otlp_mmap/protowire.hpp"

namespace otlp_mmap {

// ---------------------------------------------------------------- encode side (views)

struct KeyValueView;

struct AnyValueView {
  enum class Kind : uint8_t { kEmpty, kString, kBool, kInt, kDouble, kArray, kKvList, kBytes, kValueRef };
  Kind kind = Kind::kEmpty;
  bool bool_value = false;
  int64_t int_value = 0;  // also value_ref
  double double_value = 0;
  std::string_view bytes;  // string or bytes
  std::span<const AnyValueView> array;
  std::span<const KeyValueView> kvlist;

  static AnyValueView string(std::string_view s) { return with(Kind::kString, s); }
  static AnyValueView blob(std::string_view s) { return with(Kind::kBytes, s); }
  static AnyValueView boolean(bool b) {
    AnyValueView v = with(Kind::kBool, {});
    v.bool_value = b;
    return v;
  }
  static AnyValueView integer(int64_t i) {
    AnyValueView v = with(Kind::kInt, {});
    v.int_value = i;
    return v;
  }
  static AnyValueView real(double d) {
    AnyValueView v = with(Kind::kDouble, {});
    v.double_value = d;
    return v;
  }

 private:
  static AnyValueView with(Kind k, std::string_view s) {
    AnyValueView v;
    v.kind = k;
    v.bytes = s;
    return v;
  }
};

struct KeyValueView {
  int64_t key_ref = 0;
  AnyValueView value;
};

struct SpanContextView {
  bool present = false;
  std::string_view trace_id;
  std::string_view span_id;
  uint32_t flags = 0;
};

struct EventView {
  int64_t scope_ref = 0;
  uint64_t time_unix_nano = 0;
  int32_t severity_number = 0;
  std::string_view severity_text;
  const AnyValueView* body = nullptr;
  int64_t event_name_ref = 0;
  SpanContextView span_context;
  std::span<const KeyValueView> attributes;
  // extensions
  uint64_t observed_time_unix_nano = 0;
  uint32_t dropped_attributes_count = 0;
};

struct MeasurementView {
  int64_t metric_ref = 0;
  std::span<const KeyValueView> attributes;
  uint64_t time_unix_nano = 0;
  bool is_double = false;
  int64_t as_long = 0;
  double as_double = 0;
  SpanContextView span_context;
};

struct LinkView {
  std::string_view trace_id;
  std::string_view span_id;
  std::string_view trace_state;
  std::span<const KeyValueView> attributes;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
};

enum class SpanEventType : uint8_t { kNone, kStart, kEnd, kName, kAttributes, kLink, kAddEvent };

// One record of the span ring. Only the fields of `type` are encoded.
struct SpanEventView {
  SpanEventType type = SpanEventType::kNone;
  std::string_view trace_id;
  std::string_view span_id;
  int64_t scope_ref = 0;
  // kStart
  std::string_view parent_span_id;
  int32_t kind = 0;
  uint64_t start_time_unix_nano = 0;
  uint32_t flags = 0;
  std::string_view trace_state;  // extension
  // kStart, kName, kAddEvent
  std::string_view name;
  // kStart, kAttributes, kAddEvent
  std::span<const KeyValueView> attributes;
  // kEnd
  uint64_t end_time_unix_nano = 0;
  bool has_status = false;
  std::string_view status_message;
  int32_t status_code = 0;
  uint32_t dropped_attributes_count = 0;  // kEnd (span) and kAddEvent (event); extension
  uint32_t dropped_events_count = 0;      // kEnd; extension
  uint32_t dropped_links_count = 0;       // kEnd; extension
  // kLink
  std::span<const LinkView> links;
  // kAddEvent (extension)
  uint64_t event_time_unix_nano = 0;
};

struct ResourceView {
  std::span<const KeyValueView> attributes;
  uint32_t dropped_attributes_count = 0;
  std::string_view schema_url;  // extension
};

struct ScopeView {
  int64_t name_ref = 0;
  int64_t version_ref = 0;
  std::span<const KeyValueView> attributes;
  uint32_t dropped_attributes_count = 0;
  int64_t resource_ref = 0;
  std::string_view schema_url;  // extension
};

enum class AggregationKind : uint8_t { kNone, kGauge, kSum, kHistogram, kExpHistogram };
enum Temporality : int32_t { kTemporalityUnspecified = 0, kDelta = 1, kCumulative = 2 };

struct MetricRefView {
  std::string_view name;
  std::string_view description;
  std::string_view unit;
  int64_t scope_ref = 0;
  AggregationKind aggregation = AggregationKind::kNone;
  int32_t temporality = 0;
  bool is_monotonic = false;
  std::span<const double> bucket_boundaries;
  int64_t max_buckets = 0;
  int64_t max_scale = 0;
};

// Exact encoded size (without the length prefix) and encoding. `encode_*` writes exactly
// `encoded_size_*` bytes.
uint64_t encoded_size(const AnyValueView& v);
uint64_t encoded_size(const KeyValueView& kv);
uint64_t encoded_size(const EventView& e);
uint64_t encoded_size(const MeasurementView& m);
uint64_t encoded_size(const SpanEventView& s);
uint64_t encoded_size(const LinkView& l);
void encode(const EventView& e, wire::Encoder& enc);
void encode(const MeasurementView& m, wire::Encoder& enc);
void encode(const SpanEventView& s, wire::Encoder& enc);

// A span event with its member's size computed once: a writer sizes a record (to find its
// slot), then encodes it, and the member (a start's attributes) is most of the work of both.
struct SizedSpanEvent {
  const SpanEventView& view;
  uint64_t member_size;  // of the set oneof member (0 for SpanEventType::kNone)
};
SizedSpanEvent sized(const SpanEventView& s);
uint64_t encoded_size(const SizedSpanEvent& s);
void encode(const SizedSpanEvent& s, wire::Encoder& enc);

std::string encode_to_string(const ResourceView& r);
std::string encode_to_string(const ScopeView& s);
std::string encode_to_string(const MetricRefView& m);
std::string encode_to_string(const EventView& e);
std::string encode_to_string(const MeasurementView& m);
std::string encode_to_string(const SpanEventView& s);

// ---------------------------------------------------------------- decode side (owned)

struct KeyValueRef;

struct AnyValue {
  using Kind = AnyValueView::Kind;
  Kind kind = Kind::kEmpty;
  bool bool_value = false;
  int64_t int_value = 0;  // also value_ref
  double double_value = 0;
  std::string bytes;  // string or bytes
  std::vector<AnyValue> array;
  std::vector<KeyValueRef> kvlist;
  bool operator==(const AnyValue&) const;
};

struct KeyValueRef {
  int64_t key_ref = 0;
  AnyValue value;
  bool operator==(const KeyValueRef&) const = default;
};

struct SpanContext {
  std::string trace_id;
  std::string span_id;
  uint32_t flags = 0;
  bool operator==(const SpanContext&) const = default;
};

struct Event {
  int64_t scope_ref = 0;
  uint64_t time_unix_nano = 0;
  int32_t severity_number = 0;
  std::string severity_text;
  std::optional<AnyValue> body;
  int64_t event_name_ref = 0;
  std::optional<SpanContext> span_context;
  std::vector<KeyValueRef> attributes;
  uint64_t observed_time_unix_nano = 0;
  uint32_t dropped_attributes_count = 0;
};

struct Measurement {
  enum class ValueKind : uint8_t { kNone, kLong, kDouble };
  int64_t metric_ref = 0;
  std::vector<KeyValueRef> attributes;
  uint64_t time_unix_nano = 0;
  ValueKind value_kind = ValueKind::kNone;
  int64_t as_long = 0;
  double as_double = 0;
  std::optional<SpanContext> span_context;
};

struct Link {
  std::string trace_id;
  std::string span_id;
  std::string trace_state;
  std::vector<KeyValueRef> attributes;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
};

struct SpanEvent {
  SpanEventType type = SpanEventType::kNone;
  std::string trace_id;
  std::string span_id;
  int64_t scope_ref = 0;
  std::string parent_span_id;
  int32_t kind = 0;
  uint64_t start_time_unix_nano = 0;
  uint32_t flags = 0;
  std::string trace_state;
  std::string name;
  std::vector<KeyValueRef> attributes;
  uint64_t end_time_unix_nano = 0;
  bool has_status = false;
  std::string status_message;
  int32_t status_code = 0;
  uint32_t dropped_attributes_count = 0;
  uint32_t dropped_events_count = 0;
  uint32_t dropped_links_count = 0;
  std::vector<Link> links;
  uint64_t event_time_unix_nano = 0;
};

struct Resource {
  std::vector<KeyValueRef> attributes;
  uint32_t dropped_attributes_count = 0;
  std::string schema_url;
};

struct InstrumentationScope {
  int64_t name_ref = 0;
  int64_t version_ref = 0;
  std::vector<KeyValueRef> attributes;
  uint32_t dropped_attributes_count = 0;
  int64_t resource_ref = 0;
  std::string schema_url;
};

struct MetricRef {
  std::string name;
  std::string description;
  std::string unit;
  int64_t scope_ref = 0;
  AggregationKind aggregation = AggregationKind::kNone;
  int32_t temporality = 0;
  bool is_monotonic = false;
  std::vector<double> bucket_boundaries;
  int64_t max_buckets = 0;
  int64_t max_scale = 0;
};

// Decoders accept unknown fields (skipped) and reject malformed bytes, nesting deeper
// than kMaxNesting, and wire types that do not match the field.
inline constexpr int kMaxNesting = 16;
bool decode(std::string_view bytes, Event& out);
bool decode(std::string_view bytes, Measurement& out);
bool decode(std::string_view bytes, SpanEvent& out);
bool decode(std::string_view bytes, Resource& out);
bool decode(std::string_view bytes, InstrumentationScope& out);
bool decode(std::string_view bytes, MetricRef& out);
bool decode(std::string_view bytes, AnyValue& out);

}  // namespace otlp_mmap

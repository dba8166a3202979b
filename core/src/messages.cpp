// Encoding and decoding of the protocol's messages. Field numbers: proto/mmap.proto.
// Encoding follows what a conforming proto3 serializer emits: ascending field numbers,
// default scalars omitted, a set oneof member and a present submessage always written.
#include "otlp_mmap/messages.hpp"

#include <cstring>

#include "wire_fields.hpp"

namespace otlp_mmap {

using wire::Decoder;
using wire::Encoder;
using wire::fixed32_field_size;
using wire::fixed64_field_size;
using wire::int64_field_size;
using wire::len_field_size;
using wire::tag_size;
using wire::varint_field_size;
using wire::WireType;
using wire_fields::Field;
using wire_fields::for_each_field;
using wire_fields::want;

namespace {

uint64_t opt_int64(uint32_t field, int64_t v) { return v != 0 ? int64_field_size(field, v) : 0; }
uint64_t opt_fixed64(uint32_t field, uint64_t v) { return v != 0 ? fixed64_field_size(field) : 0; }
uint64_t opt_fixed32(uint32_t field, uint32_t v) { return v != 0 ? fixed32_field_size(field) : 0; }
// int32 / enum: negative values are sign-extended to 64 bits on the wire.
uint64_t opt_int32(uint32_t field, int32_t v) { return opt_int64(field, static_cast<int64_t>(v)); }

void put_int64(Encoder& e, uint32_t field, int64_t v) {
  if (v != 0) e.int64_field(field, v);
}
void put_int32(Encoder& e, uint32_t field, int32_t v) { put_int64(e, field, static_cast<int64_t>(v)); }
void put_fixed64(Encoder& e, uint32_t field, uint64_t v) {
  if (v != 0) e.fixed64_field(field, v);
}
void put_fixed32(Encoder& e, uint32_t field, uint32_t v) {
  if (v != 0) e.fixed32_field(field, v);
}

uint64_t attributes_size(uint32_t field, std::span<const KeyValueView> attrs) {
  uint64_t n = 0;
  for (const auto& kv : attrs) n += len_field_size(field, encoded_size(kv));
  return n;
}

void encode_any(const AnyValueView& v, Encoder& e);

// A KeyValue's size from its value's.
uint64_t key_value_size(int64_t key_ref, uint64_t value_size) {
  return opt_int64(1, key_ref) + len_field_size(2, value_size);
}

// A KeyValue as field `field`; the value's size is computed once and gives the entry's too
// (sizes were a tenth of a 10-attribute span's cost in the application).
void encode_attribute(uint32_t field, const KeyValueView& kv, Encoder& e) {
  const uint64_t value = encoded_size(kv.value);
  e.len_header(field, key_value_size(kv.key_ref, value));
  put_int64(e, 1, kv.key_ref);
  e.len_header(2, value);
  encode_any(kv.value, e);
}

void encode_attributes(uint32_t field, std::span<const KeyValueView> attrs, Encoder& e) {
  for (const auto& kv : attrs) encode_attribute(field, kv, e);
}

void encode_any(const AnyValueView& v, Encoder& e) {
  using K = AnyValueView::Kind;
  switch (v.kind) {
    case K::kEmpty: return;
    case K::kString: e.bytes_field(1, v.bytes); return;
    case K::kBool: e.varint_field(2, v.bool_value ? 1 : 0); return;
    case K::kInt: e.int64_field(3, v.int_value); return;
    case K::kDouble: e.double_field(4, v.double_value); return;
    case K::kArray: {
      uint64_t inner = 0;
      for (const auto& x : v.array) inner += len_field_size(1, encoded_size(x));
      e.len_header(5, inner);
      for (const auto& x : v.array) {
        e.len_header(1, encoded_size(x));
        encode_any(x, e);
      }
      return;
    }
    case K::kKvList:
      e.len_header(6, attributes_size(1, v.kvlist));
      encode_attributes(1, v.kvlist, e);
      return;
    case K::kBytes: e.bytes_field(7, v.bytes); return;
    case K::kValueRef: e.int64_field(8, v.int_value); return;
  }
}

uint64_t span_context_size(const SpanContextView& sc) {
  return wire::opt_len_field_size(1, sc.span_id) + wire::opt_len_field_size(2, sc.trace_id) + opt_fixed32(3, sc.flags);
}
void encode_span_context(const SpanContextView& sc, Encoder& e) {
  e.opt_bytes_field(1, sc.span_id);
  e.opt_bytes_field(2, sc.trace_id);
  put_fixed32(e, 3, sc.flags);
}

uint64_t span_event_body_size(const SpanEventView& s) {
  switch (s.type) {
    case SpanEventType::kStart:
      return wire::opt_len_field_size(4, s.parent_span_id) + wire::opt_len_field_size(5, s.name) +
             opt_int32(6, s.kind) + opt_fixed64(7, s.start_time_unix_nano) + attributes_size(9, s.attributes) +
             opt_fixed32(16, s.flags) + wire::opt_len_field_size(100, s.trace_state);
    case SpanEventType::kEnd: {
      uint64_t n = opt_fixed64(8, s.end_time_unix_nano);
      if (s.has_status)
        n += len_field_size(15, wire::opt_len_field_size(2, s.status_message) + opt_int32(3, s.status_code));
      return n + wire::opt_varint_field_size(100, s.dropped_attributes_count) +
             wire::opt_varint_field_size(101, s.dropped_events_count) +
             wire::opt_varint_field_size(102, s.dropped_links_count);
    }
    case SpanEventType::kName: return wire::opt_len_field_size(5, s.name);
    case SpanEventType::kAttributes: return attributes_size(9, s.attributes);
    case SpanEventType::kLink: {
      uint64_t n = 0;
      for (const auto& l : s.links) n += len_field_size(13, encoded_size(l));
      return n;
    }
    case SpanEventType::kAddEvent:
      return opt_fixed64(1, s.event_time_unix_nano) + wire::opt_len_field_size(2, s.name) +
             attributes_size(3, s.attributes) + wire::opt_varint_field_size(4, s.dropped_attributes_count);
    case SpanEventType::kNone: return 0;
  }
  return 0;
}

uint32_t span_event_field(SpanEventType t) {
  switch (t) {
    case SpanEventType::kStart: return 11;
    case SpanEventType::kEnd: return 12;
    case SpanEventType::kName: return 13;
    case SpanEventType::kAttributes: return 14;
    case SpanEventType::kLink: return 15;
    case SpanEventType::kAddEvent: return 100;
    case SpanEventType::kNone: return 0;
  }
  return 0;
}

void encode_link(const LinkView& l, Encoder& e) {
  e.opt_bytes_field(1, l.trace_id);
  e.opt_bytes_field(2, l.span_id);
  e.opt_bytes_field(3, l.trace_state);
  encode_attributes(4, l.attributes, e);
  e.opt_varint_field(5, l.dropped_attributes_count);
  put_fixed32(e, 6, l.flags);
}

template <class F>
std::string encode_with(uint64_t size, F&& f) {
  std::string out(size, '\0');
  Encoder e(reinterpret_cast<uint8_t*>(out.data()));
  f(e);
  return out;
}

}  // namespace

uint64_t encoded_size(const AnyValueView& v) {
  using K = AnyValueView::Kind;
  switch (v.kind) {
    case K::kEmpty: return 0;
    case K::kString: return len_field_size(1, v.bytes.size());
    case K::kBool: return tag_size(2) + 1;
    case K::kInt: return int64_field_size(3, v.int_value);
    case K::kDouble: return fixed64_field_size(4);
    case K::kArray: {
      uint64_t inner = 0;
      for (const auto& x : v.array) inner += len_field_size(1, encoded_size(x));
      return len_field_size(5, inner);
    }
    case K::kKvList: return len_field_size(6, attributes_size(1, v.kvlist));
    case K::kBytes: return len_field_size(7, v.bytes.size());
    case K::kValueRef: return int64_field_size(8, v.int_value);
  }
  return 0;
}

uint64_t encoded_size(const KeyValueView& kv) { return key_value_size(kv.key_ref, encoded_size(kv.value)); }

uint64_t encoded_size(const LinkView& l) {
  return wire::opt_len_field_size(1, l.trace_id) + wire::opt_len_field_size(2, l.span_id) +
         wire::opt_len_field_size(3, l.trace_state) + attributes_size(4, l.attributes) +
         wire::opt_varint_field_size(5, l.dropped_attributes_count) + opt_fixed32(6, l.flags);
}

uint64_t encoded_size(const EventView& ev) {
  uint64_t n = opt_int64(1, ev.scope_ref) + opt_fixed64(2, ev.time_unix_nano) + opt_int32(3, ev.severity_number) +
               wire::opt_len_field_size(4, ev.severity_text);
  if (ev.body != nullptr) n += len_field_size(5, encoded_size(*ev.body));
  n += opt_int64(6, ev.event_name_ref);
  if (ev.span_context.present) n += len_field_size(7, span_context_size(ev.span_context));
  n += attributes_size(8, ev.attributes);
  n += opt_fixed64(100, ev.observed_time_unix_nano) + wire::opt_varint_field_size(101, ev.dropped_attributes_count);
  return n;
}

void encode(const EventView& ev, Encoder& e) {
  put_int64(e, 1, ev.scope_ref);
  put_fixed64(e, 2, ev.time_unix_nano);
  put_int32(e, 3, ev.severity_number);
  e.opt_bytes_field(4, ev.severity_text);
  if (ev.body != nullptr) {
    e.len_header(5, encoded_size(*ev.body));
    encode_any(*ev.body, e);
  }
  put_int64(e, 6, ev.event_name_ref);
  if (ev.span_context.present) {
    e.len_header(7, span_context_size(ev.span_context));
    encode_span_context(ev.span_context, e);
  }
  encode_attributes(8, ev.attributes, e);
  put_fixed64(e, 100, ev.observed_time_unix_nano);
  e.opt_varint_field(101, ev.dropped_attributes_count);
}

uint64_t encoded_size(const MeasurementView& m) {
  uint64_t n = opt_int64(1, m.metric_ref) + attributes_size(2, m.attributes) + opt_fixed64(3, m.time_unix_nano);
  n += m.is_double ? fixed64_field_size(5) : int64_field_size(4, m.as_long);
  if (m.span_context.present) n += len_field_size(6, span_context_size(m.span_context));
  return n;
}

void encode(const MeasurementView& m, Encoder& e) {
  put_int64(e, 1, m.metric_ref);
  encode_attributes(2, m.attributes, e);
  put_fixed64(e, 3, m.time_unix_nano);
  if (m.is_double) {
    e.double_field(5, m.as_double);
  } else {
    e.int64_field(4, m.as_long);
  }
  if (m.span_context.present) {
    e.len_header(6, span_context_size(m.span_context));
    encode_span_context(m.span_context, e);
  }
}

SizedSpanEvent sized(const SpanEventView& s) {
  return {s, s.type != SpanEventType::kNone ? span_event_body_size(s) : 0};
}

uint64_t encoded_size(const SizedSpanEvent& sz) {
  const SpanEventView& s = sz.view;
  uint64_t n = wire::opt_len_field_size(1, s.trace_id) + wire::opt_len_field_size(2, s.span_id);
  if (s.type != SpanEventType::kNone) n += len_field_size(span_event_field(s.type), sz.member_size);
  return n + opt_int64(20, s.scope_ref);
}

uint64_t encoded_size(const SpanEventView& s) { return encoded_size(sized(s)); }

void encode(const SpanEventView& s, Encoder& e) { encode(sized(s), e); }

void encode(const SizedSpanEvent& sz, Encoder& e) {
  const SpanEventView& s = sz.view;
  e.opt_bytes_field(1, s.trace_id);
  e.opt_bytes_field(2, s.span_id);
  // Fields go out in ascending number order: the add_event extension (100) follows
  // scope_ref (20), every other event member (11..15) precedes it.
  const bool event_after_scope = span_event_field(s.type) > 20;
  if (event_after_scope) put_int64(e, 20, s.scope_ref);
  if (s.type != SpanEventType::kNone) {
    e.len_header(span_event_field(s.type), sz.member_size);
    switch (s.type) {
      case SpanEventType::kStart:
        e.opt_bytes_field(4, s.parent_span_id);
        e.opt_bytes_field(5, s.name);
        put_int32(e, 6, s.kind);
        put_fixed64(e, 7, s.start_time_unix_nano);
        encode_attributes(9, s.attributes, e);
        put_fixed32(e, 16, s.flags);
        e.opt_bytes_field(100, s.trace_state);
        break;
      case SpanEventType::kEnd:
        put_fixed64(e, 8, s.end_time_unix_nano);
        if (s.has_status) {
          e.len_header(15, wire::opt_len_field_size(2, s.status_message) + opt_int32(3, s.status_code));
          e.opt_bytes_field(2, s.status_message);
          put_int32(e, 3, s.status_code);
        }
        e.opt_varint_field(100, s.dropped_attributes_count);
        e.opt_varint_field(101, s.dropped_events_count);
        e.opt_varint_field(102, s.dropped_links_count);
        break;
      case SpanEventType::kName: e.opt_bytes_field(5, s.name); break;
      case SpanEventType::kAttributes: encode_attributes(9, s.attributes, e); break;
      case SpanEventType::kLink:
        for (const auto& l : s.links) {
          e.len_header(13, encoded_size(l));
          encode_link(l, e);
        }
        break;
      case SpanEventType::kAddEvent:
        put_fixed64(e, 1, s.event_time_unix_nano);
        e.opt_bytes_field(2, s.name);
        encode_attributes(3, s.attributes, e);
        e.opt_varint_field(4, s.dropped_attributes_count);
        break;
      case SpanEventType::kNone: break;
    }
  }
  if (!event_after_scope) put_int64(e, 20, s.scope_ref);
}

std::string encode_to_string(const ResourceView& r) {
  uint64_t size = attributes_size(1, r.attributes) + wire::opt_varint_field_size(2, r.dropped_attributes_count) +
                  wire::opt_len_field_size(100, r.schema_url);
  return encode_with(size, [&](Encoder& e) {
    encode_attributes(1, r.attributes, e);
    e.opt_varint_field(2, r.dropped_attributes_count);
    e.opt_bytes_field(100, r.schema_url);
  });
}

std::string encode_to_string(const ScopeView& s) {
  uint64_t size = opt_int64(1, s.name_ref) + opt_int64(2, s.version_ref) + attributes_size(3, s.attributes) +
                  wire::opt_varint_field_size(4, s.dropped_attributes_count) + opt_int64(5, s.resource_ref) +
                  wire::opt_len_field_size(100, s.schema_url);
  return encode_with(size, [&](Encoder& e) {
    put_int64(e, 1, s.name_ref);
    put_int64(e, 2, s.version_ref);
    encode_attributes(3, s.attributes, e);
    e.opt_varint_field(4, s.dropped_attributes_count);
    put_int64(e, 5, s.resource_ref);
    e.opt_bytes_field(100, s.schema_url);
  });
}

std::string encode_to_string(const MetricRefView& m) {
  uint64_t agg = 0;
  uint32_t agg_field = 0;
  switch (m.aggregation) {
    case AggregationKind::kNone: break;
    case AggregationKind::kGauge: agg_field = 5; break;
    case AggregationKind::kSum:
      agg_field = 6;
      agg = opt_int32(2, m.temporality) + (m.is_monotonic ? varint_field_size(3, 1) : 0);
      break;
    case AggregationKind::kHistogram:
      agg_field = 7;
      agg = opt_int32(1, m.temporality) +
            (m.bucket_boundaries.empty() ? 0 : len_field_size(2, 8 * m.bucket_boundaries.size()));
      break;
    case AggregationKind::kExpHistogram:
      agg_field = 8;
      agg = opt_int32(1, m.temporality) + opt_int64(2, m.max_buckets) + opt_int64(3, m.max_scale);
      break;
  }
  uint64_t size = wire::opt_len_field_size(1, m.name) + wire::opt_len_field_size(2, m.description) +
                  wire::opt_len_field_size(3, m.unit) + opt_int64(4, m.scope_ref) +
                  (agg_field != 0 ? len_field_size(agg_field, agg) : 0);
  return encode_with(size, [&](Encoder& e) {
    e.opt_bytes_field(1, m.name);
    e.opt_bytes_field(2, m.description);
    e.opt_bytes_field(3, m.unit);
    put_int64(e, 4, m.scope_ref);
    if (agg_field == 0) return;
    e.len_header(agg_field, agg);
    switch (m.aggregation) {
      case AggregationKind::kSum:
        put_int32(e, 2, m.temporality);
        if (m.is_monotonic) e.varint_field(3, 1);
        break;
      case AggregationKind::kHistogram:
        put_int32(e, 1, m.temporality);
        if (!m.bucket_boundaries.empty()) {
          e.len_header(2, 8 * m.bucket_boundaries.size());
          for (double d : m.bucket_boundaries) {
            uint64_t bits;
            std::memcpy(&bits, &d, 8);
            uint8_t buf[8];
            std::memcpy(buf, &bits, 8);
            e.raw(std::string_view(reinterpret_cast<const char*>(buf), 8));
          }
        }
        break;
      case AggregationKind::kExpHistogram:
        put_int32(e, 1, m.temporality);
        put_int64(e, 2, m.max_buckets);
        put_int64(e, 3, m.max_scale);
        break;
      default: break;
    }
  });
}

std::string encode_to_string(const EventView& ev) {
  return encode_with(encoded_size(ev), [&](Encoder& e) { encode(ev, e); });
}
std::string encode_to_string(const MeasurementView& m) {
  return encode_with(encoded_size(m), [&](Encoder& e) { encode(m, e); });
}
std::string encode_to_string(const SpanEventView& s) {
  return encode_with(encoded_size(s), [&](Encoder& e) { encode(s, e); });
}

// ---------------------------------------------------------------------------- decoding

bool AnyValue::operator==(const AnyValue& o) const {
  if (kind != o.kind) return false;
  using K = Kind;
  switch (kind) {
    case K::kEmpty: return true;
    case K::kString:
    case K::kBytes: return bytes == o.bytes;
    case K::kBool: return bool_value == o.bool_value;
    case K::kInt:
    case K::kValueRef: return int_value == o.int_value;
    case K::kDouble: return std::memcmp(&double_value, &o.double_value, 8) == 0;
    case K::kArray: return array == o.array;
    case K::kKvList: return kvlist == o.kvlist;
  }
  return false;
}

namespace {

bool decode_any(std::string_view bytes, AnyValue& out, int depth);

bool decode_kv(std::string_view bytes, KeyValueRef& out, int depth) {
  if (depth > kMaxNesting) return false;
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1:
        if (!want(f, wire::kVarint)) return false;
        out.key_ref = static_cast<int64_t>(f.u);
        return true;
      case 2:
        if (!want(f, wire::kLen)) return false;
        out.value = AnyValue{};
        return decode_any(f.bytes, out.value, depth + 1);
      default: return true;
    }
  });
}

bool add_kv(const Field& f, std::vector<KeyValueRef>& attrs, int depth) {
  if (!want(f, wire::kLen)) return false;
  attrs.emplace_back();
  return decode_kv(f.bytes, attrs.back(), depth + 1);
}

bool decode_any(std::string_view bytes, AnyValue& out, int depth) {
  if (depth > kMaxNesting) return false;
  using K = AnyValue::Kind;
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1:
        if (!want(f, wire::kLen)) return false;
        out = AnyValue{};
        out.kind = K::kString;
        out.bytes.assign(f.bytes);
        return true;
      case 2:
        if (!want(f, wire::kVarint)) return false;
        out = AnyValue{};
        out.kind = K::kBool;
        out.bool_value = f.u != 0;
        return true;
      case 3:
        if (!want(f, wire::kVarint)) return false;
        out = AnyValue{};
        out.kind = K::kInt;
        out.int_value = static_cast<int64_t>(f.u);
        return true;
      case 4: {
        if (!want(f, wire::kFixed64)) return false;
        out = AnyValue{};
        out.kind = K::kDouble;
        std::memcpy(&out.double_value, &f.u, 8);
        return true;
      }
      case 5: {
        if (!want(f, wire::kLen)) return false;
        out = AnyValue{};
        out.kind = K::kArray;
        return for_each_field(f.bytes, [&](const Field& g) {
          if (g.number != 1) return true;
          if (!want(g, wire::kLen)) return false;
          out.array.emplace_back();
          return decode_any(g.bytes, out.array.back(), depth + 1);
        });
      }
      case 6: {
        if (!want(f, wire::kLen)) return false;
        out = AnyValue{};
        out.kind = K::kKvList;
        return for_each_field(f.bytes, [&](const Field& g) {
          if (g.number != 1) return true;
          return add_kv(g, out.kvlist, depth);
        });
      }
      case 7:
        if (!want(f, wire::kLen)) return false;
        out = AnyValue{};
        out.kind = K::kBytes;
        out.bytes.assign(f.bytes);
        return true;
      case 8:
        if (!want(f, wire::kVarint)) return false;
        out = AnyValue{};
        out.kind = K::kValueRef;
        out.int_value = static_cast<int64_t>(f.u);
        return true;
      default: return true;
    }
  });
}

bool decode_span_context(std::string_view bytes, SpanContext& out) {
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1:
        if (!want(f, wire::kLen)) return false;
        out.span_id.assign(f.bytes);
        return true;
      case 2:
        if (!want(f, wire::kLen)) return false;
        out.trace_id.assign(f.bytes);
        return true;
      case 3:
        if (!want(f, wire::kFixed32)) return false;
        out.flags = static_cast<uint32_t>(f.u);
        return true;
      default: return true;
    }
  });
}

bool as_int64(const Field& f, int64_t& out) {
  if (!want(f, wire::kVarint)) return false;
  out = static_cast<int64_t>(f.u);
  return true;
}
bool as_int32(const Field& f, int32_t& out) {
  if (!want(f, wire::kVarint)) return false;
  out = static_cast<int32_t>(static_cast<int64_t>(f.u));
  return true;
}
bool as_uint32(const Field& f, uint32_t& out) {
  if (!want(f, wire::kVarint)) return false;
  out = static_cast<uint32_t>(f.u);
  return true;
}
bool as_fixed64(const Field& f, uint64_t& out) {
  if (!want(f, wire::kFixed64)) return false;
  out = f.u;
  return true;
}
bool as_fixed32(const Field& f, uint32_t& out) {
  if (!want(f, wire::kFixed32)) return false;
  out = static_cast<uint32_t>(f.u);
  return true;
}
bool as_string(const Field& f, std::string& out) {
  if (!want(f, wire::kLen)) return false;
  out.assign(f.bytes);
  return true;
}

bool decode_link(std::string_view bytes, Link& out) {
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return as_string(f, out.trace_id);
      case 2: return as_string(f, out.span_id);
      case 3: return as_string(f, out.trace_state);
      case 4: return add_kv(f, out.attributes, 0);
      case 5: return as_uint32(f, out.dropped_attributes_count);
      case 6: return as_fixed32(f, out.flags);
      default: return true;
    }
  });
}

bool decode_span_body(std::string_view bytes, SpanEvent& out) {
  return for_each_field(bytes, [&](const Field& f) {
    switch (out.type) {
      case SpanEventType::kStart:
        switch (f.number) {
          case 4: return as_string(f, out.parent_span_id);
          case 5: return as_string(f, out.name);
          case 6: return as_int32(f, out.kind);
          case 7: return as_fixed64(f, out.start_time_unix_nano);
          case 9: return add_kv(f, out.attributes, 0);
          case 16: return as_fixed32(f, out.flags);
          case 100: return as_string(f, out.trace_state);
          default: return true;
        }
      case SpanEventType::kEnd:
        switch (f.number) {
          case 8: return as_fixed64(f, out.end_time_unix_nano);
          case 15:
            if (!want(f, wire::kLen)) return false;
            out.has_status = true;
            return for_each_field(f.bytes, [&](const Field& g) {
              switch (g.number) {
                case 2: return as_string(g, out.status_message);
                case 3: return as_int32(g, out.status_code);
                default: return true;
              }
            });
          case 100: return as_uint32(f, out.dropped_attributes_count);
          case 101: return as_uint32(f, out.dropped_events_count);
          case 102: return as_uint32(f, out.dropped_links_count);
          default: return true;
        }
      case SpanEventType::kName: return f.number == 5 ? as_string(f, out.name) : true;
      case SpanEventType::kAttributes: return f.number == 9 ? add_kv(f, out.attributes, 0) : true;
      case SpanEventType::kLink:
        if (f.number != 13) return true;
        if (!want(f, wire::kLen)) return false;
        out.links.emplace_back();
        return decode_link(f.bytes, out.links.back());
      case SpanEventType::kAddEvent:
        switch (f.number) {
          case 1: return as_fixed64(f, out.event_time_unix_nano);
          case 2: return as_string(f, out.name);
          case 3: return add_kv(f, out.attributes, 0);
          case 4: return as_uint32(f, out.dropped_attributes_count);
          default: return true;
        }
      case SpanEventType::kNone: return true;
    }
    return true;
  });
}

}  // namespace

bool decode(std::string_view bytes, AnyValue& out) {
  out = AnyValue{};
  return decode_any(bytes, out, 0);
}

bool decode(std::string_view bytes, Event& out) {
  out = Event{};
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return as_int64(f, out.scope_ref);
      case 2: return as_fixed64(f, out.time_unix_nano);
      case 3: return as_int32(f, out.severity_number);
      case 4: return as_string(f, out.severity_text);
      case 5:
        if (!want(f, wire::kLen)) return false;
        out.body.emplace();
        return decode_any(f.bytes, *out.body, 0);
      case 6: return as_int64(f, out.event_name_ref);
      case 7:
        if (!want(f, wire::kLen)) return false;
        out.span_context.emplace();
        return decode_span_context(f.bytes, *out.span_context);
      case 8: return add_kv(f, out.attributes, 0);
      case 100: return as_fixed64(f, out.observed_time_unix_nano);
      case 101: return as_uint32(f, out.dropped_attributes_count);
      default: return true;
    }
  });
}

bool decode(std::string_view bytes, Measurement& out) {
  out = Measurement{};
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return as_int64(f, out.metric_ref);
      case 2: return add_kv(f, out.attributes, 0);
      case 3: return as_fixed64(f, out.time_unix_nano);
      case 4: out.value_kind = Measurement::ValueKind::kLong; return as_int64(f, out.as_long);
      case 5: {
        uint64_t bits;
        if (!as_fixed64(f, bits)) return false;
        out.value_kind = Measurement::ValueKind::kDouble;
        std::memcpy(&out.as_double, &bits, 8);
        return true;
      }
      case 6:
        if (!want(f, wire::kLen)) return false;
        out.span_context.emplace();
        return decode_span_context(f.bytes, *out.span_context);
      default: return true;
    }
  });
}

bool decode(std::string_view bytes, SpanEvent& out) {
  out = SpanEvent{};
  return for_each_field(bytes, [&](const Field& f) {
    SpanEventType t = SpanEventType::kNone;
    switch (f.number) {
      case 1: return as_string(f, out.trace_id);
      case 2: return as_string(f, out.span_id);
      case 20: return as_int64(f, out.scope_ref);
      case 11: t = SpanEventType::kStart; break;
      case 12: t = SpanEventType::kEnd; break;
      case 13: t = SpanEventType::kName; break;
      case 14: t = SpanEventType::kAttributes; break;
      case 15: t = SpanEventType::kLink; break;
      case 100: t = SpanEventType::kAddEvent; break;
      default: return true;
    }
    if (!want(f, wire::kLen)) return false;
    // A later oneof member replaces an earlier one, as in any proto3 parser.
    std::string trace_id = std::move(out.trace_id), span_id = std::move(out.span_id);
    int64_t scope_ref = out.scope_ref;
    out = SpanEvent{};
    out.trace_id = std::move(trace_id);
    out.span_id = std::move(span_id);
    out.scope_ref = scope_ref;
    out.type = t;
    return decode_span_body(f.bytes, out);
  });
}

bool decode(std::string_view bytes, Resource& out) {
  out = Resource{};
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return add_kv(f, out.attributes, 0);
      case 2: return as_uint32(f, out.dropped_attributes_count);
      case 100: return as_string(f, out.schema_url);
      default: return true;
    }
  });
}

bool decode(std::string_view bytes, InstrumentationScope& out) {
  out = InstrumentationScope{};
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return as_int64(f, out.name_ref);
      case 2: return as_int64(f, out.version_ref);
      case 3: return add_kv(f, out.attributes, 0);
      case 4: return as_uint32(f, out.dropped_attributes_count);
      case 5: return as_int64(f, out.resource_ref);
      case 100: return as_string(f, out.schema_url);
      default: return true;
    }
  });
}

bool decode(std::string_view bytes, MetricRef& out) {
  out = MetricRef{};
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return as_string(f, out.name);
      case 2: return as_string(f, out.description);
      case 3: return as_string(f, out.unit);
      case 4: return as_int64(f, out.scope_ref);
      case 5:
      case 6:
      case 7:
      case 8: break;
      default: return true;
    }
    if (!want(f, wire::kLen)) return false;
    out.temporality = 0;
    out.is_monotonic = false;
    out.bucket_boundaries.clear();
    out.max_buckets = out.max_scale = 0;
    switch (f.number) {
      case 5: out.aggregation = AggregationKind::kGauge; return true;
      case 6:
        out.aggregation = AggregationKind::kSum;
        return for_each_field(f.bytes, [&](const Field& g) {
          if (g.number == 2) return as_int32(g, out.temporality);
          if (g.number == 3) {
            if (!want(g, wire::kVarint)) return false;
            out.is_monotonic = g.u != 0;
          }
          return true;
        });
      case 7:
        out.aggregation = AggregationKind::kHistogram;
        return for_each_field(f.bytes, [&](const Field& g) {
          if (g.number == 1) return as_int32(g, out.temporality);
          if (g.number != 2) return true;
          if (g.type == wire::kFixed64) {  // unpacked form is legal too
            double d;
            std::memcpy(&d, &g.u, 8);
            out.bucket_boundaries.push_back(d);
            return true;
          }
          if (!want(g, wire::kLen) || g.bytes.size() % 8 != 0) return false;
          for (size_t i = 0; i < g.bytes.size(); i += 8) {
            double d;
            std::memcpy(&d, g.bytes.data() + i, 8);
            out.bucket_boundaries.push_back(d);
          }
          return true;
        });
      default:
        out.aggregation = AggregationKind::kExpHistogram;
        return for_each_field(f.bytes, [&](const Field& g) {
          switch (g.number) {
            case 1: return as_int32(g, out.temporality);
            case 2: return as_int64(g, out.max_buckets);
            case 3: return as_int64(g, out.max_scale);
            default: return true;
          }
        });
    }
  });
}

}  // namespace otlp_mmap

// Wire-format primitives and message encode/decode round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/protowire.hpp"

namespace otlp_mmap {
namespace {

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST(Wire, VarintSizesAndBytes) {
  EXPECT_EQ(wire::varint_size(0), 1u);
  EXPECT_EQ(wire::varint_size(127), 1u);
  EXPECT_EQ(wire::varint_size(128), 2u);
  EXPECT_EQ(wire::varint_size(UINT64_MAX), 10u);
  uint8_t buf[16];
  wire::Encoder e(buf);
  e.varint(300);
  EXPECT_EQ(hex(std::string_view(reinterpret_cast<char*>(buf), e.pos() - buf)), "ac02");
}

TEST(Wire, DecoderRejectsTruncatedAndOverlongInput) {
  const uint8_t truncated[] = {0x80, 0x80};
  wire::Decoder d(truncated, truncated + 2);
  uint64_t v;
  EXPECT_FALSE(d.varint(v));
  const uint8_t overlong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  wire::Decoder d2(overlong, overlong + sizeof overlong);
  EXPECT_FALSE(d2.varint(v));
  const uint8_t bad_len[] = {0x0a, 0x05, 'a'};  // field 1, length 5, one byte present
  wire::Decoder d3(bad_len, bad_len + 3);
  uint32_t f;
  wire::WireType wt;
  std::string_view s;
  ASSERT_TRUE(d3.tag(f, wt));
  EXPECT_FALSE(d3.bytes(s));
}

// Known encodings, checked by hand against the proto3 rules (fields ascending, defaults
// omitted, a set oneof member always written).
TEST(Wire, MeasurementBytesAreCanonical) {
  KeyValueView kv{7, AnyValueView::string("GET")};
  MeasurementView m;
  m.metric_ref = 1000;
  m.attributes = std::span<const KeyValueView>(&kv, 1);
  m.time_unix_nano = 1;
  m.as_long = 0;  // oneof member set to 0 is still written
  EXPECT_EQ(hex(encode_to_string(m)),
            "08e807"
            "1209"
            "0807"
            "1205"
            "0a03474554"
            "190100000000000000"
            "2000");
}

TEST(Wire, EmptyOneofSubmessageIsWritten) {
  SpanEventView s;
  s.type = SpanEventType::kName;  // ChangeSpanName with empty name
  EXPECT_EQ(hex(encode_to_string(s)), "6a00");
}

TEST(Wire, NegativeEnumIsSignExtended) {
  EventView e;
  e.severity_number = -1;
  EXPECT_EQ(encode_to_string(e).size(), 11u);  // tag + 10-byte varint
}

TEST(Messages, EventRoundTrip) {
  AnyValueView arr[] = {AnyValueView::integer(-5), AnyValueView::real(2.5), AnyValueView::boolean(true)};
  KeyValueView inner[] = {{11, AnyValueView::blob(std::string_view("\0\1", 2))}};
  AnyValueView list;
  list.kind = AnyValueView::Kind::kArray;
  list.array = arr;
  AnyValueView kvl;
  kvl.kind = AnyValueView::Kind::kKvList;
  kvl.kvlist = inner;
  KeyValueView attrs[] = {{3, list}, {4, kvl}, {5, AnyValueView{}}};
  AnyValueView body = AnyValueView::string("hello body");
  const std::string trace(16, 't'), span(8, 's');
  EventView e;
  e.scope_ref = 99;
  e.time_unix_nano = 123456789;
  e.severity_number = 17;
  e.severity_text = "ERROR";
  e.body = &body;
  e.event_name_ref = 77;
  e.span_context = {true, trace, span, 1};
  e.attributes = attrs;
  e.observed_time_unix_nano = 5;
  e.dropped_attributes_count = 2;
  std::string bytes = encode_to_string(e);
  ASSERT_EQ(bytes.size(), encoded_size(e));
  Event out;
  ASSERT_TRUE(decode(bytes, out));
  EXPECT_EQ(out.scope_ref, 99);
  EXPECT_EQ(out.time_unix_nano, 123456789u);
  EXPECT_EQ(out.severity_number, 17);
  EXPECT_EQ(out.severity_text, "ERROR");
  ASSERT_TRUE(out.body.has_value());
  EXPECT_EQ(out.body->bytes, "hello body");
  EXPECT_EQ(out.event_name_ref, 77);
  ASSERT_TRUE(out.span_context.has_value());
  EXPECT_EQ(out.span_context->trace_id, std::string(16, 't'));
  EXPECT_EQ(out.span_context->span_id, std::string(8, 's'));
  EXPECT_EQ(out.span_context->flags, 1u);
  ASSERT_EQ(out.attributes.size(), 3u);
  EXPECT_EQ(out.attributes[0].value.kind, AnyValue::Kind::kArray);
  ASSERT_EQ(out.attributes[0].value.array.size(), 3u);
  EXPECT_EQ(out.attributes[0].value.array[0].int_value, -5);
  EXPECT_EQ(out.attributes[0].value.array[1].double_value, 2.5);
  EXPECT_TRUE(out.attributes[0].value.array[2].bool_value);
  EXPECT_EQ(out.attributes[1].value.kvlist[0].value.bytes, std::string("\0\1", 2));
  EXPECT_EQ(out.attributes[2].value.kind, AnyValue::Kind::kEmpty);
  EXPECT_EQ(out.observed_time_unix_nano, 5u);
  EXPECT_EQ(out.dropped_attributes_count, 2u);
}

TEST(Messages, SpanEventsRoundTrip) {
  KeyValueView attrs[] = {{1, AnyValueView::integer(1)}};
  const std::string la(16, 'a'), lb(8, 'b'), T(16, 'T'), S(8, 'S'), P(8, 'P');
  LinkView link{la, lb, "k=v", attrs, 3, 0x301};
  for (auto type : {SpanEventType::kStart, SpanEventType::kEnd, SpanEventType::kName, SpanEventType::kAttributes,
                    SpanEventType::kLink, SpanEventType::kAddEvent}) {
    SpanEventView s;
    s.type = type;
    s.trace_id = T;
    s.span_id = S;
    s.scope_ref = 4242;
    s.parent_span_id = P;
    s.name = "name";
    s.kind = 2;
    s.start_time_unix_nano = 10;
    s.flags = 0x101;
    s.trace_state = "a=b";
    s.attributes = attrs;
    s.end_time_unix_nano = 20;
    s.has_status = true;
    s.status_code = 2;
    s.status_message = "boom";
    s.dropped_attributes_count = 1;
    s.dropped_events_count = 2;
    s.dropped_links_count = 3;
    s.links = std::span<const LinkView>(&link, 1);
    s.event_time_unix_nano = 15;
    std::string bytes = encode_to_string(s);
    ASSERT_EQ(bytes.size(), encoded_size(s));
    SpanEvent out;
    ASSERT_TRUE(decode(bytes, out)) << static_cast<int>(type);
    EXPECT_EQ(out.type, type);
    EXPECT_EQ(out.trace_id, std::string(16, 'T'));
    EXPECT_EQ(out.span_id, std::string(8, 'S'));
    EXPECT_EQ(out.scope_ref, 4242);
    switch (type) {
      case SpanEventType::kStart:
        EXPECT_EQ(out.parent_span_id, std::string(8, 'P'));
        EXPECT_EQ(out.name, "name");
        EXPECT_EQ(out.kind, 2);
        EXPECT_EQ(out.start_time_unix_nano, 10u);
        EXPECT_EQ(out.flags, 0x101u);
        EXPECT_EQ(out.trace_state, "a=b");
        EXPECT_EQ(out.attributes.size(), 1u);
        break;
      case SpanEventType::kEnd:
        EXPECT_EQ(out.end_time_unix_nano, 20u);
        EXPECT_TRUE(out.has_status);
        EXPECT_EQ(out.status_code, 2);
        EXPECT_EQ(out.status_message, "boom");
        EXPECT_EQ(out.dropped_events_count, 2u);
        EXPECT_EQ(out.dropped_links_count, 3u);
        break;
      case SpanEventType::kLink:
        ASSERT_EQ(out.links.size(), 1u);
        EXPECT_EQ(out.links[0].trace_state, "k=v");
        EXPECT_EQ(out.links[0].flags, 0x301u);
        EXPECT_EQ(out.links[0].dropped_attributes_count, 3u);
        break;
      case SpanEventType::kAddEvent:
        EXPECT_EQ(out.event_time_unix_nano, 15u);
        EXPECT_EQ(out.name, "name");
        EXPECT_EQ(out.dropped_attributes_count, 1u);
        break;
      default: break;
    }
  }
}

TEST(Messages, MetricRefRoundTripEveryAggregation) {
  const double bounds[] = {0, 5, 10, 25.5};
  for (auto agg :
       {AggregationKind::kGauge, AggregationKind::kSum, AggregationKind::kHistogram, AggregationKind::kExpHistogram}) {
    MetricRefView m{"http.server.duration", "how long", "ms", 555, agg, kCumulative, true, bounds, 160, 20};
    MetricRef out;
    ASSERT_TRUE(decode(encode_to_string(m), out));
    EXPECT_EQ(out.name, "http.server.duration");
    EXPECT_EQ(out.description, "how long");
    EXPECT_EQ(out.unit, "ms");
    EXPECT_EQ(out.scope_ref, 555);
    EXPECT_EQ(out.aggregation, agg);
    if (agg == AggregationKind::kHistogram) {
      EXPECT_EQ(out.bucket_boundaries, std::vector<double>(bounds, bounds + 4));
    }
    if (agg == AggregationKind::kExpHistogram) {
      EXPECT_EQ(out.max_buckets, 160);
      EXPECT_EQ(out.max_scale, 20);
    }
    if (agg == AggregationKind::kSum) {
      EXPECT_TRUE(out.is_monotonic);
    }
    if (agg != AggregationKind::kGauge) {
      EXPECT_EQ(out.temporality, kCumulative);
    }
  }
}

// AnyValue nested `levels` deep: array_value { values { array_value { ... } } }.
std::string nested_arrays(int levels) {
  std::string v;  // innermost: empty AnyValue
  for (int i = 0; i < levels; ++i) {
    std::string arr(wire::len_field_size(1, v.size()), '\0');
    wire::Encoder a(reinterpret_cast<uint8_t*>(arr.data()));
    a.bytes_field(1, v);
    std::string any(wire::len_field_size(5, arr.size()), '\0');
    wire::Encoder b(reinterpret_cast<uint8_t*>(any.data()));
    b.bytes_field(5, arr);
    v = any;
  }
  return v;
}

TEST(Messages, NestingDepthIsBounded) {
  AnyValue out;
  EXPECT_TRUE(decode(nested_arrays(8), out));
  EXPECT_EQ(out.kind, AnyValue::Kind::kArray);
  EXPECT_FALSE(decode(nested_arrays(200), out));  // a hostile file cannot exhaust the stack
}

TEST(Messages, DecodersRejectWrongWireTypes) {
  Resource r;
  EXPECT_FALSE(decode(std::string_view("\x08\x01", 2), r));  // attributes (1) must be length-delimited
  SpanEvent s;
  EXPECT_FALSE(decode(std::string_view("\x58\x01", 2), s));  // start (11) must be length-delimited
  Measurement m;
  EXPECT_FALSE(decode(std::string_view("\x29\x01", 2), m));  // truncated fixed64 as_double
}

TEST(Messages, UnknownFieldsAreSkipped) {
  // Field 99 (varint) and field 98 (length-delimited) before a known field.
  std::string bytes = std::string("\x98\x06\x05\x92\x06\x02hi", 8) + std::string("\x08\x07", 2);
  Measurement m;
  ASSERT_TRUE(decode(bytes, m));
  EXPECT_EQ(m.metric_ref, 7);
}

}  // namespace
}  // namespace otlp_mmap

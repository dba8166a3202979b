// The zero-copy record views against the owned decoders: for many random and mutated records,
// both accept or both refuse, and what they decode is the same.
#include "otlp_mmap/record_view.hpp"

#include <gtest/gtest.h>

#include "otlp_mmap/messages.hpp"
#include "random_records.hpp"

namespace otlp_mmap {
namespace {

using testing::RandomRecords;

// The value a view hands out, decoded by the owned decoder (it was validated in place).
AnyValue owned(std::string_view value_bytes) {
  AnyValue v;
  EXPECT_TRUE(decode(value_bytes, v));
  return v;
}

void expect_same(const std::vector<KeyValueRef>& o, const std::vector<KeyValueRefView>& v, size_t first, size_t count) {
  ASSERT_EQ(o.size(), count);
  for (size_t i = 0; i < count; ++i) {
    EXPECT_EQ(o[i].key_ref, v[first + i].key_ref);
    EXPECT_TRUE(o[i].value == owned(v[first + i].value)) << "attribute " << i;
    // The member the resolver reads (decoded in place, by the scalar fast path or not).
    const AnyValueMember m = any_value_member(v[first + i].value);
    EXPECT_EQ(m.number, v[first + i].member.number) << "attribute " << i;
    EXPECT_EQ(m.u, v[first + i].member.u) << "attribute " << i;
    EXPECT_EQ(m.bytes, v[first + i].member.bytes) << "attribute " << i;
  }
}

void expect_same(const SpanEvent& o, const SpanRecordView& v) {
  EXPECT_EQ(o.type, v.type);
  EXPECT_EQ(o.trace_id, v.trace_id);
  EXPECT_EQ(o.span_id, v.span_id);
  EXPECT_EQ(o.scope_ref, v.scope_ref);
  EXPECT_EQ(o.parent_span_id, v.parent_span_id);
  EXPECT_EQ(o.kind, v.kind);
  EXPECT_EQ(o.start_time_unix_nano, v.start_time_unix_nano);
  EXPECT_EQ(o.flags, v.flags);
  EXPECT_EQ(o.trace_state, v.trace_state);
  EXPECT_EQ(o.name, v.name);
  expect_same(o.attributes, v.attributes, 0, v.attributes.size());
  EXPECT_EQ(o.end_time_unix_nano, v.end_time_unix_nano);
  EXPECT_EQ(o.has_status, v.has_status);
  EXPECT_EQ(o.status_message, v.status_message);
  EXPECT_EQ(o.status_code, v.status_code);
  EXPECT_EQ(o.dropped_attributes_count, v.dropped_attributes_count);
  EXPECT_EQ(o.dropped_events_count, v.dropped_events_count);
  EXPECT_EQ(o.dropped_links_count, v.dropped_links_count);
  EXPECT_EQ(o.event_time_unix_nano, v.event_time_unix_nano);
  ASSERT_EQ(o.links.size(), v.links.size());
  for (size_t i = 0; i < o.links.size(); ++i) {
    const Link& ol = o.links[i];
    const LinkRecordView& vl = v.links[i];
    EXPECT_EQ(ol.trace_id, vl.trace_id);
    EXPECT_EQ(ol.span_id, vl.span_id);
    EXPECT_EQ(ol.trace_state, vl.trace_state);
    EXPECT_EQ(ol.dropped_attributes_count, vl.dropped_attributes_count);
    EXPECT_EQ(ol.flags, vl.flags);
    expect_same(ol.attributes, v.links_attributes, vl.first_attribute, vl.attribute_count);
  }
}

void expect_same(const Event& o, const EventRecordView& v) {
  EXPECT_EQ(o.scope_ref, v.scope_ref);
  EXPECT_EQ(o.time_unix_nano, v.time_unix_nano);
  EXPECT_EQ(o.severity_number, v.severity_number);
  EXPECT_EQ(o.severity_text, v.severity_text);
  ASSERT_EQ(o.body.has_value(), v.has_body);
  if (o.body) {
    EXPECT_TRUE(*o.body == owned(v.body));
  }
  EXPECT_EQ(o.event_name_ref, v.event_name_ref);
  ASSERT_EQ(o.span_context.has_value(), v.span_context.present);
  if (o.span_context) {
    EXPECT_EQ(o.span_context->trace_id, v.span_context.trace_id);
    EXPECT_EQ(o.span_context->span_id, v.span_context.span_id);
    EXPECT_EQ(o.span_context->flags, v.span_context.flags);
  }
  expect_same(o.attributes, v.attributes, 0, v.attributes.size());
  EXPECT_EQ(o.observed_time_unix_nano, v.observed_time_unix_nano);
  EXPECT_EQ(o.dropped_attributes_count, v.dropped_attributes_count);
}

TEST(RecordView, SpanRecordsDecodeAsTheOwnedDecoderDecodesThem) {
  RandomRecords gen(42, {11, 12, 13}, {21, 22}, {31});
  const uint32_t types[] = {RandomRecords::kStart,      RandomRecords::kEnd,  RandomRecords::kName,
                            RandomRecords::kAttributes, RandomRecords::kLink, RandomRecords::kAddEvent};
  SpanRecordView view;  // reused, as a collector reuses it
  size_t accepted = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = gen.span_record(types[gen.below(6)], gen.id(gen.chance(0.9) ? 16 : 3), gen.id(8));
    if (gen.chance(0.1)) bytes += gen.span_record(types[gen.below(6)], gen.id(16), gen.id(8));  // oneof twice
    if (gen.chance(0.4)) bytes = gen.mutate(bytes);
    SpanEvent o;
    const bool ok = decode(bytes, o);
    ASSERT_EQ(ok, decode(bytes, view)) << "record " << i;
    if (!ok) {
      ++refused;
      continue;
    }
    ++accepted;
    expect_same(o, view);
    if (::testing::Test::HasFailure()) FAIL() << "record " << i;
  }
  EXPECT_GT(accepted, 10000u);
  EXPECT_GT(refused, 1000u);
}

TEST(RecordView, EventsDecodeAsTheOwnedDecoderDecodesThem) {
  RandomRecords gen(7, {11, 12}, {21}, {31, 32});
  EventRecordView view;
  size_t accepted = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = gen.event_record();
    if (gen.chance(0.4)) bytes = gen.mutate(bytes);
    Event o;
    const bool ok = decode(bytes, o);
    ASSERT_EQ(ok, decode(bytes, view)) << "record " << i;
    if (!ok) {
      ++refused;
      continue;
    }
    ++accepted;
    expect_same(o, view);
    if (::testing::Test::HasFailure()) FAIL() << "record " << i;
  }
  EXPECT_GT(accepted, 10000u);
  EXPECT_GT(refused, 1000u);
}

TEST(RecordView, NestingBeyondTheLimitIsRefusedAsByTheOwnedDecoder) {
  for (int depth = 1; depth < 24; ++depth) {
    std::string v;
    RandomRecords::varint(v, 3, 1);
    for (int i = 0; i < depth; ++i) {
      std::string arr;
      RandomRecords::bytes(arr, 1, v);
      v.clear();
      RandomRecords::bytes(v, 5, arr);
    }
    AnyValue o;
    EXPECT_EQ(decode(v, o), valid_any_value(v)) << "depth " << depth;
  }
}

}  // namespace
}  // namespace otlp_mmap

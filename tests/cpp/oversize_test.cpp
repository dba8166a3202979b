// Records larger than the writer's record limit: split or shortened, never jamming the ring.
// Every test runs twice: on the plain protocol, where the limit is one slot, and with
// extensions, where records are spread over several slots up to max_record_bytes.
#include <ostream>

#include "otlp_mmap/slot_record.hpp"
#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using testing::id_bytes;
using testing::TempDir;

struct Mode {
  bool extensions;
  const char* name;
};

// So that ctest lists the mode by name, not as the bytes of the struct.
void PrintTo(const Mode& m, std::ostream* os) { *os << m.name; }

WriterConfig mode_config(const Mode& m) {
  WriterConfig c = testing::small_config(64, 256);
  c.extensions = m.extensions;
  c.max_record_bytes = 1024;
  return c;
}

class Oversize : public ::testing::TestWithParam<Mode> {
 protected:
  TempDir dir;
  std::shared_ptr<Writer> w = Writer::open(dir.file(), mode_config(GetParam()));
  std::unique_ptr<Reader> r = Reader::open(dir.file(), testing::fast_reader());
  // The largest record payload the writer produces in this mode.
  const uint64_t limit = GetParam().extensions ? 1024 : slot_record::max_payload(256);
  std::string trace = id_bytes(16, 1), span = id_bytes(8, 2);

  std::map<std::string, std::string> attrs_of(const std::vector<KeyValueRef>& kvs) {
    std::map<std::string, std::string> out;
    for (const auto& kv : kvs) {
      std::string k;
      EXPECT_TRUE(r->read_string(kv.key_ref, k));
      out[k] = kv.value.bytes;
    }
    return out;
  }
};

TEST_P(Oversize, SpanStartIsSplitIntoStartAndAttributeUpdates) {
  std::vector<std::string> values;
  std::vector<KeyValueView> attrs;
  for (int i = 0; i < 80; ++i) values.push_back(std::string(60, static_cast<char>('a' + i % 26)));
  for (int i = 0; i < 80; ++i)
    attrs.push_back({w->intern("key." + std::to_string(i)), AnyValueView::string(values[i])});
  SpanEventView s;
  s.type = SpanEventType::kStart;
  s.trace_id = trace;
  s.span_id = span;
  s.name = "big";
  s.attributes = attrs;
  EXPECT_EQ(w->write(s), WriteStatus::kWritten);

  std::map<std::string, std::string> all;
  SpanEvent got;
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.type, SpanEventType::kStart);
  EXPECT_EQ(got.name, "big");
  auto first = attrs_of(got.attributes);
  all.insert(first.begin(), first.end());
  int updates = 0;
  while (r->next(got)) {
    EXPECT_EQ(got.type, SpanEventType::kAttributes);
    EXPECT_EQ(got.span_id, span);
    auto more = attrs_of(got.attributes);
    all.insert(more.begin(), more.end());
    ++updates;
  }
  EXPECT_GE(static_cast<uint64_t>(updates), 80 * 60 / limit);
  ASSERT_EQ(all.size(), 80u);  // nothing lost
  for (int i = 0; i < 80; ++i) EXPECT_EQ(all["key." + std::to_string(i)], values[i]);
  EXPECT_EQ(w->counters().truncated_values, 0u);
  EXPECT_EQ(w->counters().dropped_unencodable, 0u);
}

TEST_P(Oversize, HugeAttributeValueIsTruncatedAtACharacterBoundaryAndCounted) {
  std::string huge;
  for (int i = 0; i < 5000; ++i) huge += "\xc3\xa9";  // 'é', two bytes each
  KeyValueView attrs[] = {{w->intern("sql"), AnyValueView::string(huge)}};
  EXPECT_EQ(w->write(testing::span_start(trace, span, "query", attrs)), WriteStatus::kWrittenTruncated);
  SpanEvent got;
  std::string value;
  while (r->next(got)) {
    for (auto& kv : got.attributes) value = kv.value.bytes;
  }
  ASSERT_FALSE(value.empty());
  EXPECT_LT(value.size(), limit);
  EXPECT_GT(value.size(), limit / 2);
  EXPECT_EQ(value.size() % 2, 0u);  // whole characters only
  EXPECT_EQ(value, huge.substr(0, value.size()));
  EXPECT_EQ(w->counters().truncated_values, 1u);
}

TEST_P(Oversize, MeasurementIsShortenedTheSameWayEveryTime) {
  std::string long_value(5000, 'v');
  KeyValueView attrs[] = {{w->intern("route"), AnyValueView::string(long_value)},
                          {w->intern("code"), AnyValueView::integer(200)}};
  MeasurementView m;
  m.metric_ref = 1;
  m.attributes = attrs;
  m.as_long = 1;
  EXPECT_EQ(w->write(m), WriteStatus::kWrittenTruncated);
  EXPECT_EQ(w->write(m), WriteStatus::kWrittenTruncated);
  Measurement a, b;
  ASSERT_TRUE(r->next(a));
  ASSERT_TRUE(r->next(b));
  ASSERT_EQ(a.attributes.size(), 2u);
  EXPECT_EQ(a.attributes, b.attributes);  // same series
  EXPECT_EQ(a.attributes[1].value.int_value, 200);
  EXPECT_EQ(w->counters().truncated_values, 2u);
}

TEST_P(Oversize, EventBodyIsTruncatedAndAttributesKept) {
  std::string body_text(5000, 'b');
  AnyValueView body = AnyValueView::string(body_text);
  KeyValueView attrs[] = {{w->intern("k"), AnyValueView::integer(1)}};
  EventView e;
  e.body = &body;
  e.attributes = attrs;
  EXPECT_EQ(w->write(e), WriteStatus::kWrittenTruncated);
  Event got;
  ASSERT_TRUE(r->next(got));
  EXPECT_LT(got.body->bytes.size(), limit);
  EXPECT_GT(got.body->bytes.size(), limit / 2);
  EXPECT_EQ(got.attributes.size(), 1u);
}

TEST_P(Oversize, ManyLinksAreSplitAcrossRecords) {
  std::vector<std::string> traces;
  for (int i = 0; i < 100; ++i) traces.push_back(id_bytes(16, static_cast<uint8_t>(i)));
  std::vector<LinkView> links;
  for (int i = 0; i < 100; ++i) links.push_back({traces[i], span, "", {}, 0, 1});
  SpanEventView s;
  s.type = SpanEventType::kLink;
  s.trace_id = trace;
  s.span_id = span;
  s.links = links;
  EXPECT_EQ(w->write(s), WriteStatus::kWritten);
  size_t total = 0;
  int records = 0;
  SpanEvent got;
  while (r->next(got)) {
    total += got.links.size();
    ++records;
  }
  EXPECT_EQ(total, 100u);
  EXPECT_GT(records, 1);
}

TEST_P(Oversize, OversizeRecordNeverJamsTheRing) {
  // However many oversize writes, the ring keeps flowing: nothing is claimed unpublished.
  std::string huge(100000, 'z');
  AnyValueView body = AnyValueView::string(huge);
  EventView e;
  e.body = &body;
  Event got;
  int n = 0;
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(w->write(e), WriteStatus::kWrittenTruncated);
    while (r->next(got)) ++n;
  }
  EXPECT_EQ(n, 200);
  EXPECT_EQ(r->counters().torn[0], 0u);
  EXPECT_EQ(r->ring_state(layout::RingKind::kEvents).unread(), 0);
}

}  // namespace
}  // namespace otlp_mmap

namespace otlp_mmap {
namespace {

TEST_P(Oversize, EventWithTooManyAttributesKeepsWholeValuesAndCountsTheRest) {
  std::vector<std::string> keys;
  std::vector<KeyValueView> attrs;
  for (int i = 0; i < 200; ++i) keys.push_back("attribute." + std::to_string(i));
  for (int i = 0; i < 200; ++i) attrs.push_back({w->intern(keys[i]), AnyValueView::string("value")});
  std::string body_text(1000, 'b');
  AnyValueView body = AnyValueView::string(body_text);
  EventView e;
  e.body = &body;
  e.attributes = attrs;
  EXPECT_EQ(w->write(e), WriteStatus::kWrittenTruncated);
  Event got;
  ASSERT_TRUE(r->next(got));
  ASSERT_GT(got.attributes.size(), 0u);
  ASSERT_LT(got.attributes.size(), 200u);
  for (const auto& kv : got.attributes) EXPECT_EQ(kv.value.bytes, "value");  // whole, not emptied
  EXPECT_EQ(got.dropped_attributes_count, 200 - got.attributes.size());
  EXPECT_EQ(w->counters().truncated_values, 1u);  // only the body
}

INSTANTIATE_TEST_SUITE_P(Modes, Oversize, ::testing::Values(Mode{false, "PlainProtocol"}, Mode{true, "Spread"}),
                         [](const ::testing::TestParamInfo<Mode>& i) { return std::string(i.param.name); });

TEST(Compat, SpanEventsBecomeLogRecordsWhenExtensionsAreOff) {
  testing::TempDir dir;
  auto c = testing::small_config();
  c.extensions = false;
  auto w = Writer::open(dir.file(), c);
  const std::string trace = testing::id_bytes(16, 1), span = testing::id_bytes(8, 2);
  SpanEventView s;
  s.type = SpanEventType::kAddEvent;
  s.trace_id = trace;
  s.span_id = span;
  s.scope_ref = 77;
  s.name = "exception";
  s.event_time_unix_nano = 5;
  EXPECT_EQ(w->write(s), WriteStatus::kWritten);
  auto r = Reader::open(dir.file());
  SpanEvent se;
  EXPECT_FALSE(r->next(se));
  Event ev;
  ASSERT_TRUE(r->next(ev));
  std::string name;
  ASSERT_TRUE(r->read_string(ev.event_name_ref, name));
  EXPECT_EQ(name, "exception");
  EXPECT_EQ(ev.scope_ref, 77);
  EXPECT_EQ(ev.span_context->span_id, span);
  EXPECT_EQ(ev.time_unix_nano, 5u);
}

}  // namespace
}  // namespace otlp_mmap

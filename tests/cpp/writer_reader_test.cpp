// Writing every kind of record and reading it back; the dictionary.
#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using testing::id_bytes;
using testing::TempDir;

class WriterReader : public ::testing::Test {
 protected:
  TempDir dir;
  std::shared_ptr<Writer> w = Writer::open(dir.file(), testing::small_config());
  std::unique_ptr<Reader> r = Reader::open(dir.file(), testing::fast_reader());
};

TEST_F(WriterReader, StringsAreInternedOnce) {
  int64_t a = w->intern("service.name");
  int64_t b = w->intern("service.name");
  int64_t c = w->intern("other");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(r->dictionary_entries(), 2);
  std::string s;
  ASSERT_TRUE(r->read_string(a, s));
  EXPECT_EQ(s, "service.name");
  ASSERT_TRUE(r->read_string(0, s));
  EXPECT_EQ(s, "");
}

TEST_F(WriterReader, ResourceAttributeOrderDoesNotMatter) {
  int64_t k1 = w->intern("a"), k2 = w->intern("b");
  KeyValueView ab[] = {{k1, AnyValueView::string("x")}, {k2, AnyValueView::integer(2)}};
  KeyValueView ba[] = {{k2, AnyValueView::integer(2)}, {k1, AnyValueView::string("x")}};
  int64_t r1 = w->create_resource({ab, 0, "https://schema"});
  int64_t r2 = w->create_resource({ba, 0, "https://schema"});
  EXPECT_EQ(r1, r2);
  int64_t entries = r->dictionary_entries();
  EXPECT_EQ(w->create_resource({ab, 0, "https://schema"}), r1);
  EXPECT_EQ(r->dictionary_entries(), entries);  // nothing new written
  Resource res;
  ASSERT_TRUE(r->read(r1, res));
  ASSERT_EQ(res.attributes.size(), 2u);
  EXPECT_EQ(res.schema_url, "https://schema");
  int64_t scope = w->create_scope({w->intern("lib"), w->intern("1.0"), {}, 0, r1, ""});
  InstrumentationScope sc;
  ASSERT_TRUE(r->read(scope, sc));
  EXPECT_EQ(sc.resource_ref, r1);
  std::string name;
  ASSERT_TRUE(r->read_string(sc.name_ref, name));
  EXPECT_EQ(name, "lib");
}

TEST_F(WriterReader, EverySpanEventRoundTrips) {
  const std::string trace = id_bytes(16, 1), span = id_bytes(8, 2), parent = id_bytes(8, 3);
  KeyValueView attrs[] = {{w->intern("http.method"), AnyValueView::string("GET")}};
  SpanEventView s;
  s.trace_id = trace;
  s.span_id = span;
  s.scope_ref = 1234;
  s.type = SpanEventType::kStart;
  s.parent_span_id = parent;
  s.name = "GET /";
  s.kind = 2;
  s.start_time_unix_nano = 100;
  s.attributes = attrs;
  s.flags = 1;
  ASSERT_EQ(w->write(s), WriteStatus::kWritten);
  SpanEventView end;
  end.type = SpanEventType::kEnd;
  end.trace_id = trace;
  end.span_id = span;
  end.scope_ref = 1234;
  end.end_time_unix_nano = 200;
  end.has_status = true;
  end.status_code = 2;
  end.status_message = "boom";
  ASSERT_EQ(w->write(end), WriteStatus::kWritten);

  SpanEvent got;
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.type, SpanEventType::kStart);
  EXPECT_EQ(got.trace_id, trace);
  EXPECT_EQ(got.parent_span_id, parent);
  EXPECT_EQ(got.name, "GET /");
  ASSERT_EQ(got.attributes.size(), 1u);
  std::string key;
  ASSERT_TRUE(r->read_string(got.attributes[0].key_ref, key));
  EXPECT_EQ(key, "http.method");
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.type, SpanEventType::kEnd);
  EXPECT_EQ(got.status_code, 2);
  EXPECT_EQ(got.status_message, "boom");
  EXPECT_FALSE(r->next(got));
}

TEST_F(WriterReader, EventsAndMeasurementsRoundTrip) {
  AnyValueView body = AnyValueView::string("user logged in");
  EventView e;
  e.scope_ref = 5;
  e.time_unix_nano = 7;
  e.severity_number = 9;
  e.severity_text = "INFO";
  e.body = &body;
  e.event_name_ref = w->intern("login");
  ASSERT_EQ(w->write(e), WriteStatus::kWritten);
  MeasurementView m;
  m.metric_ref = 6;
  m.is_double = true;
  m.as_double = 0.25;
  const std::string trace = id_bytes(16, 9), span = id_bytes(8, 9);
  m.span_context = {true, trace, span, 1};
  ASSERT_EQ(w->write(m), WriteStatus::kWritten);
  Event ge;
  ASSERT_TRUE(r->next(ge));
  EXPECT_EQ(ge.body->bytes, "user logged in");
  EXPECT_EQ(ge.severity_text, "INFO");
  Measurement gm;
  ASSERT_TRUE(r->next(gm));
  EXPECT_EQ(gm.value_kind, Measurement::ValueKind::kDouble);
  EXPECT_EQ(gm.as_double, 0.25);
  EXPECT_EQ(gm.span_context->trace_id, id_bytes(16, 9));
}

TEST_F(WriterReader, PeekDoesNotConsume) {
  MeasurementView m;
  m.metric_ref = 1;
  for (int i = 0; i < 3; ++i) {
    m.as_long = i;
    ASSERT_EQ(w->write(m), WriteStatus::kWritten);
  }
  std::vector<int64_t> seen;
  r->peek(layout::RingKind::kMeasurements, 10, [&](int64_t seq, std::string_view payload) {
    Measurement x;
    ASSERT_TRUE(decode(payload, x));
    seen.push_back(seq * 100 + x.as_long);
  });
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 101, 202}));
  EXPECT_EQ(r->ring_state(layout::RingKind::kMeasurements).unread(), 3);
}

TEST_F(WriterReader, DictionaryGrowsWithoutMovingAndEveryEntryStaysReadable) {
  const uint64_t size_before = r->file_size();
  std::vector<std::pair<int64_t, std::string>> refs;
  for (int i = 0; i < 2000; ++i) {
    std::string s = "attribute.value." + std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'x');
    int64_t ref = w->intern(s);
    ASSERT_NE(ref, 0);
    refs.emplace_back(ref, s);
  }
  EXPECT_GT(r->file_size(), size_before);
  for (const auto& [ref, s] : refs) {
    std::string got;
    ASSERT_TRUE(r->read_string(ref, got));
    ASSERT_EQ(got, s);
  }
  size_t count = 0;
  r->for_each_entry(100000, [&](int64_t, std::string_view) { ++count; });
  EXPECT_EQ(count, 2000u);
}

TEST(Dictionary, FullDictionaryReturnsZeroAndCounts) {
  TempDir dir;
  auto c = testing::small_config();
  c.geometry.dictionary_initial_bytes = 1024;
  c.dictionary_max_bytes = 2048;
  auto w = Writer::open(dir.file(), c);
  int zeros = 0;
  for (int i = 0; i < 200; ++i) zeros += w->intern("some string number " + std::to_string(i)) == 0 ? 1 : 0;
  EXPECT_GT(zeros, 0);
  EXPECT_EQ(w->counters().dropped_unencodable, static_cast<uint64_t>(zeros));
}

TEST_F(WriterReader, BadReferencesAreRejected) {
  std::string s;
  EXPECT_FALSE(r->read_string(-5, s));
  EXPECT_FALSE(r->read_string(64, s));  // inside a ring, not the dictionary
  EXPECT_FALSE(r->read_string(int64_t{1} << 40, s));
  Resource res;
  EXPECT_FALSE(r->read(r->file_layout().first_entry_offset() + 100000, res));
}

}  // namespace
}  // namespace otlp_mmap

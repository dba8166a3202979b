// Span assembly: every record kind, replace-on-update, orphans, invalid records, incomplete
// spans (cap, age, dead writer, shutdown), grouping by content and deterministic order.
#include "otlp_mmap/collector/processor/span_assembler.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "otlp_mmap/collector/exporter/batcher.hpp"
#include "pipeline_test_util.hpp"
#include "record_bytes.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;
using namespace std::chrono_literals;

struct Emitted {
  std::shared_ptr<const ResolvedScope> scope;
  otlp::Span span;
};

class SpansTest : public ::testing::Test {
 protected:
  SpansTest() { make({}); }

  void make(SpanAssemblerOptions options) {
    assembler_ = std::make_unique<SpanAssembler>(
        options, [this](std::shared_ptr<const ResolvedScope> scope, const SpanDraft& span) {
          // The span as its bytes, read back with libprotobuf.
          std::string bytes;
          otlp_wire::Out out(bytes);
          span.encode(out);
          Emitted e{scope, {}};
          EXPECT_TRUE(e.span.ParseFromString(bytes));
          emitted.push_back(std::move(e));
          batch.add(scope, bytes, now.steady);
        });
  }

  SpanEvent start(uint8_t t, uint8_t s, std::string name, int64_t scope_ref, uint64_t time = 1000) {
    SpanEvent r;
    r.type = SpanEventType::kStart;
    r.trace_id = trace_id(t);
    r.span_id = span_id(s);
    r.scope_ref = scope_ref;
    r.name = std::move(name);
    r.kind = 2;
    r.start_time_unix_nano = time;
    r.flags = 1;
    return r;
  }
  SpanEvent of(SpanEventType type, uint8_t t, uint8_t s) {
    SpanEvent r;
    r.type = type;
    r.trace_id = trace_id(t);
    r.span_id = span_id(s);
    return r;
  }
  SpanEvent end(uint8_t t, uint8_t s, uint64_t time = 2000) {
    SpanEvent r = of(SpanEventType::kEnd, t, s);
    r.end_time_unix_nano = time;
    return r;
  }
  // A record as the collector reads it: a view of its bytes.
  void handle(const SpanEvent& r) { assembler_->handle(views(r), f.resolver, now); }
  // The batch's next request, as a message.
  size_t take(otlp::ExportTraceServiceRequest& req) {
    EncodedRequest encoded;
    const size_t n = batch.take(encoded);
    EXPECT_TRUE(to_message(encoded, req));
    return n;
  }

  TestFile f;
  Now now{std::chrono::steady_clock::time_point(100s), 5'000'000};
  std::unique_ptr<SpanAssembler> assembler_;
  std::vector<Emitted> emitted;
  Batcher batch{100000, 1s};
  RecordViews views;
};

TEST_F(SpansTest, EveryRecordKindMakesOneSpan) {
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib", "1.2");
  SpanEvent s = start(1, 10, "first name", scope, 1000);
  s.parent_span_id = span_id(50);
  s.kind = 3;
  s.flags = 0x301;  // sampled, parent is-remote known and remote
  s.trace_state = "vendor=x";
  s.attributes = {f.kv("a", int_value(1)), f.kv("b", str_value("x"))};
  handle(s);

  SpanEvent rename = of(SpanEventType::kName, 1, 10);
  rename.name = "second name";
  handle(rename);

  SpanEvent update = of(SpanEventType::kAttributes, 1, 10);
  update.attributes = {f.kv("b", str_value("y")), f.kv("c", bool_value(true))};
  handle(update);

  SpanEvent link = of(SpanEventType::kLink, 1, 10);
  Link l;
  l.trace_id = trace_id(7);
  l.span_id = span_id(8);
  l.trace_state = "k=v";
  l.attributes = {f.kv("link.attr", double_value(1.5))};
  l.dropped_attributes_count = 2;
  l.flags = 0x101;
  link.links = {l};
  handle(link);

  SpanEvent ev = of(SpanEventType::kAddEvent, 1, 10);
  ev.name = "exception";
  ev.event_time_unix_nano = 1500;
  ev.attributes = {f.kv("exception.type", str_value("ValueError"))};
  ev.dropped_attributes_count = 1;
  handle(ev);

  SpanEvent e = end(1, 10, 3000);
  e.has_status = true;
  e.status_code = 2;
  e.status_message = "boom";
  e.dropped_attributes_count = 3;
  e.dropped_events_count = 4;
  e.dropped_links_count = 5;
  handle(e);

  ASSERT_EQ(emitted.size(), 1u);
  const otlp::Span& span = emitted[0].span;
  EXPECT_EQ(span.trace_id(), trace_id(1));
  EXPECT_EQ(span.span_id(), span_id(10));
  EXPECT_EQ(span.parent_span_id(), span_id(50));
  EXPECT_EQ(span.name(), "second name");
  EXPECT_EQ(span.kind(), otlp::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(span.flags(), 0x301u);
  EXPECT_EQ(span.trace_state(), "vendor=x");
  EXPECT_EQ(span.start_time_unix_nano(), 1000u);
  EXPECT_EQ(span.end_time_unix_nano(), 3000u);
  EXPECT_EQ(attrs_of(span.attributes()), (std::vector<std::string>{"a=i:1", "b=s:y", "c=b:true"}));
  ASSERT_EQ(span.links_size(), 1);
  EXPECT_EQ(span.links(0).trace_id(), trace_id(7));
  EXPECT_EQ(span.links(0).span_id(), span_id(8));
  EXPECT_EQ(span.links(0).trace_state(), "k=v");
  EXPECT_EQ(span.links(0).flags(), 0x101u);
  EXPECT_EQ(span.links(0).dropped_attributes_count(), 2u);
  EXPECT_EQ(attrs_of(span.links(0).attributes()), (std::vector<std::string>{"link.attr=d:1.500000"}));
  ASSERT_EQ(span.events_size(), 1);
  EXPECT_EQ(span.events(0).name(), "exception");
  EXPECT_EQ(span.events(0).time_unix_nano(), 1500u);
  EXPECT_EQ(span.events(0).dropped_attributes_count(), 1u);
  EXPECT_EQ(attrs_of(span.events(0).attributes()), (std::vector<std::string>{"exception.type=s:ValueError"}));
  EXPECT_EQ(span.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(span.status().message(), "boom");
  EXPECT_EQ(span.dropped_attributes_count(), 3u);
  EXPECT_EQ(span.dropped_events_count(), 4u);
  EXPECT_EQ(span.dropped_links_count(), 5u);
  EXPECT_EQ(emitted[0].scope->scope.name(), "lib");
  EXPECT_EQ(emitted[0].scope->scope.version(), "1.2");
  EXPECT_EQ(attrs_of(emitted[0].scope->resource->resource.attributes()),
            (std::vector<std::string>{"service.name=s:svc"}));
  EXPECT_EQ(assembler_->in_flight(), 0u);
  EXPECT_EQ(assembler_->stats().completed, 1u);
}

TEST_F(SpansTest, EndWithoutStatusLeavesStatusUnset) {
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  handle(start(1, 1, "s", scope));
  handle(end(1, 1));
  ASSERT_EQ(emitted.size(), 1u);
  EXPECT_FALSE(emitted[0].span.has_status());
  EXPECT_EQ(emitted[0].span.parent_span_id(), "");
}

TEST_F(SpansTest, LaterAttributeValueReplacesEarlierOne) {
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  SpanEvent s = start(1, 1, "s", scope);
  // A key repeated inside one record, then updated twice: one key, the last value, at the
  // position of its first appearance.
  s.attributes = {f.kv("k", int_value(1)), f.kv("other", int_value(0)), f.kv("k", int_value(2))};
  handle(s);
  SpanEvent u1 = of(SpanEventType::kAttributes, 1, 1);
  u1.attributes = {f.kv("k", int_value(3))};
  handle(u1);
  SpanEvent u2 = of(SpanEventType::kAttributes, 1, 1);
  u2.attributes = {f.kv("k", str_value("last")), f.kv("new", bool_value(false))};
  handle(u2);
  handle(end(1, 1));
  ASSERT_EQ(emitted.size(), 1u);
  EXPECT_EQ(attrs_of(emitted[0].span.attributes()), (std::vector<std::string>{"k=s:last", "other=i:0", "new=b:false"}));
}

TEST_F(SpansTest, OrphanUpdatesAndEndsAreCountedAndDropped) {
  for (auto type : {SpanEventType::kName, SpanEventType::kAttributes, SpanEventType::kLink, SpanEventType::kAddEvent,
                    SpanEventType::kEnd}) {
    handle(of(type, 9, 9));
  }
  EXPECT_TRUE(emitted.empty());
  EXPECT_EQ(assembler_->stats().orphans, 5u);
  EXPECT_EQ(assembler_->in_flight(), 0u);
}

TEST_F(SpansTest, InvalidIdsAndUnknownRecordsAreSkipped) {
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  SpanEvent short_trace = start(1, 1, "s", scope);
  short_trace.trace_id.resize(15);
  handle(short_trace);
  SpanEvent long_span = start(1, 1, "s", scope);
  long_span.span_id += "x";
  handle(long_span);
  SpanEvent unknown = of(SpanEventType::kNone, 1, 1);
  handle(unknown);
  EXPECT_EQ(assembler_->stats().invalid_ids, 2u);
  EXPECT_EQ(assembler_->stats().unknown_records, 1u);
  EXPECT_EQ(assembler_->in_flight(), 0u);

  // Bad fields inside a good record are dropped, the span is kept.
  SpanEvent s = start(2, 2, "s", scope);
  s.parent_span_id = "abc";
  s.kind = 42;
  handle(s);
  SpanEvent link = of(SpanEventType::kLink, 2, 2);
  Link bad;
  bad.trace_id = "short";
  bad.span_id = span_id(1);
  link.links = {bad};
  handle(link);
  SpanEvent e = end(2, 2);
  e.has_status = true;
  e.status_code = 7;
  handle(e);
  ASSERT_EQ(emitted.size(), 1u);
  EXPECT_EQ(emitted[0].span.parent_span_id(), "");
  EXPECT_EQ(emitted[0].span.kind(), otlp::Span::SPAN_KIND_UNSPECIFIED);
  EXPECT_EQ(emitted[0].span.links_size(), 0);
  EXPECT_EQ(emitted[0].span.dropped_links_count(), 1u);
  EXPECT_EQ(emitted[0].span.status().code(), otlp::Status::STATUS_CODE_UNSET);
  EXPECT_EQ(assembler_->stats().invalid_fields, 4u);
}

TEST_F(SpansTest, UnresolvableAttributeKeysAreCountedAsDropped) {
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  SpanEvent s = start(1, 1, "s", scope);
  KeyValueRef bad;
  bad.key_ref = 1 << 30;  // beyond the file
  bad.value = int_value(1);
  s.attributes = {bad, f.kv("ok", int_value(2))};
  handle(s);
  handle(end(1, 1));
  ASSERT_EQ(emitted.size(), 1u);
  EXPECT_EQ(attrs_of(emitted[0].span.attributes()), (std::vector<std::string>{"ok=i:2"}));
  EXPECT_EQ(emitted[0].span.dropped_attributes_count(), 1u);
  EXPECT_EQ(f.resolver.stats().string_failures, 1u);
}

bool is_incomplete(const otlp::Span& s, const char* reason) {
  bool flag = false, why = false;
  for (const auto& kv : s.attributes()) {
    if (kv.key() == kIncompleteAttribute && kv.value().bool_value()) flag = true;
    if (kv.key() == kIncompleteReasonAttribute && kv.value().string_value() == reason) why = true;
  }
  return flag && why && !s.has_status();
}

TEST_F(SpansTest, OverflowEvictsTheOldestAsIncomplete) {
  SpanAssemblerOptions o;
  o.max_in_flight = 2;
  make(o);
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  handle(start(1, 1, "oldest", scope, 100));
  handle(start(1, 2, "middle", scope, 200));
  handle(end(1, 2, 300));  // ends: frees a place
  handle(start(1, 3, "third", scope, 400));
  EXPECT_TRUE(emitted.size() == 1 && emitted[0].span.name() == "middle");
  handle(start(1, 4, "fourth", scope, 500));  // full: "oldest" goes
  ASSERT_EQ(emitted.size(), 2u);
  EXPECT_EQ(emitted[1].span.name(), "oldest");
  EXPECT_TRUE(is_incomplete(emitted[1].span, "evicted"));
  EXPECT_EQ(emitted[1].span.end_time_unix_nano(), now.unix_nano);
  EXPECT_EQ(assembler_->in_flight(), 2u);
  EXPECT_EQ(assembler_->stats().incomplete_by_reason[static_cast<size_t>(IncompleteReason::kEvicted)], 1u);
  // The evicted span's end, arriving later, is an orphan.
  handle(end(1, 1, 600));
  EXPECT_EQ(assembler_->stats().orphans, 1u);
}

TEST_F(SpansTest, SpansOlderThanMaxAgeAreExportedIncomplete) {
  SpanAssemblerOptions o;
  o.max_age = 10s;
  make(o);
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  handle(start(1, 1, "old", scope, 100));
  now.steady += 6s;
  handle(start(1, 2, "young", scope, 200));
  now.steady += 5s;  // "old" is 11 s old, "young" 5 s
  now.unix_nano = 9'000'000;
  EXPECT_EQ(assembler_->expire(now), 1u);
  ASSERT_EQ(emitted.size(), 1u);
  EXPECT_EQ(emitted[0].span.name(), "old");
  EXPECT_TRUE(is_incomplete(emitted[0].span, "max_age"));
  EXPECT_EQ(emitted[0].span.end_time_unix_nano(), 9'000'000u);  // when the collector gave up
  EXPECT_EQ(assembler_->in_flight(), 1u);
}

TEST_F(SpansTest, DeadWriterSpansEndAtTheLastTimeKnown) {
  const int64_t gone = f.scope(f.resource({{"service.name", "a"}}, 4242), "lib");
  const int64_t alive = f.scope(f.resource({{"service.name", "b"}}, 4343), "lib");
  handle(start(1, 1, "with event", gone, 1000));
  SpanEvent ev = of(SpanEventType::kAddEvent, 1, 1);
  ev.name = "last words";
  ev.event_time_unix_nano = 1700;
  handle(ev);
  handle(start(1, 2, "no event", gone, 1200));
  handle(start(1, 3, "other writer", alive, 1300));
  EXPECT_EQ(assembler_->writer_pids(), (std::vector<int64_t>{4242, 4343}));
  EXPECT_EQ(assembler_->finish_writers({4242}), 2u);
  ASSERT_EQ(emitted.size(), 2u);
  EXPECT_EQ(emitted[0].span.name(), "with event");
  EXPECT_TRUE(is_incomplete(emitted[0].span, "writer_exited"));
  EXPECT_EQ(emitted[0].span.end_time_unix_nano(), 1700u);
  EXPECT_EQ(emitted[1].span.name(), "no event");
  EXPECT_EQ(emitted[1].span.end_time_unix_nano(), 1200u);
  EXPECT_EQ(assembler_->writer_pids(), (std::vector<int64_t>{4343}));
  EXPECT_EQ(assembler_->in_flight(), 1u);
}

TEST_F(SpansTest, WatchedPidsCountTheirRecords) {
  const int64_t scope = f.scope(f.resource({{"service.name", "a"}}, 777), "lib");
  handle(start(1, 1, "s", scope));
  assembler_->watch({777});
  EXPECT_EQ(assembler_->watched_records(777), 0u);
  SpanEvent n = of(SpanEventType::kName, 1, 1);
  n.name = "t";
  handle(n);
  handle(start(1, 2, "s2", scope));
  EXPECT_EQ(assembler_->watched_records(777), 2u);
}

TEST_F(SpansTest, ShutdownFinishesEverythingOldestFirst) {
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  handle(start(1, 3, "a", scope, 10));
  handle(start(1, 1, "b", scope, 20));
  handle(start(1, 2, "c", scope, 30));
  handle(end(1, 1, 40));
  EXPECT_EQ(assembler_->finish_all(IncompleteReason::kShutdown, now), 2u);
  ASSERT_EQ(emitted.size(), 3u);
  EXPECT_EQ(emitted[1].span.name(), "a");
  EXPECT_EQ(emitted[2].span.name(), "c");
  EXPECT_TRUE(is_incomplete(emitted[2].span, "shutdown"));
  EXPECT_EQ(emitted[2].span.end_time_unix_nano(), now.unix_nano);
  EXPECT_EQ(assembler_->in_flight(), 0u);
}

TEST_F(SpansTest, SecondStartSupersedesTheFirst) {
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  handle(start(1, 1, "first", scope));
  handle(start(1, 1, "second", scope));
  handle(end(1, 1));
  ASSERT_EQ(emitted.size(), 2u);
  EXPECT_TRUE(is_incomplete(emitted[0].span, "superseded"));
  EXPECT_EQ(emitted[1].span.name(), "second");
}

TEST_F(SpansTest, PerSpanLimitsBoundAHostileWriter) {
  SpanAssemblerOptions o;
  o.max_attributes = 3;
  o.max_events = 2;
  o.max_links = 1;
  make(o);
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  SpanEvent s = start(1, 1, "s", scope);
  for (int i = 0; i < 5; ++i) s.attributes.push_back(f.kv("k" + std::to_string(i), int_value(i)));
  handle(s);
  for (int i = 0; i < 4; ++i) {
    SpanEvent ev = of(SpanEventType::kAddEvent, 1, 1);
    ev.name = "e";
    handle(ev);
    SpanEvent link = of(SpanEventType::kLink, 1, 1);
    Link l;
    l.trace_id = trace_id(3);
    l.span_id = span_id(4);
    link.links = {l};
    handle(link);
  }
  handle(end(1, 1));
  ASSERT_EQ(emitted.size(), 1u);
  EXPECT_EQ(emitted[0].span.attributes_size(), 3);
  EXPECT_EQ(emitted[0].span.dropped_attributes_count(), 2u);
  EXPECT_EQ(emitted[0].span.events_size(), 2);
  EXPECT_EQ(emitted[0].span.dropped_events_count(), 2u);
  EXPECT_EQ(emitted[0].span.links_size(), 1);
  EXPECT_EQ(emitted[0].span.dropped_links_count(), 3u);
}

// Two resources, each written twice (two entries with the same content, as two processes or
// a restarted process produce), two scopes: grouping follows content, not refs.
TEST_F(SpansTest, GroupsByResourceAndScopeContent) {
  // The writer interns identical bytes once; a second entry with the same content comes
  // from encoding the attributes in another order (the resolver sorts them).
  auto resource_entry = [&](std::string_view svc, std::string_view host, bool reversed) {
    std::vector<KeyValueView> kvs{{f.key("service.name"), AnyValueView::string(svc)},
                                  {f.key("host.name"), AnyValueView::string(host)}};
    if (reversed) std::reverse(kvs.begin(), kvs.end());
    ResourceView r;
    r.attributes = kvs;
    return f.writer->intern(encode_to_string(r));
  };
  const int64_t r1a = resource_entry("svc-1", "h", false);
  const int64_t r1b = resource_entry("svc-1", "h", true);
  const int64_t r2a = resource_entry("svc-2", "h", false);
  const int64_t r2b = resource_entry("svc-2", "h", true);
  ASSERT_NE(r1a, r1b);
  ASSERT_NE(r2a, r2b);
  const int64_t s1a = f.scope(r1a, "lib", "1");
  const int64_t s1b = f.scope(r1b, "lib", "1");
  const int64_t s1other = f.scope(r1b, "other", "1");
  const int64_t s2a = f.scope(r2a, "lib", "1");
  const int64_t s2b = f.scope(r2b, "lib", "1");
  const std::vector<std::pair<int64_t, std::string>> order = {
      {s2b, "2b"}, {s1a, "1a"}, {s1other, "1other"}, {s2a, "2a"}, {s1b, "1b"}};
  uint8_t id = 1;
  for (const auto& [scope, name] : order) {
    handle(start(1, id, name, scope));
    handle(end(1, id));
    ++id;
  }
  otlp::ExportTraceServiceRequest req;
  EXPECT_EQ(take(req), 5u);
  ASSERT_EQ(req.resource_spans_size(), 2);
  auto names = [](const otlp::ScopeSpans& ss) {
    std::vector<std::string> out;
    for (const auto& s : ss.spans()) out.push_back(s.name());
    return out;
  };
  // Resources in content order (svc-1 before svc-2), scopes in content order.
  const auto& first = req.resource_spans(0);
  EXPECT_EQ(attrs_of(first.resource().attributes()),
            (std::vector<std::string>{"host.name=s:h", "service.name=s:svc-1"}));
  ASSERT_EQ(first.scope_spans_size(), 2);
  EXPECT_EQ(first.scope_spans(0).scope().name(), "lib");
  EXPECT_EQ(names(first.scope_spans(0)), (std::vector<std::string>{"1a", "1b"}));
  EXPECT_EQ(first.scope_spans(1).scope().name(), "other");
  EXPECT_EQ(names(first.scope_spans(1)), (std::vector<std::string>{"1other"}));
  const auto& second = req.resource_spans(1);
  EXPECT_EQ(attrs_of(second.resource().attributes()),
            (std::vector<std::string>{"host.name=s:h", "service.name=s:svc-2"}));
  ASSERT_EQ(second.scope_spans_size(), 1);
  EXPECT_EQ(names(second.scope_spans(0)), (std::vector<std::string>{"2b", "2a"}));
}

TEST_F(SpansTest, RequestOrderDoesNotDependOnArrivalOrder) {
  const int64_t a = f.scope(f.resource({{"service.name", "alpha"}}), "x");
  const int64_t b = f.scope(f.resource({{"service.name", "beta"}}), "y");
  const int64_t c = f.scope(f.resource({{"service.name", "alpha"}}), "w");
  auto run = [&](std::vector<int64_t> scopes) {
    emitted.clear();
    uint8_t id = 1;
    for (int64_t s : scopes) {
      handle(start(2, id, "n", s));
      handle(end(2, id));
      ++id;
    }
    otlp::ExportTraceServiceRequest req;
    take(req);
    std::vector<std::string> shape;
    for (const auto& rs : req.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        shape.push_back(rs.resource().attributes(0).value().string_value() + "/" + ss.scope().name() + "/" +
                        std::to_string(ss.spans_size()));
      }
    }
    return shape;
  };
  const auto one = run({a, b, c, a});
  const auto two = run({b, a, a, c});
  EXPECT_EQ(one, two);
  // Ordered by encoded content (deterministic, not alphabetical): the two scopes of "alpha"
  // sit together in one resource.
  ASSERT_EQ(one.size(), 3u);
  EXPECT_EQ(std::count(one.begin(), one.end(), "alpha/x/2"), 1);
  EXPECT_EQ(std::count(one.begin(), one.end(), "beta/y/1"), 1);
  const auto w = std::find(one.begin(), one.end(), "alpha/w/1");
  const auto x = std::find(one.begin(), one.end(), "alpha/x/2");
  EXPECT_EQ(std::abs(w - x), 1);
}

}  // namespace
}  // namespace otlp_mmap::collector

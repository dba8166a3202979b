// Conformance of the OTLP bytes the collector writes directly (span assembly, log mapping,
// request encoding) with what libprotobuf makes of the same content built as message objects,
// the way the collector built it before it wrote bytes: for many random record streams against
// a real dictionary (keys and strings that are not UTF-8, value refs, chains of value refs
// deeper than the limit, unknown refs, duplicate keys, every span record kind, supersedes and
// incomplete spans), every span and log record must be the same message, and the same bytes.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <unordered_map>

#include "../cpp/random_records.hpp"
#include "otlp_mmap/collector/exporter/batcher.hpp"
#include "otlp_mmap/collector/processor/log_mapper.hpp"
#include "otlp_mmap/collector/processor/span_assembler.hpp"
#include "pipeline_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;
using otlp_mmap::testing::RandomRecords;
using namespace std::chrono_literals;

void set_string(std::string* dst, const std::string& src) {
  *dst = src;
  repair_utf8(*dst);
}

// The message-building span assembly (the collector's before it wrote bytes), without the
// bookkeeping the comparison does not need (pids, ages, eviction).
class MessageSpans {
 public:
  MessageSpans(DictionaryResolver& resolver, size_t max_attributes) : resolver_(resolver), max_(max_attributes) {}

  std::vector<std::pair<std::shared_ptr<const ResolvedScope>, otlp::Span>> emitted;

  void handle(const SpanEvent& r, uint64_t now) {
    if (r.type == SpanEventType::kNone || r.trace_id.size() != 16 || r.span_id.size() != 8) return;
    const std::string key = r.trace_id + r.span_id;
    auto it = spans_.find(key);
    if (r.type == SpanEventType::kStart) {
      if (it != spans_.end()) incomplete(it, "superseded", std::max(now, it->second.last_time));
      start(key, r);
      return;
    }
    if (it == spans_.end()) return;
    InFlight& s = it->second;
    otlp::Span& span = s.span;
    switch (r.type) {
      case SpanEventType::kName: set_string(span.mutable_name(), r.name); break;
      case SpanEventType::kAttributes: merge(r.attributes, *span.mutable_attributes(), s.dropped_attributes); break;
      case SpanEventType::kLink:
        for (const Link& l : r.links) {
          if (l.trace_id.size() != 16 || l.span_id.size() != 8) {
            ++s.dropped_links;
            continue;
          }
          otlp::Span::Link* out = span.add_links();
          out->set_trace_id(l.trace_id);
          out->set_span_id(l.span_id);
          set_string(out->mutable_trace_state(), l.trace_state);
          out->set_dropped_attributes_count(l.dropped_attributes_count +
                                            resolver_.merge_attributes(l.attributes, *out->mutable_attributes()));
          out->set_flags(l.flags);
        }
        break;
      case SpanEventType::kAddEvent: {
        s.last_time = std::max(s.last_time, r.event_time_unix_nano);
        otlp::Span::Event* ev = span.add_events();
        ev->set_time_unix_nano(r.event_time_unix_nano);
        set_string(ev->mutable_name(), r.name);
        ev->set_dropped_attributes_count(r.dropped_attributes_count +
                                         resolver_.merge_attributes(r.attributes, *ev->mutable_attributes()));
        break;
      }
      case SpanEventType::kEnd:
        span.set_end_time_unix_nano(r.end_time_unix_nano);
        if (r.has_status) {
          otlp::Status* st = span.mutable_status();
          if (r.status_code >= 0 && r.status_code <= 2)
            st->set_code(static_cast<otlp::Status::StatusCode>(r.status_code));
          if (!r.status_message.empty()) set_string(st->mutable_message(), r.status_message);
        }
        span.set_dropped_attributes_count(r.dropped_attributes_count + s.dropped_attributes);
        span.set_dropped_events_count(r.dropped_events_count);
        span.set_dropped_links_count(r.dropped_links_count + s.dropped_links);
        emit(it);
        break;
      default: break;
    }
  }

  void finish_all(uint64_t now) {
    while (!order_.empty()) {
      auto it = spans_.find(order_.front());
      order_.erase(order_.begin());
      if (it != spans_.end()) incomplete(it, "shutdown", std::max(now, it->second.last_time));
    }
  }

 private:
  struct InFlight {
    otlp::Span span;
    std::shared_ptr<const ResolvedScope> scope;
    uint64_t last_time = 0;
    uint32_t dropped_attributes = 0, dropped_links = 0;
  };
  using Map = std::unordered_map<std::string, InFlight>;

  void merge(const std::vector<KeyValueRef>& attrs, otlp::KeyValues& out, uint32_t& dropped) {
    dropped += resolver_.merge_attributes(attrs, out);
    if (static_cast<size_t>(out.size()) > max_) {
      const auto over = static_cast<int>(static_cast<size_t>(out.size()) - max_);
      out.DeleteSubrange(static_cast<int>(max_), over);
      dropped += static_cast<uint32_t>(over);
    }
  }

  void start(const std::string& key, const SpanEvent& r) {
    InFlight& s = spans_[key];
    order_.push_back(key);
    s.scope = resolver_.scope(r.scope_ref);
    s.last_time = r.start_time_unix_nano;
    otlp::Span& span = s.span;
    span.set_trace_id(r.trace_id);
    span.set_span_id(r.span_id);
    if (r.parent_span_id.size() == 8) span.set_parent_span_id(r.parent_span_id);
    if (!r.trace_state.empty()) set_string(span.mutable_trace_state(), r.trace_state);
    set_string(span.mutable_name(), r.name);
    if (r.kind >= 0 && r.kind <= 5) span.set_kind(static_cast<otlp::Span::SpanKind>(r.kind));
    span.set_start_time_unix_nano(r.start_time_unix_nano);
    span.set_flags(r.flags);
    merge(r.attributes, *span.mutable_attributes(), s.dropped_attributes);
  }

  void incomplete(Map::iterator it, const char* reason, uint64_t end_time) {
    InFlight& s = it->second;
    otlp::Span& span = s.span;
    span.set_end_time_unix_nano(std::max(end_time, span.start_time_unix_nano()));
    span.clear_status();
    span.set_dropped_attributes_count(s.dropped_attributes);
    span.set_dropped_events_count(0);
    span.set_dropped_links_count(s.dropped_links);
    const auto set_attr = [&span](const char* k) -> otlp::AnyValue* {
      for (auto& kv : *span.mutable_attributes()) {
        if (kv.key() == k) return kv.mutable_value();
      }
      otlp::KeyValue* kv = span.add_attributes();
      kv->set_key(k);
      return kv->mutable_value();
    };
    set_attr(kIncompleteAttribute)->set_bool_value(true);
    set_attr(kIncompleteReasonAttribute)->set_string_value(reason);
    emit(it);
  }

  void emit(Map::iterator it) {
    std::erase(order_, it->first);
    emitted.emplace_back(std::move(it->second.scope), std::move(it->second.span));
    spans_.erase(it);
  }

  DictionaryResolver& resolver_;
  size_t max_;
  Map spans_;
  std::vector<std::string> order_;
};

// The message-building log mapping (the collector's before it wrote bytes).
otlp::LogRecord message_log(DictionaryResolver& resolver, const Event& e, uint64_t read_time) {
  otlp::LogRecord out;
  out.set_time_unix_nano(e.time_unix_nano);
  out.set_observed_time_unix_nano(e.observed_time_unix_nano != 0 ? e.observed_time_unix_nano : read_time);
  if (e.severity_number >= 0 && e.severity_number <= 24) {
    out.set_severity_number(static_cast<opentelemetry::proto::logs::v1::SeverityNumber>(e.severity_number));
  }
  if (!e.severity_text.empty()) set_string(out.mutable_severity_text(), e.severity_text);
  if (e.body.has_value()) resolver.value(*e.body, *out.mutable_body());
  if (e.event_name_ref != 0) {
    if (const std::string* name = resolver.string(e.event_name_ref)) out.set_event_name(*name);
  }
  out.set_dropped_attributes_count(e.dropped_attributes_count +
                                   resolver.merge_attributes(e.attributes, *out.mutable_attributes()));
  if (e.span_context && e.span_context->trace_id.size() == 16 && e.span_context->span_id.size() == 8) {
    out.set_trace_id(e.span_context->trace_id);
    out.set_span_id(e.span_context->span_id);
    out.set_flags(e.span_context->flags & 0xFF);
  }
  return out;
}

// A dictionary with what resolution has to cope with.
struct Dictionary {
  TestFile f;
  std::vector<int64_t> keys, values, scopes;

  Dictionary() {
    for (const std::string& k :
         std::vector<std::string>{"http.request.method", "url.path", "", "k", "dup", "a.rather.long.attribute.key.name",
                                  std::string("bad\xff key", 8), "日本"}) {
      keys.push_back(f.key(k));
    }
    // AnyValue entries: a string, an array holding a value ref, bytes that are no AnyValue,
    // and a chain of value refs deeper than the resolver follows.
    const int64_t stored = f.writer->intern(std::string("\x0a\x06stored", 8));
    values.push_back(stored);
    std::string one, ref, content, array;
    RandomRecords::varint(one, 3, 1);
    RandomRecords::varint(ref, 8, static_cast<uint64_t>(stored));
    RandomRecords::bytes(content, 1, one);
    RandomRecords::bytes(content, 1, ref);
    RandomRecords::bytes(array, 5, content);
    values.push_back(f.writer->intern(array));
    values.push_back(f.writer->intern(std::string("\xff\xff\xff", 3)));
    int64_t prev = stored;
    for (int i = 0; i < 20; ++i) {
      std::string link;
      RandomRecords::varint(link, 8, static_cast<uint64_t>(prev));
      prev = f.writer->intern(link);
      if (i == 3 || i == 19) values.push_back(prev);
    }
    const int64_t r1 = f.resource({{"service.name", "svc"}}, 4242);
    const int64_t r2 = f.resource({{"service.name", std::string("b\xc3")}});
    scopes = {f.scope(r1, "lib", "1.0"), f.scope(r1, "other"), f.scope(r2, std::string("x\xff"), "2"), 0};
  }
};

TEST(WireConformance, SpansAreTheMessagesTheMessageBuildingAssemblerMakes) {
  Dictionary d;
  DictionaryResolver message_resolver;
  message_resolver.attach(d.f.reader.get());
  constexpr size_t kMaxAttributes = 9;
  MessageSpans reference(message_resolver, kMaxAttributes);
  std::vector<std::pair<std::shared_ptr<const ResolvedScope>, std::string>> emitted;
  SpanAssemblerOptions options;
  options.max_attributes = kMaxAttributes;
  SpanAssembler assembler(options, [&](std::shared_ptr<const ResolvedScope> scope, const SpanDraft& s) {
    std::string bytes;
    otlp_wire::Out out(bytes);
    s.encode(out);
    emitted.emplace_back(std::move(scope), std::move(bytes));
  });
  RandomRecords gen(2024, d.keys, d.values, d.scopes);
  const uint32_t types[] = {RandomRecords::kStart,   RandomRecords::kStart,      RandomRecords::kEnd,
                            RandomRecords::kName,    RandomRecords::kAttributes, RandomRecords::kLink,
                            RandomRecords::kAddEvent};
  std::vector<std::string> traces, spans;
  for (int i = 0; i < 40; ++i) {
    traces.push_back(gen.id(i % 10 == 0 ? 5 : 16));
    spans.push_back(gen.id(8));
  }
  const Now now{std::chrono::steady_clock::time_point(100s), 1'700'000'000'005'000'000ull};
  SpanRecordView view;
  size_t records = 0;
  for (int i = 0; i < 30000; ++i) {
    const size_t which = gen.below(traces.size());
    std::string bytes = gen.span_record(types[gen.below(std::size(types))], traces[which], spans[which]);
    if (gen.chance(0.05)) bytes = gen.mutate(bytes);
    SpanEvent owned;
    if (!decode(bytes, owned)) continue;
    ASSERT_TRUE(decode(bytes, view));
    ++records;
    reference.handle(owned, now.unix_nano);
    assembler.handle(view, d.f.resolver, now);
  }
  reference.finish_all(now.unix_nano);
  assembler.finish_all(IncompleteReason::kShutdown, now);
  ASSERT_EQ(emitted.size(), reference.emitted.size());
  EXPECT_GT(emitted.size(), 3000u);
  size_t with_attributes = 0;
  for (size_t i = 0; i < emitted.size(); ++i) {
    const otlp::Span& want = reference.emitted[i].second;
    otlp::Span got;
    ASSERT_TRUE(got.ParseFromString(emitted[i].second)) << "span " << i;
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(want, got)) << "span " << i << ": " << diff;
    EXPECT_EQ(emitted[i].second, want.SerializeAsString()) << "span " << i << " (same message, other bytes)";
    EXPECT_EQ(emitted[i].first->key, reference.emitted[i].first->key);
    EXPECT_EQ(emitted[i].first->encoded, reference.emitted[i].first->scope.SerializeAsString());
    with_attributes += got.attributes_size() > 0 ? 1 : 0;
    if (::testing::Test::HasFailure()) FAIL() << "span " << i;
  }
  EXPECT_GT(with_attributes, emitted.size() / 2);
  std::printf("[ info ] %zu records, %zu spans compared\n", records, emitted.size());
}

TEST(WireConformance, LogRecordsAreTheMessagesTheMessageBuildingMapperMakes) {
  Dictionary d;
  DictionaryResolver message_resolver;
  message_resolver.attach(d.f.reader.get());
  LogMapper mapper;
  RandomRecords gen(77, d.keys, d.values, d.scopes);
  EventRecordView view;
  size_t compared = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = gen.event_record();
    if (gen.chance(0.05)) bytes = gen.mutate(bytes);
    Event owned;
    if (!decode(bytes, owned)) continue;
    ASSERT_TRUE(decode(bytes, view));
    const otlp::LogRecord want = message_log(message_resolver, owned, 999);
    std::string got_bytes;
    otlp_wire::Out out(got_bytes);
    mapper.map(view, d.f.resolver, 999, out);
    otlp::LogRecord got;
    ASSERT_TRUE(got.ParseFromString(got_bytes));
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(want, got)) << "record " << i << ": " << diff;
    EXPECT_EQ(got_bytes, want.SerializeAsString()) << "record " << i;
    EXPECT_EQ(d.f.resolver.scope(view.scope_ref)->key, message_resolver.scope(owned.scope_ref)->key);
    ++compared;
    if (::testing::Test::HasFailure()) FAIL() << "record " << i;
  }
  EXPECT_GT(compared, 15000u);
}

// Requests: what the batcher and the request encoder make of many spans of several scopes and
// resources is the request libprotobuf serialises from the same grouping built as messages.
TEST(WireConformance, RequestsAreTheMessagesOfTheirGroups) {
  Dictionary d;
  Batcher batch(100000, 1s);
  RandomRecords gen(5, d.keys, d.values, d.scopes);
  otlp::ExportTraceServiceRequest want;
  std::vector<std::pair<const ResolvedScope*, otlp::Span>> added;
  for (int i = 0; i < 3000; ++i) {
    auto scope = d.f.resolver.scope(d.scopes[gen.below(d.scopes.size())]);
    otlp::Span span;
    span.set_name("s" + std::to_string(i));
    span.set_trace_id(gen.id(16));
    const std::string bytes = span.SerializeAsString();
    batch.add(scope, bytes, std::chrono::steady_clock::time_point(1s));
    added.emplace_back(scope.get(), std::move(span));
  }
  EncodedRequest request;
  ASSERT_EQ(batch.take(request), 3000u);
  std::string bytes;
  encode(request, bytes);
  EXPECT_EQ(bytes.size(), encoded_size(request));  // what encode() reserves, exactly
  otlp::ExportTraceServiceRequest got;
  ASSERT_TRUE(got.ParseFromString(bytes));
  // The same grouping built as messages: resources in the order of the request, their scopes,
  // each scope's spans in the order they were added.
  for (const EncodedGroup& g : request.groups) {
    otlp::ResourceSpans* rs =
        want.resource_spans_size() > 0 &&
                want.resource_spans(want.resource_spans_size() - 1).resource().SerializeAsString() ==
                    g.scope->resource->encoded
            ? want.mutable_resource_spans(want.resource_spans_size() - 1)
            : want.add_resource_spans();
    *rs->mutable_resource() = g.scope->resource->resource;
    rs->set_schema_url(g.scope->resource->schema_url);
    otlp::ScopeSpans* ss = rs->add_scope_spans();
    *ss->mutable_scope() = g.scope->scope;
    ss->set_schema_url(g.scope->schema_url);
    for (const auto& [scope, span] : added) {
      if (scope->key == g.scope->key && scope->resource->key == g.scope->resource->key) *ss->add_spans() = span;
    }
  }
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, got));
  EXPECT_EQ(bytes, want.SerializeAsString());
  EXPECT_EQ(got.resource_spans_size(), 3);  // r1, r2, and the empty resource of scope ref 0
}

}  // namespace
}  // namespace otlp_mmap::collector

// Event -> LogRecord: every field.
#include "otlp_mmap/collector/processor/log_mapper.hpp"

#include <gtest/gtest.h>

#include "otlp_mmap/collector/exporter/batcher.hpp"
#include "pipeline_test_util.hpp"
#include "record_bytes.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;

class LogsTest : public ::testing::Test {
 protected:
  // Maps an event as the collector reads it (a view of its bytes); `bytes` keeps the record's
  // encoding, `scope` its scope. The record read back with libprotobuf.
  std::unique_ptr<otlp::LogRecord> map(const Event& e, uint64_t read_time) {
    const EventRecordView& view = views(e);
    bytes.clear();
    otlp_wire::Out out(bytes);
    mapper.map(view, f.resolver, read_time, out);
    scope = f.resolver.scope(view.scope_ref);
    auto rec = std::make_unique<otlp::LogRecord>();
    EXPECT_TRUE(rec->ParseFromString(bytes));
    return rec;
  }

  TestFile f;
  LogMapper mapper;
  RecordViews views;
  std::string bytes;
  std::shared_ptr<const ResolvedScope> scope;
};

TEST_F(LogsTest, EveryFieldIsMapped) {
  const int64_t scope_ref = f.scope(f.resource({{"service.name", "svc"}}), "logger", "2.0");
  // A value entry, referenced from the body (AnyValue{string_value: "stored"}).
  const int64_t stored = f.writer->intern(std::string("\x0a\x06stored", 8));
  Event e;
  e.scope_ref = scope_ref;
  e.time_unix_nano = 111;
  e.observed_time_unix_nano = 222;
  e.severity_number = 17;
  e.severity_text = "ERROR";
  AnyValue body;
  body.kind = AnyValue::Kind::kKvList;
  AnyValue list;
  list.kind = AnyValue::Kind::kArray;
  list.array = {int_value(1), str_value("two")};
  AnyValue ref;
  ref.kind = AnyValue::Kind::kValueRef;
  ref.int_value = stored;
  AnyValue blob;
  blob.kind = AnyValue::Kind::kBytes;
  blob.bytes = std::string("\x00\xff", 2);
  body.kvlist = {f.kv("message", str_value("hello")), f.kv("list", list), f.kv("ref", ref), f.kv("blob", blob)};
  e.body = body;
  e.event_name_ref = f.key("app.login");
  e.attributes = {f.kv("user", str_value("ann")), f.kv("n", int_value(3)), f.kv("user", str_value("bob"))};
  e.dropped_attributes_count = 4;
  e.span_context = SpanContext{trace_id(1), span_id(2), 0x301};

  auto rec = map(e, 999);
  EXPECT_EQ(rec->time_unix_nano(), 111u);
  EXPECT_EQ(rec->observed_time_unix_nano(), 222u);
  EXPECT_EQ(rec->severity_number(), opentelemetry::proto::logs::v1::SEVERITY_NUMBER_ERROR);
  EXPECT_EQ(rec->severity_text(), "ERROR");
  EXPECT_EQ(rec->event_name(), "app.login");
  ASSERT_TRUE(rec->body().has_kvlist_value());
  const auto& kvs = rec->body().kvlist_value().values();
  ASSERT_EQ(kvs.size(), 4);
  EXPECT_EQ(kvs[0].key(), "message");
  EXPECT_EQ(kvs[0].value().string_value(), "hello");
  EXPECT_EQ(kvs[1].key(), "list");
  ASSERT_EQ(kvs[1].value().array_value().values_size(), 2);
  EXPECT_EQ(kvs[1].value().array_value().values(0).int_value(), 1);
  EXPECT_EQ(kvs[1].value().array_value().values(1).string_value(), "two");
  EXPECT_EQ(kvs[2].key(), "ref");
  EXPECT_EQ(kvs[2].value().string_value(), "stored");
  EXPECT_EQ(kvs[3].value().bytes_value(), std::string("\x00\xff", 2));
  EXPECT_EQ(attrs_of(rec->attributes()), (std::vector<std::string>{"user=s:bob", "n=i:3"}));
  EXPECT_EQ(rec->dropped_attributes_count(), 4u);
  EXPECT_EQ(rec->trace_id(), trace_id(1));
  EXPECT_EQ(rec->span_id(), span_id(2));
  EXPECT_EQ(rec->flags(), 0x01u);  // only the W3C trace flags belong in a log record
  EXPECT_EQ(scope->scope.name(), "logger");
  EXPECT_EQ(scope->scope.version(), "2.0");
}

TEST_F(LogsTest, ObservedTimeDefaultsToTheReadTime) {
  Event e;
  e.time_unix_nano = 5;
  auto rec = map(e, 777);
  EXPECT_EQ(rec->observed_time_unix_nano(), 777u);
  EXPECT_FALSE(rec->has_body());
  EXPECT_EQ(rec->event_name(), "");
  EXPECT_EQ(rec->trace_id(), "");
  EXPECT_EQ(rec->severity_number(), 0);
  // Scope ref 0: the empty scope on the empty resource.
  EXPECT_EQ(scope->scope.name(), "");
  EXPECT_EQ(scope->resource->resource.attributes_size(), 0);
}

TEST_F(LogsTest, BadTraceContextAndSeverityAreLeftOutAndCounted) {
  Event e;
  e.severity_number = 99;
  e.span_context = SpanContext{"short", span_id(2), 1};
  auto rec = map(e, 1);
  EXPECT_EQ(rec->trace_id(), "");
  EXPECT_EQ(rec->span_id(), "");
  EXPECT_EQ(rec->flags(), 0u);
  EXPECT_EQ(rec->severity_number(), 0);
  EXPECT_EQ(mapper.stats().invalid_span_context, 1u);
  EXPECT_EQ(mapper.stats().invalid_severity, 1u);
}

TEST_F(LogsTest, UnresolvableReferencesAreCountedNotFatal) {
  Event e;
  e.scope_ref = 1 << 30;
  e.event_name_ref = 1 << 30;
  KeyValueRef bad;
  bad.key_ref = 1 << 29;
  bad.value = int_value(1);
  e.attributes = {bad};
  AnyValue body;
  body.kind = AnyValue::Kind::kValueRef;
  body.int_value = 1 << 28;
  e.body = body;
  auto rec = map(e, 1);
  EXPECT_EQ(rec->attributes_size(), 0);
  EXPECT_EQ(rec->dropped_attributes_count(), 1u);
  EXPECT_EQ(rec->event_name(), "");
  EXPECT_EQ(mapper.stats().unresolved_event_name, 1u);
  EXPECT_EQ(mapper.stats().unresolved_body, 1u);
  EXPECT_EQ(f.resolver.stats().scope_failures, 1u);
  EXPECT_EQ(scope->scope.name(), "");
}

TEST_F(LogsTest, InvalidUtf8IsRepaired) {
  Event e;
  e.severity_text = std::string("bad\xff", 4);
  e.body = str_value(std::string("caf\xc3", 4));
  e.event_name_ref = f.key(std::string("ev\xfe", 3));
  auto rec = map(e, 1);
  EXPECT_EQ(rec->severity_text(), "bad\xEF\xBF\xBD");
  EXPECT_EQ(rec->body().string_value(), "caf\xEF\xBF\xBD");
  EXPECT_EQ(rec->event_name(), "ev\xEF\xBF\xBD");
}

TEST_F(LogsTest, LogRecordsAreGroupedByContent) {
  const int64_t a1 = f.scope(f.resource({{"service.name", "a"}}), "s");
  const int64_t b1 = f.scope(f.resource({{"service.name", "b"}}), "s");
  Batcher batch(100, std::chrono::seconds(1));
  for (int64_t s : {b1, a1, b1}) {
    Event e;
    e.scope_ref = s;
    e.time_unix_nano = static_cast<uint64_t>(s);
    map(e, 1);
    batch.add(scope, bytes, std::chrono::steady_clock::now());
  }
  EncodedRequest encoded;
  EXPECT_EQ(batch.take(encoded), 3u);
  otlp::ExportLogsServiceRequest req;
  ASSERT_TRUE(to_message(encoded, req));
  ASSERT_EQ(req.resource_logs_size(), 2);
  EXPECT_EQ(req.resource_logs(0).resource().attributes(0).value().string_value(), "a");
  EXPECT_EQ(req.resource_logs(0).scope_logs(0).log_records_size(), 1);
  EXPECT_EQ(req.resource_logs(1).resource().attributes(0).value().string_value(), "b");
  EXPECT_EQ(req.resource_logs(1).scope_logs(0).log_records_size(), 2);
}

}  // namespace
}  // namespace otlp_mmap::collector

// OTLP/JSON and console text encodings; splitting and merging of requests; item counts.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "export_internal.hpp"
#include "export_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using detail::to_otlp_json;
using export_test::make_logs;
using export_test::make_metrics;
using export_test::make_spans;

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

size_t count_of(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}

TEST(OtlpJson, SpanIdsAreHexAndKeysLowerCamelCase) {
  TraceRequest r = make_spans(1, 1, 1);
  auto* s = r.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0);
  s->set_parent_span_id(export_test::bytes_of(0, 0x1122334455667788, 8));
  s->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
  s->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  s->set_flags(0x301);
  auto* link = s->add_links();
  link->set_trace_id(export_test::bytes_of(0xffeeddccbbaa9988, 0x7766554433221100, 16));
  link->set_span_id(export_test::bytes_of(0, 0xdeadbeefcafef00d, 8));
  const std::string json = to_otlp_json(r);
  EXPECT_TRUE(contains(json, R"("traceId":"0102030405060708090a0b0c0d0e0f10")")) << json;
  EXPECT_TRUE(contains(json, R"("spanId":"a0a1a2a3a4a5a6a7")")) << json;
  EXPECT_TRUE(contains(json, R"("parentSpanId":"1122334455667788")")) << json;
  EXPECT_TRUE(contains(json, R"("traceId":"ffeeddccbbaa99887766554433221100")")) << json;
  EXPECT_TRUE(contains(json, R"("spanId":"deadbeefcafef00d")")) << json;
  EXPECT_TRUE(contains(json, R"("resourceSpans":[)")) << json;
  EXPECT_TRUE(contains(json, R"("scopeSpans":[)")) << json;
  EXPECT_TRUE(contains(json, R"("schemaUrl":"https://schema/0")")) << json;
  EXPECT_TRUE(contains(json, R"("kind":2)")) << json;                                   // enums as integers
  EXPECT_TRUE(contains(json, R"("status":{"code":2})")) << json;                        // nested enum
  EXPECT_TRUE(contains(json, R"("flags":769)")) << json;                                // fixed32: a number
  EXPECT_TRUE(contains(json, R"("startTimeUnixNano":"1700000000000000000")")) << json;  // 64-bit: string
  EXPECT_FALSE(contains(json, "\n"));
  EXPECT_FALSE(contains(json, "droppedAttributesCount"));  // defaults are left out
}

TEST(OtlpJson, LogAndExemplarIdsAreHex) {
  LogsRequest r = make_logs(1);
  auto* l = r.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0);
  l->set_trace_id(export_test::bytes_of(1, 2, 16));
  l->set_span_id(export_test::bytes_of(0, 3, 8));
  l->set_severity_number(opentelemetry::proto::logs::v1::SEVERITY_NUMBER_WARN);
  const std::string json = to_otlp_json(r);
  EXPECT_TRUE(contains(json, R"("traceId":"00000000000000010000000000000002")")) << json;
  EXPECT_TRUE(contains(json, R"("spanId":"0000000000000003")")) << json;
  EXPECT_TRUE(contains(json, R"("severityNumber":13)")) << json;
  EXPECT_TRUE(contains(json, R"("body":{"stringValue":"log0"})")) << json;

  MetricsRequest m = make_metrics(1);
  auto* p =
      m.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(0)->mutable_sum()->mutable_data_points(
          0);
  auto* e = p->add_exemplars();
  e->set_span_id(export_test::bytes_of(0, 0xabcdef, 8));
  e->set_trace_id(export_test::bytes_of(0, 0x1234, 16));
  e->set_as_double(0.5);
  const std::string mj = to_otlp_json(m);
  EXPECT_TRUE(contains(mj, R"("spanId":"0000000000abcdef")")) << mj;
  EXPECT_TRUE(contains(mj, R"("traceId":"00000000000000000000000000001234")")) << mj;
  EXPECT_TRUE(contains(mj, R"("asDouble":0.5)")) << mj;
  EXPECT_TRUE(contains(mj, R"("asInt":"0")")) << mj;  // oneof member set to 0 is present
  EXPECT_TRUE(contains(mj, R"("aggregationTemporality":2)")) << mj;
  EXPECT_TRUE(contains(mj, R"("isMonotonic":true)")) << mj;
}

TEST(OtlpJson, ValuesStringsAndSpecialNumbers) {
  LogsRequest r = make_logs(1);
  auto* l = r.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0);
  auto* arr = l->mutable_body()->mutable_array_value();
  arr->add_values()->set_string_value("q\"b\\n\n\x01\xC3\xA9");
  arr->add_values()->set_string_value(std::string("bad\xFF\xC3", 5));  // invalid UTF-8
  arr->add_values()->set_bytes_value(std::string("\x00\x01\x02\xff", 4));
  arr->add_values()->set_double_value(std::numeric_limits<double>::quiet_NaN());
  arr->add_values()->set_double_value(-std::numeric_limits<double>::infinity());
  arr->add_values()->set_double_value(0.1);
  arr->add_values()->set_int_value(-9007199254740993LL);
  arr->add_values()->set_bool_value(false);
  const std::string json = to_otlp_json(r);
  EXPECT_TRUE(contains(json, R"({"stringValue":"q\"b\\n\n\u0001)"
                             "\xC3\xA9"
                             R"("})"))
      << json;
  EXPECT_TRUE(contains(json, "{\"stringValue\":\"bad\xEF\xBF\xBD\xEF\xBF\xBD\"}")) << json;
  EXPECT_TRUE(contains(json, R"({"bytesValue":"AAEC/w=="})")) << json;  // other bytes: base64
  EXPECT_TRUE(contains(json, R"({"doubleValue":"NaN"})")) << json;
  EXPECT_TRUE(contains(json, R"({"doubleValue":"-Infinity"})")) << json;
  EXPECT_TRUE(contains(json, R"({"doubleValue":0.1})")) << json;
  EXPECT_TRUE(contains(json, R"({"intValue":"-9007199254740993"})")) << json;
  EXPECT_TRUE(contains(json, R"({"boolValue":false})")) << json;
}

TEST(OtlpJson, ParsesBackWithProtobufWhereNoIdsAreInvolved) {
  // Without id fields our output is plain protobuf JSON (enums as numbers are accepted).
  MetricsRequest m = make_metrics(3);
  auto* h = m.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics();
  h->set_name("latency");
  auto* p = h->mutable_histogram()->add_data_points();
  p->set_count(3);
  p->set_sum(1.5);
  p->set_min(0.0);
  p->add_bucket_counts(1);
  p->add_bucket_counts(2);
  p->add_explicit_bounds(1.0);
  MetricsRequest back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(to_otlp_json(m), &back).ok());
  EXPECT_EQ(back.SerializeAsString(), m.SerializeAsString());
  EXPECT_TRUE(back.resource_metrics(0).scope_metrics(0).metrics(1).histogram().data_points(0).has_min());
}

TEST(ConsoleText, OneBlockPerSpanLogAndPoint) {
  TraceRequest t = make_spans(1, 2, 2);
  const std::string spans = detail::to_console_text(t);
  EXPECT_EQ(count_of(spans, "Span \""), 4u) << spans;
  EXPECT_TRUE(contains(spans, "trace_id=0102030405060708090a0b0c0d0e0f10")) << spans;
  EXPECT_TRUE(contains(spans, "duration=1.500ms")) << spans;
  EXPECT_TRUE(contains(spans, "start=2023-11-14T22:13:20.000000000Z")) << spans;
  EXPECT_TRUE(contains(spans, "resource: service.name=\"svc0\"")) << spans;
  EXPECT_TRUE(contains(spans, "scope: scope1")) << spans;

  const std::string logs = detail::to_console_text(make_logs(3));
  EXPECT_EQ(count_of(logs, "LogRecord "), 3u) << logs;
  EXPECT_TRUE(contains(logs, "body: \"log2\"")) << logs;

  const std::string points = detail::to_console_text(make_metrics(2));
  EXPECT_TRUE(contains(points, "Metric \"requests\" sum(cumulative, monotonic)")) << points;
  EXPECT_TRUE(contains(points, "attributes: i=1")) << points;
  EXPECT_TRUE(contains(points, "value=1")) << points;
  EXPECT_EQ(count_of(points, "Metric \""), 2u) << points;
}

TEST(Batching, CountItems) {
  EXPECT_EQ(count_items(make_spans(2, 3, 4)), 24u);
  EXPECT_EQ(count_items(make_logs(5)), 5u);
  MetricsRequest m = make_metrics(3);
  auto* g = m.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics();
  g->mutable_gauge()->add_data_points();
  g->mutable_gauge()->add_data_points();
  m.mutable_resource_metrics(0)
      ->mutable_scope_metrics(0)
      ->add_metrics()
      ->mutable_exponential_histogram()
      ->add_data_points();
  m.mutable_resource_metrics(0)->mutable_scope_metrics(0)->add_metrics()->mutable_summary()->add_data_points();
  EXPECT_EQ(count_items(m), 7u);
}

}  // namespace
}  // namespace otlp_mmap::collector

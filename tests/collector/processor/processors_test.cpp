// The processors as consumers: what they hand on, the room they report, errors they count.
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <vector>

#include "otlp_mmap/collector/processor/log_processor.hpp"
#include "otlp_mmap/collector/processor/metric_processor.hpp"
#include "otlp_mmap/collector/processor/span_processor.hpp"
#include "pipeline_test_util.hpp"
#include "record_bytes.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;

// The items handed on, as messages, with their scopes.
template <class Message>
struct CollectEncoded : Consumer<const EncodedItem&> {
  struct Item {
    std::shared_ptr<const ResolvedScope> scope;
    std::unique_ptr<Message> item;
  };
  size_t room() const override { return room_left; }
  void consume(const EncodedItem& in) override {
    Item& out = items.emplace_back(Item{in.scope, std::make_unique<Message>()});
    EXPECT_TRUE(out.item->ParseFromString(std::string(in.bytes)));
  }
  size_t room_left = 5;
  std::vector<Item> items;
};

template <class Item>
struct Collect : Consumer<Item> {
  size_t room() const override { return room_left; }
  void consume(Item item) override { items.push_back(std::move(item)); }
  size_t room_left = 5;
  std::vector<Item> items;
};

// Records nothing, or throws when asked to.
struct StubBackend : MetricsBackend {
  int64_t stream(const MetricStreamDefinition&) override { return 0; }
  void record(int64_t, std::span<const otlp::KeyValue>, uint64_t, const Measurement&, const SpanContext*) override {
    if (fail) throw std::runtime_error("boom");
    ++recorded;
  }
  size_t collect(uint64_t, otlp::ExportMetricsServiceRequest& out) override {
    if (recorded == 0) return 0;
    out.add_resource_metrics();
    return recorded;
  }
  MetricsStats stats() const override { return {}; }
  bool fail = false;
  size_t recorded = 0;
};

struct ProcessorsTest : ::testing::Test {
  TestFile f;
  std::unique_ptr<FileSource> file =
      std::make_unique<FileSource>(1, Reader::open(f.path, fast_reader()), 0, 0, ResolverLimits{});
  std::ostringstream log;
  Diagnostics diagnostics{log};
  Now now{std::chrono::steady_clock::now(), 42};
  RecordViews views;
};

TEST_F(ProcessorsTest, SpansGoOnWithTheirScopeAndTheRoomIsTheNextStagesRoom) {
  CollectEncoded<otlp::Span> next;
  SpanProcessor p({}, next, now, diagnostics);
  EXPECT_EQ(p.room(), 5u);
  const int64_t scope = f.scope(f.resource({{"service.name", "svc"}}), "lib");
  SpanEvent start;
  start.type = SpanEventType::kStart;
  start.trace_id = trace_id(1);
  start.span_id = span_id(1);
  start.scope_ref = scope;
  start.name = "op";
  p.consume(ReceivedSpan{views(start), *file});
  EXPECT_TRUE(next.items.empty());  // open
  SpanEvent end = start;
  end.type = SpanEventType::kEnd;
  p.consume(ReceivedSpan{views(end), *file});
  ASSERT_EQ(next.items.size(), 1u);
  EXPECT_EQ(next.items[0].item->name(), "op");
  EXPECT_EQ(next.items[0].scope->scope.name(), "lib");
}

TEST_F(ProcessorsTest, LogRecordsGoOnWithTheirScope) {
  CollectEncoded<otlp::LogRecord> next;
  LogProcessor p(next, now, diagnostics);
  Event e;
  e.scope_ref = f.scope(f.resource({{"service.name", "svc"}}), "logger");
  p.consume(ReceivedLog{views(e), *file});
  ASSERT_EQ(next.items.size(), 1u);
  EXPECT_EQ(next.items[0].item->observed_time_unix_nano(), 42u);  // the time it was read
  EXPECT_EQ(next.items[0].scope->scope.name(), "logger");
  EXPECT_EQ(p.stats().records, 1u);
}

TEST_F(ProcessorsTest, MeasurementsAreRecordedAndCollectionsGoOn) {
  Collect<MetricsRequest> next;
  StubBackend backend;
  MetricProcessor p(&backend, next, now, diagnostics);
  EXPECT_EQ(p.room(), kUnbounded);
  MetricRefView def;
  def.name = "requests";
  def.aggregation = AggregationKind::kSum;
  const int64_t metric = f.writer->create_metric_stream(def);
  auto reader_file = std::make_unique<FileSource>(2, Reader::open(f.path, fast_reader()), 0, 0, ResolverLimits{});
  Measurement m;
  m.metric_ref = metric;
  m.value_kind = Measurement::ValueKind::kLong;
  p.consume(ReceivedMeasurement{m, *reader_file});
  EXPECT_EQ(p.measurements(), 1u);
  p.collect();
  EXPECT_EQ(next.items.size(), 1u);
  Measurement none;
  none.metric_ref = metric;
  p.consume(ReceivedMeasurement{none, *reader_file});  // no value
  EXPECT_EQ(p.dropped(), 1u);
  backend.fail = true;
  p.consume(ReceivedMeasurement{m, *reader_file});
  EXPECT_EQ(diagnostics.errors(), 1u);
  EXPECT_NE(log.str().find("error in metric recording: boom"), std::string::npos);
}

TEST_F(ProcessorsTest, WithoutAnAggregationMeasurementsAreCountedAsDropped) {
  Collect<MetricsRequest> next;
  MetricProcessor p(nullptr, next, now, diagnostics);
  Measurement m;
  m.value_kind = Measurement::ValueKind::kLong;
  p.consume(ReceivedMeasurement{m, *file});
  p.collect();
  EXPECT_EQ(p.dropped(), 1u);
  EXPECT_TRUE(next.items.empty());
}

}  // namespace
}  // namespace otlp_mmap::collector

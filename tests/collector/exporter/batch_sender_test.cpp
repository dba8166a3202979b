// The exporter's batching layer: the Batcher's grouping and timing, and the BatchSender that
// hands whole requests to the queue only when it has room.
#include "otlp_mmap/collector/exporter/batch_sender.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace otlp_mmap::collector {
namespace {

using namespace std::chrono_literals;

// An exporter whose queue holds what it is given until acknowledged, and can be paused.
class HoldingExporter : public Exporter {
 public:
  bool submit(TraceRequest&& r) override {
    const size_t n = count_items(r);
    stats_.items_submitted += n;
    requests.push_back(n);
    names.push_back(r.resource_spans(0).scope_spans(0).spans(0).name());
    return accept;
  }
  bool submit(LogsRequest&& r) override {
    stats_.items_submitted += count_items(r);
    return accept;
  }
  bool submit(MetricsRequest&&) override { return accept; }
  bool flush(std::chrono::steady_clock::time_point) override { return true; }
  SignalExportStats stats(Signal) const override { return stats_; }

  void acknowledge_all() { stats_.items_exported = stats_.items_submitted; }

  SignalExportStats stats_;
  std::vector<size_t> requests;
  std::vector<std::string> names;
  bool accept = true;
};

std::shared_ptr<const ResolvedScope> scope_of(const std::string& service) {
  auto resource = std::make_shared<ResolvedResource>();
  resource->key = service;
  auto scope = std::make_shared<ResolvedScope>();
  scope->resource = resource;
  scope->key = "lib";
  return scope;
}

// A span named `name`, encoded, as a processor hands it on (valid for the full expression).
struct SpanItem {
  std::shared_ptr<const ResolvedScope> scope;
  std::string bytes;
  operator EncodedItem() const { return EncodedItem{scope, bytes}; }
};
SpanItem span(const std::shared_ptr<const ResolvedScope>& scope, const std::string& name) {
  otlp::Span s;
  s.set_name(name);
  return SpanItem{scope, s.SerializeAsString()};
}

struct BatchSenderTest : ::testing::Test {
  HoldingExporter exporter;
  Now now{std::chrono::steady_clock::time_point(100s), 1};
  std::shared_ptr<const ResolvedScope> scope = scope_of("svc");

  std::unique_ptr<SpanBatchSender> make(size_t max_items, std::chrono::nanoseconds delay, size_t limit) {
    return std::make_unique<SpanBatchSender>(Signal::kTraces, BatchOptions{max_items, delay}, limit, exporter, now);
  }
  void add(SpanBatchSender& b, int from, int n) {
    for (int i = from; i < from + n; ++i) b.consume(span(scope, "s" + std::to_string(i)));
  }
};

TEST_F(BatchSenderTest, FullBatchesGoAtOnceThePartialOneAfterTheDelay) {
  auto b = make(10, 5s, 0);
  add(*b, 0, 25);
  b->send_due(false);
  EXPECT_EQ(exporter.requests, (std::vector<size_t>{10, 10}));
  EXPECT_EQ(exporter.names, (std::vector<std::string>{"s0", "s10"}));
  EXPECT_EQ(b->pending(), 5u);
  now.steady += 4s;
  b->send_due(false);
  EXPECT_EQ(exporter.requests.size(), 2u);  // the rest waits for the delay of its oldest item
  now.steady += 1s;
  b->send_due(false);
  EXPECT_EQ(exporter.requests, (std::vector<size_t>{10, 10, 5}));
  EXPECT_EQ(b->stats().submitted, 25u);
  EXPECT_EQ(b->pending(), 0u);
}

TEST_F(BatchSenderTest, ForceSendsWhatIsWaitingWithoutTheDelay) {
  auto b = make(10, 1h, 0);
  add(*b, 0, 3);
  b->send_due(false);
  EXPECT_TRUE(exporter.requests.empty());
  b->send_due(true);
  EXPECT_EQ(exporter.requests, (std::vector<size_t>{3}));
}

TEST_F(BatchSenderTest, RoomCountsWhatTheExporterHoldsAndWhatWaitsHere) {
  auto b = make(4, 1h, 10);
  EXPECT_EQ(b->room(), 10u);
  add(*b, 0, 3);
  EXPECT_EQ(b->room(), 7u);  // 3 waiting here
  add(*b, 3, 5);
  b->send_due(false);  // 8 waiting: two full requests of 4 go to the queue
  EXPECT_EQ(exporter.requests, (std::vector<size_t>{4, 4}));
  EXPECT_EQ(b->room(), 2u);  // 8 held by the exporter
  exporter.acknowledge_all();
  EXPECT_EQ(b->room(), 10u);
  exporter.stats_.paused = true;
  EXPECT_EQ(b->room(), 0u);  // Retry-After: records stay in the file
}

TEST_F(BatchSenderTest, ARequestWaitsForRoomInTheQueueInsteadOfBeingDropped) {
  auto b = make(4, 1h, 6);
  add(*b, 0, 4);
  b->send_due(false);
  ASSERT_EQ(exporter.requests.size(), 1u);
  // Made by the collector itself (incomplete spans): handed on beyond room().
  add(*b, 4, 8);
  b->send_due(true);
  EXPECT_EQ(exporter.requests.size(), 1u);  // 4 held: no room for a whole request of 4
  EXPECT_EQ(b->pending(), 8u);
  exporter.acknowledge_all();
  b->send_due(true);
  EXPECT_EQ(exporter.requests, (std::vector<size_t>{4, 4}));
  EXPECT_EQ(b->abandon(), 4u);  // the stop's deadline passed
  EXPECT_EQ(b->stats().unqueued, 4u);
  EXPECT_EQ(b->stats().submitted, 8u);
  EXPECT_EQ(b->pending(), 0u);
}

TEST_F(BatchSenderTest, ARefusedRequestIsCounted) {
  auto b = make(2, 1h, 0);
  exporter.accept = false;
  add(*b, 0, 2);
  b->send_due(false);
  EXPECT_EQ(b->stats().refused, 1u);
  EXPECT_EQ(b->stats().submitted, 2u);  // the exporter counted its items as dropped
}

// Keeps the last trace request it was given.
struct CapturingExporter : HoldingExporter {
  bool submit(TraceRequest&& r) override {
    last = std::move(r);
    return true;
  }
  TraceRequest last;
};

TEST_F(BatchSenderTest, ItemsAreGroupedByResourceAndScopeContent) {
  CapturingExporter capture;
  SpanBatchSender b(Signal::kTraces, BatchOptions{10, 1h}, 0, capture, now);
  const auto other = scope_of("other");
  const auto same = scope_of("svc");  // equal content in another object
  b.consume(span(scope, "a"));
  b.consume(span(other, "b"));
  b.consume(span(same, "c"));
  b.send_due(true);
  const TraceRequest& r = capture.last;
  ASSERT_EQ(r.resource_spans_size(), 2);  // by content: "other" sorts before "svc"
  EXPECT_EQ(r.resource_spans(0).scope_spans(0).spans(0).name(), "b");
  ASSERT_EQ(r.resource_spans(1).scope_spans_size(), 1);
  ASSERT_EQ(r.resource_spans(1).scope_spans(0).spans_size(), 2);
  EXPECT_EQ(r.resource_spans(1).scope_spans(0).spans(1).name(), "c");
}

TEST(BatcherTest, TakesAtMostMaxBatchAndIsDueAfterTheDelay) {
  Batcher b(3, 100ms);
  auto scope = std::make_shared<ResolvedScope>();
  scope->resource = std::make_shared<ResolvedResource>();
  const auto t0 = std::chrono::steady_clock::time_point(10s);
  EXPECT_FALSE(b.due(t0));
  b.add(scope, "", t0);
  EXPECT_FALSE(b.due(t0 + 99ms));
  EXPECT_TRUE(b.due(t0 + 100ms));
  for (int i = 0; i < 4; ++i) b.add(scope, "", t0 + 1ms);
  EXPECT_TRUE(b.full());
  EncodedRequest encoded;
  EXPECT_EQ(b.take(encoded), 3u);
  otlp::ExportTraceServiceRequest req;
  ASSERT_TRUE(to_message(encoded, req));
  EXPECT_EQ(req.resource_spans(0).scope_spans(0).spans_size(), 3);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_FALSE(b.due(t0 + 99ms));  // what is left over is due when the first item was
  EXPECT_TRUE(b.due(t0 + 100ms));
}

// Large items: a take stops before max_bytes would be passed, whatever max_batch says; an item
// larger than max_bytes goes alone.
TEST(BatcherTest, TakesNoMoreThanMaxBytesAndAtLeastOneItem) {
  Batcher b(100, 100ms, 3500);
  auto scope = std::make_shared<ResolvedScope>();
  scope->resource = std::make_shared<ResolvedResource>();
  const auto t0 = std::chrono::steady_clock::time_point(10s);
  const std::string item(1000, 'i');  // 1,003 bytes with its tag and length
  for (int i = 0; i < 3; ++i) b.add(scope, item, t0);
  EXPECT_FALSE(b.full());
  b.add(scope, item, t0);
  EXPECT_TRUE(b.full());  // 4,012 bytes waiting
  EncodedRequest encoded;
  EXPECT_EQ(b.take(encoded), 3u);
  EXPECT_EQ(b.size(), 1u);
  b.add(scope, std::string(5000, 'x'), t0);
  EncodedRequest second, third;
  EXPECT_EQ(b.take(second), 1u);
  EXPECT_EQ(b.take(third), 1u);  // the large one, alone
  otlp::ExportTraceServiceRequest req;
  ASSERT_TRUE(to_message(third, req));
  ASSERT_EQ(req.resource_spans(0).scope_spans(0).spans_size(), 1);
  EXPECT_TRUE(b.empty());
}

// A drain pass adds many batches at once (buckets of at most one batch each): every take gives
// the oldest max_batch items, each scope's in the order they were added, none lost or repeated.
TEST(BatcherTest, ManyBatchesAddedAtOnceComeOutInOrder) {
  Batcher b(4, 100ms);
  auto resource = std::make_shared<ResolvedResource>();
  auto a = std::make_shared<ResolvedScope>(), c = std::make_shared<ResolvedScope>();
  a->resource = c->resource = resource;
  a->key = "a";
  c->key = "c";
  const auto t0 = std::chrono::steady_clock::time_point(10s);
  std::vector<std::string> added;
  for (int i = 0; i < 23; ++i) {
    otlp::Span span;
    span.set_name(std::to_string(i));
    b.add(i % 3 == 0 ? c : a, span.SerializeAsString(), t0);
    added.push_back(span.name());
  }
  std::vector<std::string> got;
  while (!b.empty()) {
    EncodedRequest encoded;
    const size_t n = b.take(encoded);
    ASSERT_LE(n, 4u);
    otlp::ExportTraceServiceRequest req;
    ASSERT_TRUE(to_message(encoded, req));
    std::vector<std::string> batch;
    for (const auto& ss : req.resource_spans(0).scope_spans()) {
      for (const auto& sp : ss.spans()) batch.push_back(sp.name());
    }
    ASSERT_EQ(batch.size(), n);
    // The oldest n, grouped by scope: sorted by number they are the next n added.
    std::vector<int> numbers;
    for (const auto& name : batch) numbers.push_back(std::stoi(name));
    for (size_t i = 1; i < numbers.size(); ++i) {
      if ((numbers[i] % 3 == 0) == (numbers[i - 1] % 3 == 0)) {
        EXPECT_LT(numbers[i - 1], numbers[i]);
      }
    }
    std::sort(numbers.begin(), numbers.end());
    for (int v : numbers) got.push_back(std::to_string(v));
  }
  EXPECT_EQ(got, added);
}

}  // namespace
}  // namespace otlp_mmap::collector

// The metric stream cache: one lookup of the dictionary per metric and file, refs of
// different files kept apart, bounded.
#include "otlp_mmap/collector/processor/metric_stream_cache.hpp"

#include <gtest/gtest.h>

#include "pipeline_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;

// Registers every definition as a new stream.
struct CountingBackend : MetricsBackend {
  int64_t stream(const MetricStreamDefinition& d) override {
    names.push_back(d.metric.name);
    return static_cast<int64_t>(names.size()) - 1;
  }
  void record(int64_t, std::span<const otlp::KeyValue>, uint64_t, const Measurement&, const SpanContext*) override {}
  size_t collect(uint64_t, otlp::ExportMetricsServiceRequest&) override { return 0; }
  MetricsStats stats() const override { return {}; }
  std::vector<std::string> names;
};

struct MetricStreamCacheTest : ::testing::Test {
  TestFile f;
  CountingBackend backend;
  MetricStreamCache cache;

  int64_t metric(const std::string& name) {
    MetricRefView m;
    m.name = name;
    m.scope_ref = f.scope(f.resource({{"service.name", "svc"}}), "lib");
    m.aggregation = AggregationKind::kSum;
    return f.writer->create_metric_stream(m);
  }
  std::unique_ptr<FileSource> file(uint64_t id) {
    return std::make_unique<FileSource>(id, Reader::open(f.path, fast_reader()), 0, 0, ResolverLimits{});
  }
};

TEST_F(MetricStreamCacheTest, ResolvesEachMetricOncePerFile) {
  const int64_t a = metric("a"), b = metric("b");
  auto one = file(1);
  EXPECT_EQ(cache.stream(*one, a, backend), 0);
  EXPECT_EQ(cache.stream(*one, b, backend), 1);
  EXPECT_EQ(cache.stream(*one, a, backend), 0);
  EXPECT_EQ(backend.names, (std::vector<std::string>{"a", "b"}));
  // The same ref in another file means what that file says: looked up again.
  auto two = file(2);
  EXPECT_EQ(cache.stream(*two, a, backend), 2);
  EXPECT_EQ(cache.stream(*one, a, backend), 0);  // the first file's entries are kept beside it
  EXPECT_EQ(backend.names.size(), 3u);
}

TEST_F(MetricStreamCacheTest, AThirdFileTakesThePlaceOfTheLeastRecentlyUsed) {
  const int64_t a = metric("a");
  auto one = file(1), two = file(2), three = file(3);
  cache.stream(*one, a, backend);
  cache.stream(*two, a, backend);
  cache.stream(*two, a, backend);
  cache.stream(*three, a, backend);  // file 1 was used least recently
  EXPECT_EQ(backend.names.size(), 3u);
  cache.stream(*two, a, backend);
  EXPECT_EQ(backend.names.size(), 3u);
  cache.stream(*one, a, backend);
  EXPECT_EQ(backend.names.size(), 4u);
}

TEST_F(MetricStreamCacheTest, ARefThatDoesNotResolveIsUnusable) {
  auto one = file(1);
  EXPECT_EQ(cache.stream(*one, 999999, backend), -1);
  EXPECT_EQ(cache.stream(*one, 999999, backend), -1);
  EXPECT_TRUE(backend.names.empty());
}

}  // namespace
}  // namespace otlp_mmap::collector

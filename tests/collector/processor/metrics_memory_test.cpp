// Bounded memory of the metric aggregation: the global series cap (max_series) and its
// overflow series, bytes per series, allocation failures. Figures are printed.
#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <new>
#include <string>

#include "metrics_test_util.hpp"

namespace otlp_mmap::collector::testing {
namespace {

size_t heap_in_use() { return mallinfo2().uordblks; }

size_t rss_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::stoul(line.substr(std::string(field).size()));
  return 0;
}

bool is_overflow(const google::protobuf::RepeatedPtrField<KeyValue>& attrs) {
  return attrs.size() == 1 && attrs[0].key() == "otel.metric.overflow" && attrs[0].value().bool_value();
}

std::vector<Attrs> attribute_sets(int n) {
  std::vector<Attrs> sets;
  for (int i = 0; i < n; ++i)
    sets.push_back(Attrs{str("http.route", "/api/v1/item/" + std::to_string(i)), num("i", i)});
  return sets;
}

// 10 streams x 20 attribute sets under a global cap of 50: the first streams fill the cap, the
// rest fold into their overflow series; sums are conserved; one notice per overflowing stream.
TEST(MetricsMaxSeries, GlobalCapFoldsNewSetsIntoEachStreamsOverflowSeries) {
  MetricsOptions o;
  o.max_series = 50;
  std::vector<std::string> logged;
  o.log = [&](const std::string& m) { logged.push_back(m); };
  MetricsAggregator agg(o);
  std::vector<int64_t> ids;
  for (int k = 0; k < 10; ++k) ids.push_back(agg.stream(counter("requests." + std::to_string(k))));
  int64_t input = 0;
  for (int round = 0; round < 3; ++round)
    for (int k = 0; k < 10; ++k)
      for (int i = 0; i < 20; ++i) {
        agg.record(ids[k], Attrs{num("user", i)}, 10, integer(i + k), nullptr);
        input += i + k;
      }
  EXPECT_EQ(agg.stats().series, 50u + 8u);  // 50 regular, one overflow series in streams 2..9
  EXPECT_EQ(agg.stats().overflowed_max_series, 3u * (10u * 20u - 50u));
  EXPECT_EQ(agg.stats().overflowed, agg.stats().overflowed_max_series);
  EXPECT_EQ(logged.size(), 8u);  // once per stream, not per measurement
  std::printf("[figures] max_series 50, 10 streams x 20 sets x 3: series %llu, overflowed %llu, notices %zu\n  %s\n",
              static_cast<unsigned long long>(agg.stats().series),
              static_cast<unsigned long long>(agg.stats().overflowed), logged.size(), logged[0].c_str());
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 58u);
  int64_t output = 0;
  for (int k = 0; k < 10; ++k) {
    const auto& points = the_metric(r, "requests." + std::to_string(k)).sum().data_points();
    int64_t overflow = 0;
    for (const auto& p : points) {
      output += p.as_int();
      if (is_overflow(p.attributes())) overflow += p.as_int();
    }
    if (k < 2) {
      EXPECT_EQ(points.size(), 20);
    } else if (k == 2) {
      EXPECT_EQ(points.size(), 11);  // 10 regular + overflow
    } else {
      EXPECT_EQ(points.size(), 1);
      EXPECT_EQ(overflow, 3 * (190 + 20 * k));
    }
  }
  EXPECT_EQ(output, input);
}

// Delta streams forget idle series: the global count goes down and new sets get series again.
TEST(MetricsMaxSeries, DeltaIdleSeriesFreeGlobalSlots) {
  MetricsOptions o;
  o.preference = TemporalityPreference::kDelta;
  o.max_series = 4;
  o.log = [](const std::string&) {};
  MetricsAggregator agg(o);
  int64_t a = agg.stream(counter("a"));
  int64_t b = agg.stream(counter("b"));
  for (int i = 0; i < 4; ++i) agg.record(a, Attrs{num("i", i)}, 10, integer(1), nullptr);
  agg.record(b, Attrs{num("i", 0)}, 10, integer(1), nullptr);  // over the cap
  EXPECT_EQ(agg.stats().overflowed_max_series, 1u);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 5u);
  EXPECT_EQ(agg.collect(2000, r), 0u);  // idle: everything forgotten
  EXPECT_EQ(agg.stats().series, 0u);
  agg.record(b, Attrs{num("i", 0)}, 2010, integer(7), nullptr);
  ASSERT_EQ(agg.collect(3000, r), 1u);
  EXPECT_FALSE(is_overflow(the_metric(r, "b").sum().data_points(0).attributes()));
  EXPECT_EQ(agg.stats().overflowed_max_series, 1u);
}

size_t exp_bytes_per_series(int64_t max_buckets, int series) {
  MetricsOptions o;
  o.cardinality_limit = static_cast<size_t>(series) + 1;
  MetricsAggregator agg(o);
  const int64_t id = agg.stream(exp_histogram("latency", max_buckets));
  const auto sets = attribute_sets(series);
  const size_t before = heap_in_use();
  // Magnitudes over the whole double range, both signs: every series fills its bucket ranges.
  for (int round = 0; round < 40; ++round)
    for (int i = 0; i < series; ++i) {
      const double x = std::ldexp(1.0 + (i % 7) * 0.1, (round * 53 + i) % 2000 - 1000);
      agg.record(id, sets[i], 10, real(round % 2 ? x : -x), nullptr);
    }
  const size_t state = heap_in_use() - before;
  Request r;
  agg.collect(1000, r);
  const size_t with_request = heap_in_use() - before;
  std::printf(
      "[figures] exponential histogram, max_buckets %lld (file), %d series: %zu B/series state, "
      "%zu B/series with the collection's request\n",
      static_cast<long long>(max_buckets), series, state / series, with_request / series);
  return with_request / series;
}

TEST(MetricsMemory, ExponentialHistogramSeriesAreBounded) {
  // Default 160 buckets per range.
  EXPECT_LT(exp_bytes_per_series(0, 2000), 8u * 1024);
  // A file asking for huge histograms is clamped (kExpMaxMaxSize).
  EXPECT_LT(exp_bytes_per_series(1 << 20, 2000), 48u * 1024);
}

TEST(MetricsMemory, BytesPerSeriesByAggregation) {
  const auto sets = attribute_sets(20000);
  for (auto [name, def] : {std::pair{"counter", counter("c")}, std::pair{"gauge", gauge("g")},
                           std::pair{"histogram", histogram("h")}, std::pair{"exp_histogram", exp_histogram("e")}}) {
    MetricsOptions o;
    o.cardinality_limit = sets.size() + 1;
    MetricsAggregator agg(o);
    const int64_t id = agg.stream(def);
    const size_t before = heap_in_use();
    for (const auto& a : sets) agg.record(id, a, 10, real(3.5), nullptr);
    const size_t state = heap_in_use() - before;
    ASSERT_EQ(agg.stats().series, sets.size());
    Request r;
    agg.collect(1000, r);
    const size_t total = heap_in_use() - before;
    std::printf("[figures] %s: %zu B/series state, %zu B/series with the request (2 attributes)\n", name,
                state / sets.size(), total / sets.size());
  }
}

// Allocation failures: stream 1 cannot add series, stream 2 cannot be collected once; the
// others are recorded and collected, and stream 2's points come with the next collection.
TEST(MetricsAllocation, FailureInOneStreamLosesNoOtherMetric) {
  MetricsOptions o;
  bool fail = true;
  o.allocation_hook = [&](int64_t where) {
    if (fail && (where == 1 || where == -1 - 2)) throw std::bad_alloc();
  };
  MetricsAggregator agg(o);
  std::vector<int64_t> ids;
  for (int k = 0; k < 4; ++k) ids.push_back(agg.stream(counter("m" + std::to_string(k))));
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 5; ++i) agg.record(ids[k], Attrs{num("i", i)}, 10, integer(1), nullptr);
  EXPECT_EQ(agg.stats().measurements_lost, 5u);
  Request r;
  EXPECT_EQ(agg.collect(1000, r), 10u);  // m0 and m3
  EXPECT_EQ(agg.stats().streams_not_collected, 1u);
  EXPECT_EQ(agg.stats().allocation_failures, 6u);
  EXPECT_EQ(metrics_named(r, "m0").size(), 1u);
  EXPECT_EQ(metrics_named(r, "m1").size(), 0u);
  EXPECT_EQ(metrics_named(r, "m2").size(), 0u);
  EXPECT_EQ(metrics_named(r, "m3").size(), 1u);
  for (const auto& rm : r.resource_metrics())
    for (const auto& sm : rm.scope_metrics()) EXPECT_GT(sm.metrics_size(), 0);
  fail = false;
  for (int i = 0; i < 5; ++i) agg.record(ids[1], Attrs{num("i", i)}, 20, integer(1), nullptr);
  EXPECT_EQ(agg.collect(2000, r), 20u);
  EXPECT_EQ(the_metric(r, "m2").sum().data_points_size(), 5);
  std::printf("[figures] allocation failures %llu, measurements lost %llu, stream collections skipped %llu\n",
              static_cast<unsigned long long>(agg.stats().allocation_failures),
              static_cast<unsigned long long>(agg.stats().measurements_lost),
              static_cast<unsigned long long>(agg.stats().streams_not_collected));
}

// A delta stream that could not be collected keeps its interval: nothing is lost or reset.
TEST(MetricsAllocation, FailedCollectionOfADeltaStreamKeepsItsIntervalForTheNext) {
  MetricsOptions o;
  o.preference = TemporalityPreference::kDelta;
  bool fail = true;
  o.allocation_hook = [&](int64_t where) {
    if (fail && where == -1) throw std::bad_alloc();
  };
  MetricsAggregator agg(o);
  const int64_t id = agg.stream(counter("c"));
  agg.record(id, Attrs{num("i", 1)}, 10, integer(3), nullptr);
  Request r;
  EXPECT_EQ(agg.collect(1000, r), 0u);
  EXPECT_EQ(r.resource_metrics_size(), 0);
  fail = false;
  agg.record(id, Attrs{num("i", 1)}, 1010, integer(4), nullptr);
  ASSERT_EQ(agg.collect(2000, r), 1u);
  EXPECT_EQ(the_metric(r, "c").sum().data_points(0).as_int(), 7);  // nothing lost
}

// The measured failure: 2,500 streams x 2,000 attribute sets (5M series wanted). With the
// default cap the heap stays bounded and every stream is exported.
TEST(MetricsMemory, FiveMillionSeriesStayBoundedWithTheDefaultCap) {
  const size_t rss_before = rss_kb("VmRSS:");
  const size_t heap_before = heap_in_use();
  MetricsOptions o;
  size_t notices = 0;
  o.log = [&](const std::string&) { ++notices; };
  MetricsAggregator agg(o);
  const auto sets = attribute_sets(2000);
  std::vector<int64_t> ids;
  for (int k = 0; k < 2500; ++k) ids.push_back(agg.stream(counter("stream." + std::to_string(k))));
  for (int k = 0; k < 2500; ++k)
    for (int i = 0; i < 2000; ++i) agg.record(ids[k], sets[i], 10, integer(1), nullptr);
  const size_t heap_state = heap_in_use() - heap_before;
  Request r;
  const size_t points = agg.collect(1000, r);
  const size_t heap_peak = heap_in_use() - heap_before;
  size_t exported_streams = 0;
  int64_t total = 0;
  for (const auto& rm : r.resource_metrics())
    for (const auto& sm : rm.scope_metrics())
      for (const auto& m : sm.metrics()) {
        ++exported_streams;
        for (const auto& p : m.sum().data_points()) total += p.as_int();
      }
  std::printf(
      "[figures] 2,500 streams x 2,000 sets, default max_series %zu: series %llu, points %zu, streams "
      "exported %zu, notices %zu\n  heap: %zu MB state, %zu MB with the request (%zu MB serialised); "
      "RSS %zu MB -> %zu MB (peak %zu MB)\n",
      MetricsOptions{}.max_series, static_cast<unsigned long long>(agg.stats().series), points, exported_streams,
      notices, heap_state >> 20, heap_peak >> 20, r.ByteSizeLong() >> 20, rss_before >> 10, rss_kb("VmRSS:") >> 10,
      rss_kb("VmHWM:") >> 10);
  EXPECT_EQ(exported_streams, 2500u);
  EXPECT_EQ(total, 2500 * 2000);  // every measurement, in a regular or an overflow series
  EXPECT_LE(agg.stats().series, MetricsOptions{}.max_series + 2500);
  EXPECT_LT(heap_peak, size_t{400} << 20);
}

}  // namespace
}  // namespace otlp_mmap::collector::testing

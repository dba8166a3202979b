// Metric aggregation throughput of the collector: MetricsAggregator::record() on existing
// series (the common path) and collect(). Figures are printed, never asserted.
// Run: build/<dir>/bench/collector_metrics_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "otlp_mmap/collector/processor/metrics_aggregator.hpp"

// Heap allocations, counted to show that record() on an existing series allocates nothing.
// (noinline: once inlined, GCC takes the malloc/free pairs for mismatched new/delete.)
static uint64_t g_allocations = 0;

__attribute__((noinline)) void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace otlp_mmap;
using namespace otlp_mmap::collector;

MetricStreamDefinition definition(AggregationKind kind) {
  MetricStreamDefinition d;
  auto* kv = d.resource.add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("bench");
  d.scope.set_name("bench");
  d.metric.name = "bench.metric";
  d.metric.aggregation = kind;
  d.metric.temporality = kDelta;
  d.metric.is_monotonic = true;
  return d;
}

// 100 attribute sets of two attributes (10 routes x 10 status codes), given unsorted.
std::vector<std::vector<otlp::KeyValue>> series_attributes() {
  std::vector<std::vector<otlp::KeyValue>> sets;
  for (int route = 0; route < 10; ++route) {
    for (int status = 0; status < 10; ++status) {
      std::vector<otlp::KeyValue> attrs(2);
      attrs[0].set_key("http.route");
      attrs[0].mutable_value()->set_string_value("/api/v1/resource/" + std::to_string(route));
      attrs[1].set_key("http.response.status_code");
      attrs[1].mutable_value()->set_int_value(200 + status);
      sets.push_back(std::move(attrs));
    }
  }
  return sets;
}

void run_record(benchmark::State& state, AggregationKind kind) {
  MetricsAggregator agg({});
  const int64_t id = agg.stream(definition(kind));
  const auto sets = series_attributes();
  Measurement m;
  m.value_kind = kind == AggregationKind::kSum ? Measurement::ValueKind::kLong : Measurement::ValueKind::kDouble;
  for (const auto& attrs : sets) agg.record(id, attrs, 1000, m, nullptr);  // create the series
  const uint64_t allocations = g_allocations;
  uint64_t i = 0;
  for (auto _ : state) {
    m.as_long = static_cast<int64_t>(i & 7);
    m.as_double = static_cast<double>(i % 2000) * 3.7;
    agg.record(id, sets[i % sets.size()], 1000 + i, m, nullptr);
    ++i;
  }
  benchmark::DoNotOptimize(agg.stats().measurements);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["allocs_per_item"] =
      static_cast<double>(g_allocations - allocations) / static_cast<double>(state.iterations());
}

void BM_RecordCounter100Series(benchmark::State& state) { run_record(state, AggregationKind::kSum); }
void BM_RecordHistogram100Series(benchmark::State& state) { run_record(state, AggregationKind::kHistogram); }
void BM_RecordExpHistogram100Series(benchmark::State& state) { run_record(state, AggregationKind::kExpHistogram); }
BENCHMARK(BM_RecordCounter100Series);
BENCHMARK(BM_RecordHistogram100Series);
BENCHMARK(BM_RecordExpHistogram100Series);

// One collection of 100 counter series and 100 histogram series into a request.
void BM_Collect200Points(benchmark::State& state) {
  MetricsAggregator agg({});
  const int64_t counter = agg.stream(definition(AggregationKind::kSum));
  const int64_t histogram = agg.stream(definition(AggregationKind::kHistogram));
  const auto sets = series_attributes();
  Measurement m;
  m.value_kind = Measurement::ValueKind::kLong;
  m.as_long = 3;
  for (const auto& attrs : sets) {
    agg.record(counter, attrs, 1000, m, nullptr);
    agg.record(histogram, attrs, 1000, m, nullptr);
  }
  otlp::ExportMetricsServiceRequest request;
  uint64_t now = 2000;
  for (auto _ : state) benchmark::DoNotOptimize(agg.collect(now++, request));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 200);
}
BENCHMARK(BM_Collect200Points);

}  // namespace

BENCHMARK_MAIN();

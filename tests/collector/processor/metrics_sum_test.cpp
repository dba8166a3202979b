// Sums (all three temporality preferences, both measurement temporalities) and gauges.
#include <cmath>
#include <limits>

#include "metrics_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace testing;

MetricsOptions with(TemporalityPreference p) {
  MetricsOptions o;
  o.preference = p;
  return o;
}

const Attrs kGet = {str("method", "GET")};

TEST(MetricsSum, CounterCumulativeAddsIncrementsAndNeverResets) {
  MetricsAggregator agg(with(TemporalityPreference::kCumulative));
  int64_t id = agg.stream(counter("requests"));
  ASSERT_GE(id, 0);
  for (int64_t v : {1, 2, 3}) agg.record(id, kGet, 100, integer(v), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  const pm::Metric& m = the_metric(r, "requests");
  ASSERT_TRUE(m.has_sum());
  EXPECT_EQ(m.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  EXPECT_TRUE(m.sum().is_monotonic());
  ASSERT_EQ(m.sum().data_points_size(), 1);
  EXPECT_EQ(m.sum().data_points(0).value_case(), pm::NumberDataPoint::kAsInt);
  EXPECT_EQ(m.sum().data_points(0).as_int(), 6);

  agg.record(id, kGet, 1100, integer(4), nullptr);
  ASSERT_EQ(agg.collect(2000, r), 1u);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).as_int(), 10);
  // No new measurement: a cumulative series is still exported, unchanged.
  ASSERT_EQ(agg.collect(3000, r), 1u);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).as_int(), 10);
}

TEST(MetricsSum, CounterDeltaResetsEachCollectionAndSkipsIdleSeries) {
  MetricsAggregator agg(with(TemporalityPreference::kDelta));
  int64_t id = agg.stream(counter("requests"));
  agg.record(id, kGet, 100, integer(5), nullptr);
  agg.record(id, kGet, 200, integer(7), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  const pm::Metric& m = the_metric(r, "requests");
  EXPECT_EQ(m.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_TRUE(m.sum().is_monotonic());
  EXPECT_EQ(m.sum().data_points(0).as_int(), 12);

  agg.record(id, kGet, 1100, integer(1), nullptr);
  ASSERT_EQ(agg.collect(2000, r), 1u);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).as_int(), 1);

  EXPECT_EQ(agg.collect(3000, r), 0u);
  EXPECT_EQ(r.resource_metrics_size(), 0);
}

TEST(MetricsSum, CounterLowMemoryIsDelta) {
  MetricsAggregator agg(with(TemporalityPreference::kLowMemory));
  int64_t id = agg.stream(counter("requests"));
  agg.record(id, kGet, 100, integer(5), nullptr);
  Request r;
  agg.collect(1000, r);
  agg.record(id, kGet, 1100, integer(2), nullptr);
  agg.collect(2000, r);
  const pm::Metric& m = the_metric(r, "requests");
  EXPECT_EQ(m.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_EQ(m.sum().data_points(0).as_int(), 2);
}

// An asynchronous counter reports its current total: 10, 20, 30 is a total of 30, not 60.
TEST(MetricsSum, AsyncCounterCumulativeKeepsTheLatestTotal) {
  MetricsAggregator agg(with(TemporalityPreference::kCumulative));
  int64_t id = agg.stream(async_counter("cpu.time"));
  for (int64_t v : {10, 20, 30}) agg.record(id, kGet, 100 + v, integer(v), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  const pm::Metric& m = the_metric(r, "cpu.time");
  EXPECT_EQ(m.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  EXPECT_EQ(m.sum().data_points(0).as_int(), 30);
}

TEST(MetricsSum, AsyncCounterUnderDeltaPreferenceExportsDifferences) {
  MetricsAggregator agg(with(TemporalityPreference::kDelta));
  int64_t id = agg.stream(async_counter("cpu.time"));
  Request r;
  uint64_t now = 1000;
  for (int64_t v : {10, 20, 30}) {
    agg.record(id, kGet, now - 10, integer(v), nullptr);
    ASSERT_EQ(agg.collect(now, r), 1u);
    const pm::Metric& m = the_metric(r, "cpu.time");
    EXPECT_EQ(m.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_DELTA);
    EXPECT_EQ(m.sum().data_points(0).as_int(), 10) << "total " << v;
    now += 1000;
  }
  // Not observed during an interval: nothing to export, and the next delta is still right.
  EXPECT_EQ(agg.collect(now, r), 0u);
  agg.record(id, kGet, now + 10, integer(35), nullptr);
  ASSERT_EQ(agg.collect(now + 1000, r), 1u);
  EXPECT_EQ(the_metric(r, "cpu.time").sum().data_points(0).as_int(), 5);
}

TEST(MetricsSum, AsyncCounterRestartUnderDeltaCountsFromZero) {
  MetricsAggregator agg(with(TemporalityPreference::kDelta));
  int64_t id = agg.stream(async_counter("cpu.time"));
  Request r;
  agg.record(id, kGet, 10, integer(100), nullptr);
  agg.collect(1000, r);
  agg.record(id, kGet, 1010, integer(4), nullptr);  // the process restarted: total went down
  agg.collect(2000, r);
  EXPECT_EQ(the_metric(r, "cpu.time").sum().data_points(0).as_int(), 4);
}

TEST(MetricsSum, AsyncCounterLowMemoryStaysCumulative) {
  MetricsAggregator agg(with(TemporalityPreference::kLowMemory));
  int64_t id = agg.stream(async_counter("cpu.time"));
  for (int64_t v : {10, 20, 30}) agg.record(id, kGet, 100 + v, integer(v), nullptr);
  Request r;
  agg.collect(1000, r);
  const pm::Metric& m = the_metric(r, "cpu.time");
  EXPECT_EQ(m.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  EXPECT_EQ(m.sum().data_points(0).as_int(), 30);
}

TEST(MetricsSum, UpDownCountersStayCumulativeUnderDeltaAndLowMemory) {
  for (auto pref : {TemporalityPreference::kDelta, TemporalityPreference::kLowMemory}) {
    MetricsAggregator agg(with(pref));
    int64_t sync = agg.stream(up_down("queue.size"));
    int64_t async = agg.stream(async_up_down("pool.size"));
    agg.record(sync, kGet, 10, integer(5), nullptr);
    agg.record(sync, kGet, 20, integer(-3), nullptr);
    agg.record(async, kGet, 10, integer(5), nullptr);
    agg.record(async, kGet, 20, integer(-2), nullptr);
    Request r;
    ASSERT_EQ(agg.collect(1000, r), 2u);
    agg.record(sync, kGet, 1010, integer(1), nullptr);
    ASSERT_EQ(agg.collect(2000, r), 2u);  // both exported again, cumulative
    const pm::Metric& s = the_metric(r, "queue.size");
    EXPECT_EQ(s.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
    EXPECT_FALSE(s.sum().is_monotonic());
    EXPECT_EQ(s.sum().data_points(0).as_int(), 3);
    const pm::Metric& a = the_metric(r, "pool.size");
    EXPECT_EQ(a.sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
    EXPECT_FALSE(a.sum().is_monotonic());
    EXPECT_EQ(a.sum().data_points(0).as_int(), -2);
  }
}

TEST(MetricsSum, MonotonicSumRejectsNegativeIncrements) {
  MetricsAggregator agg({});
  int64_t c = agg.stream(counter("requests"));
  int64_t ac = agg.stream(async_counter("total"));
  int64_t ud = agg.stream(up_down("level"));
  agg.record(c, kGet, 10, integer(5), nullptr);
  agg.record(c, kGet, 20, integer(-1), nullptr);
  agg.record(c, kGet, 30, real(-0.5), nullptr);
  agg.record(ac, kGet, 10, integer(-7), nullptr);
  agg.record(ud, kGet, 10, integer(-4), nullptr);  // allowed: not monotonic
  EXPECT_EQ(agg.stats().rejected, 3u);
  EXPECT_EQ(agg.stats().measurements, 2u);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 2u);  // the async counter has no accepted value: no series
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).as_int(), 5);
  EXPECT_EQ(the_metric(r, "level").sum().data_points(0).as_int(), -4);
  EXPECT_TRUE(metrics_named(r, "total").empty());
}

TEST(MetricsSum, NonFiniteValuesAreRejected) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(up_down("level"));
  agg.record(id, kGet, 10, real(std::numeric_limits<double>::quiet_NaN()), nullptr);
  agg.record(id, kGet, 10, real(std::numeric_limits<double>::infinity()), nullptr);
  agg.record(id, kGet, 10, Measurement{}, nullptr);  // no value at all
  EXPECT_EQ(agg.stats().rejected, 3u);
  EXPECT_EQ(agg.stats().measurements, 0u);
}

TEST(MetricsSum, IntegerStaysIntegerUnlessADoubleIsSeenForTheSeries) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(counter("bytes"));
  const Attrs ints = {str("k", "ints")};
  const Attrs mixed = {str("k", "mixed")};
  agg.record(id, ints, 10, integer(2), nullptr);
  agg.record(id, ints, 20, integer(3), nullptr);
  agg.record(id, mixed, 10, integer(2), nullptr);
  agg.record(id, mixed, 20, real(1.5), nullptr);
  agg.record(id, mixed, 30, integer(1), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 2u);
  const auto& points = the_metric(r, "bytes").sum().data_points();
  const pm::NumberDataPoint* i = point_with(points, "k", "ints");
  const pm::NumberDataPoint* d = point_with(points, "k", "mixed");
  ASSERT_NE(i, nullptr);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(i->value_case(), pm::NumberDataPoint::kAsInt);
  EXPECT_EQ(i->as_int(), 5);
  EXPECT_EQ(d->value_case(), pm::NumberDataPoint::kAsDouble);
  EXPECT_DOUBLE_EQ(d->as_double(), 4.5);
}

TEST(MetricsSum, IntegerOverflowContinuesAsDouble) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(counter("big"));
  agg.record(id, kGet, 10, integer(std::numeric_limits<int64_t>::max()), nullptr);
  agg.record(id, kGet, 20, integer(1), nullptr);
  Request r;
  agg.collect(1000, r);
  const pm::NumberDataPoint& p = the_metric(r, "big").sum().data_points(0);
  EXPECT_EQ(p.value_case(), pm::NumberDataPoint::kAsDouble);
  EXPECT_DOUBLE_EQ(p.as_double(), 9223372036854775808.0);
}

TEST(MetricsGauge, KeepsTheLastValueByTimeAndTheLaterRecordOnTies) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(gauge("temperature"));
  agg.record(id, kGet, 100, integer(5), nullptr);
  agg.record(id, kGet, 300, integer(7), nullptr);
  agg.record(id, kGet, 200, integer(9), nullptr);  // older than the value it would replace
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  const pm::Metric& m = the_metric(r, "temperature");
  ASSERT_TRUE(m.has_gauge());
  EXPECT_EQ(m.gauge().data_points(0).as_int(), 7);

  agg.record(id, kGet, 300, real(8.5), nullptr);  // same time as the current value: later record wins
  agg.collect(2000, r);
  const pm::NumberDataPoint& p = the_metric(r, "temperature").gauge().data_points(0);
  EXPECT_EQ(p.value_case(), pm::NumberDataPoint::kAsDouble);
  EXPECT_DOUBLE_EQ(p.as_double(), 8.5);

  agg.record(id, kGet, 400, integer(3), nullptr);  // a gauge takes the kind of its last value
  agg.collect(3000, r);
  EXPECT_EQ(the_metric(r, "temperature").gauge().data_points(0).as_int(), 3);
}

TEST(MetricsGauge, IsExportedEveryCollectionWhateverThePreference) {
  MetricsAggregator agg(with(TemporalityPreference::kDelta));
  int64_t id = agg.stream(gauge("temperature"));
  agg.record(id, kGet, 100, real(21.5), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  ASSERT_EQ(agg.collect(2000, r), 1u);
  const pm::NumberDataPoint& p = the_metric(r, "temperature").gauge().data_points(0);
  EXPECT_DOUBLE_EQ(p.as_double(), 21.5);
  EXPECT_EQ(p.start_time_unix_nano(), 100u);
  EXPECT_EQ(p.time_unix_nano(), 2000u);
}

TEST(MetricsGauge, AcceptsNaN) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(gauge("ratio"));
  agg.record(id, kGet, 100, real(std::numeric_limits<double>::quiet_NaN()), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  EXPECT_TRUE(std::isnan(the_metric(r, "ratio").gauge().data_points(0).as_double()));
}

}  // namespace
}  // namespace otlp_mmap::collector

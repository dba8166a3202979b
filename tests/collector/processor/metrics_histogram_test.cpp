// Explicit-bucket and base-2 exponential histograms, with hand-computed expectations.
#include <cmath>
#include <limits>

#include "metrics/exponential_histogram.hpp"
#include "metrics_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace testing;
using metrics_detail::exp_map_to_index;

const Attrs kNone = {};

std::vector<uint64_t> counts(const google::protobuf::RepeatedField<uint64_t>& c) { return {c.begin(), c.end()}; }

// ---------------------------------------------------------------- explicit buckets

TEST(MetricsHistogram, BucketsAreUpperInclusive) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(histogram("latency", {0, 5, 10}));
  // Buckets: (-inf, 0], (0, 5], (5, 10], (10, +inf).
  const double just_above_5 = std::nextafter(5.0, 100.0);
  for (double v : {-3.0, 0.0, 0.5, 5.0, just_above_5, 10.0, 11.0}) agg.record(id, kNone, 10, real(v), nullptr);
  agg.record(id, kNone, 10, integer(7), nullptr);  // integers are recorded as their value
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  const pm::Metric& m = the_metric(r, "latency");
  ASSERT_TRUE(m.has_histogram());
  EXPECT_EQ(m.histogram().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  const pm::HistogramDataPoint& p = m.histogram().data_points(0);
  EXPECT_EQ(std::vector<double>(p.explicit_bounds().begin(), p.explicit_bounds().end()),
            (std::vector<double>{0, 5, 10}));
  EXPECT_EQ(counts(p.bucket_counts()), (std::vector<uint64_t>{2, 2, 3, 1}));
  EXPECT_EQ(p.count(), 8u);
  EXPECT_DOUBLE_EQ(p.sum(), -3.0 + 0.0 + 0.5 + 5.0 + just_above_5 + 10.0 + 11.0 + 7.0);
  EXPECT_EQ(p.min(), -3.0);
  EXPECT_EQ(p.max(), 11.0);
}

TEST(MetricsHistogram, EmptyBoundariesMeanTheSpecificationDefaults) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(histogram("latency"));
  for (double v : {0.0, 7.0, 10000.0, 10001.0}) agg.record(id, kNone, 10, real(v), nullptr);
  Request r;
  agg.collect(1000, r);
  const pm::HistogramDataPoint& p = the_metric(r, "latency").histogram().data_points(0);
  EXPECT_EQ(std::vector<double>(p.explicit_bounds().begin(), p.explicit_bounds().end()),
            (std::vector<double>{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}));
  std::vector<uint64_t> expected(16, 0);
  expected[0] = 1;   // 0 in (-inf, 0]
  expected[2] = 1;   // 7 in (5, 10]
  expected[14] = 1;  // 10000 in (7500, 10000]
  expected[15] = 1;  // 10001 in (10000, +inf)
  EXPECT_EQ(counts(p.bucket_counts()), expected);
}

TEST(MetricsHistogram, BoundariesAreSortedDeduplicatedAndFinite) {
  MetricsAggregator agg({});
  int64_t a = agg.stream(histogram("h", {10, 0, 5, 5, std::numeric_limits<double>::quiet_NaN()}));
  int64_t b = agg.stream(histogram("h", {0, 5, 10}));
  EXPECT_EQ(a, b);  // the same aggregation, so the same stream
  agg.record(a, kNone, 10, real(6), nullptr);
  Request r;
  agg.collect(1000, r);
  const pm::HistogramDataPoint& p = the_metric(r, "h").histogram().data_points(0);
  EXPECT_EQ(p.explicit_bounds_size(), 3);
  EXPECT_EQ(counts(p.bucket_counts()), (std::vector<uint64_t>{0, 0, 1, 0}));
}

TEST(MetricsHistogram, DeltaResetsCountSumMinMaxAndBuckets) {
  MetricsOptions o;
  o.preference = TemporalityPreference::kLowMemory;
  MetricsAggregator agg(o);
  int64_t id = agg.stream(histogram("latency", {1}));
  agg.record(id, kNone, 10, real(0.5), nullptr);
  agg.record(id, kNone, 20, real(3), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  EXPECT_EQ(the_metric(r, "latency").histogram().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_EQ(the_metric(r, "latency").histogram().data_points(0).count(), 2u);

  agg.record(id, kNone, 1010, real(2), nullptr);
  ASSERT_EQ(agg.collect(2000, r), 1u);
  const pm::HistogramDataPoint& p = the_metric(r, "latency").histogram().data_points(0);
  EXPECT_EQ(p.count(), 1u);
  EXPECT_EQ(p.sum(), 2.0);
  EXPECT_EQ(p.min(), 2.0);
  EXPECT_EQ(p.max(), 2.0);
  EXPECT_EQ(counts(p.bucket_counts()), (std::vector<uint64_t>{0, 1}));

  EXPECT_EQ(agg.collect(3000, r), 0u);
}

TEST(MetricsHistogram, CumulativeAccumulatesAcrossCollections) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(histogram("latency", {1}));
  Request r;
  agg.record(id, kNone, 10, real(0.5), nullptr);
  agg.collect(1000, r);
  agg.record(id, kNone, 1010, real(3), nullptr);
  agg.collect(2000, r);
  const pm::HistogramDataPoint& p = the_metric(r, "latency").histogram().data_points(0);
  EXPECT_EQ(p.count(), 2u);
  EXPECT_EQ(p.min(), 0.5);
  EXPECT_EQ(p.max(), 3.0);
  EXPECT_EQ(counts(p.bucket_counts()), (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(p.start_time_unix_nano(), 10u);
}

TEST(MetricsHistogram, RejectsNonFiniteValues) {
  MetricsAggregator agg({});
  int64_t h = agg.stream(histogram("h"));
  int64_t e = agg.stream(exp_histogram("e"));
  for (int64_t id : {h, e}) {
    agg.record(id, kNone, 10, real(std::numeric_limits<double>::quiet_NaN()), nullptr);
    agg.record(id, kNone, 10, real(-std::numeric_limits<double>::infinity()), nullptr);
  }
  EXPECT_EQ(agg.stats().rejected, 4u);
  Request r;
  EXPECT_EQ(agg.collect(1000, r), 0u);
}

// ---------------------------------------------------------------- exponential: index mapping

// At scale s, bucket i holds (2^(i/2^s), 2^((i+1)/2^s)].
TEST(MetricsExpHistogram, IndexMappingAtScaleZeroAndBelowUsesTheExponent) {
  // Scale 0: (2^i, 2^(i+1)]. 1 = 2^0 is the upper edge of bucket -1; 2 of bucket 0;
  // 3 is in (2, 4] -> 1; 4 -> 1; 0.5 -> -2.
  EXPECT_EQ(exp_map_to_index(1, 0), -1);
  EXPECT_EQ(exp_map_to_index(2, 0), 0);
  EXPECT_EQ(exp_map_to_index(3, 0), 1);
  EXPECT_EQ(exp_map_to_index(4, 0), 1);
  EXPECT_EQ(exp_map_to_index(0.5, 0), -2);
  // Scale -1: (4^i, 4^(i+1)]. 4 -> 0 (upper edge of (1, 4]); 5 -> 1; 16 -> 1; 17 -> 2.
  EXPECT_EQ(exp_map_to_index(4, -1), 0);
  EXPECT_EQ(exp_map_to_index(5, -1), 1);
  EXPECT_EQ(exp_map_to_index(16, -1), 1);
  EXPECT_EQ(exp_map_to_index(17, -1), 2);
  // Scale -10: (2^(1024 i), 2^(1024 (i+1))]: every positive double is in bucket -1 or 0.
  EXPECT_EQ(exp_map_to_index(std::numeric_limits<double>::max(), -10), 0);
  EXPECT_EQ(exp_map_to_index(1.5, -10), 0);
  EXPECT_EQ(exp_map_to_index(1, -10), -1);
  EXPECT_EQ(exp_map_to_index(std::numeric_limits<double>::denorm_min(), -10), -1);
}

TEST(MetricsExpHistogram, IndexMappingAtPositiveScales) {
  // Powers of two are exact: 2^k is the upper edge of bucket (k << s) - 1.
  EXPECT_EQ(exp_map_to_index(1, 20), -1);
  EXPECT_EQ(exp_map_to_index(2, 20), (1 << 20) - 1);
  EXPECT_EQ(exp_map_to_index(0.25, 3), (-2 << 3) - 1);
  // 3: log2(3) = 1.5849625007; at scale 3, 1.58496 * 8 = 12.68 -> bucket 12, (2^(12/8), 2^(13/8)]
  // = (2.828, 3.084]. At scale 20, 1.5849625007 * 2^20 = 1661953.7 -> 1661953.
  EXPECT_EQ(exp_map_to_index(3, 3), 12);
  EXPECT_EQ(exp_map_to_index(3, 20), 1661953);
  // Just above a power of two: the first bucket after its edge, never the edge's bucket.
  EXPECT_EQ(exp_map_to_index(std::nextafter(2.0, 3.0), 20), 1 << 20);
  // Just below: the edge's bucket.
  EXPECT_EQ(exp_map_to_index(std::nextafter(2.0, 1.0), 20), (1 << 20) - 1);
  // The largest double: 2^1024 (exclusive) is the upper edge of bucket (1024 << 20) - 1.
  EXPECT_EQ(exp_map_to_index(std::numeric_limits<double>::max(), 20), (int64_t{1024} << 20) - 1);
  // Subnormals count as the smallest normal 2^-1022: bucket (-1022 << s) - 1.
  EXPECT_EQ(exp_map_to_index(std::numeric_limits<double>::denorm_min(), 20), (int64_t{-1022} << 20) - 1);
  EXPECT_EQ(exp_map_to_index(std::numeric_limits<double>::min(), 20), (int64_t{-1022} << 20) - 1);
}

// ---------------------------------------------------------------- exponential: aggregation

const pm::ExponentialHistogramDataPoint& exp_point(MetricsAggregator& agg, Request& r, const std::string& name) {
  agg.collect(1000, r);
  const pm::Metric& m = the_metric(r, name);
  EXPECT_TRUE(m.has_exponential_histogram());
  static const pm::ExponentialHistogramDataPoint empty;
  if (m.exponential_histogram().data_points_size() != 1) return empty;
  return m.exponential_histogram().data_points(0);
}

// Values 1, 2, 4 with the defaults (max scale 20, 160 buckets).
// At scale s the indices are: 1 -> -1 (2^0 is the upper edge of bucket -1), 2 -> 2^s - 1,
// 4 -> 2^(s+1) - 1. After 1 and 2 the range [-1, 2^s - 1] holds 2^s + 1 buckets, <= 160 for
// s <= 7: scale 7. Then 4 -> 255: [-1, 255] is 257 buckets, too many; at scale 6 the indices
// are -1, 63, 127: [-1, 127] is 129 buckets. Final scale 6, offset -1, 129 counts with 1 at
// positions 0 (index -1), 64 (index 63) and 128 (index 127).
TEST(MetricsExpHistogram, OneTwoFourDownscalesToScaleSix) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(exp_histogram("e"));
  for (double v : {1.0, 2.0, 4.0}) agg.record(id, kNone, 10, real(v), nullptr);
  Request r;
  const pm::ExponentialHistogramDataPoint& p = exp_point(agg, r, "e");
  EXPECT_EQ(p.scale(), 6);
  EXPECT_EQ(p.count(), 3u);
  EXPECT_EQ(p.sum(), 7.0);
  EXPECT_EQ(p.min(), 1.0);
  EXPECT_EQ(p.max(), 4.0);
  EXPECT_EQ(p.zero_count(), 0u);
  EXPECT_EQ(p.positive().offset(), -1);
  std::vector<uint64_t> expected(129, 0);
  expected[0] = expected[64] = expected[128] = 1;
  EXPECT_EQ(counts(p.positive().bucket_counts()), expected);
  EXPECT_EQ(p.negative().bucket_counts_size(), 0);
  EXPECT_EQ(the_metric(r, "e").exponential_histogram().aggregation_temporality(),
            pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
}

// 1e-300 and 1e300: log2 = -996.58 and 996.58, so at scale 0 they are in buckets -997 and
// 996. At scale -k the indices are floor(-997 / 2^k) and floor(996 / 2^k):
// k = 3: -125 .. 124 = 250 buckets (> 160); k = 4: -63 .. 62 = 126 buckets. Scale -4, offset
// -63, 126 counts, 1 at positions 0 and 125.
TEST(MetricsExpHistogram, HugeRangeDownscalesBelowZero) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(exp_histogram("e"));
  agg.record(id, kNone, 10, real(1e-300), nullptr);
  agg.record(id, kNone, 10, real(1e300), nullptr);
  Request r;
  const pm::ExponentialHistogramDataPoint& p = exp_point(agg, r, "e");
  EXPECT_EQ(p.scale(), -4);
  EXPECT_EQ(p.positive().offset(), -63);
  std::vector<uint64_t> expected(126, 0);
  expected[0] = expected[125] = 1;
  EXPECT_EQ(counts(p.positive().bucket_counts()), expected);
}

// With 2 buckets: 1e-300 (scale-0 index -997), 1 (-1), 1e300 (996). At scale -9 they are
// -2, -1, 1 (4 buckets); at scale -10: -1, -1, 0 (2 buckets). Offset -1, counts {2, 1}.
TEST(MetricsExpHistogram, TwoBucketsReachTheMinimumScale) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(exp_histogram("e", 2));
  for (double v : {1e-300, 1.0, 1e300}) agg.record(id, kNone, 10, real(v), nullptr);
  Request r;
  const pm::ExponentialHistogramDataPoint& p = exp_point(agg, r, "e");
  EXPECT_EQ(p.scale(), -10);
  EXPECT_EQ(p.positive().offset(), -1);
  EXPECT_EQ(counts(p.positive().bucket_counts()), (std::vector<uint64_t>{2, 1}));
}

// -1, 0, 0, 3 at scale 20: zeros go to the zero bucket; 3 -> positive index 1661953 (see
// IndexMappingAtPositiveScales); -1 -> negative index -1. Each range holds one bucket: no
// downscale.
TEST(MetricsExpHistogram, NegativeAndZeroValues) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(exp_histogram("e"));
  for (double v : {-1.0, 0.0, -0.0, 3.0}) agg.record(id, kNone, 10, real(v), nullptr);
  Request r;
  const pm::ExponentialHistogramDataPoint& p = exp_point(agg, r, "e");
  EXPECT_EQ(p.scale(), 20);
  EXPECT_EQ(p.count(), 4u);
  EXPECT_EQ(p.zero_count(), 2u);
  EXPECT_EQ(p.zero_threshold(), 0.0);
  EXPECT_EQ(p.sum(), 2.0);
  EXPECT_EQ(p.min(), -1.0);
  EXPECT_EQ(p.max(), 3.0);
  EXPECT_EQ(p.positive().offset(), 1661953);
  EXPECT_EQ(counts(p.positive().bucket_counts()), (std::vector<uint64_t>{1}));
  EXPECT_EQ(p.negative().offset(), -1);
  EXPECT_EQ(counts(p.negative().bucket_counts()), (std::vector<uint64_t>{1}));
}

// -3 first (negative index 1661953 at scale 20), then 1 and 2 force scale 7 (see
// OneTwoFourDownscalesToScaleSix): the negative range is rescaled too, to
// floor(1661953 / 2^13) = 202, which is log2(3) * 2^7 = 202.88 -> 202 computed directly.
TEST(MetricsExpHistogram, DownscalingMovesBothRanges) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(exp_histogram("e"));
  for (double v : {-3.0, 1.0, 2.0}) agg.record(id, kNone, 10, real(v), nullptr);
  Request r;
  const pm::ExponentialHistogramDataPoint& p = exp_point(agg, r, "e");
  EXPECT_EQ(p.scale(), 7);
  EXPECT_EQ(p.negative().offset(), 202);
  EXPECT_EQ(counts(p.negative().bucket_counts()), (std::vector<uint64_t>{1}));
  EXPECT_EQ(p.positive().offset(), -1);
  EXPECT_EQ(p.positive().bucket_counts_size(), 129);  // -1 .. 127
  EXPECT_EQ(exp_map_to_index(3, 7), 202);
}

TEST(MetricsExpHistogram, MaxScaleIsClampedAndZeroMeansTwenty) {
  MetricsAggregator agg({});
  int64_t high = agg.stream(exp_histogram("high", 0, 50));
  int64_t def = agg.stream(exp_histogram("default", 0, 0));
  int64_t low = agg.stream(exp_histogram("low", 0, -20));
  int64_t three = agg.stream(exp_histogram("three", 0, 3));
  for (int64_t id : {high, def, low, three}) agg.record(id, kNone, 10, real(3), nullptr);
  Request r;
  agg.collect(1000, r);
  auto point = [&](const char* n) { return the_metric(r, n).exponential_histogram().data_points(0); };
  EXPECT_EQ(point("high").scale(), 20);
  EXPECT_EQ(point("default").scale(), 20);
  EXPECT_EQ(point("low").scale(), -10);
  EXPECT_EQ(point("low").positive().offset(), 0);  // 3 in (1, 2^1024]
  EXPECT_EQ(point("three").scale(), 3);
  EXPECT_EQ(point("three").positive().offset(), 12);
}

TEST(MetricsExpHistogram, DeltaIntervalStartsAgainAtMaxScale) {
  MetricsOptions o;
  o.preference = TemporalityPreference::kDelta;
  MetricsAggregator agg(o);
  int64_t id = agg.stream(exp_histogram("e"));
  for (double v : {1.0, 2.0, 4.0}) agg.record(id, kNone, 10, real(v), nullptr);
  Request r;
  agg.collect(1000, r);
  const pm::Metric& m = the_metric(r, "e");
  EXPECT_EQ(m.exponential_histogram().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_EQ(m.exponential_histogram().data_points(0).scale(), 6);
  agg.record(id, kNone, 1010, real(3), nullptr);
  agg.collect(2000, r);
  const pm::ExponentialHistogramDataPoint& p = the_metric(r, "e").exponential_histogram().data_points(0);
  EXPECT_EQ(p.scale(), 20);
  EXPECT_EQ(p.count(), 1u);
  EXPECT_EQ(p.positive().offset(), 1661953);
}

TEST(MetricsExpHistogram, ManyValuesKeepTheBucketLimitAndTheTotals) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(exp_histogram("e", 20));
  uint64_t n = 0;
  for (double v = 0.001; v < 1e6; v *= 1.37, ++n) {
    agg.record(id, kNone, 10, real(v), nullptr);
    agg.record(id, kNone, 10, real(-v), nullptr);
  }
  Request r;
  const pm::ExponentialHistogramDataPoint& p = exp_point(agg, r, "e");
  EXPECT_LE(p.positive().bucket_counts_size(), 20);
  EXPECT_LE(p.negative().bucket_counts_size(), 20);
  uint64_t pos = 0, neg = 0;
  for (uint64_t c : p.positive().bucket_counts()) pos += c;
  for (uint64_t c : p.negative().bucket_counts()) neg += c;
  EXPECT_EQ(pos, n);
  EXPECT_EQ(neg, n);
  EXPECT_EQ(p.count(), 2 * n);
  EXPECT_NEAR(p.sum(), 0.0, 1e-6);
  // 0.001 .. 1e6 spans about 30 powers of two: scale -1 (15 buckets of 4x) fits 20 buckets.
  EXPECT_EQ(p.scale(), -1);
  // The smallest value lies in the first bucket: base^offset < 0.001 <= base^(offset+1).
  const double base = std::exp2(std::exp2(-p.scale()));
  EXPECT_LT(std::pow(base, p.positive().offset()), 0.001);
  EXPECT_GE(std::pow(base, p.positive().offset() + 1), 0.001 * (1 - 1e-12));
}

}  // namespace
}  // namespace otlp_mmap::collector

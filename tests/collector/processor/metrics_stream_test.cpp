// Streams and series: identity by content, attribute canonicalisation, cardinality limits,
// timestamps, exemplars, output grouping and order.
#include <string>

#include "metrics_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace testing;

MetricsOptions with(TemporalityPreference p) {
  MetricsOptions o;
  o.preference = p;
  return o;
}

// ---------------------------------------------------------------- stream identity

TEST(MetricsStream, IdenticalContentIsOneStream) {
  MetricsAggregator agg({});
  MetricStreamDefinition a = counter("requests");
  *a.resource.add_attributes() = str("host", "h1");
  *a.scope.add_attributes() = str("x", "1");
  a.metric.scope_ref = 100;  // where it sits in one file: not part of the identity
  // Same content: resource attributes in another order, a duplicated key whose last value
  // wins, another file offset.
  MetricStreamDefinition b = counter("requests");
  b.resource.clear_attributes();
  *b.resource.add_attributes() = str("host", "stale");
  *b.resource.add_attributes() = str("host", "h1");
  *b.resource.add_attributes() = str("service.name", "svc");
  *b.scope.add_attributes() = str("x", "1");
  b.metric.scope_ref = 7000;
  int64_t ia = agg.stream(a);
  ASSERT_GE(ia, 0);
  EXPECT_EQ(agg.stream(b), ia);
  EXPECT_EQ(agg.stats().streams, 1u);
  // Both feed the same series; the resource is exported canonical (sorted, no duplicates).
  agg.record(ia, {}, 10, integer(1), nullptr);
  agg.record(agg.stream(b), {}, 20, integer(2), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).as_int(), 3);
  const auto& res = r.resource_metrics(0).resource();
  ASSERT_EQ(res.attributes_size(), 2);
  EXPECT_EQ(res.attributes(0).key(), "host");
  EXPECT_EQ(res.attributes(0).value().string_value(), "h1");
  EXPECT_EQ(res.attributes(1).key(), "service.name");
  EXPECT_EQ(r.resource_metrics(0).schema_url(), "https://opentelemetry.io/schemas/1.24.0");
  EXPECT_EQ(r.resource_metrics(0).scope_metrics(0).scope().name(), "lib");
}

TEST(MetricsStream, AnyDifferenceInContentIsAnotherStream) {
  MetricsAggregator agg({});
  const MetricStreamDefinition base = counter("requests");
  int64_t id = agg.stream(base);
  auto differs = [&](auto change) {
    MetricStreamDefinition d = base;
    change(d);
    int64_t other = agg.stream(d);
    return other >= 0 && other != id;
  };
  EXPECT_TRUE(differs([](auto& d) { d.metric.unit = "ms"; }));
  EXPECT_TRUE(differs([](auto& d) { d.metric.description = "other"; }));
  EXPECT_TRUE(differs([](auto& d) { d.metric.name = "Requests"; }));  // names are kept exact
  EXPECT_TRUE(differs([](auto& d) { d.metric.is_monotonic = false; }));
  EXPECT_TRUE(differs([](auto& d) { d.metric.temporality = kCumulative; }));
  EXPECT_TRUE(differs([](auto& d) { d.metric.aggregation = AggregationKind::kGauge; }));
  EXPECT_TRUE(differs([](auto& d) { d.resource_schema_url = "https://example.com/s"; }));
  EXPECT_TRUE(differs([](auto& d) { d.scope_schema_url = "https://example.com/s"; }));
  EXPECT_TRUE(differs([](auto& d) { d.scope.set_version("2.0"); }));
  EXPECT_TRUE(differs([](auto& d) { *d.resource.add_attributes() = str("host", "h2"); }));
  // Parameters equal after defaults are applied are the same aggregation.
  MetricsAggregator agg2({});
  EXPECT_EQ(agg2.stream(histogram("h")),
            agg2.stream(histogram("h", {0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000})));
  EXPECT_EQ(agg2.stream(exp_histogram("e", 0, 0)), agg2.stream(exp_histogram("e", 160, 20)));
  EXPECT_NE(agg2.stream(exp_histogram("e", 0, 0)), agg2.stream(exp_histogram("e", 20, 20)));
}

TEST(MetricsStream, RefusesAggregationsItCannotHave) {
  MetricsAggregator agg({});
  EXPECT_EQ(agg.stream(definition("none", AggregationKind::kNone)), -1);
  EXPECT_EQ(agg.stream(definition("bad.temporality", AggregationKind::kSum, 7)), -1);
  EXPECT_EQ(agg.stream(exp_histogram("bad.buckets", -1)), -1);
  EXPECT_EQ(agg.stats().streams, 0u);
  agg.record(0, {}, 10, integer(1), nullptr);  // no such stream
  agg.record(-1, {}, 10, integer(1), nullptr);
  EXPECT_EQ(agg.stats().rejected, 2u);
}

TEST(MetricsStream, MaxStreamsRefusesNewStreamsAndCountsThem) {
  MetricsOptions o;
  o.max_streams = 2;
  MetricsAggregator agg(o);
  int64_t a = agg.stream(counter("a"));
  int64_t b = agg.stream(counter("b"));
  EXPECT_EQ(agg.stream(counter("c")), -1);
  EXPECT_EQ(agg.stats().streams_overflowed, 1u);
  EXPECT_EQ(agg.stream(counter("a")), a);  // existing streams are still found
  EXPECT_EQ(agg.stream(counter("b")), b);
  EXPECT_EQ(agg.stats().streams, 2u);
}

// ---------------------------------------------------------------- attributes and cardinality

TEST(MetricsSeries, AttributeSetsAreCanonicalised) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(counter("requests"));
  agg.record(id, Attrs{str("b", "1"), str("a", "2")}, 10, integer(1), nullptr);
  agg.record(id, Attrs{str("a", "2"), str("b", "1")}, 20, integer(1), nullptr);
  agg.record(id, Attrs{str("a", "9"), str("b", "1"), str("a", "2")}, 30, integer(1), nullptr);  // last wins
  agg.record(id, Attrs{str("a", "2"), num("b", 1)}, 40, integer(10), nullptr);                  // another value type
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 2u);
  const auto& points = the_metric(r, "requests").sum().data_points();
  const pm::NumberDataPoint* p = point_with(points, "b", "1");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->as_int(), 3);
  ASSERT_EQ(p->attributes_size(), 2);
  EXPECT_EQ(p->attributes(0).key(), "a");
  EXPECT_EQ(p->attributes(0).value().string_value(), "2");
  EXPECT_EQ(p->attributes(1).key(), "b");
}

TEST(MetricsSeries, ManyAttributesAreCanonicalisedToo) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(counter("requests"));
  Attrs forward, backward;
  for (int i = 0; i < 40; ++i) forward.push_back(num("k" + std::to_string(100 + i), i));
  backward.assign(forward.rbegin(), forward.rend());
  backward.insert(backward.begin(), num("k120", -1));  // overridden by the later k120
  agg.record(id, forward, 10, integer(1), nullptr);
  agg.record(id, backward, 20, integer(1), nullptr);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 1u);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).as_int(), 2);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).attributes_size(), 40);
}

// Limit 5: four regular series and the overflow series, which adds up everything else.
TEST(MetricsSeries, CardinalityLimitFoldsTheRestIntoOneOverflowSeries) {
  MetricsOptions o;
  o.cardinality_limit = 5;
  MetricsAggregator agg(o);
  int64_t id = agg.stream(counter("requests"));
  for (int i = 1; i <= 10; ++i) agg.record(id, Attrs{num("user", i)}, 10, integer(i), nullptr);
  agg.record(id, Attrs{num("user", 1)}, 20, integer(100), nullptr);  // existing series keep their own
  EXPECT_EQ(agg.stats().overflowed, 6u);
  Request r;
  ASSERT_EQ(agg.collect(1000, r), 5u);
  const auto& points = the_metric(r, "requests").sum().data_points();
  int64_t overflow_value = -1;
  std::vector<std::pair<int64_t, int64_t>> regular;
  for (const auto& p : points) {
    ASSERT_EQ(p.attributes_size(), 1);
    const auto& kv = p.attributes(0);
    if (kv.key() == "otel.metric.overflow") {
      EXPECT_EQ(kv.value().value_case(), otlp::KeyValue().value().kBoolValue);
      EXPECT_TRUE(kv.value().bool_value());
      overflow_value = p.as_int();
    } else {
      regular.emplace_back(kv.value().int_value(), p.as_int());
    }
  }
  EXPECT_EQ(overflow_value, 5 + 6 + 7 + 8 + 9 + 10);
  std::sort(regular.begin(), regular.end());
  EXPECT_EQ(regular, (std::vector<std::pair<int64_t, int64_t>>{{1, 101}, {2, 2}, {3, 3}, {4, 4}}));
}

TEST(MetricsSeries, DeltaForgetsIdleSeriesAndFreesTheirSlots) {
  MetricsOptions o;
  o.preference = TemporalityPreference::kDelta;
  o.cardinality_limit = 3;
  MetricsAggregator agg(o);
  int64_t id = agg.stream(counter("requests"));
  Request r;
  agg.record(id, Attrs{str("k", "a")}, 10, integer(1), nullptr);
  agg.record(id, Attrs{str("k", "b")}, 10, integer(1), nullptr);
  ASSERT_EQ(agg.collect(1000, r), 2u);
  EXPECT_EQ(agg.collect(2000, r), 0u);  // idle interval: a and b are forgotten
  agg.record(id, Attrs{str("k", "c")}, 2010, integer(1), nullptr);
  agg.record(id, Attrs{str("k", "d")}, 2010, integer(1), nullptr);
  ASSERT_EQ(agg.collect(3000, r), 2u);
  EXPECT_EQ(agg.stats().overflowed, 0u);
  const auto& points = the_metric(r, "requests").sum().data_points();
  EXPECT_NE(point_with(points, "k", "c"), nullptr);
  EXPECT_NE(point_with(points, "k", "d"), nullptr);
}

// ---------------------------------------------------------------- timestamps

TEST(MetricsTime, CumulativeStartIsTheSeriesFirstMeasurementAndStaysFixed) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(counter("requests"));
  Request r;
  agg.record(id, Attrs{str("k", "a")}, 1000, integer(1), nullptr);
  agg.collect(5000, r);
  const pm::NumberDataPoint* p = &the_metric(r, "requests").sum().data_points(0);
  EXPECT_EQ(p->start_time_unix_nano(), 1000u);
  EXPECT_EQ(p->time_unix_nano(), 5000u);
  agg.record(id, Attrs{str("k", "a")}, 6000, integer(1), nullptr);
  agg.record(id, Attrs{str("k", "b")}, 7000, integer(1), nullptr);
  agg.collect(9000, r);
  const auto& points = the_metric(r, "requests").sum().data_points();
  EXPECT_EQ(point_with(points, "k", "a")->start_time_unix_nano(), 1000u);
  EXPECT_EQ(point_with(points, "k", "b")->start_time_unix_nano(), 7000u);
  EXPECT_EQ(point_with(points, "k", "a")->time_unix_nano(), 9000u);
  EXPECT_EQ(point_with(points, "k", "b")->time_unix_nano(), 9000u);
}

TEST(MetricsTime, DeltaStartIsThePreviousCollection) {
  MetricsAggregator agg(with(TemporalityPreference::kDelta));
  int64_t id = agg.stream(counter("requests"));
  Request r;
  agg.record(id, Attrs{str("k", "a")}, 1000, integer(1), nullptr);
  agg.collect(5000, r);  // first interval: from the series' first measurement
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).start_time_unix_nano(), 1000u);
  agg.record(id, Attrs{str("k", "a")}, 6000, integer(1), nullptr);
  agg.collect(9000, r);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).start_time_unix_nano(), 5000u);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).time_unix_nano(), 9000u);
  agg.collect(12000, r);  // nothing recorded: the collection still ends the interval
  agg.record(id, Attrs{str("k", "new")}, 12500, integer(1), nullptr);
  agg.collect(15000, r);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).start_time_unix_nano(), 12000u);
}

TEST(MetricsTime, StartIsNeverZeroNorAfterTheTime) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(counter("requests"));
  Request r;
  agg.record(id, Attrs{str("k", "no.time")}, 0, integer(1), nullptr);
  agg.record(id, Attrs{str("k", "future")}, 8000, integer(1), nullptr);
  agg.collect(5000, r);
  const auto& points = the_metric(r, "requests").sum().data_points();
  EXPECT_EQ(point_with(points, "k", "no.time")->start_time_unix_nano(), 5000u);
  EXPECT_EQ(point_with(points, "k", "future")->start_time_unix_nano(), 5000u);
  agg.collect(6000, r);  // and they stay fixed
  EXPECT_EQ(point_with(the_metric(r, "requests").sum().data_points(), "k", "future")->start_time_unix_nano(), 5000u);
}

// ---------------------------------------------------------------- exemplars

SpanContext span_context(char fill, uint32_t flags = 1) {
  return SpanContext{std::string(16, fill), std::string(8, static_cast<char>(fill + 1)), flags};
}

TEST(MetricsExemplar, SampledContextsGiveTheLatestExemplar) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(counter("requests"));
  const SpanContext first = span_context('a');
  const SpanContext second = span_context('c');
  const SpanContext unsampled = span_context('e', 0);
  agg.record(id, {}, 100, integer(1), &first);
  agg.record(id, {}, 200, integer(2), &second);
  agg.record(id, {}, 300, integer(3), &unsampled);  // filter trace_based: not kept
  agg.record(id, {}, 400, integer(4), nullptr);
  Request r;
  agg.collect(1000, r);
  const pm::NumberDataPoint& p = the_metric(r, "requests").sum().data_points(0);
  ASSERT_EQ(p.exemplars_size(), 1);
  const pm::Exemplar& e = p.exemplars(0);
  EXPECT_EQ(e.time_unix_nano(), 200u);
  EXPECT_EQ(e.as_int(), 2);
  EXPECT_EQ(e.trace_id(), second.trace_id);
  EXPECT_EQ(e.span_id(), second.span_id);
  EXPECT_EQ(e.filtered_attributes_size(), 0);
}

TEST(MetricsExemplar, InvalidContextsAreIgnored) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(gauge("g"));
  const SpanContext short_trace{std::string(8, 'a'), std::string(8, 'b'), 1};
  const SpanContext zero_trace{std::string(16, '\0'), std::string(8, 'b'), 1};
  agg.record(id, {}, 100, real(1.5), &short_trace);
  agg.record(id, {}, 200, real(2.5), &zero_trace);
  Request r;
  agg.collect(1000, r);
  EXPECT_EQ(the_metric(r, "g").gauge().data_points(0).exemplars_size(), 0);
}

TEST(MetricsExemplar, ExplicitHistogramsKeepOnePerBucket) {
  MetricsAggregator agg({});
  int64_t id = agg.stream(histogram("latency", {10}));
  const SpanContext a = span_context('a');
  const SpanContext b = span_context('c');
  const SpanContext c = span_context('e');
  agg.record(id, {}, 100, real(1), &a);
  agg.record(id, {}, 200, real(2), &b);  // same bucket: replaces a
  agg.record(id, {}, 300, real(50), &c);
  Request r;
  agg.collect(1000, r);
  const pm::HistogramDataPoint& p = the_metric(r, "latency").histogram().data_points(0);
  ASSERT_EQ(p.exemplars_size(), 2);
  EXPECT_EQ(p.exemplars(0).as_double(), 2.0);
  EXPECT_EQ(p.exemplars(0).trace_id(), b.trace_id);
  EXPECT_EQ(p.exemplars(1).as_double(), 50.0);
  EXPECT_EQ(p.exemplars(1).span_id(), c.span_id);
}

TEST(MetricsExemplar, DeltaPointsOnlyCarryExemplarsOfTheirInterval) {
  MetricsAggregator agg(with(TemporalityPreference::kDelta));
  int64_t id = agg.stream(exp_histogram("e"));
  const SpanContext a = span_context('a');
  Request r;
  agg.record(id, {}, 100, real(1), &a);
  agg.collect(1000, r);
  EXPECT_EQ(the_metric(r, "e").exponential_histogram().data_points(0).exemplars_size(), 1);
  agg.record(id, {}, 1100, real(2), nullptr);
  agg.collect(2000, r);
  EXPECT_EQ(the_metric(r, "e").exponential_histogram().data_points(0).exemplars_size(), 0);
}

// Cumulative points too: an export never repeats an exemplar of an earlier interval.
TEST(MetricsExemplar, CumulativePointsOnlyCarryExemplarsOfTheirInterval) {
  MetricsAggregator agg({});  // default preference: cumulative
  int64_t sum = agg.stream(counter("requests"));
  int64_t hist = agg.stream(histogram("latency", {10}));
  const SpanContext a = span_context('a');
  const SpanContext c = span_context('c');
  agg.record(sum, {}, 100, integer(1), &a);
  agg.record(hist, {}, 100, real(1), &a);
  Request r;
  agg.collect(1000, r);
  ASSERT_EQ(the_metric(r, "requests").sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).exemplars_size(), 1);
  EXPECT_EQ(the_metric(r, "latency").histogram().data_points(0).exemplars_size(), 1);

  // Measured without a sampled span: the point is exported (cumulative), without exemplars.
  agg.record(sum, {}, 1100, integer(1), nullptr);
  agg.record(hist, {}, 1100, real(2), nullptr);
  agg.collect(2000, r);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).as_int(), 2);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).exemplars_size(), 0);
  EXPECT_EQ(the_metric(r, "latency").histogram().data_points(0).exemplars_size(), 0);

  // Not measured at all: still exported, still no exemplar.
  agg.collect(3000, r);
  EXPECT_EQ(the_metric(r, "requests").sum().data_points(0).exemplars_size(), 0);

  // A new sampled measurement: exactly its own exemplar.
  agg.record(sum, {}, 3100, integer(5), &c);
  agg.collect(4000, r);
  const pm::NumberDataPoint& p = the_metric(r, "requests").sum().data_points(0);
  ASSERT_EQ(p.exemplars_size(), 1);
  EXPECT_EQ(p.exemplars(0).time_unix_nano(), 3100u);
  EXPECT_EQ(p.exemplars(0).span_id(), c.span_id);
}

// ---------------------------------------------------------------- output

MetricStreamDefinition in(MetricStreamDefinition d, const std::string& service, const std::string& scope) {
  d.resource.clear_attributes();
  *d.resource.add_attributes() = str("service.name", service);
  d.scope.set_name(scope);
  return d;
}

// The same streams and measurements, given in a different order, give the same request.
TEST(MetricsOutput, CollectIsDeterministicAndGroupedByResourceThenScope) {
  struct Step {
    MetricStreamDefinition def;
    std::string attr;
    int64_t value;
  };
  std::vector<Step> steps = {
      {in(counter("z.requests"), "svc-b", "lib.x"), "a", 1}, {in(counter("a.requests"), "svc-a", "lib.y"), "b", 2},
      {in(gauge("m.gauge"), "svc-a", "lib.x"), "c", 3},      {in(counter("a.requests"), "svc-a", "lib.y"), "a", 4},
      {in(histogram("h"), "svc-b", "lib.x"), "d", 5},        {in(counter("b.requests"), "svc-a", "lib.x"), "e", 6},
  };
  auto run = [&](bool reversed) {
    MetricsAggregator agg({});
    std::vector<Step> order = steps;
    if (reversed) std::reverse(order.begin(), order.end());
    for (const Step& s : order) agg.record(agg.stream(s.def), Attrs{str("k", s.attr)}, 10, integer(s.value), nullptr);
    Request r;
    EXPECT_EQ(agg.collect(1000, r), 6u);
    return r;
  };
  Request forward = run(false);
  Request backward = run(true);
  EXPECT_EQ(forward.SerializeAsString(), backward.SerializeAsString());
  // Each resource once, each scope once within it, metrics by name.
  ASSERT_EQ(forward.resource_metrics_size(), 2);
  for (const auto& rm : forward.resource_metrics()) {
    std::vector<std::string> scopes;
    for (const auto& sm : rm.scope_metrics()) {
      scopes.push_back(sm.scope().name());
      std::vector<std::string> names;
      for (const auto& m : sm.metrics()) names.push_back(m.name());
      EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
    }
    std::vector<std::string> unique = scopes;
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    EXPECT_EQ(unique.size(), scopes.size());
  }
  // Two series of one stream: ordered by their attributes.
  const auto& points = the_metric(forward, "a.requests").sum().data_points();
  ASSERT_EQ(points.size(), 2);
  EXPECT_EQ(points[0].attributes(0).value().string_value(), "a");
  EXPECT_EQ(points[1].attributes(0).value().string_value(), "b");
}

TEST(MetricsOutput, CollectReplacesTheRequestAndCountsPoints) {
  MetricsAggregator agg({});
  Request r;
  r.add_resource_metrics();
  EXPECT_EQ(agg.collect(1000, r), 0u);
  EXPECT_EQ(r.resource_metrics_size(), 0);
  int64_t c = agg.stream(counter("c"));
  int64_t h = agg.stream(histogram("h"));
  for (int i = 0; i < 3; ++i) agg.record(c, Attrs{num("i", i)}, 10, integer(1), nullptr);
  agg.record(h, {}, 10, real(1), nullptr);
  EXPECT_EQ(agg.collect(1000, r), 4u);
  EXPECT_EQ(agg.stats().measurements, 4u);
  EXPECT_EQ(agg.stats().streams, 2u);
}

}  // namespace
}  // namespace otlp_mmap::collector

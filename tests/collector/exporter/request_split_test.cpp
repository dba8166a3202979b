// Metric requests cut to a size limit: every part within it, nothing lost, reordered or
// changed, each part self-describing.

#include "otlp_mmap/collector/exporter/request_split.hpp"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace otlp_mmap::collector {
namespace {

using opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE;
using opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_DELTA;
using opentelemetry::proto::metrics::v1::Metric;
using opentelemetry::proto::metrics::v1::NumberDataPoint;
using opentelemetry::proto::metrics::v1::ScopeMetrics;

template <class Point>
void label(Point* p, int i, size_t value_bytes = 40) {
  auto* kv = p->add_attributes();
  kv->set_key("series");
  kv->mutable_value()->set_string_value(std::to_string(i) + std::string(value_bytes, 'v'));
  p->set_time_unix_nano(1000 + static_cast<uint64_t>(i));
}

// Every kind of metric, `points` points each, in 2 resources x 2 scopes.
MetricsRequest collection(int points) {
  MetricsRequest r;
  for (int res = 0; res < 2; ++res) {
    auto* rm = r.add_resource_metrics();
    auto* kv = rm->mutable_resource()->add_attributes();
    kv->set_key("service.name");
    kv->mutable_value()->set_string_value("svc-" + std::to_string(res));
    rm->set_schema_url("https://opentelemetry.io/schemas/1.26.0");
    for (int sc = 0; sc < 2; ++sc) {
      ScopeMetrics* sm = rm->add_scope_metrics();
      sm->mutable_scope()->set_name("scope-" + std::to_string(sc));
      sm->mutable_scope()->set_version("1.0");
      Metric* g = sm->add_metrics();
      g->set_name("gauge");
      g->set_unit("1");
      Metric* s = sm->add_metrics();
      s->set_name("sum");
      s->set_description("a monotonic delta sum");
      s->mutable_sum()->set_is_monotonic(true);
      s->mutable_sum()->set_aggregation_temporality(AGGREGATION_TEMPORALITY_DELTA);
      Metric* h = sm->add_metrics();
      h->set_name("histogram");
      h->mutable_histogram()->set_aggregation_temporality(AGGREGATION_TEMPORALITY_CUMULATIVE);
      Metric* e = sm->add_metrics();
      e->set_name("exponential");
      e->mutable_exponential_histogram()->set_aggregation_temporality(AGGREGATION_TEMPORALITY_DELTA);
      Metric* q = sm->add_metrics();
      q->set_name("summary");
      Metric* empty = sm->add_metrics();
      empty->set_name("no points yet");
      empty->mutable_gauge();
      for (int i = 0; i < points; ++i) {
        NumberDataPoint* gp = g->mutable_gauge()->add_data_points();
        label(gp, i);
        gp->set_as_double(i * 0.5);
        NumberDataPoint* sp = s->mutable_sum()->add_data_points();
        label(sp, i);
        sp->set_as_int(i);
        auto* hp = h->mutable_histogram()->add_data_points();
        label(hp, i);
        hp->set_count(3);
        for (int b = 0; b < 8; ++b) hp->add_bucket_counts(static_cast<uint64_t>(b));
        auto* ep = e->mutable_exponential_histogram()->add_data_points();
        label(ep, i);
        ep->set_scale(3);
        ep->mutable_positive()->add_bucket_counts(1);
        auto* qp = q->mutable_summary()->add_data_points();
        label(qp, i);
        qp->set_sum(2.5);
      }
    }
  }
  return r;
}

// Every point with where it belongs (resource, scope, metric description), in order.
std::vector<std::tuple<std::string, std::string, std::string, std::string>> flatten(
    const std::vector<MetricsRequest>& parts) {
  std::vector<std::tuple<std::string, std::string, std::string, std::string>> out;
  for (const auto& r : parts) {
    for (const auto& rm : r.resource_metrics()) {
      std::string res = rm.resource().SerializeAsString() + "|" + rm.schema_url();
      for (const auto& sm : rm.scope_metrics()) {
        std::string scope = sm.scope().SerializeAsString() + "|" + sm.schema_url();
        for (const auto& m : sm.metrics()) {
          Metric d = m;
          const auto points = [&](auto* repeated) {
            for (const auto& p : *repeated) out.emplace_back(res, scope, "", p.SerializeAsString());
            repeated->Clear();
          };
          switch (d.data_case()) {
            case Metric::kGauge: points(d.mutable_gauge()->mutable_data_points()); break;
            case Metric::kSum: points(d.mutable_sum()->mutable_data_points()); break;
            case Metric::kHistogram: points(d.mutable_histogram()->mutable_data_points()); break;
            case Metric::kExponentialHistogram: points(d.mutable_exponential_histogram()->mutable_data_points()); break;
            case Metric::kSummary: points(d.mutable_summary()->mutable_data_points()); break;
            case Metric::DATA_NOT_SET: break;
          }
          // The description goes with every point of the metric (and once for one without).
          const std::string description = d.SerializeAsString();
          bool any = false;
          for (auto it = out.rbegin(); it != out.rend() && std::get<2>(*it).empty(); ++it) {
            std::get<2>(*it) = description;
            any = true;
          }
          if (!any) out.emplace_back(res, scope, description, "");
        }
      }
    }
  }
  return out;
}

TEST(RequestSplit, ARequestWithinTheLimitIsOnePartUnchanged) {
  const MetricsRequest r = collection(10);
  const auto parts = split_by_size(r, kDefaultMaxRequestBytes);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].SerializeAsString(), r.SerializeAsString());
}

TEST(RequestSplit, EveryPartFitsAndNothingIsLostReorderedOrChanged) {
  const MetricsRequest r = collection(2000);
  const size_t limit = 64 * 1024;
  ASSERT_GT(r.ByteSizeLong(), 20 * limit);
  const auto parts = split_by_size(r, limit);
  size_t points = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_LE(parts[i].ByteSizeLong(), limit);
    if (i + 1 < parts.size()) {
      EXPECT_GT(parts[i].ByteSizeLong(), limit * 9 / 10) << "parts are filled";
    }
    points += count_items(parts[i]);
  }
  std::printf("[ info ] %zu bytes in %zu parts of at most %zu\n", r.ByteSizeLong(), parts.size(), limit);
  EXPECT_EQ(points, count_items(r));
  EXPECT_EQ(flatten(parts), flatten({r}));
}

TEST(RequestSplit, APointLargerThanTheLimitGoesAlone) {
  MetricsRequest r = collection(50);
  Metric* g = r.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_metrics(0);
  label(g->mutable_gauge()->mutable_data_points(10), 10, 20000);
  const size_t limit = 8 * 1024;
  const auto parts = split_by_size(r, limit);
  size_t oversized = 0;
  for (const auto& p : parts) {
    if (p.ByteSizeLong() > limit) {
      ++oversized;
      EXPECT_EQ(count_items(p), 1u);
    }
  }
  EXPECT_EQ(oversized, 1u);
  EXPECT_EQ(flatten(parts), flatten({r}));
}

// Small limits put prefix growth and headers at their largest share: still never above.
TEST(RequestSplit, NoPartExceedsTheLimitAtAnySize) {
  const MetricsRequest r = collection(150);
  for (size_t limit : {700u, 1000u, 1500u, 4000u, 16383u, 16384u, 16385u, 100000u}) {
    const auto parts = split_by_size(r, limit);
    for (const auto& p : parts) {
      if (count_items(p) > 1) {
        EXPECT_LE(p.ByteSizeLong(), limit) << "limit " << limit;
      }
    }
    EXPECT_EQ(flatten(parts), flatten({r})) << "limit " << limit;
  }
}

}  // namespace
}  // namespace otlp_mmap::collector

// Helpers of the metrics aggregation tests.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "otlp_mmap/collector/processor/metrics_aggregator.hpp"

namespace otlp_mmap::collector::testing {

namespace pm = opentelemetry::proto::metrics::v1;
using otlp::KeyValue;
using Request = otlp::ExportMetricsServiceRequest;

inline KeyValue str(const std::string& key, const std::string& value) {
  KeyValue kv;
  kv.set_key(key);
  kv.mutable_value()->set_string_value(value);
  return kv;
}

inline KeyValue num(const std::string& key, int64_t value) {
  KeyValue kv;
  kv.set_key(key);
  kv.mutable_value()->set_int_value(value);
  return kv;
}

using Attrs = std::vector<KeyValue>;

inline Measurement integer(int64_t v) {
  Measurement m;
  m.value_kind = Measurement::ValueKind::kLong;
  m.as_long = v;
  return m;
}

inline Measurement real(double v) {
  Measurement m;
  m.value_kind = Measurement::ValueKind::kDouble;
  m.as_double = v;
  return m;
}

inline MetricStreamDefinition definition(const std::string& name, AggregationKind kind, int32_t temporality = kDelta,
                                         bool monotonic = true) {
  MetricStreamDefinition d;
  *d.resource.add_attributes() = str("service.name", "svc");
  d.resource_schema_url = "https://opentelemetry.io/schemas/1.24.0";
  d.scope.set_name("lib");
  d.scope.set_version("1.0");
  d.metric.name = name;
  d.metric.unit = "1";
  d.metric.description = "a test metric";
  d.metric.aggregation = kind;
  d.metric.temporality = temporality;
  d.metric.is_monotonic = monotonic;
  return d;
}

inline MetricStreamDefinition counter(const std::string& name) { return definition(name, AggregationKind::kSum); }
inline MetricStreamDefinition async_counter(const std::string& name) {
  return definition(name, AggregationKind::kSum, kCumulative, true);
}
inline MetricStreamDefinition up_down(const std::string& name) {
  return definition(name, AggregationKind::kSum, kDelta, false);
}
inline MetricStreamDefinition async_up_down(const std::string& name) {
  return definition(name, AggregationKind::kSum, kCumulative, false);
}
inline MetricStreamDefinition gauge(const std::string& name) { return definition(name, AggregationKind::kGauge, 0); }
inline MetricStreamDefinition histogram(const std::string& name, std::vector<double> bounds = {}) {
  MetricStreamDefinition d = definition(name, AggregationKind::kHistogram, kDelta);
  d.metric.bucket_boundaries = std::move(bounds);
  return d;
}
inline MetricStreamDefinition exp_histogram(const std::string& name, int64_t max_buckets = 0, int64_t max_scale = 0) {
  MetricStreamDefinition d = definition(name, AggregationKind::kExpHistogram, kDelta);
  d.metric.max_buckets = max_buckets;
  d.metric.max_scale = max_scale;
  return d;
}

// All metrics of a request named `name` (any resource or scope).
inline std::vector<const pm::Metric*> metrics_named(const Request& r, const std::string& name) {
  std::vector<const pm::Metric*> out;
  for (const auto& rm : r.resource_metrics())
    for (const auto& sm : rm.scope_metrics())
      for (const auto& m : sm.metrics())
        if (m.name() == name) out.push_back(&m);
  return out;
}

// The only metric named `name`; fails the test otherwise.
inline const pm::Metric& the_metric(const Request& r, const std::string& name) {
  auto found = metrics_named(r, name);
  if (found.size() != 1) {
    ADD_FAILURE() << "expected one metric " << name << ", found " << found.size();
    static const pm::Metric empty;
    return empty;
  }
  return *found.front();
}

inline bool has_attribute(const google::protobuf::RepeatedPtrField<KeyValue>& attrs, const std::string& key,
                          const std::string& value) {
  for (const auto& kv : attrs)
    if (kv.key() == key && kv.value().string_value() == value) return true;
  return false;
}

// The number point whose attribute `key` is `value`.
inline const pm::NumberDataPoint* point_with(const google::protobuf::RepeatedPtrField<pm::NumberDataPoint>& points,
                                             const std::string& key, const std::string& value) {
  for (const auto& p : points)
    if (has_attribute(p.attributes(), key, value)) return &p;
  return nullptr;
}

}  // namespace otlp_mmap::collector::testing

// Synthetic OTLP requests for the export tests.
#pragma once

#include <cstdint>
#include <string>

#include "otlp_mmap/collector/exporter/exporter.hpp"

namespace otlp_mmap::collector::export_test {

inline std::string bytes_of(uint64_t hi, uint64_t lo, size_t n) {
  std::string out;
  for (int i = 7; i >= 0; --i) out += static_cast<char>((hi >> (8 * i)) & 0xff);
  for (int i = 7; i >= 0; --i) out += static_cast<char>((lo >> (8 * i)) & 0xff);
  return out.substr(16 - n);
}

// `resources` resource entries, each with `scopes` scopes of `per_scope` spans; span names
// "s<first + k>" in order.
inline TraceRequest make_spans(int resources, int scopes, int per_scope, int first = 0) {
  TraceRequest r;
  int k = first;
  for (int i = 0; i < resources; ++i) {
    auto* rs = r.add_resource_spans();
    auto* attr = rs->mutable_resource()->add_attributes();
    attr->set_key("service.name");
    attr->mutable_value()->set_string_value("svc" + std::to_string(i));
    rs->set_schema_url("https://schema/" + std::to_string(i));
    for (int j = 0; j < scopes; ++j) {
      auto* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name("scope" + std::to_string(j));
      ss->set_schema_url("https://scope-schema/" + std::to_string(j));
      for (int n = 0; n < per_scope; ++n, ++k) {
        auto* s = ss->add_spans();
        s->set_name("s" + std::to_string(k));
        s->set_trace_id(bytes_of(0x0102030405060708, 0x090a0b0c0d0e0f10, 16));
        s->set_span_id(bytes_of(0, 0xa0a1a2a3a4a5a6a7ULL + static_cast<uint64_t>(k), 8));
        s->set_start_time_unix_nano(1700000000000000000ULL);
        s->set_end_time_unix_nano(1700000000001500000ULL);
      }
    }
  }
  return r;
}

inline LogsRequest make_logs(int records, int first = 0) {
  LogsRequest r;
  auto* sl = r.add_resource_logs()->add_scope_logs();
  for (int k = first; k < first + records; ++k) {
    auto* l = sl->add_log_records();
    l->mutable_body()->set_string_value("log" + std::to_string(k));
    l->set_time_unix_nano(1700000000000000000ULL);
  }
  return r;
}

inline MetricsRequest make_metrics(int points) {
  MetricsRequest r;
  auto* m = r.add_resource_metrics()->add_scope_metrics()->add_metrics();
  m->set_name("requests");
  m->mutable_sum()->set_is_monotonic(true);
  m->mutable_sum()->set_aggregation_temporality(opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  for (int i = 0; i < points; ++i) {
    auto* p = m->mutable_sum()->add_data_points();
    p->set_as_int(i);
    auto* a = p->add_attributes();
    a->set_key("i");
    a->mutable_value()->set_int_value(i);
  }
  return r;
}

}  // namespace otlp_mmap::collector::export_test

// Shared by the fuzz targets: drain a Reader the way the collector does, resolving every
// reference, with bounded loops.
#pragma once

#include "otlp_mmap/reader.hpp"

namespace otlp_mmap::fuzz {

inline void drain(Reader& r) {
  std::string s;
  Resource res;
  InstrumentationScope sc;
  MetricRef mr;
  AnyValue av;
  auto resolve = [&](const std::vector<KeyValueRef>& kvs) {
    for (const auto& kv : kvs) {
      (void)r.read_string(kv.key_ref, s);
      if (kv.value.kind == AnyValue::Kind::kValueRef) (void)r.read(kv.value.int_value, av);
    }
  };
  for (int round = 0; round < 2; ++round) {
    SpanEvent se;
    for (int i = 0; i < 64 && r.next(se); ++i) {
      resolve(se.attributes);
      if (r.read(se.scope_ref, sc)) {
        resolve(sc.attributes);
        (void)r.read_string(sc.name_ref, s);
        if (r.read(sc.resource_ref, res)) resolve(res.attributes);
      }
    }
    Event ev;
    for (int i = 0; i < 64 && r.next(ev); ++i) {
      resolve(ev.attributes);
      (void)r.read_string(ev.event_name_ref, s);
    }
    Measurement m;
    for (int i = 0; i < 64 && r.next(m); ++i) {
      resolve(m.attributes);
      (void)r.read(m.metric_ref, mr);
    }
  }
  r.for_each_entry(256, [](int64_t, std::string_view) {});
  for (auto k : layout::kRingKinds) {
    r.peek(k, 64, [](int64_t, std::string_view) {});
    (void)r.ring_state(k);
  }
  (void)r.writer_counters();
}

}  // namespace otlp_mmap::fuzz

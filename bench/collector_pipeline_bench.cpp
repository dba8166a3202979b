// Collector pipeline throughput: a pre-filled file is drained by the real Pipeline into an
// exporter that encodes every request (protobuf) and discards it. Everything runs on the
// calling thread (pin it with `taskset -c 0` for a one-core figure). Figures are printed,
// never asserted.
//
//   collector_pipeline_bench [--rounds N] [--spans N] [--logs N] [--measurements N]
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/pipeline/pipeline.hpp"
#include "otlp_mmap/collector/processor/metrics_backend.hpp"
#include "otlp_mmap/writer.hpp"

namespace oc = otlp_mmap::collector;
using namespace std::chrono_literals;
using otlp_mmap::AnyValueView;
using otlp_mmap::KeyValueView;

namespace {

// Serialises each request (what every real exporter does first: spans and log records arrive
// encoded, as the batcher makes them, and are written out as the gRPC transport does; metric
// requests are messages) and counts its items; stops
// the pipeline once `target` items of the watched signal have arrived.
class DiscardingExporter : public oc::Exporter {
 public:
  bool submit(oc::TraceRequest&& r) override { return take(r, oc::Signal::kTraces); }
  bool submit(oc::LogsRequest&& r) override { return take(r, oc::Signal::kLogs); }
  bool submit(oc::MetricsRequest&& r) override { return take(r, oc::Signal::kMetrics); }
  bool submit(oc::Signal s, oc::EncodedRequest&& r) override {
    oc::encode(r, buffer);
    return count(s, oc::count_items(r));
  }
  bool flush(std::chrono::steady_clock::time_point) override { return true; }
  oc::SignalExportStats stats(oc::Signal s) const override {
    oc::SignalExportStats st;
    st.items_exported = items[static_cast<size_t>(s)];
    return st;
  }

  template <class R>
  bool take(const R& r, oc::Signal s) {
    r.SerializeToString(&buffer);
    return count(s, oc::count_items(r));
  }

  bool count(oc::Signal s, uint64_t n) {
    bytes += buffer.size();
    items[static_cast<size_t>(s)] += n;
    if (stop != nullptr && s == watched && items[static_cast<size_t>(s)] >= target) stop->store(true);
    return true;
  }

  std::string buffer;
  uint64_t bytes = 0;
  uint64_t items[3] = {0, 0, 0};
  oc::Signal watched = oc::Signal::kTraces;
  uint64_t target = 0;
  std::atomic<bool>* stop = nullptr;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);  // the pipeline runs on this thread
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Workload {
  std::shared_ptr<otlp_mmap::Writer> writer;
  int64_t scope = 0;
  int64_t metric = 0;
  std::vector<int64_t> keys;
};

// The OpenTelemetry specification's SDK benchmark shape (bench/pipeline_bench.py's): 10
// attributes of 20-character keys and values.
std::string spec_key(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "attribute.key.%06d", i);
  return b;
}
std::string spec_value(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "attribute.value.%04d", i);
  return b;
}

Workload open_file(const std::string& path, uint64_t records) {
  otlp_mmap::WriterConfig c;
  const uint64_t slots = std::bit_ceil(std::max<uint64_t>(records, 1024));
  c.geometry = otlp_mmap::layout::Geometry{
      {otlp_mmap::layout::RingGeometry{slots, 512}, otlp_mmap::layout::RingGeometry{slots, 512},
       otlp_mmap::layout::RingGeometry{slots, 256}},
      1 << 20};
  Workload w;
  w.writer = otlp_mmap::Writer::open(path, c);
  for (const char* k : {"service.name", "process.pid", "http.request.method", "http.route", "http.response.status_code",
                        "server.address", "user.id", "cache.hit"}) {
    w.keys.push_back(w.writer->intern(k));
  }
  for (int i = 0; i < 10; ++i) w.keys.push_back(w.writer->intern(spec_key(i)));
  std::vector<KeyValueView> res{{w.keys[0], AnyValueView::string("bench")},
                                {w.keys[1], AnyValueView::integer(::getpid())}};
  otlp_mmap::ResourceView r;
  r.attributes = res;
  otlp_mmap::ScopeView s;
  s.name_ref = w.writer->intern("bench.scope");
  s.version_ref = w.writer->intern("1.0");
  s.resource_ref = w.writer->create_resource(r);
  w.scope = w.writer->create_scope(s);
  otlp_mmap::MetricRefView m;
  m.name = "http.server.request.count";
  m.scope_ref = w.scope;
  m.aggregation = otlp_mmap::AggregationKind::kSum;
  m.temporality = otlp_mmap::kDelta;
  m.is_monotonic = true;
  w.metric = w.writer->create_metric_stream(m);
  return w;
}

void fill_spans(Workload& w, uint64_t spans, uint64_t round, bool spec_shape) {
  std::string trace(16, '\0'), span(8, '\0');
  const char* routes[] = {"/", "/users/{id}", "/orders", "/health"};
  std::vector<std::string> spec_values;
  for (int k = 0; k < 10; ++k) spec_values.push_back(spec_value(k));
  for (uint64_t i = 0; i < spans; ++i) {
    const uint64_t id = round * spans + i + 1;
    std::memcpy(trace.data(), &id, 8);
    std::memcpy(trace.data() + 8, &round, 8);
    std::memcpy(span.data(), &id, 8);
    std::vector<KeyValueView> attrs{{w.keys[2], AnyValueView::string("GET")},
                                    {w.keys[3], AnyValueView::string(routes[i % 4])},
                                    {w.keys[4], AnyValueView::integer(200)},
                                    {w.keys[5], AnyValueView::string("api.example.com")},
                                    {w.keys[6], AnyValueView::integer(static_cast<int64_t>(i % 1000))},
                                    {w.keys[7], AnyValueView::boolean(i % 3 == 0)}};
    if (spec_shape) {
      attrs.clear();
      for (size_t k = 0; k < 10; ++k) attrs.push_back({w.keys[8 + k], AnyValueView::string(spec_values[k])});
    }
    otlp_mmap::SpanEventView s;
    s.type = otlp_mmap::SpanEventType::kStart;
    s.trace_id = trace;
    s.span_id = span;
    s.scope_ref = w.scope;
    s.name = "GET /users/{id}";
    s.kind = 2;
    s.start_time_unix_nano = 1'700'000'000'000'000'000ull + i;
    s.flags = 1;
    s.attributes = attrs;
    if (!otlp_mmap::written(w.writer->write(s))) std::abort();
    otlp_mmap::SpanEventView e;
    e.type = otlp_mmap::SpanEventType::kEnd;
    e.trace_id = trace;
    e.span_id = span;
    e.scope_ref = w.scope;
    e.end_time_unix_nano = s.start_time_unix_nano + 1000;
    e.has_status = true;
    e.status_code = 1;
    if (!otlp_mmap::written(w.writer->write(e))) std::abort();
  }
}

void fill_logs(Workload& w, uint64_t logs) {
  for (uint64_t i = 0; i < logs; ++i) {
    std::vector<KeyValueView> attrs{{w.keys[3], AnyValueView::string("/orders")},
                                    {w.keys[6], AnyValueView::integer(static_cast<int64_t>(i % 1000))}};
    AnyValueView body = AnyValueView::string("order accepted for processing");
    otlp_mmap::EventView e;
    e.scope_ref = w.scope;
    e.time_unix_nano = 1'700'000'000'000'000'000ull + i;
    e.severity_number = 9;
    e.severity_text = "INFO";
    e.body = &body;
    e.attributes = attrs;
    if (!otlp_mmap::written(w.writer->write(e))) std::abort();
  }
}

void fill_measurements(Workload& w, uint64_t n) {
  const char* routes[] = {"/", "/users/{id}", "/orders", "/health"};
  for (uint64_t i = 0; i < n; ++i) {
    std::vector<KeyValueView> attrs{{w.keys[2], AnyValueView::string("GET")},
                                    {w.keys[3], AnyValueView::string(routes[i % 4])},
                                    {w.keys[4], AnyValueView::integer(200)}};
    otlp_mmap::MeasurementView m;
    m.metric_ref = w.metric;
    m.attributes = attrs;
    m.time_unix_nano = 1'700'000'000'000'000'000ull + i;
    m.as_long = 1;
    if (!otlp_mmap::written(w.writer->write(m))) std::abort();
  }
}

struct Result {
  double seconds;
  double cpu;
  uint64_t items;
  uint64_t bytes;
};

Result drain(const std::string& path, oc::Signal signal, uint64_t target, bool metrics) {
  std::atomic<bool> stop{false};
  DiscardingExporter exporter;
  exporter.watched = signal;
  exporter.target = target;
  exporter.stop = &stop;
  oc::PipelineOptions o;
  o.path = path;
  // A window of the pre-filled file's size rather than the default 64 GiB, which valgrind has
  // no address space for (callgrind gives instruction counts, steadier than CPU time here).
  o.reader.max_file_bytes = std::bit_ceil(static_cast<uint64_t>(std::filesystem::file_size(path)));
  o.stats_interval = 0s;
  o.check_writer_liveness = false;
  o.span_batch = {512, 0ms};
  o.log_batch = {512, 0ms};
  // Measurements: aggregate everything, then one collection at stop.
  o.metric_export_interval = 1h;
  std::ostringstream quiet;
  o.log = &quiet;
  std::unique_ptr<oc::MetricsBackend> backend;
  if (metrics) backend = oc::make_metrics_backend(oc::MetricsOptions{});
  oc::Pipeline pipeline(o, exporter, backend.get());
  if (signal == oc::Signal::kMetrics) exporter.stop = nullptr;
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  if (signal == oc::Signal::kMetrics) {
    // Measurements export nothing until collection: stop once the ring has been consumed
    // (the pass that consumed the last records finishes before the pipeline sees the stop).
    auto reader = otlp_mmap::Reader::open(path, otlp_mmap::ReaderOptions{.read_only = true});
    std::thread stopper([&] {
      while (reader->ring_state(otlp_mmap::layout::RingKind::kMeasurements).unread() > 0) {
        std::this_thread::sleep_for(200us);
      }
      stop.store(true);
    });
    pipeline.run(stop);
    stopper.join();
  } else {
    pipeline.run(stop);
  }
  const auto t1 = std::chrono::steady_clock::now();
  return {std::chrono::duration<double>(t1 - t0).count(), cpu_seconds() - cpu0,
          signal == oc::Signal::kMetrics ? pipeline.stats().measurements : exporter.items[static_cast<size_t>(signal)],
          exporter.bytes};
}

void report(const char* what, std::vector<Result> results) {
  if (results.empty()) return;
  std::sort(results.begin(), results.end(), [](const Result& a, const Result& b) { return a.seconds < b.seconds; });
  const Result& med = results[results.size() / 2];
  // The least CPU per item over the rounds: on a shared machine noise only ever adds.
  double best = med.cpu / static_cast<double>(med.items);
  for (const Result& r : results) best = std::min(best, r.cpu / static_cast<double>(std::max<uint64_t>(r.items, 1)));
  std::printf("%-34s %9llu items  median %7.3f s  %12.0f /s  (cpu %.3f s, least %.3f us/item, %.1f MB encoded)\n", what,
              static_cast<unsigned long long>(med.items), med.seconds, static_cast<double>(med.items) / med.seconds,
              med.cpu, best * 1e6, static_cast<double>(med.bytes) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t rounds = 5, spans = 100000, logs = 100000, measurements = 400000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const uint64_t v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--rounds") rounds = v;
    if (a == "--spans") spans = v;
    if (a == "--logs") logs = v;
    if (a == "--measurements") measurements = v;
  }
  const auto dir = std::filesystem::temp_directory_path() / ("otlp-mmap-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  cpu_set_t set;
  CPU_ZERO(&set);
  const bool pinned = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1;
  std::printf("collector pipeline: pre-filled file -> Pipeline -> encode + discard, %s\n",
              pinned ? "pinned to one CPU" : "not pinned (run under `taskset -c 0` for a one-core figure)");

  std::vector<Result> span_results, spec_results, log_results, metric_results;
  for (uint64_t r = 0; r < rounds && spans > 0; ++r) {
    const std::string path = (dir / ("spans-" + std::to_string(r))).string();
    Workload w = open_file(path, 2 * spans);
    fill_spans(w, spans, r, false);
    span_results.push_back(drain(path, oc::Signal::kTraces, spans, false));
  }
  report("spans assembled + encoded", span_results);
  for (uint64_t r = 0; r < rounds && spans > 0; ++r) {
    const std::string path = (dir / ("spans10-" + std::to_string(r))).string();
    Workload w = open_file(path, 2 * spans);
    fill_spans(w, spans, r, true);
    spec_results.push_back(drain(path, oc::Signal::kTraces, spans, false));
  }
  report("spans, 10 attributes of 20 chars", spec_results);
  for (uint64_t r = 0; r < rounds && logs > 0; ++r) {
    const std::string path = (dir / ("logs-" + std::to_string(r))).string();
    Workload w = open_file(path, logs);
    fill_logs(w, logs);
    log_results.push_back(drain(path, oc::Signal::kLogs, logs, false));
  }
  report("log records mapped + encoded", log_results);
  for (uint64_t r = 0; r < rounds && measurements > 0; ++r) {
    const std::string path = (dir / ("measurements-" + std::to_string(r))).string();
    Workload w = open_file(path, measurements);
    fill_measurements(w, measurements);
    metric_results.push_back(drain(path, oc::Signal::kMetrics, measurements, true));
  }
  report("measurements resolved + aggregated", metric_results);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}

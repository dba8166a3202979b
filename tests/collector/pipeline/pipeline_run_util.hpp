// The fixture of the pipeline run tests: a pipeline on its own thread reading a real file,
// a recording exporter, a fake metrics backend, and a producer writing through the C++ writer.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "otlp_mmap/collector/pipeline/pipeline.hpp"
#include "pipeline_test_util.hpp"
#include "recording_exporter.hpp"

namespace otlp_mmap::collector::pipeline_test {

using namespace std::chrono_literals;

class FakeMetrics : public MetricsBackend {
 public:
  struct Recorded {
    int64_t stream;
    std::vector<std::string> attributes;
    uint64_t time;
    int64_t value;
    bool exemplar;
  };

  int64_t stream(const MetricStreamDefinition& d) override {
    std::lock_guard<std::mutex> lock(mu_);
    definitions.push_back(d);
    return static_cast<int64_t>(definitions.size()) - 1;
  }
  void record(int64_t stream, std::span<const otlp::KeyValue> attributes, uint64_t time, const Measurement& m,
              const SpanContext* exemplar) override {
    std::lock_guard<std::mutex> lock(mu_);
    Recorded r{stream, {}, time, m.as_long, exemplar != nullptr};
    for (const auto& kv : attributes) r.attributes.push_back(kv.key() + "=" + attr_string(kv.value()));
    recorded.push_back(r);
    ++pending_;
  }
  size_t collect(uint64_t, otlp::ExportMetricsServiceRequest& out) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++collects;
    if (pending_ == 0) return 0;
    out.add_resource_metrics()->add_scope_metrics()->add_metrics()->set_name("fake");
    const size_t n = pending_;
    pending_ = 0;
    return n;
  }
  MetricsStats stats() const override { return {}; }

  int collect_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return collects;
  }
  size_t recorded_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return recorded.size();
  }

  mutable std::mutex mu_;
  std::vector<MetricStreamDefinition> definitions;
  std::vector<Recorded> recorded;
  int collects = 0;
  size_t pending_ = 0;
};

// Writes records through a C++ writer of its own file.
struct Producer {
  explicit Producer(const std::string& path, int64_t pid = 0) : writer(Writer::open(path, small_config())) {
    std::vector<KeyValueView> kvs{{writer->intern("service.name"), AnyValueView::string("svc")}};
    if (pid != 0) kvs.push_back({writer->intern("process.pid"), AnyValueView::integer(pid)});
    ResourceView r;
    r.attributes = kvs;
    ScopeView s;
    s.name_ref = writer->intern("lib");
    s.resource_ref = writer->create_resource(r);
    scope = writer->create_scope(s);
  }

  void start(uint8_t id, std::string_view name, uint64_t time = 1000) {
    const std::string t = trace_id(1), sp = span_id(id);
    SpanEventView v;
    v.type = SpanEventType::kStart;
    v.trace_id = t;
    v.span_id = sp;
    v.scope_ref = scope;
    v.name = name;
    v.kind = 1;
    v.start_time_unix_nano = time;
    v.flags = 1;
    ASSERT_TRUE(written(writer->write(v)));
  }
  void end(uint8_t id, uint64_t time = 2000) {
    const std::string t = trace_id(1), sp = span_id(id);
    SpanEventView v;
    v.type = SpanEventType::kEnd;
    v.trace_id = t;
    v.span_id = sp;
    v.scope_ref = scope;
    v.end_time_unix_nano = time;
    ASSERT_TRUE(written(writer->write(v)));
  }
  void event(uint8_t id, std::string_view name, uint64_t time) {
    const std::string t = trace_id(1), sp = span_id(id);
    SpanEventView v;
    v.type = SpanEventType::kAddEvent;
    v.trace_id = t;
    v.span_id = sp;
    v.scope_ref = scope;
    v.name = name;
    v.event_time_unix_nano = time;
    ASSERT_TRUE(written(writer->write(v)));
  }
  void attribute(uint8_t id, std::string_view key, int64_t value) {
    const std::string t = trace_id(1), sp = span_id(id);
    KeyValueView kv{writer->intern(key), AnyValueView::integer(value)};
    SpanEventView v;
    v.type = SpanEventType::kAttributes;
    v.trace_id = t;
    v.span_id = sp;
    v.scope_ref = scope;
    v.attributes = std::span<const KeyValueView>(&kv, 1);
    ASSERT_TRUE(written(writer->write(v)));
  }
  void log(std::string_view body, uint64_t time) {
    AnyValueView b = AnyValueView::string(body);
    EventView e;
    e.scope_ref = scope;
    e.time_unix_nano = time;
    e.body = &b;
    ASSERT_TRUE(written(writer->write(e)));
  }

  std::shared_ptr<Writer> writer;
  int64_t scope = 0;
};

class PipelineRunTest : public ::testing::Test {
 protected:
  void TearDown() override { stop(); }

  PipelineOptions options() {
    PipelineOptions o;
    o.path = path;
    o.reader = fast_reader();
    o.span_batch.delay = 20ms;
    o.log_batch.delay = 20ms;
    o.stats_interval = 0s;
    o.follow_interval = 50ms;
    o.liveness_interval = 100ms;
    o.open_poll_max = 50ms;
    o.metric_export_interval = 1h;
    o.log = &log;
    return o;
  }

  void start(PipelineOptions o, bool with_metrics = true) {
    pipeline = std::make_unique<Pipeline>(std::move(o), exporter, with_metrics ? &metrics : nullptr);
    thread = std::thread([this] { pipeline->run(stop_flag); });
  }

  void stop() {
    if (!thread.joinable()) return;
    stop_flag = true;
    thread.join();
  }

  std::vector<std::string> span_names() const {
    std::vector<std::string> out;
    for (const auto& s : exporter.spans()) out.push_back(s.name());
    return out;
  }

  static bool incomplete(const otlp::Span& s, const std::string& reason) {
    bool flag = false, why = false;
    for (const auto& kv : s.attributes()) {
      if (kv.key() == kIncompleteAttribute) flag = kv.value().bool_value();
      if (kv.key() == kIncompleteReasonAttribute) why = kv.value().string_value() == reason;
    }
    return flag && why;
  }

  TempDir dir;
  std::string path = dir.file();
  std::ostringstream log;
  RecordingExporter exporter;
  FakeMetrics metrics;
  std::unique_ptr<Pipeline> pipeline;
  std::atomic<bool> stop_flag{false};
  std::thread thread;
};

}  // namespace otlp_mmap::collector::pipeline_test

// An exporter that keeps what it is given, for the pipeline tests, and a polling helper.
#pragma once

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/otlp.hpp"

namespace otlp_mmap::collector::pipeline_test {

// Keeps every request; thread-safe (the pipeline submits from its own thread).
class RecordingExporter : public Exporter {
 public:
  bool submit(TraceRequest&& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    traces_.push_back(std::move(r));
    return true;
  }
  bool submit(LogsRequest&& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    logs_.push_back(std::move(r));
    return true;
  }
  bool submit(MetricsRequest&& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.push_back(std::move(r));
    return true;
  }
  bool flush(std::chrono::steady_clock::time_point) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++flushes_;
    return true;
  }
  SignalExportStats stats(Signal) const override { return {}; }

  std::vector<otlp::Span> spans() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<otlp::Span> out;
    for (const auto& r : traces_) {
      for (const auto& rs : r.resource_spans()) {
        for (const auto& ss : rs.scope_spans()) {
          for (const auto& s : ss.spans()) out.push_back(s);
        }
      }
    }
    return out;
  }
  std::vector<otlp::LogRecord> logs() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<otlp::LogRecord> out;
    for (const auto& r : logs_) {
      for (const auto& rl : r.resource_logs()) {
        for (const auto& sl : rl.scope_logs()) {
          for (const auto& l : sl.log_records()) out.push_back(l);
        }
      }
    }
    return out;
  }
  std::vector<MetricsRequest> metric_requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return metrics_;
  }
  int flushes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return flushes_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<TraceRequest> traces_;
  std::vector<LogsRequest> logs_;
  std::vector<MetricsRequest> metrics_;
  int flushes_ = 0;
};

// Polls `cond` until it holds or `timeout` passes.
template <class F>
bool eventually(F cond, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace otlp_mmap::collector::pipeline_test

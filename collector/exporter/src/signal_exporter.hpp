// One signal's sending chain, built from the configuration: QueueSender -> RetrySender ->
// TimeoutSender -> the signal's transport, with the counters they share.
#pragma once

#include <chrono>
#include <memory>

#include "otlp_mmap/collector/exporter/export_config.hpp"
#include "queue_sender.hpp"
#include "request_traits.hpp"
#include "retry_sender.hpp"
#include "timeout_sender.hpp"

namespace otlp_mmap::collector::detail {

template <class Request>
class SignalExporter {
 public:
  SignalExporter(const ExportConfig& config, std::unique_ptr<Transport<Request>> transport)
      : queue_(kSignal, queue_limits(config), counters_, chain(config, std::move(transport))) {}

  bool submit(Request&& request) { return queue_.submit(std::move(request)); }
  bool wait_idle(std::chrono::steady_clock::time_point deadline) { return queue_.wait_idle(deadline); }
  void stop() { queue_.stop(); }
  SignalExportStats stats() const { return counters_.stats(); }

 private:
  static constexpr Signal kSignal = RequestTraits<Request>::signal;

  static QueueLimits queue_limits(const ExportConfig& config) {
    QueueLimits l;
    l.max_requests = std::max<size_t>(1, config.max_queue_requests);
    if (kSignal != Signal::kMetrics) l.max_items = config.queue_limit(kSignal);  // metrics: requests only
    return l;
  }

  std::unique_ptr<Sender<Request>> chain(const ExportConfig& config, std::unique_ptr<Transport<Request>> transport) {
    RetryOptions retry{config.max_retry_elapsed, config.retry_initial_backoff, config.retry_max_backoff,
                       config.max_retry_after};
    auto timeout = std::make_unique<TimeoutSender<Request>>(config.signal(kSignal).timeout, std::move(transport));
    return std::make_unique<RetrySender<Request>>(kSignal, retry, counters_, std::move(timeout));
  }

  SignalCounters counters_;  // before queue_: its senders count into it until they stop
  QueueSender<Request> queue_;
};

}  // namespace otlp_mmap::collector::detail

// Bounds each attempt by the signal's timeout (OTEL_EXPORTER_OTLP_TIMEOUT): the deadline the
// transport works to.
#pragma once

#include <chrono>
#include <memory>

#include "sender.hpp"
#include "transport.hpp"

namespace otlp_mmap::collector::detail {

template <class Request>
class TimeoutSender final : public Sender<Request> {
 public:
  TimeoutSender(std::chrono::milliseconds timeout, std::unique_ptr<Transport<Request>> transport)
      : timeout_(timeout), transport_(std::move(transport)) {}

  SendOutcome send(const Request& request, size_t) override {
    return transport_->send(request, std::chrono::steady_clock::now() + timeout_);
  }
  void cancel() override { transport_->cancel(); }

 private:
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<Transport<Request>> transport_;
};

}  // namespace otlp_mmap::collector::detail

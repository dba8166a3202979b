// The retry link of a signal's sending chain (see retrier.hpp).
#pragma once

#include <memory>

#include "retrier.hpp"
#include "sender.hpp"

namespace otlp_mmap::collector::detail {

template <class Request>
class RetrySender final : public Sender<Request> {
 public:
  RetrySender(Signal signal, RetryOptions options, SignalCounters& counters, std::unique_ptr<Sender<Request>> next)
      : retrier_(signal, options, counters), next_(std::move(next)) {}

  SendOutcome send(const Request& request, size_t items) override {
    return retrier_.run([&] { return next_->send(request, items); }, items);
  }
  void cancel() override {
    retrier_.stop();
    next_->cancel();
  }

 private:
  Retrier retrier_;
  std::unique_ptr<Sender<Request>> next_;
};

}  // namespace otlp_mmap::collector::detail

// One link of a signal's sending chain (QueueSender -> RetrySender -> TimeoutSender ->
// transport), as the OpenTelemetry Collector's exporterhelper composes its senders: each
// takes a request of `items` items, does its part, and passes it on.
#pragma once

#include <cstddef>

#include "send_outcome.hpp"

namespace otlp_mmap::collector::detail {

template <class Request>
class Sender {
 public:
  virtual ~Sender() = default;
  virtual SendOutcome send(const Request& request, size_t items) = 0;
  // Makes the attempt in progress, and every later one, return promptly (the exporter stops).
  virtual void cancel() = 0;
};

}  // namespace otlp_mmap::collector::detail

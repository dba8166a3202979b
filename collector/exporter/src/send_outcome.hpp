// How one attempt to send a request ended (a transport's answer), or how sending it ended
// after retries.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace otlp_mmap::collector::detail {

struct SendOutcome {
  // kStopped: the exporter stopped before the request could be sent.
  enum class Kind { kOk, kRetryable, kPermanent, kStopped };
  Kind kind = Kind::kOk;
  // kOk: items the endpoint rejected (partial success); message = its error_message.
  uint64_t rejected = 0;
  // kRetryable: how long the endpoint asked us to wait (Retry-After, RetryInfo).
  std::optional<std::chrono::milliseconds> retry_after;
  // Short, stable description of the kind of failure ("HTTP 503", "gRPC UNAVAILABLE",
  // "connection"): the key of log rate limiting.
  std::string kind_text;
  std::string message;  // details for the log

  static SendOutcome ok(uint64_t rejected = 0, std::string message = {}) {
    SendOutcome o;
    o.rejected = rejected;
    o.message = std::move(message);
    return o;
  }
  static SendOutcome retryable(std::string kind_text, std::string message,
                               std::optional<std::chrono::milliseconds> retry_after = std::nullopt) {
    SendOutcome o;
    o.kind = Kind::kRetryable;
    o.kind_text = std::move(kind_text);
    o.message = std::move(message);
    o.retry_after = retry_after;
    return o;
  }
  static SendOutcome permanent(std::string kind_text, std::string message) {
    SendOutcome o;
    o.kind = Kind::kPermanent;
    o.kind_text = std::move(kind_text);
    o.message = std::move(message);
    return o;
  }
  static SendOutcome stopped() {
    SendOutcome o;
    o.kind = Kind::kStopped;
    return o;
  }
};

}  // namespace otlp_mmap::collector::detail

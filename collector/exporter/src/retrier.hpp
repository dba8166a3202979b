// Retries of one signal's sends, and the accounting of how each send ended.
//
// A retryable failure is tried again after the endpoint's delay (Retry-After, RetryInfo) or
// an exponential backoff with jitter, until the next attempt would start after
// max_retry_elapsed: then the items are dropped (dropped_retries). When the endpoint asks
// for a longer wait than that budget allows, the signal is paused instead (nothing of it is
// sent, the exporter reports no room, records stay in the file) for the delay it asked, at
// most max_retry_after, and the same request is tried again with a fresh budget. A permanent
// failure rejects the items; success exports them (less what a partial success rejected).
// When the exporter stops, what is being sent is dropped (dropped_shutdown).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "backoff.hpp"
#include "send_outcome.hpp"
#include "signal_counters.hpp"

namespace otlp_mmap::collector::detail {

struct RetryOptions {
  std::chrono::milliseconds max_elapsed{60000};
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds max_retry_after{300000};  // 0: never pause, drop instead
};

class Retrier {
 public:
  Retrier(Signal signal, RetryOptions options, SignalCounters& counters);

  // Sends `items` items by calling `attempt` until it succeeds, fails for good, gives up or
  // the exporter stops; counts how it ended. Returns the last outcome.
  SendOutcome run(const std::function<SendOutcome()>& attempt, size_t items);
  // The exporter stops: a wait in progress ends at once, and so does run().
  void stop();

 private:
  using Clock = std::chrono::steady_clock;

  SendOutcome succeeded(const SendOutcome& outcome, size_t items);
  SendOutcome rejected(const SendOutcome& outcome, size_t items);
  SendOutcome gave_up(const SendOutcome& outcome, unsigned attempts, size_t items);
  SendOutcome stopped(size_t items);
  // Waits out the endpoint's delay with the signal paused; false when stopped meanwhile.
  bool pause(const SendOutcome& outcome, std::chrono::milliseconds delay);
  // Waits until `when`; true (at once) when stopped meanwhile.
  bool wait_or_stop(Clock::time_point when);
  bool stopping();
  std::string details(const SendOutcome& outcome) const;

  const Signal signal_;
  const RetryOptions options_;
  SignalCounters& counters_;
  const std::string name_;
  Backoff backoff_;  // the sender thread's only
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace otlp_mmap::collector::detail

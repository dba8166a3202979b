#include "retrier.hpp"

#include <algorithm>
#include <limits>
#include <random>

#include "log_limited.hpp"

namespace otlp_mmap::collector::detail {

namespace {

using std::chrono::seconds;

std::string millis_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

}  // namespace

Retrier::Retrier(Signal signal, RetryOptions options, SignalCounters& counters)
    : signal_(signal),
      options_(options),
      counters_(counters),
      name_(signal_name(signal)),
      backoff_(options.initial_backoff, options.max_backoff, std::random_device{}()) {}

SendOutcome Retrier::run(const std::function<SendOutcome()>& attempt, size_t items) {
  auto start = Clock::now();
  for (unsigned n = 0;; ++n) {
    SendOutcome outcome = attempt();
    if (outcome.kind == SendOutcome::Kind::kOk) return succeeded(outcome, items);
    ++counters_.failed;
    if (stopping() || outcome.kind == SendOutcome::Kind::kStopped) return stopped(items);
    if (outcome.kind == SendOutcome::Kind::kPermanent) return rejected(outcome, items);
    // Retryable: the endpoint's delay if it gave one, else exponential backoff with jitter.
    const std::chrono::milliseconds delay = outcome.retry_after ? *outcome.retry_after : backoff_.next(n);
    const auto next_attempt = Clock::now() + delay;
    if (next_attempt - start > options_.max_elapsed) {
      if (!outcome.retry_after || options_.max_retry_after.count() == 0) return gave_up(outcome, n + 1, items);
      if (!pause(outcome, delay)) return stopped(items);
      ++counters_.retries;
      start = Clock::now();
      n = std::numeric_limits<unsigned>::max();  // the backoff starts over (wraps to 0)
      continue;
    }
    log_limited(name_ + " retry " + outcome.kind_text, seconds(10),
                name_ + ": export failed (" + outcome.kind_text + "), retrying in " + millis_text(delay) +
                    (outcome.retry_after ? " as the endpoint asked" : "") + details(outcome));
    if (wait_or_stop(next_attempt)) return stopped(items);
    ++counters_.retries;
  }
}

SendOutcome Retrier::succeeded(const SendOutcome& outcome, size_t items) {
  const uint64_t rejected = std::min<uint64_t>(outcome.rejected, items);
  counters_.exported += items - rejected;
  counters_.rejected += rejected;
  if (rejected > 0 || !outcome.message.empty()) {
    log_limited(name_ + " partial success", seconds(10),
                name_ + ": partial success, the endpoint rejected " + std::to_string(outcome.rejected) + " " +
                    items_word(signal_) + " of " + std::to_string(items) + details(outcome));
  }
  return outcome;
}

SendOutcome Retrier::rejected(const SendOutcome& outcome, size_t items) {
  counters_.rejected += items;
  log_limited(name_ + " permanent " + outcome.kind_text, seconds(0),
              name_ + ": export failed (" + outcome.kind_text + ", not retryable), " + std::to_string(items) + " " +
                  items_word(signal_) + " rejected" + details(outcome) +
                  " (further failures of this kind are counted, not logged)");
  return outcome;
}

SendOutcome Retrier::gave_up(const SendOutcome& outcome, unsigned attempts, size_t items) {
  counters_.drop(counters_.dropped_retries, items);
  log_limited(name_ + " gave up", seconds(10),
              name_ + ": export failed (" + outcome.kind_text + "), gave up after " + std::to_string(attempts) +
                  " attempts, " + std::to_string(items) + " " + items_word(signal_) + " dropped" + details(outcome));
  return outcome;
}

SendOutcome Retrier::stopped(size_t items) {
  counters_.drop(counters_.dropped_shutdown, items);
  return SendOutcome::stopped();
}

bool Retrier::pause(const SendOutcome& outcome, std::chrono::milliseconds delay) {
  const auto now = Clock::now();
  const std::chrono::milliseconds pause = std::min(delay, options_.max_retry_after);
  ++counters_.pauses;
  counters_.paused = true;
  log_limited(name_ + " paused", seconds(10),
              name_ + ": export failed (" + outcome.kind_text + "), the endpoint asked to wait " + millis_text(delay) +
                  ": sending paused for " + millis_text(pause) + ", records stay in the file" + details(outcome));
  const bool stopped_now = wait_or_stop(now + pause);
  counters_.paused = false;
  return !stopped_now;
}

void Retrier::stop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  wake_.notify_all();
}

bool Retrier::wait_or_stop(Clock::time_point when) {
  std::unique_lock lock(mu_);
  return wake_.wait_until(lock, when, [&] { return stop_; });
}

bool Retrier::stopping() {
  std::lock_guard lock(mu_);
  return stop_;
}

std::string Retrier::details(const SendOutcome& outcome) const {
  return outcome.message.empty() ? std::string() : ": " + outcome.message;
}

}  // namespace otlp_mmap::collector::detail

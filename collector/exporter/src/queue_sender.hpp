// The head of a signal's sending chain: a bounded queue of requests and the thread that sends
// them, one at a time and in order, through the rest of the chain.
//
// A request is refused (its items counted as dropped_queue_full) when the queue holds
// max_requests requests or its items would pass max_items; one is always accepted into an
// empty queue. stop() ends the thread, cancelling the attempt in progress, and counts what is
// left as dropped_shutdown; afterwards every request is refused the same way.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "log_limited.hpp"
#include "sender.hpp"
#include "signal_counters.hpp"

namespace otlp_mmap::collector::detail {

struct QueueLimits {
  size_t max_items = SIZE_MAX;
  size_t max_requests = 256;
};

template <class Request>
class QueueSender {
 public:
  QueueSender(Signal signal, QueueLimits limits, SignalCounters& counters, std::unique_ptr<Sender<Request>> next)
      : signal_(signal), limits_(limits), counters_(counters), next_(std::move(next)), name_(signal_name(signal)) {
    thread_ = std::thread([this] { run(); });
  }
  ~QueueSender() { stop(); }
  QueueSender(const QueueSender&) = delete;
  QueueSender& operator=(const QueueSender&) = delete;

  // Takes a request; never blocks. False when it was refused (its items counted as dropped).
  bool submit(Request&& request) {
    const size_t n = count_items(request);
    counters_.submitted += n;
    if (enqueue(std::move(request), n)) return true;
    refused(n);
    return false;
  }

  // Waits until nothing is queued or being sent, or the deadline; true when idle.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return idle_.wait_until(lock, deadline, [&] { return queue_.empty() && !busy_; });
  }

  // Idempotent.
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    next_->cancel();
    wake_.notify_all();
    thread_.join();
    drop_left();
  }

 private:
  struct Entry {
    Request request;
    size_t items;
  };

  bool enqueue(Request&& request, size_t n) {
    std::lock_guard lock(mu_);
    const bool full =
        !queue_.empty() && (queue_.size() >= limits_.max_requests || queued_items_ + n > limits_.max_items);
    if (full || stop_) return false;
    queue_.push_back(Entry{std::move(request), n});
    queued_items_ += n;
    wake_.notify_all();
    return true;
  }

  void refused(size_t n) {
    const std::string items = std::to_string(n) + " " + items_word(signal_);
    if (stopped()) {
      counters_.drop(counters_.dropped_shutdown, n);
      log_limited(name_ + " stopped", std::chrono::seconds(10),
                  name_ + ": exporter shut down, dropped a request of " + items);
      return;
    }
    counters_.drop(counters_.dropped_queue_full, n);
    log_limited(name_ + " queue full", std::chrono::seconds(10),
                name_ + ": export queue full, dropped a request of " + items + " (" +
                    std::to_string(counters_.dropped.load()) + " dropped so far)");
  }

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      Entry e = std::move(queue_.front());
      queue_.pop_front();
      queued_items_ -= e.items;
      busy_ = true;
      lock.unlock();
      next_->send(e.request, e.items);
      lock.lock();
      busy_ = false;
      idle_.notify_all();
    }
  }

  void drop_left() {
    uint64_t left = 0;
    std::lock_guard lock(mu_);
    for (const auto& e : queue_) left += e.items;
    queue_.clear();
    queued_items_ = 0;
    idle_.notify_all();
    if (left == 0) return;
    counters_.drop(counters_.dropped_shutdown, left);
    log_limited(
        name_ + " shutdown", std::chrono::seconds(0),
        name_ + ": " + std::to_string(left) + " " + items_word(signal_) + " still queued at shutdown were dropped");
  }

  bool stopped() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  const Signal signal_;
  const QueueLimits limits_;
  SignalCounters& counters_;
  std::unique_ptr<Sender<Request>> next_;
  const std::string name_;
  std::mutex mu_;
  std::condition_variable wake_;  // the sender thread: work or stop
  std::condition_variable idle_;  // waiters of wait_idle: a send ended
  std::deque<Entry> queue_;
  size_t queued_items_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace otlp_mmap::collector::detail

// The exporter's queue, retries, flush and shutdown, with scripted transports.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "export_test_util.hpp"
#include "log_limited.hpp"
#include "queued_exporter.hpp"
#include "send_outcome.hpp"
#include "transport.hpp"

namespace otlp_mmap::collector {
namespace {

using detail::SendOutcome;
using export_test::make_logs;
using export_test::make_metrics;
using export_test::make_spans;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Records what it is sent; answers from a script (then OK), optionally blocking until released.
struct Script {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<SendOutcome> outcomes;
  std::vector<size_t> sent_items;  // items per attempt
  std::vector<Clock::time_point> sent_at;
  std::vector<std::string> first_names;  // name of the first span / body of the first log per attempt
  bool block = false;
  std::atomic<int> cancels{0};

  size_t attempts() {
    std::lock_guard l(mu);
    return sent_items.size();
  }
  void release() {
    std::lock_guard l(mu);
    block = false;
    cv.notify_all();
  }
};

// The name of the first span or the body of the first log record of a request ("" otherwise).
std::string first_name(const TraceRequest& r) {
  return count_items(r) > 0 ? r.resource_spans(0).scope_spans(0).spans(0).name() : std::string();
}
std::string first_name(const LogsRequest& r) {
  return count_items(r) > 0 ? r.resource_logs(0).scope_logs(0).log_records(0).body().string_value() : std::string();
}
std::string first_name(const MetricsRequest&) { return {}; }
template <Signal S>
std::string first_name(const detail::Encoded<S>& r) {
  typename detail::MessageOf<S>::type message;
  EXPECT_TRUE(to_message(r.request, message));
  return first_name(message);
}

template <class Request>
class ScriptedTransport final : public detail::Transport<Request> {
 public:
  explicit ScriptedTransport(std::shared_ptr<Script> script) : script_(std::move(script)) {}

  SendOutcome send(const Request& r, Clock::time_point) override {
    std::unique_lock l(script_->mu);
    script_->sent_items.push_back(count_items(r));
    script_->sent_at.push_back(Clock::now());
    script_->first_names.push_back(first_name(r));
    script_->cv.notify_all();
    script_->cv.wait(l, [&] { return !script_->block || cancelled_; });
    if (cancelled_) return SendOutcome::retryable("cancelled", "");
    if (script_->outcomes.empty()) return SendOutcome::ok();
    SendOutcome o = script_->outcomes.front();
    script_->outcomes.pop_front();
    return o;
  }

  void cancel() override {
    ++script_->cancels;
    std::lock_guard l(script_->mu);
    cancelled_ = true;
    script_->cv.notify_all();
  }

 private:
  std::shared_ptr<Script> script_;
  bool cancelled_ = false;
};

struct Fixture {
  std::shared_ptr<Script> traces = std::make_shared<Script>();
  std::shared_ptr<Script> metrics = std::make_shared<Script>();
  std::shared_ptr<Script> logs = std::make_shared<Script>();
  std::vector<std::string> log_lines;
  std::mutex log_mu;

  Fixture() {
    detail::set_log_sink([this](const std::string& l) {
      std::lock_guard g(log_mu);
      log_lines.push_back(l);
    });
  }
  ~Fixture() { detail::set_log_sink(nullptr); }

  std::unique_ptr<Exporter> make(const ExportConfig& config) {
    return detail::make_exporter_with(
        config, detail::TransportFactory{[this](const SignalExportConfig&) {
                                           return std::make_unique<ScriptedTransport<detail::EncodedTraces>>(traces);
                                         },
                                         [this](const SignalExportConfig&) {
                                           return std::make_unique<ScriptedTransport<MetricsRequest>>(metrics);
                                         },
                                         [this](const SignalExportConfig&) {
                                           return std::make_unique<ScriptedTransport<detail::EncodedLogs>>(logs);
                                         }});
  }

  size_t logged(const std::string& needle) {
    std::lock_guard g(log_mu);
    size_t n = 0;
    for (const auto& l : log_lines) n += l.find(needle) != std::string::npos;
    return n;
  }
};

ExportConfig fast_config() {
  ExportConfig c;
  for (Signal s : {Signal::kTraces, Signal::kMetrics, Signal::kLogs}) c.signal(s).protocol = Protocol::kHttpProtobuf;
  c.schedule_delay = milliseconds(20);
  c.logs_schedule_delay = milliseconds(20);
  c.retry_initial_backoff = milliseconds(10);
  c.retry_max_backoff = milliseconds(40);
  c.max_retry_elapsed = milliseconds(2000);
  return c;
}

Clock::time_point in(milliseconds d) { return Clock::now() + d; }

TEST(ExportQueue, SendsEverythingAndCounts) {
  Fixture f;
  auto e = f.make(fast_config());
  EXPECT_TRUE(e->submit(make_spans(1, 1, 3)));
  EXPECT_TRUE(e->submit(make_logs(4)));
  EXPECT_TRUE(e->submit(make_metrics(5)));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  const SignalExportStats t = e->stats(Signal::kTraces), l = e->stats(Signal::kLogs), m = e->stats(Signal::kMetrics);
  EXPECT_EQ(t.items_submitted, 3u);
  EXPECT_EQ(t.items_exported, 3u);
  EXPECT_EQ(l.items_exported, 4u);
  EXPECT_EQ(m.items_submitted, 5u);
  EXPECT_EQ(m.items_exported, 5u);
  EXPECT_EQ(t.items_dropped + t.items_rejected + t.requests_failed + t.retries, 0u);
}

TEST(ExportQueue, SendsEachRequestAsSubmittedInOrderAtOnce) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_export_batch_size = 10;
  c.schedule_delay = milliseconds(60000);  // batching is the BatchSender's: the queue never waits
  auto e = f.make(c);
  const auto start = Clock::now();
  e->submit(make_spans(1, 1, 4, 0));
  e->submit(make_spans(1, 1, 4, 4));
  e->submit(make_spans(2, 1, 12, 8));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  std::lock_guard l(f.traces->mu);
  EXPECT_EQ(f.traces->sent_items, (std::vector<size_t>{4, 4, 24}));  // neither merged nor split
  EXPECT_EQ(f.traces->first_names, (std::vector<std::string>{"s0", "s4", "s8"}));
  EXPECT_EQ(e->stats(Signal::kTraces).items_exported, 32u);
}

TEST(ExportQueue, FullQueueDropsWholeRequestsAndCountsItems) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_queue_size = 10;
  c.max_export_batch_size = 5;
  c.max_queue_requests = 100;
  auto e = f.make(c);
  f.traces->block = true;
  // The sender takes the first batch (5) and blocks; then the queue fills to 10.
  ASSERT_TRUE(e->submit(make_spans(1, 1, 5)));
  {
    std::unique_lock l(f.traces->mu);
    ASSERT_TRUE(f.traces->cv.wait_for(l, std::chrono::seconds(5), [&] { return !f.traces->sent_items.empty(); }));
  }
  EXPECT_TRUE(e->submit(make_spans(1, 1, 6)));
  EXPECT_TRUE(e->submit(make_spans(1, 1, 4)));   // 10 queued
  EXPECT_FALSE(e->submit(make_spans(1, 1, 1)));  // full
  EXPECT_FALSE(e->submit(make_spans(1, 1, 7)));
  SignalExportStats s = e->stats(Signal::kTraces);
  EXPECT_EQ(s.items_submitted, 23u);
  EXPECT_EQ(s.items_dropped, 8u);
  EXPECT_EQ(f.logged("queue full"), 1u);  // rate-limited
  f.traces->release();
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  s = e->stats(Signal::kTraces);
  EXPECT_EQ(s.items_exported, 15u);
  EXPECT_EQ(s.items_exported + s.items_dropped, s.items_submitted);
}

TEST(ExportQueue, RequestLimitBoundsMetrics) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_queue_requests = 2;
  auto e = f.make(c);
  f.metrics->block = true;
  ASSERT_TRUE(e->submit(make_metrics(3)));  // taken by the sender
  {
    std::unique_lock l(f.metrics->mu);
    ASSERT_TRUE(f.metrics->cv.wait_for(l, std::chrono::seconds(5), [&] { return !f.metrics->sent_items.empty(); }));
  }
  EXPECT_TRUE(e->submit(make_metrics(3)));
  EXPECT_TRUE(e->submit(make_metrics(3)));
  EXPECT_FALSE(e->submit(make_metrics(4)));
  EXPECT_EQ(e->stats(Signal::kMetrics).items_dropped, 4u);
  f.metrics->release();
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  EXPECT_EQ(e->stats(Signal::kMetrics).items_exported, 9u);
  std::lock_guard l(f.metrics->mu);
  EXPECT_EQ(f.metrics->sent_items, (std::vector<size_t>{3, 3, 3}));  // metric requests are never merged
}

TEST(ExportQueue, OversizedRequestIsAcceptedIntoAnEmptyQueue) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_queue_size = 10;
  c.max_export_batch_size = 10;
  auto e = f.make(c);
  EXPECT_TRUE(e->submit(make_spans(1, 1, 25)));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  EXPECT_EQ(e->stats(Signal::kTraces).items_exported, 25u);
  std::lock_guard l(f.traces->mu);
  EXPECT_EQ(f.traces->sent_items, (std::vector<size_t>{25}));
}

TEST(ExportQueue, RetriesRetryableFailuresWithBackoff) {
  Fixture f;
  auto e = f.make(fast_config());
  f.traces->outcomes = {SendOutcome::retryable("HTTP 503", "busy"), SendOutcome::retryable("connection error", "x"),
                        SendOutcome::ok()};
  e->submit(make_spans(1, 1, 3));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  const SignalExportStats s = e->stats(Signal::kTraces);
  EXPECT_EQ(s.items_exported, 3u);
  EXPECT_EQ(s.requests_failed, 2u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(s.items_dropped, 0u);
  std::lock_guard l(f.traces->mu);
  ASSERT_EQ(f.traces->sent_at.size(), 3u);
  // Backoff: attempt 0 waits in [5, 10] ms, attempt 1 in [10, 20] ms.
  EXPECT_GE(f.traces->sent_at[1] - f.traces->sent_at[0], milliseconds(5));
  EXPECT_GE(f.traces->sent_at[2] - f.traces->sent_at[1], milliseconds(10));
}

TEST(ExportQueue, HonoursTheServersDelay) {
  Fixture f;
  auto e = f.make(fast_config());
  f.logs->outcomes = {SendOutcome::retryable("HTTP 429", "", milliseconds(300))};
  e->submit(make_logs(2));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  EXPECT_EQ(e->stats(Signal::kLogs).items_exported, 2u);
  EXPECT_EQ(e->stats(Signal::kLogs).retries, 1u);
  std::lock_guard l(f.logs->mu);
  ASSERT_EQ(f.logs->sent_at.size(), 2u);
  EXPECT_GE(f.logs->sent_at[1] - f.logs->sent_at[0], milliseconds(290));
  EXPECT_EQ(f.logged("as the endpoint asked"), 1u);
}

TEST(ExportQueue, GivesUpAfterMaxElapsedAndCountsDropped) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_retry_elapsed = milliseconds(200);
  auto e = f.make(c);
  for (int i = 0; i < 1000; ++i) f.traces->outcomes.push_back(SendOutcome::retryable("gRPC UNAVAILABLE", "down"));
  const auto start = Clock::now();
  e->submit(make_spans(1, 1, 7));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  const SignalExportStats s = e->stats(Signal::kTraces);
  EXPECT_EQ(s.items_dropped, 7u);
  EXPECT_EQ(s.items_exported, 0u);
  EXPECT_GE(s.requests_failed, 3u);
  EXPECT_EQ(s.retries + 1, s.requests_failed);
  EXPECT_EQ(f.logged("gave up"), 1u);
  EXPECT_EQ(s.dropped_retries, 7u);
}

TEST(ExportQueue, RetryAfterBeyondTheBudgetGivesUpAtOnceWithoutPauses) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_retry_elapsed = milliseconds(200);
  c.max_retry_after = milliseconds(0);  // no pauses: a server delay beyond the budget gives up at once
  auto e = f.make(c);
  f.logs->outcomes = {SendOutcome::retryable("HTTP 503", "", milliseconds(60000))};
  e->submit(make_logs(3));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  EXPECT_EQ(e->stats(Signal::kLogs).items_dropped, 3u);
  EXPECT_EQ(e->stats(Signal::kLogs).dropped_retries, 3u);
  EXPECT_EQ(e->stats(Signal::kLogs).retries, 0u);
}

TEST(ExportQueue, RetryAfterBeyondTheBudgetPausesTheSignalThenSendsTheSameBatch) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_retry_elapsed = milliseconds(200);
  c.max_retry_after = milliseconds(300);  // the pause: min(60 s asked, 300 ms)
  auto e = f.make(c);
  f.logs->outcomes = {SendOutcome::retryable("HTTP 429", "", milliseconds(60000))};
  e->submit(make_logs(3));
  // Paused: the exporter says so (the pipeline then reads no more of that ring).
  const auto until = in(milliseconds(5000));
  while (!e->stats(Signal::kLogs).paused && Clock::now() < until) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_TRUE(e->stats(Signal::kLogs).paused);
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  const SignalExportStats s = e->stats(Signal::kLogs);
  EXPECT_FALSE(s.paused);
  EXPECT_EQ(s.items_exported, 3u);
  EXPECT_EQ(s.items_dropped, 0u);
  EXPECT_EQ(s.pauses, 1u);
  EXPECT_EQ(s.retries, 1u);
  std::lock_guard l(f.logs->mu);
  ASSERT_EQ(f.logs->sent_at.size(), 2u);  // nothing sent during the pause
  EXPECT_GE(f.logs->sent_at[1] - f.logs->sent_at[0], milliseconds(290));
}

TEST(ExportQueue, ShutdownDuringAPauseCountsWhatIsLeftAsDroppedAtShutdown) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_retry_elapsed = milliseconds(200);
  c.max_retry_after = milliseconds(3600000);
  auto e = f.make(c);
  f.traces->outcomes = {SendOutcome::retryable("HTTP 429", "", milliseconds(3600000))};
  e->submit(make_spans(1, 1, 5));
  const auto until = in(milliseconds(5000));
  while (!e->stats(Signal::kTraces).paused && Clock::now() < until) std::this_thread::sleep_for(milliseconds(1));
  e->submit(make_spans(1, 1, 2));  // queued behind the paused batch
  EXPECT_FALSE(e->flush(in(milliseconds(100))));
  const auto start = Clock::now();
  e->shutdown();
  EXPECT_LT(Clock::now() - start, milliseconds(2000));  // the pause is not waited out
  const SignalExportStats s = e->stats(Signal::kTraces);
  EXPECT_EQ(s.items_submitted, 7u);
  EXPECT_EQ(s.dropped_shutdown, 7u);
  EXPECT_EQ(s.items_dropped, 7u);
  EXPECT_EQ(s.items_exported + s.items_rejected + s.dropped_queue_full + s.dropped_retries + s.dropped_shutdown,
            s.items_submitted);
}

TEST(ExportQueue, PermanentFailureIsRejectedNotRetriedAndLoggedOncePerKind) {
  Fixture f;
  auto e = f.make(fast_config());
  f.traces->outcomes = {SendOutcome::permanent("HTTP 400", "bad"), SendOutcome::permanent("HTTP 400", "bad"),
                        SendOutcome::permanent("HTTP 401", "who")};
  e->submit(make_spans(1, 1, 2));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  e->submit(make_spans(1, 1, 3));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  e->submit(make_spans(1, 1, 4));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  const SignalExportStats s = e->stats(Signal::kTraces);
  EXPECT_EQ(s.items_rejected, 9u);
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.requests_failed, 3u);
  EXPECT_EQ(f.traces->attempts(), 3u);
  EXPECT_EQ(f.logged("HTTP 400"), 1u);
  EXPECT_EQ(f.logged("HTTP 401"), 1u);
}

TEST(ExportQueue, PartialSuccessCountsRejectedItems) {
  Fixture f;
  auto e = f.make(fast_config());
  f.metrics->outcomes = {SendOutcome::ok(2, "2 points had no name"), SendOutcome::ok(0, "just a warning")};
  e->submit(make_metrics(5));
  e->submit(make_metrics(1));
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
  const SignalExportStats s = e->stats(Signal::kMetrics);
  EXPECT_EQ(s.items_exported, 4u);
  EXPECT_EQ(s.items_rejected, 2u);
  EXPECT_EQ(f.logged("2 points had no name"), 1u);
}

TEST(ExportQueue, FlushHonoursItsDeadline) {
  Fixture f;
  auto e = f.make(fast_config());
  f.traces->block = true;
  e->submit(make_spans(1, 1, 1));
  const auto start = Clock::now();
  EXPECT_FALSE(e->flush(in(milliseconds(100))));
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  f.traces->release();
  EXPECT_TRUE(e->flush(in(milliseconds(5000))));
}

TEST(ExportQueue, DestructionCancelsTheAttemptAndCountsWhatIsLeft) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_export_batch_size = 2;
  auto e = f.make(c);
  f.traces->block = true;
  e->submit(make_spans(1, 1, 2));
  {
    std::unique_lock l(f.traces->mu);
    ASSERT_TRUE(f.traces->cv.wait_for(l, std::chrono::seconds(5), [&] { return !f.traces->sent_items.empty(); }));
  }
  e->submit(make_spans(1, 1, 3));
  const auto start = Clock::now();
  Exporter* raw = e.get();
  const SignalExportStats before = raw->stats(Signal::kTraces);
  EXPECT_EQ(before.items_submitted, 5u);
  e.reset();  // must not wait for the blocked attempt
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  EXPECT_GE(f.traces->cancels.load(), 1);
  EXPECT_EQ(f.logged("still queued at shutdown"), 1u);
}

TEST(ExportQueue, ShutdownCountsWhatIsLeftAndKeepsStats) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_export_batch_size = 4;
  auto e = f.make(c);
  f.logs->block = true;
  e->submit(make_logs(4));  // in flight, blocked
  {
    std::unique_lock l(f.logs->mu);
    ASSERT_TRUE(f.logs->cv.wait_for(l, std::chrono::seconds(5), [&] { return !f.logs->sent_items.empty(); }));
  }
  e->submit(make_logs(3));  // queued
  e->shutdown();
  SignalExportStats s = e->stats(Signal::kLogs);
  EXPECT_EQ(s.items_submitted, 7u);
  EXPECT_EQ(s.items_dropped, 7u);  // the cancelled attempt and the queue
  EXPECT_FALSE(e->submit(make_logs(2)));
  s = e->stats(Signal::kLogs);
  EXPECT_EQ(s.items_dropped, 9u);
  EXPECT_EQ(f.logged("shut down"), 1u);
  EXPECT_TRUE(e->flush(in(milliseconds(100))));  // nothing left behind
  e->shutdown();                                 // idempotent
}

TEST(ExportQueue, DestructionDuringBackoffIsPrompt) {
  Fixture f;
  ExportConfig c = fast_config();
  c.retry_initial_backoff = milliseconds(60000);
  c.retry_max_backoff = milliseconds(60000);
  c.max_retry_elapsed = milliseconds(600000);
  auto e = f.make(c);
  f.logs->outcomes = {SendOutcome::retryable("HTTP 503", "")};
  e->submit(make_logs(1));
  EXPECT_FALSE(e->flush(in(milliseconds(200))));
  const auto start = Clock::now();
  e.reset();
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
}

TEST(ExportQueue, ConcurrentSubmittersAreAllAccountedFor) {
  Fixture f;
  ExportConfig c = fast_config();
  c.max_queue_size = 200;
  c.max_export_batch_size = 50;
  c.schedule_delay = milliseconds(1);
  auto e = f.make(c);
  f.traces->outcomes = {SendOutcome::retryable("HTTP 503", ""), SendOutcome::ok(1, "")};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) e->submit(make_spans(1, 1, 1 + i % 3));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(e->flush(in(milliseconds(10000))));
  const SignalExportStats s = e->stats(Signal::kTraces);
  EXPECT_EQ(s.items_submitted, 4u * (167u * 1 + 167u * 2 + 166u * 3));
  EXPECT_EQ(s.items_exported + s.items_rejected + s.items_dropped, s.items_submitted);
  EXPECT_EQ(s.items_rejected, 1u);
}

}  // namespace
}  // namespace otlp_mmap::collector

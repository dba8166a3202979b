// The links of a signal's sending chain on their own: the timeout's deadline, the retry
// link's accounting and its prompt stop.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "export_test_util.hpp"
#include "retry_sender.hpp"
#include "timeout_sender.hpp"

namespace otlp_mmap::collector {
namespace {

using detail::SendOutcome;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Answers from `outcomes` (then OK) and remembers the deadline it was given.
struct FakeTransport : detail::Transport<TraceRequest> {
  SendOutcome send(const TraceRequest&, Clock::time_point d) override {
    deadline = d;
    ++attempts;
    if (outcomes.empty()) return SendOutcome::ok();
    SendOutcome o = outcomes.front();
    outcomes.erase(outcomes.begin());
    return o;
  }
  void cancel() override { cancelled = true; }
  Clock::time_point deadline{};
  int attempts = 0;
  bool cancelled = false;
  std::vector<SendOutcome> outcomes;
};

TEST(TimeoutSender, EachAttemptGetsTheSignalsTimeoutAsItsDeadline) {
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* t = transport.get();
  detail::TimeoutSender<TraceRequest> sender(milliseconds(1500), std::move(transport));
  const auto before = Clock::now();
  EXPECT_EQ(sender.send(export_test::make_spans(1, 1, 1), 1).kind, SendOutcome::Kind::kOk);
  EXPECT_GE(t->deadline, before + milliseconds(1500));
  EXPECT_LE(t->deadline, Clock::now() + milliseconds(1500));
  sender.cancel();
  EXPECT_TRUE(t->cancelled);
}

struct RetrySenderTest : ::testing::Test {
  detail::SignalCounters counters;
  FakeTransport* transport = nullptr;

  std::unique_ptr<detail::RetrySender<TraceRequest>> make(detail::RetryOptions options) {
    auto t = std::make_unique<FakeTransport>();
    transport = t.get();
    auto timeout = std::make_unique<detail::TimeoutSender<TraceRequest>>(milliseconds(1000), std::move(t));
    return std::make_unique<detail::RetrySender<TraceRequest>>(Signal::kTraces, options, counters, std::move(timeout));
  }
};

TEST_F(RetrySenderTest, CountsHowEachSendEnded) {
  auto r = make({milliseconds(1000), milliseconds(1), milliseconds(2), milliseconds(0)});
  const TraceRequest req = export_test::make_spans(1, 1, 3);
  transport->outcomes = {SendOutcome::retryable("HTTP 503", ""), SendOutcome::ok(1, "one bad")};
  EXPECT_EQ(r->send(req, 3).kind, SendOutcome::Kind::kOk);
  EXPECT_EQ(counters.exported.load(), 2u);
  EXPECT_EQ(counters.rejected.load(), 1u);
  EXPECT_EQ(counters.retries.load(), 1u);
  transport->outcomes = {SendOutcome::permanent("HTTP 400", "")};
  EXPECT_EQ(r->send(req, 3).kind, SendOutcome::Kind::kPermanent);
  EXPECT_EQ(counters.rejected.load(), 4u);
}

TEST_F(RetrySenderTest, ACancelEndsABackoffAtOnceAndDropsTheItemsAtShutdown) {
  auto r = make({milliseconds(600000), milliseconds(60000), milliseconds(60000), milliseconds(0)});
  transport->outcomes = {SendOutcome::retryable("HTTP 503", "")};
  const TraceRequest req = export_test::make_spans(1, 1, 2);
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(100));
    r->cancel();
  });
  const auto start = Clock::now();
  EXPECT_EQ(r->send(req, 2).kind, SendOutcome::Kind::kStopped);
  stopper.join();
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  EXPECT_EQ(counters.dropped_shutdown.load(), 2u);
  EXPECT_TRUE(transport->cancelled);
}

}  // namespace
}  // namespace otlp_mmap::collector

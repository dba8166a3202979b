#include "otlp_mmap/collector/receiver/idle_wait.hpp"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace otlp_mmap::collector {

namespace {
using namespace std::chrono_literals;
constexpr std::chrono::nanoseconds kMinSleep = 50us;
constexpr std::chrono::nanoseconds kBusySleep = 5ms;
}  // namespace

IdleWait::IdleWait(std::chrono::nanoseconds max_sleep)
    : max_sleep_(std::max<std::chrono::nanoseconds>(max_sleep, kMinSleep)), sleep_(kMinSleep) {}

void IdleWait::after(const DrainPass& pass) {
  if (pass.records == 0) {
    wait();
  } else if (pass.more) {
    busy();
  } else {
    after_work(pass.fill);
  }
}

void IdleWait::after_work(double fill) {
  sleep_ = std::min(sleep_, std::min(kBusySleep, max_sleep_));
  if (fill > 1.0 / 2) {
    sleep_ = 0ns;  // close to overflowing: back to the shortest wait at once
  } else if (fill > 1.0 / 8) {
    // Below the shortest sleep, only a yield: a small ring under a fast writer.
    sleep_ = sleep_ > kMinSleep ? std::max<std::chrono::nanoseconds>(sleep_ / 2, kMinSleep) : 0ns;
  } else if (fill < 1.0 / 32) {
    sleep_ = sleep_ < kMinSleep ? kMinSleep : std::min({sleep_ * 2, kBusySleep, max_sleep_});
  }
  if (sleep_ == 0ns) {
    sched_yield();
  } else {
    std::this_thread::sleep_for(sleep_);
  }
}

void IdleWait::wait() {
  sleep_ = std::max(sleep_, kMinSleep);
  std::this_thread::sleep_for(sleep_);
  sleep_ = std::min<std::chrono::nanoseconds>(sleep_ * 2, max_sleep_);
}

void IdleWait::busy() { sleep_ = kMinSleep; }

}  // namespace otlp_mmap::collector

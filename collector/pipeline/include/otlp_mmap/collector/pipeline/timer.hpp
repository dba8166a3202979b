// A timer the pipeline's loop polls: due once its interval has passed since it was set.
#pragma once

#include <chrono>

namespace otlp_mmap::collector {

class Timer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Timer(std::chrono::nanoseconds interval) : interval_(interval) {}

  bool due(Clock::time_point now) const { return now >= next_; }
  // Due again one interval after `from`.
  void set(Clock::time_point from) { next_ = from + interval_; }

 private:
  std::chrono::nanoseconds interval_;
  Clock::time_point next_{};
};

}  // namespace otlp_mmap::collector

// The time as the pipeline sees it, read once per pass: steady for ages and timers, the wall
// clock for the times of what it makes.
#pragma once

#include <chrono>
#include <cstdint>

#include "otlp_mmap/file.hpp"

namespace otlp_mmap::collector {

struct Now {
  using Clock = std::chrono::steady_clock;

  Clock::time_point steady;
  uint64_t unix_nano = 0;

  static Now read() { return Now{Clock::now(), now_unix_nanos()}; }
};

}  // namespace otlp_mmap::collector

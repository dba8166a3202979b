// Exponential backoff with jitter between retries: attempt n (0-based) waits a duration drawn
// uniformly from [d/2, d] with d = min(initial * 2^n, max).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace otlp_mmap::collector::detail {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);
  std::chrono::milliseconds ceiling(unsigned attempt) const;  // d
  std::chrono::milliseconds next(unsigned attempt);           // drawn from [d/2, d]

 private:
  std::chrono::milliseconds initial_, max_;
  std::mt19937_64 rng_;
};

}  // namespace otlp_mmap::collector::detail

#include "backoff.hpp"

#include <algorithm>

namespace otlp_mmap::collector::detail {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)), rng_(seed) {}

std::chrono::milliseconds Backoff::ceiling(unsigned attempt) const {
  auto d = initial_;
  for (unsigned i = 0; i < attempt && d < max_; ++i) d *= 2;
  return std::min(d, max_);
}

std::chrono::milliseconds Backoff::next(unsigned attempt) {
  const int64_t d = ceiling(attempt).count();
  std::uniform_int_distribution<int64_t> dist(d / 2, d);
  return std::chrono::milliseconds(dist(rng_));
}

}  // namespace otlp_mmap::collector::detail

// How spans or log records are batched into requests: a request is made when max_items are
// waiting, or when the oldest has waited `delay`.
#pragma once

#include <chrono>
#include <cstddef>

namespace otlp_mmap::collector {

struct BatchOptions {
  size_t max_items = 512;
  std::chrono::nanoseconds delay = std::chrono::milliseconds(200);
};

}  // namespace otlp_mmap::collector

#include "exponential_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace otlp_mmap::collector::metrics_detail {

int64_t exp_map_to_index(double value, int scale) {
  constexpr double kMinNormal = std::numeric_limits<double>::min();  // 2^-1022
  if (value < kMinNormal) value = kMinNormal;
  int e = 0;
  const double f = std::frexp(value, &e);  // value = f * 2^e, f in [0.5, 1)
  // value is in (2^(e-1), 2^e), or equals 2^(e-1) when f == 0.5 (the upper edge of a bucket).
  if (scale <= 0) {
    const int64_t index0 = f == 0.5 ? e - 2 : e - 1;  // the index at scale 0
    return index0 >> -scale;                          // 2^-scale scale-0 buckets per bucket
  }
  if (f == 0.5) return (static_cast<int64_t>(e - 1) << scale) - 1;
  const double scale_factor = std::ldexp(std::numbers::log2e, scale);  // 2^scale / ln 2
  const auto index = static_cast<int64_t>(std::floor(std::log(value) * scale_factor));
  // Rounding of the logarithm must not cross the powers of two around the value.
  return std::clamp(index, static_cast<int64_t>(e - 1) << scale, (static_cast<int64_t>(e) << scale) - 1);
}

void ExpBuckets::increment(int64_t index, uint64_t n, size_t max_size) {
  if (!used_) {
    if (ring_.empty()) ring_.assign(std::min<size_t>(max_size, 8), 0);
    base_ = low_ = high_ = index;
    used_ = true;
    ring_[0] += n;
    return;
  }
  const int64_t lo = std::min(low_, index);
  const int64_t hi = std::max(high_, index);
  const auto span = static_cast<size_t>(hi - lo + 1);
  if (span > ring_.size()) {
    relayout(std::min(max_size, std::max(span, ring_.size() * 2)));
  }
  low_ = lo;
  high_ = hi;
  ring_[position(index)] += n;
}

void ExpBuckets::relayout(size_t capacity) {
  std::vector<uint64_t> next(capacity, 0);
  for (int64_t i = low_; i <= high_; ++i) next[static_cast<size_t>(i - low_)] = at(i);
  ring_.swap(next);
  base_ = low_;
}

void ExpBuckets::downscale(int change, std::vector<uint64_t>& scratch) {
  if (!used_ || change <= 0) return;
  const int64_t lo = low_ >> change;
  const int64_t hi = high_ >> change;
  scratch.assign(static_cast<size_t>(hi - lo + 1), 0);
  for (int64_t i = low_; i <= high_; ++i) scratch[static_cast<size_t>((i >> change) - lo)] += at(i);
  std::fill(ring_.begin(), ring_.end(), 0);
  std::copy(scratch.begin(), scratch.end(), ring_.begin());
  base_ = low_ = lo;
  high_ = hi;
}

void ExpBuckets::clear() {
  if (used_) std::fill(ring_.begin(), ring_.end(), 0);
  used_ = false;
  base_ = low_ = 0;
  high_ = -1;
}

void ExpHistogram::record(double value, std::vector<uint64_t>& scratch) {
  if (value == 0) {
    ++zero_count_;
  } else {
    record_bucket(value, scratch);  // first: when it cannot allocate, nothing is counted
  }
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void ExpHistogram::record_bucket(double value, std::vector<uint64_t>& scratch) {
  ExpBuckets& buckets = value > 0 ? positive_ : negative_;
  int64_t index = exp_map_to_index(std::fabs(value), scale_);
  if (!buckets.empty()) {
    int64_t lo = std::min(buckets.low(), index);
    int64_t hi = std::max(buckets.high(), index);
    int change = 0;
    while (hi - lo + 1 > max_size_) {
      lo >>= 1;
      hi >>= 1;
      ++change;
    }
    // With max_size >= 2 every value fits at the minimum scale; stay defensive anyway.
    if (scale_ - change < kExpMinScale) return;
    if (change > 0) {
      positive_.downscale(change, scratch);
      negative_.downscale(change, scratch);
      scale_ -= change;
      index >>= change;
    }
  }
  buckets.increment(index, 1, static_cast<size_t>(max_size_));
}

void ExpHistogram::reset() {
  scale_ = max_scale_;
  count_ = zero_count_ = 0;
  sum_ = 0;
  min_ = std::numeric_limits<double>::infinity();
  max_ = -std::numeric_limits<double>::infinity();
  positive_.clear();
  negative_.clear();
}

}  // namespace otlp_mmap::collector::metrics_detail

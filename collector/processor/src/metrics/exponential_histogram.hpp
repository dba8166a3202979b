// Base-2 exponential bucket histogram (OpenTelemetry metrics SDK, "Base2 Exponential Bucket
// Histogram Aggregation"; data model "ExponentialHistogram").
//
// At scale s the base is 2^(2^-s) and bucket i holds the magnitudes in (base^i, base^(i+1)]
// (upper-inclusive). Positive and negative values have their own bucket ranges, of at most
// `max_size` buckets each, and share one scale: the scale starts at `max_scale` and goes down
// (both ranges merged pairwise per step) whenever a value would not fit. Zero (and -0) go to the
// zero bucket (threshold 0). Subnormal magnitudes are counted as the smallest normal double, as
// the data model allows, so that at scale -10 any value fits in two buckets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace otlp_mmap::collector::metrics_detail {

inline constexpr int kExpMinScale = -10;
inline constexpr int kExpMaxScale = 20;
inline constexpr int kExpDefaultMaxSize = 160;
// Larger max_size from the file is clamped: at most 2 x 1024 counters (16 KB) per series, and as
// much in a collection's request (was 16384: 2,000 series reached 672 MB). A smaller max_size is
// within the data model: the histogram just downscales sooner.
inline constexpr int kExpMaxMaxSize = 1024;

// Index of the bucket holding the magnitude `value` (> 0, finite) at `scale`.
// scale <= 0: exact, from the exponent. scale > 0: exact for powers of two, otherwise from the
// natural logarithm (may differ by one from exact arithmetic within ~1e-15 relative of a
// bucket boundary, which the specification permits).
int64_t exp_map_to_index(double value, int scale);

// The counts of one range: a circular buffer covering [low, high] at most `max_size` wide,
// grown on demand (a series that sees few distinct magnitudes holds few counters).
class ExpBuckets {
 public:
  bool empty() const { return !used_; }
  int64_t low() const { return low_; }
  int64_t high() const { return high_; }
  uint64_t at(int64_t index) const { return ring_[position(index)]; }
  // [low, high] extended by `index` must span at most `max_size` buckets.
  void increment(int64_t index, uint64_t n, size_t max_size);
  // Merges 2^change neighbours into one (index i -> i >> change).
  void downscale(int change, std::vector<uint64_t>& scratch);
  void clear();

 private:
  size_t position(int64_t index) const {
    int64_t n = static_cast<int64_t>(ring_.size());
    int64_t p = (index - base_) % n;
    return static_cast<size_t>(p < 0 ? p + n : p);
  }
  void relayout(size_t capacity);

  std::vector<uint64_t> ring_;
  int64_t base_ = 0;  // index held at ring_[0]
  int64_t low_ = 0;
  int64_t high_ = -1;
  bool used_ = false;
};

class ExpHistogram {
 public:
  ExpHistogram(int max_scale, int max_size) : max_scale_(max_scale), max_size_(max_size), scale_(max_scale) {}

  // `value` must be finite.
  void record(double value, std::vector<uint64_t>& scratch);
  // Back to the empty state at max_scale (start of a delta interval).
  void reset();

  int scale() const { return scale_; }
  uint64_t count() const { return count_; }
  uint64_t zero_count() const { return zero_count_; }
  double sum() const { return sum_; }
  double min() const { return min_; }
  double max() const { return max_; }
  const ExpBuckets& positive() const { return positive_; }
  const ExpBuckets& negative() const { return negative_; }

 private:
  void record_bucket(double value, std::vector<uint64_t>& scratch);

  int max_scale_;
  int max_size_;
  int scale_;
  uint64_t count_ = 0;
  uint64_t zero_count_ = 0;
  double sum_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  ExpBuckets positive_;
  ExpBuckets negative_;
};

}  // namespace otlp_mmap::collector::metrics_detail

// Batching of finished spans and log records into export requests, as bytes.
//
// Each item (a Span or LogRecord message's bytes) is appended to the batcher's buffer of its
// scope; a request takes those buffers as they are (a whole buffer moves, it is not copied).
// A batch is taken when it holds max_batch items or max_bytes of them, or when its oldest item
// has waited `delay` (OTEL_BSP_* / OTEL_BLRP_*). The byte bound keeps a request of large items
// (values up to 64 KiB, records up to 1 MiB) within what the backend takes in one message: the
// OpenTelemetry Collector's OTLP/gRPC receiver refuses more than 4 MiB as a whole. Inside a request, items are grouped
// by resource and then by scope CONTENT (the resolver's keys), never by file offset, in a deterministic order:
// resources and scopes sorted by their content, items in the order they were finished.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "otlp_mmap/collector/exporter/encoded_request.hpp"
#include "otlp_mmap/collector/resolved_scope.hpp"

namespace otlp_mmap::collector {

class Batcher {
 public:
  using Clock = std::chrono::steady_clock;

  // Bytes of items a request carries at most by default: gRPC's 4 MiB, less room for the
  // resource and scope of each group.
  static constexpr size_t kDefaultMaxBytes = (size_t{4} << 20) - (size_t{256} << 10);

  Batcher(size_t max_batch, std::chrono::nanoseconds delay, size_t max_bytes = kDefaultMaxBytes);

  // Appends one item, given as its message's bytes.
  void add(const std::shared_ptr<const ResolvedScope>& scope, std::string_view item, Clock::time_point now);

  size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }
  bool full() const { return order_.size() >= max_batch_ || bytes_ >= max_bytes_; }
  bool due(Clock::time_point now) const { return full() || (!order_.empty() && now - oldest_ >= delay_); }
  Clock::time_point oldest() const { return oldest_; }
  size_t max_batch() const { return max_batch_; }

  // Moves up to max_batch of the oldest items, and no more than max_bytes of them (at least
  // one), into `out` (which should be empty), grouped. Returns the number of items moved.
  size_t take(EncodedRequest& out);

 private:
  struct Taken {
    size_t bucket, count = 0, first = 0;
  };
  // The bucket of a scope object (the one the last item went to, most of the time); sets last_.
  EncodedGroup& bucket(const std::shared_ptr<const ResolvedScope>& scope);
  bool open(const EncodedGroup& b) const;  // room for another item of this batch
  std::vector<Taken> taken_buckets(size_t n) const;
  void move_group(const std::vector<Taken>& taken, size_t g, size_t h, size_t n, EncodedRequest& out);
  void forget(size_t n);

  // How many of the oldest items a take moves: max_batch, or fewer within max_bytes.
  size_t take_count() const;

  size_t max_batch_;
  std::chrono::nanoseconds delay_;
  size_t max_bytes_;
  std::vector<uint32_t> sizes_;  // the bytes of each item (as written in its group), oldest first
  size_t bytes_ = 0;             // their sum
  // Items are written straight into the bucket of their scope object: a take that empties a
  // bucket moves its bytes into the request without copying them.
  std::vector<EncodedGroup> buckets_;
  std::vector<uint32_t> order_;  // the bucket of each item, oldest first
  size_t last_ = 0;
  size_t reserve_ = 0;  // bytes a new first bucket reserves: the largest one taken so far
  Clock::time_point oldest_{};
};

}  // namespace otlp_mmap::collector

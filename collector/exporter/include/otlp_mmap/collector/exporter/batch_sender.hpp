// The exporter's one batching layer (OTEL_BSP_* for spans, OTEL_BLRP_* for log records), on
// the pipeline's thread: encoded items with their scope are grouped into requests by the Batcher, and
// a request goes to the exporter's queue once it is full or its oldest item has waited the
// schedule delay (at once at a stop), and only when the queue has room for it. Items the
// collector made itself (incomplete spans) and whatever arrives while the endpoint has the
// signal paused (Retry-After) wait here instead of being dropped by a full queue.
//
// room() is the backpressure the pipeline reads by: items of the queue limit not yet held by
// the exporter (queued or being sent) or waiting here; 0 while the signal is paused.
#pragma once

#include <algorithm>
#include <cstdint>

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/encoded_item.hpp"
#include "otlp_mmap/collector/exporter/batch_options.hpp"
#include "otlp_mmap/collector/exporter/batcher.hpp"
#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/now.hpp"

namespace otlp_mmap::collector {

struct BatchStats {
  uint64_t submitted = 0;  // items handed to the exporter's queue
  uint64_t refused = 0;    // requests the queue refused (it counted their items as dropped)
  uint64_t unqueued = 0;   // items abandoned at a stop: no room in the queue before the deadline
};

class BatchSender final : public Consumer<const EncodedItem&> {
 public:
  // `queue_limit`: items of this signal the exporter may hold; 0: no limit.
  BatchSender(Signal signal, BatchOptions options, size_t queue_limit, Exporter& exporter, const Now& now)
      : signal_(signal),
        options_(options),
        queue_limit_(queue_limit),
        exporter_(exporter),
        now_(now),
        batch_(options.max_items, options.delay) {}

  size_t room() const override { return exporter_room(batch_.size()); }

  void consume(const EncodedItem& item) override { batch_.add(item.scope, item.bytes, now_.steady); }

  // Hands the exporter each request that is due (every one when `force`), while its queue has
  // room for a whole request.
  void send_due(bool force) {
    while (!batch_.empty() && (force || batch_.due(now_.steady))) {
      const size_t want = std::min(batch_.size(), batch_.max_batch());
      if (exporter_room(0) < std::min(want, queue_limit_ == 0 ? want : queue_limit_)) return;
      EncodedRequest request;
      stats_.submitted += batch_.take(request);
      if (!exporter_.submit(signal_, std::move(request))) ++stats_.refused;
    }
  }

  // Items waiting here.
  size_t pending() const { return batch_.size(); }

  // At a stop, once the deadline passed: what is still here is counted as unqueued and
  // forgotten. Returns how many.
  size_t abandon() {
    const size_t n = batch_.size();
    stats_.unqueued += n;
    batch_ = Batcher(options_.max_items, options_.delay);
    return n;
  }

  const BatchStats& stats() const { return stats_; }

 private:
  // Items the exporter can take beyond what it holds and `pending` more.
  size_t exporter_room(size_t pending) const {
    const SignalExportStats st = exporter_.stats(signal_);
    if (st.paused) return 0;  // the endpoint asked to wait (Retry-After): records stay in the file
    if (queue_limit_ == 0) return kUnbounded;
    const uint64_t used = st.outstanding() + pending;
    return used >= queue_limit_ ? 0 : static_cast<size_t>(queue_limit_ - used);
  }

  const Signal signal_;
  const BatchOptions options_;
  const size_t queue_limit_;
  Exporter& exporter_;
  const Now& now_;
  Batcher batch_;
  BatchStats stats_;
};

using SpanBatchSender = BatchSender;
using LogBatchSender = BatchSender;

}  // namespace otlp_mmap::collector

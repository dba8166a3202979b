// How long the receiver sleeps between passes. Telemetry has no use for microsecond latency
// (requests are batched for hundreds of milliseconds), so the receiver never spins: waking on
// every trickle of records costs far more CPU than reading them. While records flow, the
// sleep adapts to the rate so that a ring fills to about an eighth of its slots between
// passes (halving when a pass read more, straight to the shortest when it read over half,
// doubling when it read much less), between 50us and 5ms (a default ring, 8k event and 32k
// span slots, overflows only beyond ~1.6M records/s, more than a reader can take), or only a
// yield when even 50us fills an eighth of a (small) ring. Waking every millisecond or less
// cost ~2% of a core on a loaded 2-core box in context switches alone. A pass that hit its
// per-ring bound is followed by the next at once. When nothing arrives the sleep doubles up
// to `max_sleep`, so an idle file costs a wake-up every max_sleep.
#pragma once

#include <chrono>

#include "otlp_mmap/collector/receiver/drain_pass.hpp"

namespace otlp_mmap::collector {

class IdleWait {
 public:
  explicit IdleWait(std::chrono::nanoseconds max_sleep);

  // Waits as the pass that just ended asks.
  void after(const DrainPass& pass);

  // A pass found records and read `fill` (0..1) of the fullest ring's slots.
  void after_work(double fill);
  // A pass found nothing.
  void wait();
  // A pass stopped at its bound: the next one follows at once, and sleeps start short again.
  void busy();

 private:
  std::chrono::nanoseconds max_sleep_;
  std::chrono::nanoseconds sleep_;
};

}  // namespace otlp_mmap::collector

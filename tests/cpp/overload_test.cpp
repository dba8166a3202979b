// Overload (issue 10, item 3): writers that outrun the reader fill the ring, then drop and
// count, and nothing else. No claimed slot of a live writer is ever skipped as torn because
// the reader was behind, and written + dropped accounts for every attempt exactly.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using Clock = std::chrono::steady_clock;
using layout::RingKind;
using namespace std::chrono_literals;

struct ProducerTally {
  int64_t attempted = 0;
  int64_t written = 0;
  int64_t dropped_full = 0;
  int64_t other = 0;  // any other status: must stay 0
};

// Small records and records spread over several slots (their claim-to-publish window is the
// widest), written without retry for `run_for`.
ProducerTally flood(Writer& w, uint64_t producer, Clock::duration run_for) {
  ProducerTally t;
  const auto end = Clock::now() + run_for;
  std::vector<std::string> bodies;
  for (size_t n : {8, 200, 900, 1500}) bodies.push_back(testing::pattern(n, producer));
  for (uint64_t i = 0; Clock::now() < end; ++i) {
    const AnyValueView body = AnyValueView::string(bodies[i % bodies.size()]);
    EventView v;
    v.time_unix_nano = producer << 32 | (i & 0xffffffffu);
    v.body = &body;
    ++t.attempted;
    const WriteStatus st = w.write(v);
    if (written(st)) {
      ++t.written;
    } else if (st == WriteStatus::kDroppedFull) {
      ++t.dropped_full;
    } else {
      ++t.other;
    }
  }
  return t;
}

// A reader that falls behind on purpose: it pauses after every 128 records, so the ring is
// full most of the time while the writers keep claiming whatever the reader frees, and in
// between it polls a pending slot again at once. The grace is short (300 ms against the
// collector's default of 2 s; with a grace of 0 this test does see torn skips) while a live
// writer publishes within microseconds of its claim.
TEST(Overload, WritersOutrunningASlowReaderDropAndCountAndNothingIsSkippedAsTorn) {
  testing::TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(256, 256));
  auto r = Reader::open(dir.file(), testing::fast_reader(std::chrono::milliseconds(300)));
  constexpr int kWriters = 2;
  std::atomic<bool> writers_done{false};
  int64_t read = 0, broken = 0;
  std::thread reader([&] {
    Event e;
    for (;;) {
      if (r->next(e)) {
        const std::string& got = e.body ? e.body->bytes : std::string();
        const uint64_t producer = e.time_unix_nano >> 32;
        bool whole = false;
        for (size_t n : {8, 200, 900, 1500}) whole = whole || got == testing::pattern(n, producer);
        broken += whole ? 0 : 1;
        // Behind on purpose: a pause after every 128 records lets the ring fill up.
        if (++read % 128 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else if (writers_done.load()) {
        if (!r->next(e)) break;
        ++read;
      } else {
        std::this_thread::yield();  // polls a pending slot again at once: the torn timer's worst case
      }
    }
  });
  std::vector<ProducerTally> tallies(kWriters);
  std::vector<std::thread> ts;
  for (int p = 0; p < kWriters; ++p) {
    ts.emplace_back([&, p] {
      tallies[static_cast<size_t>(p)] = flood(*w, static_cast<uint64_t>(p), std::chrono::milliseconds(600));
    });
  }
  for (auto& t : ts) t.join();
  writers_done = true;
  reader.join();
  ProducerTally sum;
  for (const auto& t : tallies) {
    sum.attempted += t.attempted;
    sum.written += t.written;
    sum.dropped_full += t.dropped_full;
    sum.other += t.other;
  }
  std::printf("[ info ] attempted %ld, written %ld, dropped (full) %ld, read %ld, torn %lu\n",
              static_cast<long>(sum.attempted), static_cast<long>(sum.written), static_cast<long>(sum.dropped_full),
              static_cast<long>(read), static_cast<unsigned long>(r->counters().torn[0]));
  EXPECT_GT(sum.dropped_full, 0) << "the reader never fell behind: the test did not overload the ring";
  EXPECT_EQ(sum.other, 0);
  EXPECT_EQ(sum.written + sum.dropped_full, sum.attempted);
  EXPECT_EQ(read, sum.written);
  EXPECT_EQ(broken, 0);
  EXPECT_EQ(r->counters().torn[0], 0u);
  EXPECT_EQ(r->counters().corrupt[0], 0u);
  EXPECT_EQ(w->counters().dropped_full[0], static_cast<uint64_t>(sum.dropped_full));
  EXPECT_EQ(w->counters().dropped_skipped, 0u);
  EXPECT_EQ(r->ring_state(RingKind::kEvents).unread(), 0);
}

MeasurementView measurement(int64_t value) {
  MeasurementView m;
  m.metric_ref = 1;
  m.as_long = value;
  return m;
}

// Live writers outrun a reader that falls behind and stalls for longer than the grace period
// (an exporter holding it back, the machine busy): the ring fills, writers drop and count,
// and nothing else: no slot is skipped as torn, every written record is read once.
TEST(Overload, AReaderStallingLongerThanTheGraceSkipsNoLiveWritersSlot) {
  testing::TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(64));
  // A writer thread preempted for the whole grace period between its claim and its publish
  // would be skipped rightly; a second of it is far beyond what this test's threads see.
  auto r = Reader::open(dir.file(), testing::fast_reader(1s));
  constexpr int kThreads = 3;
  std::atomic<bool> stop{false};
  std::vector<uint64_t> written(kThreads, 0), dropped(kThreads, 0), other(kThreads, 0);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        switch (w->write(measurement(i))) {
          case WriteStatus::kWritten: ++written[t]; break;
          case WriteStatus::kDroppedFull: ++dropped[t]; break;
          default: ++other[t]; break;
        }
      }
    });
  }
  uint64_t read = 0;
  const auto count = [&](const Measurement&) { ++read; };
  const auto until = std::chrono::steady_clock::now() + 3s;
  for (int pass = 0; std::chrono::steady_clock::now() < until; ++pass) {
    r->drain_decoded<Measurement>(RingKind::kMeasurements, 16, count);  // behind: small batches
    // Two stalls of more than the grace period, with the head slot often caught pending.
    std::this_thread::sleep_for(pass == 50 || pass == 100 ? 1200ms : 1ms);
  }
  stop = true;
  for (auto& t : writers) t.join();
  r->drain_decoded<Measurement>(RingKind::kMeasurements, SIZE_MAX, count);
  uint64_t total_written = 0, total_dropped = 0, total_other = 0;
  for (int t = 0; t < kThreads; ++t) {
    total_written += written[t];
    total_dropped += dropped[t];
    total_other += other[t];
  }
  EXPECT_GT(total_dropped, 0u) << "the writers did not outrun the reader";
  EXPECT_EQ(r->counters().torn[2], 0u);
  EXPECT_EQ(total_other, 0u);  // no kDroppedSkipped: no slot was taken from a live writer
  EXPECT_EQ(read, total_written);
  EXPECT_EQ(r->writer_counters().dropped_full[2], total_dropped);
  EXPECT_EQ(r->writer_counters().dropped_skipped, 0u);
}

}  // namespace
}  // namespace otlp_mmap

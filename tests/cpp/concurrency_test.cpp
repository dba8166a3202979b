// Several threads and several processes writing one file while a reader drains it.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "otlp_mmap/ring_consumer.hpp"
#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using testing::TempDir;

// Each record carries (producer, sequence) so the reader can check nothing is lost,
// duplicated or reordered within a producer.
MeasurementView record(int64_t producer, int64_t seq) {
  MeasurementView m;
  m.metric_ref = producer + 1;
  m.as_long = seq;
  return m;
}

struct Tally {
  int64_t written = 0;
  int64_t dropped = 0;
};

Tally produce(Writer& w, int64_t producer, int64_t count) {
  Tally t;
  for (int64_t i = 0; i < count; ++i) {
    if (written(w.write(record(producer, i)))) {
      ++t.written;
    } else {
      ++t.dropped;
    }
  }
  return t;
}

// Writes `v`, retrying while its ring is full (a reader drains it); counts the retries.
template <class View>
void write_retrying(Writer& w, const View& v, int64_t& retries) {
  for (;;) {
    const WriteStatus st = w.write(v);
    if (st == WriteStatus::kWritten) return;
    ASSERT_EQ(st, WriteStatus::kDroppedFull);
    ++retries;
    std::this_thread::yield();
  }
}

// Drains until `stop` and the ring is empty; checks per-producer order.
int64_t drain(Reader& r, const std::atomic<bool>& stop, int producers) {
  std::vector<int64_t> last(static_cast<size_t>(producers) + 1, -1);
  int64_t n = 0;
  Measurement m;
  for (;;) {
    bool got = r.next(m);
    if (got) {
      ++n;
      auto& l = last.at(static_cast<size_t>(m.metric_ref - 1));
      EXPECT_GT(m.as_long, l) << "producer " << m.metric_ref - 1 << " reordered or duplicated";
      l = m.as_long;
    } else if (stop.load()) {
      if (!r.next(m)) break;
      ++n;
    } else {
      std::this_thread::yield();
    }
  }
  return n;
}

TEST(Concurrency, FourThreadsLoseNothingWhenTheRingHasRoom) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(1 << 16));
  constexpr int kThreads = 4;
  constexpr int64_t kEach = 10000;  // 40,000 records fit in 65,536 slots
  std::vector<std::thread> ts;
  std::vector<Tally> tallies(kThreads);
  for (int t = 0; t < kThreads; ++t) ts.emplace_back([&, t] { tallies[t] = produce(*w, t, kEach); });
  for (auto& t : ts) t.join();
  auto r = Reader::open(dir.file(), testing::fast_reader(std::chrono::seconds(60)));
  std::atomic<bool> stop{true};
  EXPECT_EQ(drain(*r, stop, kThreads), kThreads * kEach);
  for (auto& t : tallies) EXPECT_EQ(t.dropped, 0);
}

TEST(Concurrency, FourThreadsAgainstASmallRingAccountExactly) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(64));
  auto r = Reader::open(dir.file(), testing::fast_reader(std::chrono::seconds(60)));
  constexpr int kThreads = 4;
  constexpr int64_t kEach = 20000;
  std::atomic<bool> stop{false};
  int64_t read = 0;
  std::thread reader([&] { read = drain(*r, stop, kThreads); });
  std::vector<std::thread> ts;
  std::vector<Tally> tallies(kThreads);
  for (int t = 0; t < kThreads; ++t) ts.emplace_back([&, t] { tallies[t] = produce(*w, t, kEach); });
  for (auto& t : ts) t.join();
  stop = true;
  reader.join();
  int64_t written_total = 0, dropped_total = 0;
  for (auto& t : tallies) {
    written_total += t.written;
    dropped_total += t.dropped;
  }
  std::printf("[ info ] written %ld, read %ld, dropped %ld (counter %lu)\n", static_cast<long>(written_total),
              static_cast<long>(read), static_cast<long>(dropped_total),
              static_cast<unsigned long>(w->counters().dropped_full[2]));
  EXPECT_EQ(written_total + dropped_total, kThreads * kEach);
  EXPECT_EQ(read, written_total);
  EXPECT_EQ(w->counters().dropped_full[2], static_cast<uint64_t>(dropped_total));
}

// Producer threads sharing one Writer (so one reader-index cache per ring) against an
// 8-slot ring, each retrying a full ring until its record is written, and one consumer
// thread: every record arrives exactly once, in order per producer and intact (the time
// field repeats the producer and sequence, so a slot overwritten while it was being read
// would show). With two Writer objects the caches of two "processes" are exercised too.
// Under ThreadSanitizer the slot reuse between producer threads is checked: the
// happens-before it needs runs through the consumer and then through the cache.
TEST(Concurrency, ProducersSharingTheReaderIndexCacheDeliverEveryRecordOnceThroughATinyRing) {
  for (int writers : {1, 2}) {
    TempDir dir;
    std::vector<std::shared_ptr<Writer>> ws;
    for (int i = 0; i < writers; ++i) ws.push_back(Writer::open(dir.file(), testing::small_config(8)));
    auto r = Reader::open(dir.file(), testing::fast_reader(std::chrono::seconds(60)));
    constexpr int kThreads = 4;
    constexpr int64_t kEach = 5000;
    auto stamp = [](int64_t producer, int64_t seq) { return static_cast<uint64_t>(producer) << 32 | uint64_t(seq); };
    std::atomic<bool> stop{false};
    std::vector<int64_t> next(kThreads, 0);
    int64_t read = 0, bad = 0;
    std::thread reader([&] {
      Measurement m;
      for (;;) {
        if (r->next(m)) {
          ++read;
          const int64_t p = m.metric_ref - 1;
          if (p < 0 || p >= kThreads || m.as_long != next[static_cast<size_t>(p)] ||
              m.time_unix_nano != stamp(p, m.as_long)) {
            if (bad++ < 5) ADD_FAILURE() << "record " << p << "/" << m.as_long << " out of turn or torn";
            continue;
          }
          ++next[static_cast<size_t>(p)];
        } else if (stop.load()) {
          if (!r->next(m)) break;
          ++read;  // cannot happen: every producer has returned
          ADD_FAILURE() << "record after the end";
        } else {
          std::this_thread::yield();
        }
      }
    });
    std::vector<std::thread> ts;
    std::vector<int64_t> full_retries(kThreads, 0);
    for (int t = 0; t < kThreads; ++t) {
      ts.emplace_back([&, t] {
        Writer& w = *ws[static_cast<size_t>(t % writers)];
        for (int64_t i = 0; i < kEach; ++i) {
          MeasurementView v = record(t, i);
          v.time_unix_nano = stamp(t, i);
          write_retrying(w, v, full_retries[static_cast<size_t>(t)]);
        }
      });
    }
    for (auto& t : ts) t.join();
    stop = true;
    reader.join();
    int64_t retries = 0;
    for (auto n : full_retries) retries += n;
    std::printf("[ info ] %d writer object(s): read %ld, full-ring retries %ld\n", writers, static_cast<long>(read),
                static_cast<long>(retries));
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(read, kThreads * kEach);
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[static_cast<size_t>(t)], kEach) << "producer " << t;
    EXPECT_EQ(r->counters().torn[2], 0u);
    EXPECT_EQ(r->counters().corrupt[2], 0u);
  }
}

// Producer threads writing small records and records spread over up to 13 slots into a
// 64-slot ring, retrying a full ring, and one consumer: every record arrives exactly once, in
// order per producer and whole (a continuation from another record or lap would show in the
// body). Under ThreadSanitizer this checks the multi-slot claim and the head-last publication.
TEST(Concurrency, ProducersMixingSmallAndSpreadRecordsDeliverEveryRecordWhole) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(64, 128));
  auto r = Reader::open(dir.file(), testing::fast_reader(std::chrono::seconds(60)));
  constexpr int kThreads = 4;
  constexpr int64_t kEach = 2000;
  auto stamp = [](int64_t producer, int64_t seq) { return static_cast<uint64_t>(producer) << 32 | uint64_t(seq); };
  auto size_of = [](int64_t seq) { return seq % 3 == 0 ? static_cast<size_t>(100 + (seq * 37) % 1400) : size_t{8}; };
  std::atomic<bool> stop{false};
  std::vector<int64_t> next(kThreads, 0);
  int64_t read = 0, bad = 0;
  std::thread reader([&] {
    Event e;
    for (;;) {
      if (r->next(e)) {
        ++read;
        const int64_t p = static_cast<int64_t>(e.time_unix_nano >> 32);
        const int64_t seq = static_cast<int64_t>(e.time_unix_nano & 0xffffffffu);
        if (p < 0 || p >= kThreads || seq != next[static_cast<size_t>(p)] || !e.body ||
            e.body->bytes != testing::pattern(size_of(seq), e.time_unix_nano)) {
          if (bad++ < 5) ADD_FAILURE() << "record " << p << "/" << seq << " out of turn or not whole";
          continue;
        }
        ++next[static_cast<size_t>(p)];
      } else if (stop.load()) {
        if (!r->next(e)) break;
        ADD_FAILURE() << "record after the end";
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::vector<std::thread> ts;
  std::vector<int64_t> full_retries(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int64_t i = 0; i < kEach; ++i) {
        const std::string text = testing::pattern(size_of(i), stamp(t, i));
        const AnyValueView body = AnyValueView::string(text);
        EventView v;
        v.time_unix_nano = stamp(t, i);
        v.body = &body;
        write_retrying(*w, v, full_retries[static_cast<size_t>(t)]);
      }
    });
  }
  for (auto& t : ts) t.join();
  stop = true;
  reader.join();
  int64_t retries = 0;
  for (auto n : full_retries) retries += n;
  std::printf("[ info ] read %ld, full-ring retries %ld\n", static_cast<long>(read), static_cast<long>(retries));
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(read, kThreads * kEach);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[static_cast<size_t>(t)], kEach) << "producer " << t;
  EXPECT_EQ(r->counters().torn[0], 0u);
  EXPECT_EQ(r->counters().corrupt[0], 0u);
}

// One thread's claim decided from a cache value another thread loaded: producer B reuses
// slot 1, which the consumer has read, without loading reader_index itself (A's claim
// refreshed the cache). Played step by step on a 2-slot in-memory ring, the steps ordered
// with relaxed atomics (no happens-before for ThreadSanitizer). Here the happens-before
// from the consumer's read to B's write reaches B twice: through the cache's
// release/acquire and through A's writer_index CAS, which B's CAS reads. The cache's own
// ordering is what remains when a refreshing thread is overtaken between its reload and its
// CAS; the multi-thread test above reaches that interleaving (with the cache accessed
// relaxed, TSan reported it in about one run in three).
TEST(Concurrency, ClaimDecidedFromAnotherThreadsCacheRefresh) {
  const layout::RingGeometry g{2, 64};
  std::vector<uint64_t> mem(g.bytes() / 8 + 1);
  Ring ring(reinterpret_cast<uint8_t*>(mem.data()), g);
  ring.initialize();
  std::atomic<int> step{0};
  auto await = [&](int s) {
    while (step.load(std::memory_order_relaxed) != s) std::this_thread::yield();
  };
  auto write = [&](int64_t idx, uint8_t fill) {
    uint8_t* s = ring.slot(idx);
    s[0] = 15;  // length prefix: 15 payload bytes
    std::memset(s + 1, fill, 15);
    return ring.publish(idx);
  };
  int64_t b_seq[3] = {-1, -1, -1}, a_seq = -1;
  bool b_ok[3] = {}, a_ok = false;
  std::thread b([&] {
    // Step 0: B fills the ring (sequences 0 and 1). Its cache refresh loads -1.
    for (int i = 0; i < 2; ++i) b_ok[i] = ring.claim(b_seq[i], 0) == Ring::Claim::kOk && write(b_seq[i], 'b');
    step.store(1, std::memory_order_relaxed);
    // Step 3: sequence 3 reuses slot 1, which the consumer read; B decides from the
    // cache that A refreshed.
    await(3);
    b_ok[2] = ring.claim(b_seq[2], 0) == Ring::Claim::kOk && write(b_seq[2], 'B');
    step.store(4, std::memory_order_relaxed);
  });
  std::thread a([&] {
    // Step 2: A's claim reloads reader_index (1) and shares it through the cache.
    await(2);
    a_ok = ring.claim(a_seq, 0) == Ring::Claim::kOk && write(a_seq, 'a');
    step.store(3, std::memory_order_relaxed);
  });
  // Step 1: the consumer reads both records and frees their slots.
  await(1);
  RingConsumer consumer(ring, std::chrono::seconds(60));
  std::string payload;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(consumer.next(payload), RingConsumer::Result::kRecord);
    EXPECT_EQ(payload, std::string(15, 'b'));
  }
  step.store(2, std::memory_order_relaxed);
  await(4);
  a.join();
  b.join();
  EXPECT_TRUE(b_ok[0] && b_ok[1] && b_ok[2] && a_ok);
  EXPECT_EQ(b_seq[0], 0);
  EXPECT_EQ(b_seq[1], 1);
  EXPECT_EQ(a_seq, 2);
  EXPECT_EQ(b_seq[2], 3);
  EXPECT_EQ(ring.cached_reader_index(), 1);
  ASSERT_EQ(consumer.next(payload), RingConsumer::Result::kRecord);
  EXPECT_EQ(payload, std::string(15, 'a'));
  ASSERT_EQ(consumer.next(payload), RingConsumer::Result::kRecord);
  EXPECT_EQ(payload, std::string(15, 'B'));
}

// Two processes, each with four threads, on one file; the reader runs in the parent.
TEST(Concurrency, TwoProcessesAndFourThreadsEachAccountExactly) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer cannot see happens-before that passes through another process (the
  // reader here), so it would report the slot reuse it enables. This test runs in the
  // plain and ASan builds; the threads-only tests cover the ring under TSan.
  GTEST_SKIP() << "cross-process synchronisation is invisible to ThreadSanitizer";
#endif
  TempDir dir;
  for (uint64_t slots : {uint64_t{1} << 17, uint64_t{128}}) {  // with room, then without
    const std::string path = dir.file("procs-" + std::to_string(slots));
    auto w = Writer::open(path, testing::small_config(slots));
    constexpr int kProcs = 2, kThreads = 4;
    constexpr int64_t kEach = 10000;
    int pipes[kProcs][2];
    std::vector<pid_t> pids;
    auto r = Reader::open(path, testing::fast_reader(std::chrono::seconds(60)));
    for (int p = 0; p < kProcs; ++p) {
      ASSERT_EQ(::pipe(pipes[p]), 0);
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        // Child: its own Writer object on the same file (as a gunicorn worker would).
        w->after_fork_in_child();
        auto cw = Writer::open(path, testing::small_config(slots));
        std::vector<std::thread> ts;
        std::vector<Tally> tallies(kThreads);
        for (int t = 0; t < kThreads; ++t) {
          ts.emplace_back([&, t] { tallies[t] = produce(*cw, p * kThreads + t, kEach); });
        }
        for (auto& t : ts) t.join();
        int64_t sums[2] = {0, 0};
        for (auto& t : tallies) {
          sums[0] += t.written;
          sums[1] += t.dropped;
        }
        (void)!::write(pipes[p][1], sums, sizeof sums);
        ::_exit(0);
      }
      pids.push_back(pid);
      ::close(pipes[p][1]);
    }
    std::atomic<bool> stop{false};
    int64_t read = 0;
    std::thread reader([&] { read = drain(*r, stop, kProcs * kThreads); });
    int64_t written_total = 0, dropped_total = 0;
    for (int p = 0; p < kProcs; ++p) {
      int64_t sums[2] = {0, 0};
      ASSERT_EQ(::read(pipes[p][0], sums, sizeof sums), static_cast<ssize_t>(sizeof sums));
      written_total += sums[0];
      dropped_total += sums[1];
      int status = 0;
      ASSERT_EQ(::waitpid(pids[p], &status, 0), pids[p]);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    stop = true;
    reader.join();
    std::printf("[ info ] %lu slots: written %ld, read %ld, dropped %ld\n", static_cast<unsigned long>(slots),
                static_cast<long>(written_total), static_cast<long>(read), static_cast<long>(dropped_total));
    EXPECT_EQ(written_total + dropped_total, kProcs * kThreads * kEach);
    EXPECT_EQ(read, written_total);
    EXPECT_EQ(r->writer_counters().dropped_full[2], static_cast<uint64_t>(dropped_total));
    if (slots > 100000) {
      EXPECT_EQ(dropped_total, 0);
    }
  }
}

TEST(Concurrency, ConcurrentInterningGivesOneRefPerString) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config());
  std::vector<std::vector<int64_t>> refs(4);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) refs[t].push_back(w->intern("key-" + std::to_string(i)));
    });
  }
  for (auto& t : ts) t.join();
  for (int t = 1; t < 4; ++t) EXPECT_EQ(refs[t], refs[0]);
  EXPECT_EQ(Reader::open(dir.file())->dictionary_entries(), 500);
}

}  // namespace
}  // namespace otlp_mmap

// Core benchmarks: ring write latency and write+read throughput. Figures are printed,
// never asserted (shared machines are noisy). Run: make bench-cpp
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "otlp_mmap/reader.hpp"
#include "otlp_mmap/ring_consumer.hpp"
#include "otlp_mmap/writer.hpp"

namespace {

using namespace otlp_mmap;

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("otlp-mmap-bench-") + name + "-" + std::to_string(::getpid())))
      .string();
}

WriterConfig bench_config() {
  WriterConfig c;
  c.geometry = layout::Geometry{
      {layout::RingGeometry{1 << 16, 512}, layout::RingGeometry{1 << 16, 512}, layout::RingGeometry{1 << 16, 512}},
      1 << 20};
  return c;
}

// A measurement whose record is exactly 100 bytes with its length prefix.
struct Record100 {
  std::string value = std::string(60, 'x');
  KeyValueView attrs[2];
  MeasurementView view;
  explicit Record100(Writer& w) {
    attrs[0] = {w.intern("http.route"), AnyValueView::string(value)};
    attrs[1] = {w.intern("http.status_code"), AnyValueView::integer(200)};
    view.metric_ref = w.intern("metric");
    view.attributes = attrs;
    view.time_unix_nano = 1'700'000'000'000'000'000;
    view.as_long = 1;
    uint64_t n = encoded_size(view);
    uint64_t total = n + wire::varint_size(n);
    // Pad the string so that the whole record is 100 bytes.
    value.resize(value.size() + (100 - total));
    attrs[0].value = AnyValueView::string(value);
  }
};

// Drains a ring on another thread, as the collector would.
class Drainer {
 public:
  explicit Drainer(const std::string& path) : reader_(Reader::open(path)) {
    thread_ = std::thread([this] {
      std::string payload;
      while (!stop_.load(std::memory_order_relaxed)) {
        bool any = false;
        for (auto k : layout::kRingKinds) {
          while (reader_->next_payload(k, payload)) {
            any = true;
            read_.fetch_add(1, std::memory_order_relaxed);
          }
        }
        if (!any) std::this_thread::yield();
      }
    });
  }
  ~Drainer() {
    stop_ = true;
    thread_.join();
  }
  uint64_t read() const { return read_.load(); }

 private:
  std::unique_ptr<Reader> reader_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> read_{0};
  std::thread thread_;
};

// Cost of one 100-byte write on the application thread, single-threaded: a ring of 2^20
// slots is drained (outside the timed region) whenever it is nearly full.
void BM_Write100ByteRecord(benchmark::State& state) {
  const std::string path = temp_path("write");
  std::filesystem::remove(path);
  WriterConfig c = bench_config();
  c.geometry.rings[2] = layout::RingGeometry{1 << 20, 128};
  auto w = Writer::open(path, c);
  auto r = Reader::open(path);
  Record100 rec(*w);
  const int64_t drain_at = (1 << 20) - 1024;
  int64_t pending = 0;
  std::string payload;
  uint64_t dropped = 0;
  for (auto _ : state) {
    if (!written(w->write(rec.view))) ++dropped;
    if (++pending == drain_at) {
      state.PauseTiming();
      while (r->next_payload(layout::RingKind::kMeasurements, payload)) {
      }
      pending = 0;
      state.ResumeTiming();
    }
  }
  state.counters["dropped"] = static_cast<double>(dropped);
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove(path);
}
BENCHMARK(BM_Write100ByteRecord);

// The reader's cost per 100-byte record (copy out, advance, hand over; no decoding): the ring
// of 2^20 slots is refilled outside the timed region whenever it is empty.
void BM_Read100ByteRecord(benchmark::State& state) {
  const std::string path = temp_path("read");
  std::filesystem::remove(path);
  WriterConfig c = bench_config();
  c.geometry.rings[2] = layout::RingGeometry{1 << 20, 128};
  auto w = Writer::open(path, c);
  auto r = Reader::open(path);
  Record100 rec(*w);
  std::string payload;
  int64_t available = 0;
  uint64_t missing = 0;
  for (auto _ : state) {
    if (available == 0) {
      state.PauseTiming();
      for (int64_t i = 0; i < (1 << 20); ++i) (void)w->write(rec.view);
      available = 1 << 20;
      state.ResumeTiming();
    }
    if (!r->next_payload(layout::RingKind::kMeasurements, payload)) ++missing;
    --available;
  }
  state.counters["missing"] = static_cast<double>(missing);
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove(path);
}
BENCHMARK(BM_Read100ByteRecord);

// A log record with a 3,000-byte body: larger than a 512-byte slot, so spread over 7
// consecutive slots (FORMAT.md §9.17), against the same ring with the plain protocol, where
// the body is shortened to fit one slot. Single-threaded; the ring is drained outside the
// timed region.
void BM_Write3000ByteLogRecord(benchmark::State& state) {
  const std::string path = temp_path("write-3000");
  std::filesystem::remove(path);
  WriterConfig c = bench_config();
  c.extensions = state.range(0) != 0;
  auto w = Writer::open(path, c);
  auto r = Reader::open(path);
  const std::string text(3000, 'b');
  const AnyValueView body = AnyValueView::string(text);
  EventView e;
  e.time_unix_nano = 1'700'000'000'000'000'000;
  e.body = &body;
  const int64_t drain_at = (1 << 16) / 8 - 64;
  int64_t pending = 0;
  std::string payload;
  for (auto _ : state) {
    (void)w->write(e);
    if (++pending == drain_at) {
      state.PauseTiming();
      while (r->next_payload(layout::RingKind::kEvents, payload)) {
      }
      pending = 0;
      state.ResumeTiming();
    }
  }
  state.SetLabel(c.extensions ? "spread over slots" : "plain protocol: shortened to one slot");
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove(path);
}
BENCHMARK(BM_Write3000ByteLogRecord)->Arg(1)->Arg(0);

// The same write while a reader thread drains the ring, as in production (the reader's
// cache-line traffic on the ring indices is part of the cost).
void BM_Write100ByteRecordWithConcurrentReader(benchmark::State& state) {
  const std::string path = temp_path("write-concurrent");
  std::filesystem::remove(path);
  auto w = Writer::open(path, bench_config());
  Record100 rec(*w);
  Drainer drainer(path);
  uint64_t dropped = 0;
  for (auto _ : state) {
    if (!written(w->write(rec.view))) ++dropped;
  }
  state.counters["dropped"] = static_cast<double>(dropped);
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove(path);
}
BENCHMARK(BM_Write100ByteRecordWithConcurrentReader);

// The ring protocol alone: claim, copy a 100-byte record, publish, on an in-memory ring of
// `range(0)` slots that a consumer thread drains. No encoding, no file: what is left is the
// producer's and the consumer's traffic on the shared ring-header cache line.
void BM_RingClaimPublishWithConsumer(benchmark::State& state) {
  const layout::RingGeometry g{static_cast<uint64_t>(state.range(0)), 128};
  std::vector<uint64_t> mem(g.bytes() / 8 + 16);
  // The ring header on a cache-line boundary, as in a file whose ring starts there.
  auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(mem.data()) + 63) & ~uintptr_t{63});
  Ring ring(base, g);
  ring.initialize();
  RingConsumer consumer(ring, std::chrono::seconds(60));
  std::atomic<bool> stop{false};
  std::thread drainer([&] {
    std::string payload;
    while (!stop.load(std::memory_order_relaxed)) {
      if (consumer.next(payload) != RingConsumer::Result::kRecord) cpu_relax();
    }
  });
  uint8_t record[100];
  std::memset(record, 'x', sizeof record);
  record[0] = 99;  // length prefix: 99 payload bytes follow
  uint64_t full = 0;
  for (auto _ : state) {
    int64_t idx = -1;
    if (ring.claim(idx, 64) != Ring::Claim::kOk) {
      ++full;
      continue;
    }
    std::memcpy(ring.slot(idx), record, sizeof record);
    benchmark::DoNotOptimize(ring.publish(idx));
  }
  stop = true;
  drainer.join();
  state.counters["full"] = static_cast<double>(full);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RingClaimPublishWithConsumer)->Arg(1 << 16);

// The consumer's side alone: a full in-memory ring of 65,536 100-byte records drained one slot
// at a time (next(): a guarded pass and a reader_index store per record) or in passes of up to
// `range(0)` slots (take(): one of each per pass). Refilled, untimed, between iterations.
void BM_RingConsume(benchmark::State& state) {
  const layout::RingGeometry g{1 << 16, 128};
  std::vector<uint64_t> mem(g.bytes() / 8 + 16);
  auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(mem.data()) + 63) & ~uintptr_t{63});
  Ring ring(base, g);
  ring.initialize();
  RingConsumer consumer(ring, std::chrono::seconds(60));
  uint8_t record[100];
  std::memset(record, 'x', sizeof record);
  record[0] = 99;
  const size_t pass = static_cast<size_t>(state.range(0));
  std::string payload;
  SlotBatch batch;
  for (auto _ : state) {
    state.PauseTiming();
    for (uint64_t i = 0; i < g.num_buffers; ++i) {
      int64_t idx = -1;
      if (ring.claim(idx, 0) != Ring::Claim::kOk) break;
      std::memcpy(ring.slot(idx), record, sizeof record);
      ring.publish(idx);
    }
    state.ResumeTiming();
    if (pass <= 1) {
      while (consumer.next(payload) == RingConsumer::Result::kRecord) benchmark::DoNotOptimize(payload.data());
    } else {
      while (consumer.take(batch, pass) == RingConsumer::End::kMax) benchmark::DoNotOptimize(batch.size());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(g.num_buffers));
}
BENCHMARK(BM_RingConsume)->Arg(1)->Arg(256)->Arg(4096);

// Encoding alone (no ring): how much of a write is protobuf encoding.
void BM_Encode100ByteRecord(benchmark::State& state) {
  const std::string path = temp_path("encode");
  std::filesystem::remove(path);
  auto w = Writer::open(path, bench_config());
  Record100 rec(*w);
  uint8_t buf[512];
  for (auto _ : state) {
    wire::Encoder e(buf);
    encode(rec.view, e);
    benchmark::DoNotOptimize(buf);
  }
  std::filesystem::remove(path);
}
BENCHMARK(BM_Encode100ByteRecord);

// Write+read throughput: `producers` threads writing 100-byte records, one reader thread
// decoding them, until every record is read. Drops are retried (counted separately).
void BM_WriteReadThroughput(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const std::string path = temp_path("throughput");
  std::filesystem::remove(path);
  auto w = Writer::open(path, bench_config());
  auto r = Reader::open(path);
  Record100 rec(*w);
  constexpr int64_t kPerRound = 200'000;
  uint64_t retries = 0;
  for (auto _ : state) {
    std::atomic<uint64_t> retry_count{0};
    std::vector<std::thread> ts;
    for (int p = 0; p < producers; ++p) {
      ts.emplace_back([&] {
        for (int64_t i = 0; i < kPerRound / producers; ++i) {
          while (!written(w->write(rec.view))) retry_count.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    Measurement m;
    int64_t got = 0;
    const int64_t want = kPerRound / producers * producers;
    while (got < want) {
      if (r->next(m)) {
        ++got;
      } else {
        std::this_thread::yield();
      }
    }
    for (auto& t : ts) t.join();
    retries += retry_count.load();
  }
  state.SetItemsProcessed(state.iterations() * (kPerRound / producers * producers));
  state.counters["full_retries"] = static_cast<double>(retries);
  std::filesystem::remove(path);
}
BENCHMARK(BM_WriteReadThroughput)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// Ring behaviour: laps, full rings, torn and corrupt slots, the producer's reader-index cache.
#include <fcntl.h>

#include <limits>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using testing::RawRing;
using testing::TempDir;

MeasurementView measurement(int64_t value) {
  MeasurementView m;
  m.metric_ref = 1;
  m.as_long = value;
  return m;
}

TEST(Ring, WrapsAroundOverManyLaps) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(8));
  auto r = Reader::open(dir.file(), testing::fast_reader());
  Measurement got;
  int64_t expected = 0;
  // 1000 laps of an 8-slot ring, in bursts of varying length up to the capacity.
  for (int64_t i = 0; i < 8000;) {
    int64_t burst = std::min<int64_t>(1 + i % 8, 8000 - i);
    for (int64_t j = 0; j < burst; ++j) ASSERT_EQ(w->write(measurement(i++)), WriteStatus::kWritten);
    while (r->next(got)) ASSERT_EQ(got.as_long, expected++);
  }
  EXPECT_EQ(expected, 8000);
  EXPECT_FALSE(r->next(got));
  EXPECT_EQ(r->ring_state(layout::RingKind::kMeasurements).reader_index, 7999);
}

TEST(Ring, FullRingDropsAreCountedExactly) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(16));
  int written = 0, dropped = 0;
  for (int i = 0; i < 100; ++i) {
    auto st = w->write(measurement(i));
    if (st == WriteStatus::kWritten) {
      ++written;
    } else {
      ASSERT_EQ(st, WriteStatus::kDroppedFull);
      ++dropped;
    }
  }
  EXPECT_EQ(written, 16);  // capacity is N
  EXPECT_EQ(dropped, 84);
  EXPECT_EQ(w->counters().dropped_full[2], 84u);
  EXPECT_EQ(w->counters().dropped_full[0], 0u);
  auto r = Reader::open(dir.file(), testing::fast_reader());
  Measurement got;
  int read = 0;
  while (r->next(got)) EXPECT_EQ(got.as_long, read++);
  EXPECT_EQ(read, written);
  EXPECT_EQ(read + static_cast<int>(r->writer_counters().dropped_full[2]), 100);
  // Room again after reading.
  EXPECT_EQ(w->write(measurement(1)), WriteStatus::kWritten);
}

TEST(Ring, FullRingNeverBlocks) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(8));
  for (int i = 0; i < 8; ++i) ASSERT_EQ(w->write(measurement(i)), WriteStatus::kWritten);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(w->write(measurement(i)), WriteStatus::kDroppedFull);
  // Not a timing assertion: just that 1000 drops return at all (a blocking writer hangs).
  auto elapsed = std::chrono::steady_clock::now() - t0;
  std::printf("[ info ] 1000 drops on a full ring took %.1f us each\n",
              std::chrono::duration<double, std::micro>(elapsed).count() / 1000);
}

// A writer that claimed a slot and died before publishing it (SIGKILL between the two),
// played by claiming through a raw mapping and never publishing.
TEST(Ring, TornSlotIsSkippedAfterTheGracePeriodAndCounted) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(8));
  ASSERT_EQ(w->write(measurement(1)), WriteStatus::kWritten);
  auto r = Reader::open(dir.file(), testing::fast_reader(std::chrono::milliseconds(100)));
  RawRing raw(dir.file(), w->file_layout(), layout::RingKind::kMeasurements);
  int64_t idx = -1;
  ASSERT_EQ(raw.ring.claim(idx, 0), Ring::Claim::kOk);  // claimed, never published
  ASSERT_EQ(w->write(measurement(3)), WriteStatus::kWritten);

  Measurement got;
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.as_long, 1);
  EXPECT_FALSE(r->next(got));  // blocked by the torn slot, within the grace period
  EXPECT_FALSE(r->next(got));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_TRUE(r->next(got));  // skipped, then the next record
  EXPECT_EQ(got.as_long, 3);
  EXPECT_EQ(r->counters().torn[2], 1u);
  EXPECT_EQ(r->file_skip_totals().first, 1u);
  // A writer that wakes up after being skipped sees it and does not publish.
  EXPECT_FALSE(raw.ring.publish(idx));
}

TEST(Ring, CorruptSlotIsSkippedAndCountedWithoutStallingTheRing) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(8));
  ASSERT_EQ(w->write(measurement(1)), WriteStatus::kWritten);
  ASSERT_EQ(w->write(measurement(2)), WriteStatus::kWritten);
  ASSERT_EQ(w->write(measurement(3)), WriteStatus::kWritten);
  RawRing raw(dir.file(), w->file_layout(), layout::RingKind::kMeasurements);
  Ring& ring = raw.ring;
  // Slot 1: a length prefix larger than the slot. Slot 2: a valid length over garbage.
  uint8_t* s1 = ring.slot(1);
  s1[0] = 0xff;
  s1[1] = 0xff;
  s1[2] = 0x7f;
  uint8_t* s2 = ring.slot(2);
  s2[0] = 3;
  s2[1] = 0x0a;  // field 1 as LEN: wrong wire type for metric_ref
  s2[2] = 0x05;
  s2[3] = 0x00;
  auto r = Reader::open(dir.file(), testing::fast_reader());
  Measurement got;
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.as_long, 1);
  EXPECT_FALSE(r->next(got));
  EXPECT_EQ(r->counters().corrupt[2], 2u);
  EXPECT_EQ(r->ring_state(layout::RingKind::kMeasurements).reader_index, 2);
  ASSERT_EQ(w->write(measurement(4)), WriteStatus::kWritten);
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.as_long, 4);
}

// Sequence numbers past 2^32, where the two flag formulas of other implementations differ.
TEST(Ring, SequencesBeyond32BitsStayReadable) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(8));
  RawRing raw(dir.file(), w->file_layout(), layout::RingKind::kMeasurements);
  Ring& ring = raw.ring;
  const int64_t start = (int64_t{1} << 32) - 20;
  ring.reader_index().store(start);
  ring.writer_index().store(start);
  auto r = Reader::open(dir.file(), testing::fast_reader());
  Measurement got;
  for (int64_t i = 0; i < 64; ++i) {
    ASSERT_EQ(w->write(measurement(i)), WriteStatus::kWritten);
    ASSERT_TRUE(r->next(got)) << "sequence " << start + 1 + i;
    ASSERT_EQ(got.as_long, i);
  }
  // A slot published with the truncate-first flag variant is accepted too.
  int64_t idx = -1;
  ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  MeasurementView m = measurement(99);
  wire::Encoder e(ring.slot(idx));
  e.varint(encoded_size(m));
  encode(m, e);
  ring.availability(idx).store(layout::availability_flag_truncated_first(idx, 3));
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.as_long, 99);
}

// ------------------------------------------------------------------ the producer's reader-index cache

// An in-memory ring, for the producer side alone (the test plays the consumer by storing
// reader_index).
struct MemRing {
  std::vector<uint64_t> mem;
  Ring ring;
  explicit MemRing(uint64_t n)
      : mem(layout::RingGeometry{n, 64}.bytes() / 8 + 1),
        ring(reinterpret_cast<uint8_t*>(mem.data()), layout::RingGeometry{n, 64}) {
    ring.initialize();
  }
};

constexpr int64_t kEmptyCache = std::numeric_limits<int64_t>::min();

TEST(Ring, ClaimsExactlyNThenFullUntilTheConsumerAdvances) {
  MemRing m(8);
  Ring& ring = m.ring;
  EXPECT_EQ(ring.cached_reader_index(), kEmptyCache);
  int64_t idx = -1;
  for (int64_t i = 0; i < 8; ++i) {
    ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
    EXPECT_EQ(idx, i);
  }
  EXPECT_EQ(ring.claim(idx, 3), Ring::Claim::kFull);
  EXPECT_EQ(ring.writer_index().load(), 7);
  EXPECT_EQ(ring.cached_reader_index(), -1);
  // The consumer frees three slots: the cache still says full, the reload finds them.
  ring.reader_index().store(2);
  for (int64_t i = 8; i < 11; ++i) {
    ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
    EXPECT_EQ(idx, i);
  }
  EXPECT_EQ(ring.cached_reader_index(), 2);
  EXPECT_EQ(ring.claim(idx, 0), Ring::Claim::kFull);
  EXPECT_EQ(ring.writer_index().load(), 10);
}

// A record spread over k slots claims them in one step, only when all k are free; the
// cache proves room for k only inside its narrower window.
TEST(Ring, ClaimOfSeveralSlotsNeedsThemAllFree) {
  MemRing m(8);
  Ring& ring = m.ring;
  int64_t idx = -1;
  ASSERT_EQ(ring.claim(idx, 0, 3), Ring::Claim::kOk);
  EXPECT_EQ(idx, 0);
  ASSERT_EQ(ring.claim(idx, 0, 5), Ring::Claim::kOk);
  EXPECT_EQ(idx, 3);
  EXPECT_EQ(ring.writer_index().load(), 7);
  EXPECT_EQ(ring.claim(idx, 2, 1), Ring::Claim::kFull);
  ring.reader_index().store(1);  // two slots free
  EXPECT_EQ(ring.claim(idx, 0, 3), Ring::Claim::kFull);
  EXPECT_EQ(ring.writer_index().load(), 7);  // nothing claimed by the refused claim
  ASSERT_EQ(ring.claim(idx, 0, 2), Ring::Claim::kOk);
  EXPECT_EQ(idx, 8);                                     // wraps to slots 0 and 1
  EXPECT_EQ(ring.claim(idx, 0, 9), Ring::Claim::kFull);  // more than the ring: never
  EXPECT_EQ(ring.claim(idx, 0, 0), Ring::Claim::kFull);
  ring.reader_index().store(9);
  EXPECT_EQ(ring.claim(idx, 0, 9), Ring::Claim::kFull);
  ASSERT_EQ(ring.claim(idx, 0, 8), Ring::Claim::kOk);  // an empty ring holds N
  EXPECT_EQ(idx, 10);
}

TEST(Ring, CacheIsReloadedOnlyWhenItCannotProveRoom) {
  MemRing m(8);
  Ring& ring = m.ring;
  int64_t idx = -1;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  ring.reader_index().store(3);  // everything consumed
  // Sequences 4..7 fit behind the cached -1: no reload, the stale value stays.
  for (int64_t i = 4; i < 8; ++i) {
    ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
    EXPECT_EQ(idx, i);
    EXPECT_EQ(ring.cached_reader_index(), -1);
  }
  // Sequence 8 reuses sequence 0's slot: the cache cannot prove it free, the reload can.
  ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(idx, 8);
  EXPECT_EQ(ring.cached_reader_index(), 3);
  for (int64_t i = 9; i < 12; ++i) ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(ring.claim(idx, 0), Ring::Claim::kFull);  // 4..11 unread
}

// Another process's claims move writer_index past this object's cache window, and a copy
// of a Ring starts with an empty cache.
TEST(Ring, ClaimsOfOtherProducersAreSeenThroughWriterIndex) {
  MemRing m(8);
  Ring a = m.ring;
  Ring b = m.ring;
  int64_t idx = -1;
  ASSERT_EQ(a.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(a.cached_reader_index(), -1);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(b.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(a.claim(idx, 0), Ring::Claim::kFull);
  EXPECT_EQ(b.claim(idx, 0), Ring::Claim::kFull);
  m.ring.reader_index().store(1);
  ASSERT_EQ(a.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(idx, 8);
  ASSERT_EQ(b.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(idx, 9);
  EXPECT_EQ(a.claim(idx, 0), Ring::Claim::kFull);
  EXPECT_EQ(b.claim(idx, 0), Ring::Claim::kFull);
  Ring c = a;
  EXPECT_EQ(c.cached_reader_index(), kEmptyCache);
  c = b;
  EXPECT_EQ(c.cached_reader_index(), kEmptyCache);
}

// Indices rewritten from outside (as SequencesBeyond32BitsStayReadable does, or a broken
// process would), forwards or backwards: outside its window the cache is not trusted.
TEST(Ring, IndicesMovedFromOutsideAreReloaded) {
  MemRing m(8);
  Ring& ring = m.ring;
  int64_t idx = -1;
  for (int i = 0; i < 8; ++i) ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  ASSERT_EQ(ring.cached_reader_index(), -1);
  const int64_t far = int64_t{1} << 32;
  ring.reader_index().store(far);
  ring.writer_index().store(far);
  ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(idx, far + 1);
  EXPECT_EQ(ring.cached_reader_index(), far);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(ring.claim(idx, 0), Ring::Claim::kFull);
  // Back to a fresh ring with 8 unread records: the cache (far) is ahead of writer_index.
  ring.reader_index().store(-1);
  ring.writer_index().store(7);
  EXPECT_EQ(ring.claim(idx, 0), Ring::Claim::kFull);
  EXPECT_EQ(ring.cached_reader_index(), -1);
}

// Sequences wrapping past INT64_MAX, with the reader landing exactly on INT64_MIN (the
// value that marks an empty cache: then every claim reloads, which is merely slower).
TEST(Ring, CacheFollowsSequencesThroughTheWrap) {
  MemRing m(8);
  Ring& ring = m.ring;
  const int64_t start = std::numeric_limits<int64_t>::max() - 3;
  ring.reader_index().store(start);
  ring.writer_index().store(start);
  int64_t idx = -1;
  std::vector<int64_t> got;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
    got.push_back(idx);
  }
  EXPECT_EQ(got.front(), start + 1);
  EXPECT_EQ(got[3], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(ring.claim(idx, 0), Ring::Claim::kFull);
  ring.reader_index().store(got[3]);  // four consumed; the reader is at INT64_MIN
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
    EXPECT_EQ(idx, seq_add(got.back(), 1 + i));
  }
  EXPECT_EQ(ring.claim(idx, 0), Ring::Claim::kFull);
  ring.reader_index().store(seq_add(got[3], 2));
  ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  ASSERT_EQ(ring.claim(idx, 0), Ring::Claim::kOk);
  EXPECT_EQ(ring.claim(idx, 0), Ring::Claim::kFull);
  EXPECT_EQ(ring.cached_reader_index(), seq_add(got[3], 2));
}

// Through the writer: a stale cache after the reader drained a full ring.
TEST(Ring, WriterSeesRoomAgainAfterTheReaderDrainsAFullRing) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(8));
  auto r = Reader::open(dir.file(), testing::fast_reader());
  Measurement got;
  for (int lap = 0; lap < 3; ++lap) {
    for (int i = 0; i < 8; ++i) ASSERT_EQ(w->write(measurement(lap * 8 + i)), WriteStatus::kWritten);
    ASSERT_EQ(w->write(measurement(-1)), WriteStatus::kDroppedFull);
    for (int i = 0; i < 8; ++i) {
      ASSERT_TRUE(r->next(got));
      EXPECT_EQ(got.as_long, lap * 8 + i);
    }
    EXPECT_FALSE(r->next(got));
  }
  EXPECT_EQ(w->counters().dropped_full[2], 3u);
}

}  // namespace
}  // namespace otlp_mmap

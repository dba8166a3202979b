// Ring behaviour: laps, full rings, torn and corrupt slots.
#include <fcntl.h>

#include <thread>

#include "test_util.hpp"

namespace otlp_mmap {
namespace {

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

// A second mapping of the file, for tests that play a misbehaving writer by hand.
struct RawRing {
  MappedFile file;
  Ring ring;
  RawRing(const std::string& path, const FileLayout& lay, layout::RingKind k)
      : file(::open(path.c_str(), O_RDWR), path, std::filesystem::file_size(path)),
        ring(file.base() + lay.ring_offset(k), lay.geometry.ring(k), file.identity() + lay.ring_offset(k)) {}
};

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

}  // namespace
}  // namespace otlp_mmap

// Draining in passes: one reader_index store per pass, records handed on after it, bounded
// passes, records spread over several slots across passes, and the torn-slot timer.
#include <atomic>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using layout::RingKind;
using testing::RawRing;
using testing::TempDir;
using namespace std::chrono_literals;

MeasurementView measurement(int64_t value) {
  MeasurementView m;
  m.metric_ref = 1;
  m.as_long = value;
  return m;
}

// Writes a measurement into a slot claimed by hand (a writer that claimed, then was slow).
void fill(const Ring& ring, int64_t idx, int64_t value) {
  const MeasurementView m = measurement(value);
  wire::Encoder e(ring.slot(idx));
  e.varint(encoded_size(m));
  encode(m, e);
}

std::vector<int64_t> drain_values(Reader& r, size_t max = SIZE_MAX) {
  std::vector<int64_t> out;
  r.drain_decoded<Measurement>(RingKind::kMeasurements, max, [&](const Measurement& m) { out.push_back(m.as_long); });
  return out;
}

TEST(Drain, FreesTheWholeBatchBeforeHandingItsRecordsOn) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(64));
  for (int i = 0; i < 40; ++i) ASSERT_EQ(w->write(measurement(i)), WriteStatus::kWritten);
  auto r = Reader::open(dir.file(), testing::fast_reader());
  std::vector<int64_t> values, index_seen;
  const size_t n = r->drain_decoded<Measurement>(RingKind::kMeasurements, 100, [&](const Measurement& m) {
    values.push_back(m.as_long);
    index_seen.push_back(r->ring_state(RingKind::kMeasurements).reader_index);
  });
  ASSERT_EQ(n, 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(values[i], i);
  // One store for the batch, before the first record was handed on: writers had every slot
  // back while the records were processed.
  for (int64_t seen : index_seen) EXPECT_EQ(seen, 39);
  EXPECT_EQ(r->counters().records[2], 40u);
}

TEST(Drain, StopsAtMaxAndGoesOnWhereItStopped) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(64));
  for (int i = 0; i < 30; ++i) ASSERT_EQ(w->write(measurement(i)), WriteStatus::kWritten);
  auto r = Reader::open(dir.file(), testing::fast_reader());
  EXPECT_EQ(drain_values(*r, 10), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(r->ring_state(RingKind::kMeasurements).reader_index, 9);
  const auto rest = drain_values(*r);
  ASSERT_EQ(rest.size(), 20u);
  EXPECT_EQ(rest.front(), 10);
  EXPECT_EQ(rest.back(), 29);
}

TEST(Drain, ABatchIsBoundedByItsBufferAndTheDrainGoesOnToMax) {
  TempDir dir;
  // 64 KiB slots holding records of about 60 KiB: a 1 MiB batch holds only some of them.
  auto w = Writer::open(dir.file(), testing::small_config(64, 65536));
  const int64_t key = w->intern("k");
  const std::string big(60000, 'x');
  const std::vector<KeyValueView> attrs{{key, AnyValueView::string(big)}};
  for (int i = 0; i < 40; ++i) {
    MeasurementView m = measurement(i);
    m.attributes = attrs;
    ASSERT_EQ(w->write(m), WriteStatus::kWritten);
  }
  RawRing raw(dir.file(), w->file_layout(), RingKind::kMeasurements);
  RingConsumer consumer(raw.ring, 1s);
  SlotBatch batch;
  EXPECT_EQ(consumer.take(batch, 40), RingConsumer::End::kMax);
  const size_t taken = batch.size();
  EXPECT_GT(taken, 0u);
  EXPECT_LT(taken, 40u);
  EXPECT_LE(taken * 60000, SlotBatch::kMaxBytes);
  for (size_t i = 0; i < taken; ++i) EXPECT_EQ(batch[i].kind, SlotBatch::Kind::kRecord);
  EXPECT_EQ(raw.ring.reader_index().load(), static_cast<int64_t>(taken) - 1);
  auto r = Reader::open(dir.file(), testing::fast_reader());
  const auto rest = drain_values(*r, 100);
  ASSERT_EQ(rest.size(), 40 - taken);
  EXPECT_EQ(rest.back(), 39);
}

TEST(Drain, ATornSlotEndsTheBatchUntilItsGraceHasPassed) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(16));
  auto r = Reader::open(dir.file(), testing::fast_reader(100ms));
  RawRing raw(dir.file(), w->file_layout(), RingKind::kMeasurements);
  ASSERT_EQ(w->write(measurement(1)), WriteStatus::kWritten);
  int64_t torn = -1;
  ASSERT_EQ(raw.ring.claim(torn, 0), Ring::Claim::kOk);  // claimed, never published
  ASSERT_EQ(w->write(measurement(3)), WriteStatus::kWritten);
  ASSERT_EQ(w->write(measurement(4)), WriteStatus::kWritten);
  EXPECT_EQ(drain_values(*r), (std::vector<int64_t>{1}));
  EXPECT_EQ(drain_values(*r), (std::vector<int64_t>{}));
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(drain_values(*r), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(r->counters().torn[2], 1u);
  EXPECT_EQ(r->file_skip_totals().first, 1u);
  EXPECT_FALSE(raw.ring.publish(torn));  // the writer, waking up, sees the skip
}

// The reader stalls (it was behind, or busy elsewhere) while a writer is slow to publish: the
// time before the reader first saw the slot pending is not held against the slot.
TEST(Drain, GraceStartsWhenTheReaderFirstSeesTheSlotPending) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(16));
  // Sleeps may overshoot on a busy machine: the margins are half a grace period.
  auto r = Reader::open(dir.file(), testing::fast_reader(1s));
  RawRing raw(dir.file(), w->file_layout(), RingKind::kMeasurements);
  EXPECT_TRUE(drain_values(*r).empty());
  int64_t a = -1;
  ASSERT_EQ(raw.ring.claim(a, 0), Ring::Claim::kOk);
  std::this_thread::sleep_for(1500ms);    // the reader does not look for longer than the grace
  EXPECT_TRUE(drain_values(*r).empty());  // first seen pending now: not skipped
  EXPECT_EQ(r->counters().torn[2], 0u);
  fill(raw.ring, a, 7);
  ASSERT_TRUE(raw.ring.publish(a));
  // The next slot's timer is its own: it does not inherit the time the previous one waited.
  std::this_thread::sleep_for(600ms);
  int64_t b = -1;
  ASSERT_EQ(raw.ring.claim(b, 0), Ring::Claim::kOk);
  EXPECT_EQ(drain_values(*r), (std::vector<int64_t>{7}));  // and b is first seen pending
  std::this_thread::sleep_for(500ms);                      // 1.1 s since a was first seen, 0.5 s since b was
  EXPECT_TRUE(drain_values(*r).empty());
  EXPECT_EQ(r->counters().torn[2], 0u);
  fill(raw.ring, b, 8);
  ASSERT_TRUE(raw.ring.publish(b));
  EXPECT_EQ(drain_values(*r), (std::vector<int64_t>{8}));
  EXPECT_EQ(r->counters().torn[2], 0u);
}

// Records spread over several slots (FORMAT.md §9.17) come whole whatever the pass size: a
// pass that ends inside a record leaves it in progress and the next pass completes it.
TEST(Drain, SpreadRecordsComeWholeAcrossPasses) {
  TempDir dir;
  auto w = Writer::open(dir.file(), testing::small_config(64, 256));
  const int64_t key = w->intern("k");
  std::vector<std::string> values;
  for (int i = 0; i < 5; ++i) values.push_back(testing::pattern(900 + 100 * i, static_cast<uint64_t>(i)));
  for (int i = 0; i < 5; ++i) {
    const std::vector<KeyValueView> attrs{{key, AnyValueView::string(values[i])}};
    MeasurementView m = measurement(i);
    m.attributes = attrs;
    ASSERT_EQ(w->write(m), WriteStatus::kWritten);
  }
  auto r = Reader::open(dir.file(), testing::fast_reader());
  for (int i = 0; i < 5; ++i) {
    std::vector<std::string> got;
    const size_t n = r->drain_decoded<Measurement>(RingKind::kMeasurements, 1, [&](const Measurement& m) {
      ASSERT_EQ(m.attributes.size(), 1u);
      got.push_back(m.attributes[0].value.bytes);
    });
    ASSERT_EQ(n, 1u) << "record " << i;
    EXPECT_EQ(got.at(0), values[i]) << "record " << i;
  }
  EXPECT_EQ(r->counters().records[2], 5u);
  EXPECT_EQ(r->counters().corrupt[2] + r->counters().torn[2], 0u);
  EXPECT_EQ(r->ring_state(RingKind::kMeasurements).unread(), 0);
}

}  // namespace
}  // namespace otlp_mmap

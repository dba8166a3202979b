// Records larger than a slot, spread over consecutive slots of their ring (FORMAT.md §9.17):
// whole on the way out, and a writer that dies half-way loses only its own record.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "otlp_mmap/slot_record.hpp"
#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using layout::RingKind;
using testing::pattern;
using testing::RawRing;
using testing::TempDir;

// An event whose body is `body` and whose time names it.
struct BodyEvent {
  std::string text;
  AnyValueView body;
  EventView view;
  BodyEvent(size_t n, uint64_t seed) : text(pattern(n, seed)), body(AnyValueView::string(text)) {
    view.time_unix_nano = seed;
    view.body = &body;
  }
};

// A writer and a reader on a fresh file.
struct Files {
  TempDir dir;
  std::shared_ptr<Writer> w;
  std::unique_ptr<Reader> r;
  explicit Files(const WriterConfig& c, std::chrono::milliseconds grace = std::chrono::milliseconds(50))
      : w(Writer::open(dir.file(), c)), r(Reader::open(dir.file(), testing::fast_reader(grace))) {}
};

bool whole(const Event& e) { return e.body && e.body->bytes == pattern(e.body->bytes.size(), e.time_unix_nano); }

TEST(MultiSlot, LongBodyArrivesWholeAcrossSlots) {
  Files f(testing::small_config(64, 256));
  auto& [dir, w, r] = f;
  BodyEvent e(5000, 7);
  const uint64_t k = slot_record::slots_needed(encoded_size(e.view), 256);
  ASSERT_GT(k, 20u);
  EXPECT_EQ(w->write(e.view), WriteStatus::kWritten);
  Event got;
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.body->bytes, e.text);
  EXPECT_EQ(got.time_unix_nano, 7u);
  EXPECT_FALSE(r->next(got));
  EXPECT_EQ(r->ring_state(RingKind::kEvents).reader_index, static_cast<int64_t>(k) - 1);
  EXPECT_EQ(w->counters().truncated_values, 0u);
  EXPECT_EQ(r->counters().corrupt[0] + r->counters().torn[0], 0u);
}

// Records from 0 to 400 bytes through a 16-slot ring of 64-byte slots (up to 8 slots each),
// one at a time and in bursts, over hundreds of laps: every one arrives whole and in order.
TEST(MultiSlot, RecordsOfEverySizeSurviveManyLaps) {
  Files f(testing::small_config(16, 64));
  auto& [dir, w, r] = f;
  Event got;
  uint64_t expected = 0;
  for (uint64_t i = 0; i < 3000;) {
    const uint64_t burst = 1 + i % 3;
    for (uint64_t j = 0; j < burst; ++j, ++i) {
      BodyEvent e((i * 37) % 400, i);
      ASSERT_EQ(w->write(e.view), WriteStatus::kWritten) << i;
    }
    while (r->next(got)) {
      ASSERT_EQ(got.time_unix_nano, expected);
      ASSERT_EQ(got.body ? got.body->bytes : "", pattern((expected * 37) % 400, expected));
      ++expected;
    }
  }
  EXPECT_EQ(expected, 3000u);
  EXPECT_GT(r->ring_state(RingKind::kEvents).reader_index, 16 * 200);
  EXPECT_EQ(r->counters().corrupt[0] + r->counters().torn[0], 0u);
}

TEST(MultiSlot, ARecordNeedsAllItsSlotsFreeOrIsDroppedAndCounted) {
  Files f(testing::small_config(16, 64));
  auto& [dir, w, r] = f;
  for (uint64_t i = 0; i < 10; ++i) ASSERT_EQ(w->write(BodyEvent(10, i).view), WriteStatus::kWritten);
  BodyEvent big(360, 99);  // 7 slots; 6 are free
  ASSERT_EQ(slot_record::slots_needed(encoded_size(big.view), 64), 7u);
  EXPECT_EQ(w->write(big.view), WriteStatus::kDroppedFull);
  EXPECT_EQ(w->counters().dropped_full[0], 1u);
  EXPECT_EQ(r->ring_state(RingKind::kEvents).writer_index, 9);  // nothing claimed
  Event got;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(r->next(got));
  EXPECT_EQ(w->write(big.view), WriteStatus::kWritten);
  ASSERT_TRUE(r->next(got));
  EXPECT_TRUE(whole(got));
  EXPECT_EQ(got.body->bytes.size(), 360u);
}

TEST(MultiSlot, ARecordTakesAtMostHalfItsRing) {
  Files f(testing::small_config(16, 64));
  auto& [dir, w, r] = f;
  EXPECT_EQ(w->write(BodyEvent(10000, 3).view), WriteStatus::kWrittenTruncated);
  Event got;
  ASSERT_TRUE(r->next(got));
  EXPECT_TRUE(whole(got));
  const uint64_t half = slot_record::max_payload_in(8, 64);
  EXPECT_LT(got.body->bytes.size(), half);
  EXPECT_GT(got.body->bytes.size(), half - 32);                 // cut to the limit, not below
  EXPECT_LE(r->ring_state(RingKind::kEvents).reader_index, 7);  // at most 8 of the 16 slots
  EXPECT_EQ(w->counters().truncated_values, 1u);
}

TEST(MultiSlot, ValuesLongerThanTheValueLimitAreCutNotDropped) {
  auto c = testing::small_config(256, 512);
  c.max_value_bytes = 1024;
  Files f(c);
  auto& [dir, w, r] = f;
  std::string sql(3000, 's');
  std::string accents;
  for (int i = 0; i < 1000; ++i) accents += "\xc3\xa9";  // 2,000 bytes of 'é'
  const std::string trace = testing::id_bytes(16, 1), span = testing::id_bytes(8, 2);
  KeyValueView attrs[] = {{w->intern("db.statement"), AnyValueView::string(sql)},
                          {w->intern("text"), AnyValueView::string(accents)},
                          {w->intern("n"), AnyValueView::integer(5)}};
  EXPECT_EQ(w->write(testing::span_start(trace, span, "query", attrs)), WriteStatus::kWrittenTruncated);
  SpanEvent got;
  ASSERT_TRUE(r->next(got));
  ASSERT_EQ(got.attributes.size(), 3u);  // one record: nothing split off, nothing dropped
  EXPECT_EQ(got.attributes[0].value.bytes, sql.substr(0, 1024));
  EXPECT_EQ(got.attributes[1].value.bytes, accents.substr(0, 1024));  // 512 whole characters
  EXPECT_EQ(got.attributes[2].value.int_value, 5);
  EXPECT_EQ(w->counters().truncated_values, 2u);
  EXPECT_FALSE(r->next(got));
}

TEST(MultiSlot, PlainProtocolNeverSpreadsARecord) {
  auto c = testing::small_config(64, 256);
  c.extensions = false;
  Files f(c);
  auto& [dir, w, r] = f;
  for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ(w->write(BodyEvent(3000, i).view), WriteStatus::kWrittenTruncated);
  EXPECT_EQ(w->counters().truncated_values, 5u);
  RawRing raw(dir.file(), w->file_layout(), RingKind::kEvents);
  ASSERT_EQ(raw.ring.writer_index().load(), 4);  // one slot each
  for (int64_t seq = 0; seq < 5; ++seq) {
    EXPECT_EQ(slot_record::parse(raw.ring.slot(seq), 256).kind, slot_record::Slot::Kind::kRecord);
  }
  Event got;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(r->next(got));
    EXPECT_TRUE(whole(got));
    EXPECT_LT(got.body->bytes.size(), 256u);
  }
}

TEST(MultiSlot, PeekAndScanGiveTheWholeRecordAtItsHeadSequence) {
  Files f(testing::small_config(64, 256));
  auto& [dir, w, r] = f;
  ASSERT_EQ(w->write(BodyEvent(10, 0).view), WriteStatus::kWritten);
  BodyEvent big(2000, 1);
  ASSERT_EQ(w->write(big.view), WriteStatus::kWritten);
  ASSERT_EQ(w->write(BodyEvent(10, 2).view), WriteStatus::kWritten);
  const int64_t k = static_cast<int64_t>(slot_record::slots_needed(encoded_size(big.view), 256));
  std::vector<std::pair<int64_t, size_t>> seen;
  r->peek(RingKind::kEvents, 10, [&](int64_t seq, std::string_view p) { seen.emplace_back(seq, p.size()); });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1], std::make_pair(int64_t{1}, static_cast<size_t>(encoded_size(big.view))));
  EXPECT_EQ(seen[2].first, 1 + k);
  std::vector<Reader::SlotState> states;
  r->scan(RingKind::kEvents, 2, [&](int64_t, Reader::SlotState st, std::string_view) { states.push_back(st); });
  EXPECT_EQ(states.size(), 2u);  // `max` counts records, not slots
  Event got;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r->next(got));
  EXPECT_TRUE(whole(got));
}

// Plays a writer by hand through a second mapping: claims the k slots of `e`, writes and
// publishes the continuations listed in `publish`, and publishes the head only if asked.
struct HandWriter {
  RawRing raw;
  int64_t first = -1;
  std::string payload;
  uint64_t k = 0;
  HandWriter(const std::string& path, const Writer& w, const EventView& e)
      : raw(path, w.file_layout(), RingKind::kEvents), payload(encode_to_string(e)) {
    k = slot_record::slots_needed(payload.size(), raw.ring.buffer_size());
    EXPECT_EQ(raw.ring.claim(first, 0, k), Ring::Claim::kOk);
  }
  void continuation(uint64_t i, bool publish) {
    const uint64_t b = raw.ring.buffer_size();
    const uint64_t head_bytes = b - slot_record::prefix_size(payload.size());
    const uint64_t off = head_bytes + (i - 1) * slot_record::continuation_room(b);
    uint8_t* slot = raw.ring.slot(first + static_cast<int64_t>(i));
    const uint64_t p = slot_record::write_continuation_prefix(slot, first);
    const std::string part = payload.substr(off, slot_record::continuation_room(b));
    std::memcpy(slot + p, part.data(), part.size());
    if (publish) {
      EXPECT_TRUE(raw.ring.publish(first + static_cast<int64_t>(i)));
    }
  }
  void head() {
    uint8_t* slot = raw.ring.slot(first);
    const uint64_t p = slot_record::write_prefix(slot, payload.size());
    std::memcpy(slot + p, payload.data(), raw.ring.buffer_size() - p);
    EXPECT_TRUE(raw.ring.publish(first));
  }
};

// A record being written: continuations published, the head not yet. Inspect's scan shows it
// pending, slot by slot, not as damage; once the head is published it is one whole record.
TEST(MultiSlot, ScanShowsARecordBeingWrittenAsPending) {
  Files f(testing::small_config(64, 256));
  auto& [dir, w, r] = f;
  BodyEvent e(1000, 1);
  HandWriter hand(dir.file(), *w, e.view);
  ASSERT_EQ(hand.k, 5u);
  for (uint64_t i = 1; i < hand.k; ++i) hand.continuation(i, true);
  std::vector<Reader::SlotState> states;
  r->scan(RingKind::kEvents, 10, [&](int64_t, Reader::SlotState st, std::string_view) { states.push_back(st); });
  EXPECT_EQ(states, std::vector<Reader::SlotState>(5, Reader::SlotState::kPending));
  hand.head();
  states.clear();
  r->scan(RingKind::kEvents, 10, [&](int64_t, Reader::SlotState st, std::string_view) { states.push_back(st); });
  EXPECT_EQ(states, std::vector<Reader::SlotState>{Reader::SlotState::kPublished});
  Event got;
  ASSERT_TRUE(r->next(got));
  EXPECT_TRUE(whole(got));
}

// A writer killed right after its claim: k unpublished slots, skipped after one grace period
// (not k of them), then the records behind them flow.
TEST(MultiSlot, WriterKilledBeforePublishingLosesOnlyItsRecordAfterOneGrace) {
  Files f(testing::small_config(64, 256), std::chrono::milliseconds(100));
  auto& [dir, w, r] = f;
  BodyEvent lost(3000, 1);
  HandWriter hand(dir.file(), *w, lost.view);
  ASSERT_GT(hand.k, 10u);
  ASSERT_EQ(w->write(BodyEvent(3000, 2).view), WriteStatus::kWritten);
  Event got;
  EXPECT_FALSE(r->next(got));  // the timer starts
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_TRUE(r->next(got));  // every slot of the dead record skipped in this one call
  EXPECT_EQ(got.time_unix_nano, 2u);
  EXPECT_TRUE(whole(got));
  EXPECT_EQ(r->counters().torn[0], hand.k);
  EXPECT_EQ(r->counters().corrupt[0], 0u);
}

// A writer killed half-way: some continuations published, the head never. The published
// ones are recognised as the remains of a lost record, the rest skipped with it.
TEST(MultiSlot, WriterKilledMidSequenceLosesOnlyItsRecord) {
  Files f(testing::small_config(64, 256), std::chrono::milliseconds(100));
  auto& [dir, w, r] = f;
  BodyEvent lost(3000, 1);
  HandWriter hand(dir.file(), *w, lost.view);
  for (uint64_t i = 1; i <= 5; ++i) hand.continuation(i, true);
  ASSERT_EQ(w->write(BodyEvent(100, 2).view), WriteStatus::kWritten);
  Event got;
  EXPECT_FALSE(r->next(got));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.time_unix_nano, 2u);
  EXPECT_TRUE(whole(got));
  EXPECT_EQ(r->counters().torn[0], hand.k);  // 1 head + 5 orphans + the unpublished rest
  EXPECT_EQ(r->counters().corrupt[0], 0u);
  EXPECT_EQ(r->ring_state(RingKind::kEvents).unread(), 0);
}

// Head published but a continuation not (only a broken writer or the residual race of §9.6
// can do this): the partial record is dropped and counted, the ring goes on.
TEST(MultiSlot, HeadWithAMissingContinuationIsCountedAsCorrupt) {
  Files f(testing::small_config(64, 256), std::chrono::milliseconds(50));
  auto& [dir, w, r] = f;
  BodyEvent broken(600, 1);
  HandWriter hand(dir.file(), *w, broken.view);
  ASSERT_EQ(hand.k, 3u);
  hand.continuation(1, true);
  hand.continuation(2, false);
  hand.head();
  ASSERT_EQ(w->write(BodyEvent(100, 2).view), WriteStatus::kWritten);
  Event got;
  EXPECT_FALSE(r->next(got));  // head and first continuation taken; the second is pending
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.time_unix_nano, 2u);
  EXPECT_EQ(r->counters().corrupt[0], 1u);
  EXPECT_EQ(r->counters().torn[0], 1u);
}

// A real writer process SIGKILLed at a random moment while it writes long records: every
// record that arrives is whole, nothing is counted corrupt, and the ring keeps flowing. The
// ring has room for all the child can write in the few milliseconds it lives, so it spends
// its time spreading records (not dropping them) and the kill often lands inside one.
TEST(MultiSlot, ForkedWriterKilledWhileWritingLongRecordsJamsNothing) {
  const auto config = testing::small_config(1 << 16, 256);
  Files f(config, std::chrono::milliseconds(100));
  auto& [dir, w, r] = f;
  int rounds_cut_mid_record = 0;
  for (int round = 0; round < 10; ++round) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto cw = Writer::open(dir.file(), config);
      std::vector<std::unique_ptr<BodyEvent>> events;  // built first: the loop only writes
      for (uint64_t i = 1; i <= 16; ++i) events.push_back(std::make_unique<BodyEvent>(1000 + (i * 9973) % 60000, i));
      // One whole record before "ready", so every round has something to read even when a
      // sanitizer build makes the child too slow to finish one before the kill.
      (void)cw->write(events[0]->view);
      (void)!::write(ready[1], "r", 1);
      for (uint64_t i = 1;; ++i) (void)cw->write(events[i % events.size()]->view);
    }
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(300 + 250 * round));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    // Drain everything, the dead writer's unfinished record included (skipped as torn once
    // the grace period has passed).
    const uint64_t torn_before = r->counters().torn[0];
    uint64_t read = 0, broken = 0;
    Event got;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (r->ring_state(RingKind::kEvents).unread() != 0 && std::chrono::steady_clock::now() < give_up) {
      while (r->next(got)) {
        ++read;
        broken += whole(got) ? 0 : 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    rounds_cut_mid_record += r->counters().torn[0] > torn_before ? 1 : 0;
    EXPECT_GT(read, 0u);
    EXPECT_EQ(broken, 0u);
    EXPECT_EQ(r->counters().corrupt[0], 0u);
    EXPECT_EQ(r->ring_state(RingKind::kEvents).unread(), 0);
    ASSERT_EQ(w->write(BodyEvent(4000, 123456).view), WriteStatus::kWritten);
    ASSERT_TRUE(r->next(got));
    EXPECT_EQ(got.time_unix_nano, 123456u);
    EXPECT_TRUE(whole(got));
  }
  std::printf("[ info ] the kill left a half-written record in %d of 10 rounds; %lu torn slots in all\n",
              rounds_cut_mid_record, static_cast<unsigned long>(r->counters().torn[0]));
}

}  // namespace
}  // namespace otlp_mmap

// Corrupt, truncated and hostile files give errors or skipped records, never a crash.
// (The same inputs are fuzzed by libFuzzer in a later stage; this is the fixed corpus.)
#include <fstream>
#include <random>

#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using testing::TempDir;

std::string make_valid_file(const TempDir& dir) {
  const std::string p = dir.file("valid.otlp");
  auto w = Writer::open(p, testing::small_config(8, 128));
  KeyValueView attrs[] = {{w->intern("k"), AnyValueView::string("v")}};
  int64_t res = w->create_resource({attrs, 0, ""});
  int64_t scope = w->create_scope({w->intern("scope"), 0, {}, 0, res, ""});
  const std::string trace(16, 'a'), span(8, 'b');
  SpanEventView s = testing::span_start(trace, span, "", attrs);
  s.scope_ref = scope;
  for (int i = 0; i < 5; ++i) (void)w->write(s);
  MeasurementView m;
  m.metric_ref = scope;
  m.attributes = attrs;
  for (int i = 0; i < 5; ++i) (void)w->write(m);
  EventView e;
  e.scope_ref = scope;
  e.attributes = attrs;
  for (int i = 0; i < 5; ++i) (void)w->write(e);
  return p;
}

// A file whose rings hold records spread over several slots (FORMAT.md §9.17) between small ones.
std::string make_spread_file(const TempDir& dir) {
  const std::string p = dir.file("spread.otlp");
  auto w = Writer::open(p, testing::small_config(16, 128));
  const std::string long_text = testing::pattern(600, 1), longer = testing::pattern(900, 2);
  KeyValueView attrs[] = {{w->intern("db.statement"), AnyValueView::string(long_text)}};
  AnyValueView body = AnyValueView::string(longer);
  EventView e;
  e.attributes = attrs;
  (void)w->write(e);
  e.body = &body;
  (void)w->write(e);
  e.body = nullptr;
  (void)w->write(e);
  const std::string trace(16, 'a'), span(8, 'b');
  for (int i = 0; i < 2; ++i) (void)w->write(testing::span_start(trace, span, "", attrs));
  MeasurementView m;
  m.metric_ref = 1;
  m.attributes = attrs;
  for (int i = 0; i < 2; ++i) (void)w->write(m);
  return p;
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void spit(const std::string& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Opens and drains a file the way the collector does; resolves every reference.
void read_everything(const std::string& path) {
  std::unique_ptr<Reader> r;
  try {
    r = Reader::open(path, testing::fast_reader(std::chrono::milliseconds(0)));
  } catch (const FileError&) {
    return;  // refused with an error: fine
  }
  std::string s;
  Resource res;
  InstrumentationScope sc;
  MetricRef mr;
  auto resolve = [&](const std::vector<KeyValueRef>& kvs) {
    for (const auto& kv : kvs) (void)r->read_string(kv.key_ref, s);
  };
  for (int round = 0; round < 3; ++round) {
    SpanEvent se;
    for (int i = 0; i < 100 && r->next(se); ++i) {
      resolve(se.attributes);
      if (r->read(se.scope_ref, sc)) (void)r->read(sc.resource_ref, res);
    }
    Event ev;
    for (int i = 0; i < 100 && r->next(ev); ++i) resolve(ev.attributes);
    Measurement m;
    for (int i = 0; i < 100 && r->next(m); ++i) {
      resolve(m.attributes);
      (void)r->read(m.metric_ref, mr);
    }
  }
  r->for_each_entry(1000, [](int64_t, std::string_view) {});
  for (auto k : layout::kRingKinds) r->peek(k, 100, [](int64_t, std::string_view) {});
}

TEST(HostileFile, EveryTruncationIsRefusedOrReadSafely) {
  TempDir dir;
  const std::string valid = slurp(make_valid_file(dir));
  const std::string p = dir.file("cut.otlp");
  for (size_t len : {size_t{0}, size_t{1}, size_t{8}, size_t{63}, size_t{64}, size_t{100}, size_t{200}, size_t{1000},
                     valid.size() / 2, valid.size() - 65, valid.size() - 1}) {
    spit(p, valid.substr(0, len));
    EXPECT_NO_FATAL_FAILURE(read_everything(p)) << len;
  }
  spit(p, valid.substr(0, 100));
  EXPECT_THROW(Reader::open(p), FileError);
}

TEST(HostileFile, HeaderFieldsOutOfBoundsGiveClearErrors) {
  TempDir dir;
  const std::string valid = slurp(make_valid_file(dir));
  const std::string p = dir.file("bad.otlp");
  struct Case {
    uint64_t offset;
    int64_t value;
    const char* expect;
  };
  const Case cases[] = {
      {0, 2, "version 2"},
      {8, 7, "misaligned"},                     // events ring offset not 8-aligned
      {16, int64_t{1} << 50, "overlaps"},       // spans offset beyond the file
      {32, -8, "overlaps"},                     // negative dictionary offset
      {64, 6, "power of two"},                  // events ring num_buffers
      {64 + 8, int64_t{1} << 40, "slot size"},  // events ring slot size
      {24, 64, "overlaps"},                     // measurements overlapping events
      {32, 1 << 20, "overlaps"},                // dictionary beyond the end of the file
  };
  for (const auto& c : cases) {
    std::string bytes = valid;
    std::memcpy(bytes.data() + c.offset, &c.value, 8);
    spit(p, bytes);
    try {
      Reader::open(p);
      ADD_FAILURE() << "accepted a file with field at " << c.offset << " = " << c.value;
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
    }
  }
}

TEST(HostileFile, RandomCorruptionNeverCrashes) {
  TempDir dir;
  const std::string files[] = {slurp(make_valid_file(dir)), slurp(make_spread_file(dir))};
  const std::string p = dir.file("fuzzed.otlp");
  std::mt19937_64 rng(20261122);
  for (int iter = 0; iter < 800; ++iter) {
    std::string bytes = files[iter % 2];
    int flips = 1 + static_cast<int>(rng() % 16);
    for (int i = 0; i < flips; ++i) {
      // Bias towards the interesting parts: header, ring headers, slots, dictionary.
      size_t pos = rng() % 4 == 0 ? rng() % 512 : rng() % bytes.size();
      bytes[pos] = static_cast<char>(rng());
    }
    spit(p, bytes);
    read_everything(p);
  }
  SUCCEED();
}

TEST(HostileFile, DictionaryEntryClaimingHugeLengthIsRejected) {
  TempDir dir;
  const std::string path = make_valid_file(dir);
  auto r = Reader::open(path);
  const int64_t first = static_cast<int64_t>(r->file_layout().first_entry_offset());
  std::string bytes = slurp(path);
  // Overwrite the first entry's length with 2^60.
  uint8_t huge[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10};
  std::memcpy(bytes.data() + first, huge, sizeof huge);
  const std::string p = dir.file("bigentry.otlp");
  spit(p, bytes);
  auto r2 = Reader::open(p);
  std::string s;
  EXPECT_FALSE(r2->read_string(first, s));
}

}  // namespace
}  // namespace otlp_mmap

namespace otlp_mmap {
namespace {

// Hand-made slots that lie about multi-slot records: each costs only itself (counted), the
// reader allocates no more than its limit, and the record behind them is read.
TEST(HostileFile, MultiSlotClaimsAreChecked) {
  struct Case {
    const char* what;
    std::vector<std::vector<uint8_t>> slots;  // prefixes of the published slots, in order
    uint64_t corrupt, torn;
  };
  const std::vector<uint8_t> huge_head = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40};  // 2^62
  const std::vector<uint8_t> big_head = {0x80, 0x80, 0x80, 0x08};  // 16 MiB: over this reader's 1 MiB
  const std::vector<uint8_t> head = {0xc8, 0x01};                  // 200 bytes: 2 slots of 128
  // A continuation naming head sequence 0 or 7 (the slots start at sequence 0).
  auto cont = [](uint8_t head_seq) {
    return std::vector<uint8_t>{
        static_cast<uint8_t>(0x80 | head_seq), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  };
  const std::vector<uint8_t> overflow = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03};
  const Case cases[] = {
      {"a head announcing 2^62 bytes", {huge_head}, 1, 0},
      {"a head announcing more than the reader's limit", {big_head, cont(0)}, 1, 1},
      {"a continuation with no head", {cont(0)}, 0, 1},
      {"a continuation naming another head", {head, cont(7)}, 1, 1},
      {"a head followed by a whole record", {head}, 1, 0},
      {"a prefix overflowing 64 bits", {overflow}, 1, 0},
      {"a head announcing more slots than the ring has", {{0xe8, 0x07}}, 1, 0},  // 1000 bytes: 9 of 8
  };
  for (const Case& c : cases) {
    TempDir dir;
    auto w = Writer::open(dir.file(), testing::small_config(8, 128));
    ReaderOptions o = testing::fast_reader();
    o.max_record_bytes = uint64_t{1} << 20;
    auto r = Reader::open(dir.file(), o);
    testing::RawRing raw(dir.file(), w->file_layout(), layout::RingKind::kMeasurements);
    for (const auto& prefix : c.slots) {
      int64_t seq = -1;
      ASSERT_EQ(raw.ring.claim(seq, 0), Ring::Claim::kOk);
      std::memset(raw.ring.slot(seq), 'x', 128);
      std::memcpy(raw.ring.slot(seq), prefix.data(), prefix.size());
      ASSERT_TRUE(raw.ring.publish(seq));
    }
    MeasurementView m;
    m.metric_ref = 5;
    m.as_long = 42;
    ASSERT_EQ(w->write(m), WriteStatus::kWritten);
    Measurement got;
    ASSERT_TRUE(r->next(got)) << c.what;
    EXPECT_EQ(got.as_long, 42) << c.what;
    EXPECT_EQ(r->counters().corrupt[2], c.corrupt) << c.what;
    EXPECT_EQ(r->counters().torn[2], c.torn) << c.what;
    EXPECT_FALSE(r->next(got)) << c.what;
  }
}

// Found by the fuzzer: sequence numbers at the edge of int64 must wrap, not overflow.
TEST(HostileFile, ExtremeRingIndicesDoNotOverflow) {
  testing::TempDir dir;
  const std::string path = make_valid_file(dir);
  auto r = Reader::open(path, testing::fast_reader(std::chrono::milliseconds(0)));
  const auto& lay = r->file_layout();
  for (int64_t v : {INT64_MAX, INT64_MIN, INT64_MAX - 1}) {
    std::string bytes = slurp(path);
    for (auto k : layout::kRingKinds) {
      std::memcpy(bytes.data() + lay.ring_offset(k) + layout::ring_header::kReaderIndex, &v, 8);
      std::memcpy(bytes.data() + lay.ring_offset(k) + layout::ring_header::kWriterIndex, &v, 8);
    }
    const std::string p = dir.file("extreme.otlp");
    spit(p, bytes);
    read_everything(p);
    auto r2 = Reader::open(p);
    EXPECT_EQ(r2->ring_state(layout::RingKind::kSpans).unread(), 0);
  }
}

}  // namespace
}  // namespace otlp_mmap

// The file layout: offsets, initial values, life cycle of a file on disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using testing::TempDir;

int64_t read_i64(const std::string& path, uint64_t off) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(off));
  int64_t v = 0;
  f.read(reinterpret_cast<char*>(&v), 8);
  return v;
}

// The reference implementation's default table (1024 slots of 512 bytes, 1 KiB dictionary).
TEST(Layout, ReferenceGeometryMatchesTheReferenceTable) {
  constexpr auto g = layout::kReferenceGeometry;
  static_assert(g.ring_offset(layout::RingKind::kEvents) == 64);
  static_assert(g.ring_offset(layout::RingKind::kSpans) == 528480);
  static_assert(g.ring_offset(layout::RingKind::kMeasurements) == 1056896);
  static_assert(g.dictionary_offset() == 1585312);
  static_assert(g.first_entry_offset() == 1585376);
  static_assert(g.initial_file_size() == 1586400);
  static_assert(g.rings[0].bytes() == 528416);
  static_assert(g.ring_offset(layout::RingKind::kSpans) + g.rings[1].slots_offset() == 532608);
  SUCCEED();
}

TEST(Layout, FileWrittenWithReferenceSizesHasExactlyTheReferenceOffsets) {
  TempDir dir;
  WriterConfig c;
  c.geometry = layout::kReferenceGeometry;
  auto w = Writer::open(dir.file(), c);
  const std::string p = dir.file();
  EXPECT_EQ(read_i64(p, 0), 1);
  EXPECT_EQ(read_i64(p, 8), 64);
  EXPECT_EQ(read_i64(p, 16), 528480);
  EXPECT_EQ(read_i64(p, 24), 1056896);
  EXPECT_EQ(read_i64(p, 32), 1585312);
  EXPECT_GT(read_i64(p, 40), 1'600'000'000'000'000'000);  // creation time, unix ns
  for (int64_t ring : {64, 528480, 1056896}) {
    EXPECT_EQ(read_i64(p, ring + 0), 1024);                       // num_buffers
    EXPECT_EQ(read_i64(p, ring + 8), 512);                        // buffer_size
    EXPECT_EQ(read_i64(p, ring + 16), -1);                        // reader_index
    EXPECT_EQ(read_i64(p, ring + 24), -1);                        // writer_index
    EXPECT_EQ(static_cast<int32_t>(read_i64(p, ring + 32)), -1);  // availability[0]
  }
  EXPECT_EQ(read_i64(p, 1585312), 1585376);  // dictionary end = first entry
  EXPECT_EQ(read_i64(p, 1585312 + 8), 0);    // no entries
  EXPECT_EQ(std::filesystem::file_size(p), 1586400u);
  // First entry lands at the first entry offset, as varint length + bytes.
  EXPECT_EQ(w->intern("abc"), 1585376);
  EXPECT_EQ(read_i64(p, 1585312), 1585376 + 4);
}

TEST(Layout, DefaultGeometryIsDocumented) {
  constexpr auto g = layout::kDefaultGeometry;
  static_assert(g.rings[1].num_buffers >= 20000, "the span ring must hold a 10,000-span burst (start + end)");
  EXPECT_EQ(g.ring_offset(layout::RingKind::kEvents), 64u);
  EXPECT_EQ(g.ring_offset(layout::RingKind::kSpans), 64u + 32 + 4 * 8192 + 8192 * 512);
  EXPECT_EQ(g.dictionary_offset(), g.ring_offset(layout::RingKind::kMeasurements) + 32 + 4 * 16384 + 16384 * 256);
}

TEST(Layout, NewFileHasMode0600WhateverTheUmask) {
  TempDir dir;
  mode_t old = ::umask(0);
  auto w = Writer::open(dir.file(), testing::small_config());
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Layout, FileModeIsConfigurable) {
  TempDir dir;
  auto c = testing::small_config();
  c.file_mode = 0640;
  auto w = Writer::open(dir.file(), c);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(Layout, ConfigValidationExplainsTheProblem) {
  auto c = testing::small_config(100);  // not a power of two
  try {
    c.validate();
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("power of two"), std::string::npos) << e.what();
  }
  auto d = testing::small_config(64, 12);  // slot size not a multiple of 8
  EXPECT_THROW(d.validate(), std::invalid_argument);
}

TEST(Layout, ConfigFromEnvironment) {
  ::setenv("OTLP_MMAP_SPANS_SLOTS", "128", 1);
  ::setenv("OTLP_MMAP_SPANS_SLOT_SIZE", "1k", 1);
  ::setenv("OTLP_MMAP_DICTIONARY_MAX_BYTES", "8m", 1);
  auto c = WriterConfig::from_env();
  EXPECT_EQ(c.geometry.rings[1].num_buffers, 128u);
  EXPECT_EQ(c.geometry.rings[1].buffer_size, 1024u);
  EXPECT_EQ(c.dictionary_max_bytes, 8u << 20);
  ::setenv("OTLP_MMAP_SPANS_SLOTS", "lots", 1);
  EXPECT_THROW(WriterConfig::from_env(), std::invalid_argument);
  ::unsetenv("OTLP_MMAP_SPANS_SLOTS");
  ::unsetenv("OTLP_MMAP_SPANS_SLOT_SIZE");
  ::unsetenv("OTLP_MMAP_DICTIONARY_MAX_BYTES");
}

TEST(Layout, ReopenKeepsUnreadRecordsAndDictionary) {
  TempDir dir;
  int64_t ref;
  uint64_t start_time;
  {
    auto w = Writer::open(dir.file(), testing::small_config());
    ref = w->intern("kept");
    MeasurementView m;
    m.metric_ref = ref;
    m.as_long = 42;
    ASSERT_EQ(w->write(m), WriteStatus::kWritten);
    start_time = Reader::open(dir.file())->start_time_unix_nano();
  }
  // A restarted application with different settings adopts the existing file as it is.
  auto w2 = Writer::open(dir.file(), testing::small_config(128, 1024));
  EXPECT_FALSE(w2->created_file());
  EXPECT_EQ(w2->file_layout().geometry.rings[2].num_buffers, 64u);
  auto r = Reader::open(dir.file());
  EXPECT_EQ(r->start_time_unix_nano(), start_time);
  Measurement got;
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(got.as_long, 42);
  std::string s;
  ASSERT_TRUE(r->read_string(ref, s));
  EXPECT_EQ(s, "kept");
  EXPECT_GT(w2->intern("new"), ref);  // appended after, never overwriting
}

TEST(Layout, SameFileTwiceInOneProcessSharesOneWriter) {
  TempDir dir;
  auto a = Writer::open(dir.file(), testing::small_config());
  auto b = Writer::open(dir.file(), testing::small_config());
  EXPECT_EQ(a.get(), b.get());
}

TEST(Layout, AllZeroFileIsInitialised) {
  TempDir dir;
  {
    std::ofstream f(dir.file(), std::ios::binary);
    std::string zeros(4096, '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  auto w = Writer::open(dir.file(), testing::small_config());
  EXPECT_EQ(read_i64(dir.file(), 0), 1);
}

TEST(Layout, ForeignFileIsRefusedAndLeftUntouched) {
  TempDir dir;
  const std::string junk = "this is somebody's precious text file, not telemetry\n";
  {
    std::ofstream f(dir.file());
    for (int i = 0; i < 10; ++i) f << junk;
  }
  try {
    Writer::open(dir.file(), testing::small_config());
    FAIL() << "expected FileError";
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), FileError::Code::kCorrupt) << e.what();
  }
  EXPECT_EQ(std::filesystem::file_size(dir.file()), junk.size() * 10);
}

TEST(Layout, ReaderWaitsForInitialisation) {
  TempDir dir;
  { std::ofstream f(dir.file()); }
  try {
    Reader::open(dir.file());
    FAIL();
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), FileError::Code::kNotInitialized);
  }
  try {
    Reader::open(dir.file("missing"));
    FAIL();
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), FileError::Code::kNotFound);
  }
}

TEST(Layout, ReaderRefusesNonRegularFiles) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("adir"));
  EXPECT_THROW(Reader::open(dir.file("adir")), FileError);
}

}  // namespace
}  // namespace otlp_mmap

namespace otlp_mmap {
namespace {

using testing::TempDir;

TEST(Layout, OneSlotRingsAreRejected) {
  // 32 + 4*1 + B is never a multiple of 8: the next section would be misaligned.
  auto c = testing::small_config(1);
  EXPECT_THROW(c.validate(), std::invalid_argument);
}

TEST(Layout, InitialisationThatDiedBeforePublishingIsRedone) {
  TempDir dir;
  {
    auto w = Writer::open(dir.file(), testing::small_config());
    (void)w->intern("lost with the dead initialiser");
  }
  // Play a writer killed between writing the offsets and publishing version 1.
  {
    std::fstream f(dir.file(), std::ios::binary | std::ios::in | std::ios::out);
    int64_t zero = 0;
    f.write(reinterpret_cast<const char*>(&zero), 8);
  }
  EXPECT_THROW(Reader::open(dir.file()), FileError);  // not initialised
  auto w = Writer::open(dir.file(), testing::small_config());
  EXPECT_TRUE(w->created_file());
  EXPECT_EQ(read_i64(dir.file(), 0), 1);
  EXPECT_NO_THROW(Reader::open(dir.file()));
}

TEST(Layout, FileOfAnotherUserIsRefusedUnlessTrusted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  TempDir dir;
  { auto w = Writer::open(dir.file(), testing::small_config()); }
  ASSERT_EQ(::chown(dir.file().c_str(), 12345, 12345), 0);
  try {
    Writer::open(dir.file(), testing::small_config());
    FAIL() << "adopted a file owned by another user";
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), FileError::Code::kUntrusted);
    EXPECT_NE(std::string(e.what()).find("uid 12345"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Reader::open(dir.file()), FileError);
  auto c = testing::small_config();
  c.trust.any_owner = true;
  EXPECT_NO_THROW(Writer::open(dir.file(), c));
  ReaderOptions o;
  o.trust.any_owner = true;
  EXPECT_NO_THROW(Reader::open(dir.file(), o));
}

TEST(Layout, ValueAndRecordLimitsFromTheEnvironment) {
  const WriterConfig defaults;
  EXPECT_EQ(defaults.max_value_bytes, 64u << 10);
  EXPECT_EQ(defaults.max_record_bytes, 1u << 20);
  ::setenv("OTLP_MMAP_MAX_VALUE_BYTES", "128k", 1);
  ::setenv("OTLP_MMAP_MAX_RECORD_BYTES", "4m", 1);
  auto c = WriterConfig::from_env();
  EXPECT_EQ(c.max_value_bytes, 128u << 10);
  EXPECT_EQ(c.max_record_bytes, 4u << 20);
  for (const char* bad : {"100", "17m", "big"}) {
    ::setenv("OTLP_MMAP_MAX_RECORD_BYTES", bad, 1);
    EXPECT_THROW(WriterConfig::from_env(), std::invalid_argument) << bad;
  }
  ::unsetenv("OTLP_MMAP_MAX_RECORD_BYTES");
  ::setenv("OTLP_MMAP_MAX_VALUE_BYTES", "32m", 1);
  try {
    (void)WriterConfig::from_env();
    ADD_FAILURE() << "32m accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("OTLP_MMAP_MAX_VALUE_BYTES"), std::string::npos) << e.what();
  }
  ::unsetenv("OTLP_MMAP_MAX_VALUE_BYTES");
}

TEST(Layout, OversizedNumbersInTheEnvironmentAreRejected) {
  ::setenv("OTLP_MMAP_DICTIONARY_MAX_BYTES", "18014398509481985k", 1);
  EXPECT_THROW(WriterConfig::from_env(), std::invalid_argument);
  ::unsetenv("OTLP_MMAP_DICTIONARY_MAX_BYTES");
  ::setenv("OTLP_MMAP_EXTENSIONS", "maybe", 1);
  EXPECT_THROW(WriterConfig::from_env(), std::invalid_argument);
  ::setenv("OTLP_MMAP_EXTENSIONS", "none", 1);
  EXPECT_FALSE(WriterConfig::from_env().extensions);
  ::unsetenv("OTLP_MMAP_EXTENSIONS");
}

}  // namespace
}  // namespace otlp_mmap

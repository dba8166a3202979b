// The receiver over real files: reading into the consumers, a replaced file read beside the
// new one until it goes quiet, a file re-initialised in place, a file that fails.
#include "otlp_mmap/collector/receiver/file_receiver.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <thread>

#include "receiver_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;
using namespace std::chrono_literals;

struct FileReceiverTest : ::testing::Test {
  TempDir dir;
  std::string path = dir.file();
  std::ostringstream log;
  Diagnostics diagnostics{log};
  Consumers to;
  Now now = Now::read();
  int after_passes = 0;

  std::unique_ptr<FileReceiver> make() {
    ReceiverOptions o;
    o.path = path;
    o.reader = fast_reader();
    o.retire_quiet = 50ms;
    o.drain_limit = 1s;
    return std::make_unique<FileReceiver>(o, to.all(), now, diagnostics, [this] { ++after_passes; });
  }
  // Passes until nothing is read (the old file is then quiet since that pass).
  static void read_all(FileReceiver& r) {
    while (r.pass().records > 0) {
    }
  }
};

TEST_F(FileReceiverTest, ReadsTheFileIntoTheConsumersAndCountsPerSignal) {
  auto writer = Writer::open(path, small_config());
  write_each_ring(*writer, 4);
  auto r = make();
  ASSERT_TRUE(r->open(true));
  EXPECT_TRUE(r->reading());
  EXPECT_EQ(r->unread(Signal::kLogs), 4u);
  read_all(*r);
  EXPECT_EQ(to.logs.count + to.traces.count + to.metrics.count, 12u);
  const ReceiverStats s = r->stats();
  EXPECT_EQ(s.records[index_of(Signal::kLogs)], 4u);
  EXPECT_EQ(s.records[index_of(Signal::kTraces)], 4u);
  EXPECT_EQ(s.records[index_of(Signal::kMetrics)], 4u);
  EXPECT_EQ(s.files_opened, 1u);
  EXPECT_EQ(r->unread(Signal::kLogs), 0u);
  EXPECT_NE(log.str().find("reading " + path + " (events 256x512, 4 unread"), std::string::npos);
}

TEST_F(FileReceiverTest, AReplacedFileIsReadBesideTheNewOneUntilItGoesQuiet) {
  auto old_writer = Writer::open(path, small_config());
  write_each_ring(*old_writer, 2);
  auto r = make();
  ASSERT_TRUE(r->open(true));
  ASSERT_EQ(std::rename(path.c_str(), dir.file("old.otlp").c_str()), 0);
  auto new_writer = Writer::open(path, small_config());
  write_each_ring(*new_writer, 3);
  r->follow();  // reads the old file to its end first, then switches
  EXPECT_EQ(to.logs.count, 2u);
  EXPECT_GT(after_passes, 0);
  write_each_ring(*old_writer, 1);  // a writer still on the old file
  read_all(*r);
  EXPECT_EQ(to.logs.count, 6u);
  EXPECT_EQ(r->stats().file_switches, 1u);
  EXPECT_EQ(r->stats().files_retired, 0u);
  std::this_thread::sleep_for(60ms);
  now = Now::read();
  r->pass();
  const ReceiverStats s = r->stats();
  EXPECT_EQ(s.files_retired, 1u);
  EXPECT_EQ(s.records[index_of(Signal::kLogs)], 6u);  // the old file's counts outlive it
  EXPECT_EQ(s.files_opened, 2u);
  EXPECT_NE(log.str().find("finished the old file"), std::string::npos);
  ASSERT_FALSE(to.logs.files.empty());
  EXPECT_NE(to.logs.files.front(), to.logs.files.back());  // two files, two ids
}

TEST_F(FileReceiverTest, AFileReinitialisedInPlaceIsReadFromTheStart) {
  auto writer = Writer::open(path, small_config());
  auto r = make();
  ASSERT_TRUE(r->open(true));
  auto view = Reader::open(path, ReaderOptions{});
  view->mapped_file().atomic_at<uint64_t>(layout::file_header::kStartTime).store(12345);
  r->follow();
  EXPECT_EQ(r->stats().file_resets, 1u);
  EXPECT_EQ(r->stats().files_opened, 2u);
  EXPECT_TRUE(r->reading());
}

TEST_F(FileReceiverTest, AFileThatShrinksIsDroppedAndCounted) {
  auto writer = Writer::open(path, small_config());
  write_each_ring(*writer, 1);
  auto r = make();
  ASSERT_TRUE(r->open(true));
  ASSERT_EQ(::truncate(path.c_str(), 100), 0);
  EXPECT_EQ(r->pass().records, 0u);  // the size is checked before anything is touched
  r->drop_if_failed();
  EXPECT_FALSE(r->reading());
  EXPECT_EQ(r->stats().files_failed, 1u);
  EXPECT_NE(log.str().find("dropped the file (1 so far)"), std::string::npos);
}

}  // namespace
}  // namespace otlp_mmap::collector

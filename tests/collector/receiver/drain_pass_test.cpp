// One pass over a file's rings: bounded per ring, by the consumers' room, and what it tells
// the receiver (more waiting, blocked, fill).
#include "otlp_mmap/collector/receiver/drain_pass.hpp"

#include <gtest/gtest.h>

#include "receiver_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;

struct DrainPassTest : ::testing::Test {
  TempDir dir;
  std::shared_ptr<Writer> writer = Writer::open(dir.file(), small_config(64));
  FileSource file{7, Reader::open(dir.file(), fast_reader()), 0, 0, ResolverLimits{}};
  Consumers to;
};

TEST_F(DrainPassTest, ReadsEveryRingIntoItsConsumerWithTheFile) {
  write_each_ring(*writer, 3);
  const DrainPass pass = drain_pass(file, to.all(), 100);
  EXPECT_EQ(pass.records, 9u);
  EXPECT_EQ(to.logs.count, 3u);
  EXPECT_EQ(to.traces.count, 3u);
  EXPECT_EQ(to.metrics.count, 3u);
  EXPECT_EQ(to.traces.files, (std::vector<uint64_t>{7, 7, 7}));
  EXPECT_FALSE(pass.more);
  EXPECT_FALSE(pass.blocked);
  EXPECT_DOUBLE_EQ(pass.fill, 3.0 / 64);
  EXPECT_EQ(unread_records(*file.reader, Signal::kTraces), 0u);
}

TEST_F(DrainPassTest, AFullBatchSaysMoreMayBeWaiting) {
  write_each_ring(*writer, 5);
  const DrainPass pass = drain_pass(file, to.all(), 2);
  EXPECT_EQ(pass.records, 6u);
  EXPECT_TRUE(pass.more);
  EXPECT_EQ(unread_records(*file.reader, Signal::kLogs), 3u);
}

TEST_F(DrainPassTest, NoMoreThanTheConsumerHasRoomForTheRestStaysInTheFile) {
  write_each_ring(*writer, 5);
  to.traces.room_left = 2;
  to.logs.room_left = 0;
  const DrainPass pass = drain_pass(file, to.all(), 100);
  EXPECT_EQ(to.traces.count, 2u);
  EXPECT_EQ(to.logs.count, 0u);
  EXPECT_EQ(to.metrics.count, 5u);  // measurements are aggregated: always room
  EXPECT_TRUE(pass.blocked);        // log records wait for room
  EXPECT_EQ(unread_records(*file.reader, Signal::kTraces), 3u);
  EXPECT_EQ(unread_records(*file.reader, Signal::kLogs), 5u);
}

TEST_F(DrainPassTest, NoRoomWithNothingUnreadIsNotBlocked) {
  to.logs.room_left = 0;
  to.traces.room_left = 0;
  EXPECT_FALSE(drain_pass(file, to.all(), 100).blocked);
}

TEST(DrainPassSum, PassesAddUp) {
  DrainPass a{3, false, true, 0.25}, b{4, true, false, 0.5};
  a += b;
  EXPECT_EQ(a.records, 7u);
  EXPECT_TRUE(a.more);
  EXPECT_TRUE(a.blocked);
  EXPECT_DOUBLE_EQ(a.fill, 0.5);
}

}  // namespace
}  // namespace otlp_mmap::collector

// Following the path: each state said once, a file refused before any was read, the hot
// standby, a replaced file and one re-initialised in place.
#include "otlp_mmap/collector/receiver/path_follower.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "pipeline_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;
using namespace std::chrono_literals;

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

struct PathFollowerTest : ::testing::Test {
  TempDir dir;
  std::string path = dir.file();
  std::ostringstream log;
  Diagnostics diagnostics{log};

  PathFollower follower(ReaderOptions options = {}) { return PathFollower(path, options, 5s, diagnostics); }
  static std::unique_ptr<FileSource> source(OpenResult r) {
    return std::make_unique<FileSource>(1, std::move(r.reader), r.dev, r.ino, ResolverLimits{});
  }
};

TEST_F(PathFollowerTest, WaitsForTheFileSayingSoOnce) {
  PathFollower f = follower();
  EXPECT_FALSE(f.open(false));
  EXPECT_FALSE(f.open(false));
  EXPECT_EQ(count(log.str(), "waiting for " + path + " to appear"), 1u);
  auto writer = Writer::open(path, small_config());
  auto opened = f.open(false);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->state, OpenState::kOpened);
  EXPECT_FALSE(f.refused());
}

TEST_F(PathFollowerTest, AnUntrustedFileIsRefusedBeforeAnyWasRead) {
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);  // not a regular file
  PathFollower f = follower();
  EXPECT_FALSE(f.open(true));
  EXPECT_TRUE(f.refused());
}

TEST_F(PathFollowerTest, AnUntrustedFileAfterOneWasReadIsOnlyReported) {
  PathFollower f = follower();
  {
    auto writer = Writer::open(path, small_config());
    ASSERT_TRUE(f.open(true));
  }
  ASSERT_EQ(std::remove(path.c_str()), 0);
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  EXPECT_FALSE(f.open(false));
  EXPECT_FALSE(f.open(false));
  EXPECT_FALSE(f.refused());
  EXPECT_EQ(count(log.str(), "waiting for a file that can be trusted"), 1u);
}

TEST_F(PathFollowerTest, AnotherCollectorsFileIsAwaitedAsAHotStandby) {
  auto writer = Writer::open(path, small_config());
  ReaderOptions exclusive;
  exclusive.exclusive = true;
  auto holder = Reader::open(path, exclusive);
  PathFollower f = follower(exclusive);
  EXPECT_FALSE(f.open(true));
  EXPECT_FALSE(f.open(false));
  EXPECT_TRUE(f.standby());
  EXPECT_EQ(f.standby_waits(), 1u);
  EXPECT_EQ(count(log.str(), "waiting as a hot standby"), 1u);
  holder.reset();
  EXPECT_TRUE(f.open(false));
  EXPECT_FALSE(f.standby());
  EXPECT_EQ(count(log.str(), "took over " + path), 1u);
}

TEST_F(PathFollowerTest, NoticesAReplacedFileAndOneReinitialisedInPlace) {
  auto writer = Writer::open(path, small_config());
  PathFollower f = follower();
  auto current = source(*f.open(true));
  EXPECT_FALSE(f.change(*current));  // nothing changed
  // The same file with another start time: re-initialised in place.
  auto view = Reader::open(path, ReaderOptions{});
  const uint64_t start = current->start_time;
  view->mapped_file().atomic_at<uint64_t>(layout::file_header::kStartTime).store(start + 1);
  auto in_place = f.change(*current);
  ASSERT_TRUE(in_place);
  EXPECT_EQ(in_place->kind, PathFollower::Change::Kind::kReset);
  // Another file at the path.
  ASSERT_EQ(std::rename(path.c_str(), dir.file("old.otlp").c_str()), 0);
  auto next_writer = Writer::open(path, small_config());
  auto replaced = f.change(*current);
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->kind, PathFollower::Change::Kind::kReplaced);
  EXPECT_EQ(replaced->opened.state, OpenState::kOpened);
}

TEST_F(PathFollowerTest, AFileThatFailedIsNotOpenedAgainAtOnce) {
  auto writer = Writer::open(path, small_config());
  PathFollower f = follower();
  auto current = source(*f.open(true));
  EXPECT_FALSE(f.failed(*current));  // the first failure of this file
  EXPECT_TRUE(f.failed(*current));   // ...and the same file again
  EXPECT_FALSE(f.open(false));       // within failed_retry
}

}  // namespace
}  // namespace otlp_mmap::collector

// Opening the file at the path: each state the receiver acts on.
#include "otlp_mmap/collector/receiver/open_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "pipeline_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A 64-byte header of version `version`, everything else zero.
std::string header(int64_t version) {
  std::string h(64, '\0');
  std::memcpy(h.data(), &version, sizeof version);
  return h;
}

TEST(OpenFile, EachStateOfTheFileAtThePath) {
  TempDir dir;
  const std::string path = dir.file();
  EXPECT_EQ(open_file(path, {}).state, OpenState::kAwaitFile);
  write_bytes(path, "short");
  EXPECT_EQ(open_file(path, {}).state, OpenState::kAwaitInitialisation);
  write_bytes(path, header(0));
  EXPECT_EQ(open_file(path, {}).state, OpenState::kAwaitInitialisation);
  write_bytes(path, header(2));
  const OpenResult unsupported = open_file(path, {});
  EXPECT_EQ(unsupported.state, OpenState::kUnsupported);
  EXPECT_NE(unsupported.message.find("version 2"), std::string::npos);
  write_bytes(path, header(1));  // version 1, but no rings
  EXPECT_EQ(open_file(path, {}).state, OpenState::kCorrupt);
  EXPECT_EQ(open_file(dir.file(""), {}).state, OpenState::kUntrusted);  // the directory
}

TEST(OpenFile, ASymbolicLinkIsUntrustedUnlessFollowed) {
  TempDir dir;
  auto writer = Writer::open(dir.file("real.otlp"), small_config());
  const std::string link = dir.file("link.otlp");
  ASSERT_EQ(::symlink(dir.file("real.otlp").c_str(), link.c_str()), 0);
  const OpenResult refused = open_file(link, {});
  EXPECT_EQ(refused.state, OpenState::kUntrusted);
  EXPECT_NE(refused.message.find("--follow-symlinks"), std::string::npos);
  ReaderOptions follow;
  follow.trust.follow_symlinks = true;
  EXPECT_EQ(open_file(link, follow).state, OpenState::kOpened);
}

TEST(OpenFile, OpenedWithItsIdentityAndLockedForASecondReader) {
  TempDir dir;
  const std::string path = dir.file();
  auto writer = Writer::open(path, small_config());
  ReaderOptions exclusive;
  exclusive.exclusive = true;
  const OpenResult first = open_file(path, exclusive);
  ASSERT_EQ(first.state, OpenState::kOpened);
  ASSERT_NE(first.reader, nullptr);
  dev_t dev = 0;
  ino_t ino = 0;
  ASSERT_TRUE(path_identity(path, dev, ino));
  EXPECT_EQ(first.dev, dev);
  EXPECT_EQ(first.ino, ino);
  const OpenResult second = open_file(path, exclusive);
  EXPECT_EQ(second.state, OpenState::kLocked);
  EXPECT_EQ(second.reader, nullptr);
}

}  // namespace
}  // namespace otlp_mmap::collector

// Readers survive a hostile mapping: the SIGBUS guard itself, a file truncated under a
// Reader (rings, dictionary, header loads), a dictionary entry in a hole of a sparse file on
// a full tmpfs, and the reader lock (one consuming reader per file).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "otlp_mmap/mapping_guard.hpp"
#include "test_util.hpp"

namespace otlp_mmap {
namespace {

using testing::TempDir;

#if defined(__SANITIZE_THREAD__)
#define OTLP_MMAP_TSAN 1
#elif defined(__SANITIZE_ADDRESS__)
#define OTLP_MMAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OTLP_MMAP_TSAN 1
#elif __has_feature(address_sanitizer)
#define OTLP_MMAP_ASAN 1
#endif
#endif

// ThreadSanitizer performs atomic loads inside its own runtime (holding its internal state),
// so jumping out of a fault there is not known to be safe: under TSan the tests that raise
// SIGBUS are skipped (OTLP_MMAP_SIGBUS_TESTS=1 runs them anyway, to try by hand). Under
// AddressSanitizer they run: our handler is installed after ASan's and takes the guarded
// faults; an unguarded one is handed on to ASan's handler, which reports it.
#ifdef OTLP_MMAP_TSAN
#define SKIP_IF_SANITIZED()                             \
  if (std::getenv("OTLP_MMAP_SIGBUS_TESTS") == nullptr) \
  GTEST_SKIP() << "raises SIGBUS: not run under TSan (see the comment above)"
#else
#define SKIP_IF_SANITIZED() (void)0
#endif

// A file of `pages` pages, mapped shared; truncate it to make the mapping's tail fault.
struct Mapped {
  std::string path;
  int fd = -1;
  uint8_t* base = nullptr;
  size_t size = 0;
  Mapped(const std::string& p, size_t pages) : path(p) {
    size = pages * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(m, MAP_FAILED);
    base = static_cast<uint8_t*>(m);
    std::memset(base, 7, size);
  }
  ~Mapped() {
    ::munmap(base, size);
    ::close(fd);
  }
};

TEST(MappingGuard, ReturnsFalseOnSigbusAndKeepsWorking) {
  SKIP_IF_SANITIZED();
  TempDir dir;
  Mapped m(dir.file("guard"), 4);
  const size_t page = m.size / 4;
  ASSERT_EQ(::ftruncate(m.fd, static_cast<off_t>(page)), 0);  // pages 1..3 now beyond EOF
  const uint64_t before = mapping_guard::faults();
  volatile uint8_t sink = 0;
  int runs = 0;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(mapping_guard::guarded([&] { sink = m.base[page + 1]; }));
    EXPECT_TRUE(mapping_guard::guarded([&] {
      sink = m.base[0];
      ++runs;
    }));
  }
  EXPECT_EQ(runs, 1000);
  EXPECT_EQ(sink, 7);
  EXPECT_EQ(mapping_guard::faults() - before, 1000u);
  // Nested: the inner fault returns to the inner guard; the outer one completes.
  bool inner = true;
  EXPECT_TRUE(mapping_guard::guarded([&] { inner = mapping_guard::guarded([&] { sink = m.base[2 * page]; }); }));
  EXPECT_FALSE(inner);
  std::printf("figures: 1000 faults recovered, 1000 clean guarded loads, nested fault contained\n");
}

// Unguarded, the fault goes to the handler installed before ours: the default action (death by
// SIGBUS), or under ASan its own handler, which reports it and exits 1.
#ifdef OTLP_MMAP_ASAN
const auto kUnguardedDeath = ::testing::ExitedWithCode(1);
constexpr const char* kUnguardedMessage = "AddressSanitizer: BUS";
#else
const auto kUnguardedDeath = ::testing::KilledBySignal(SIGBUS);
constexpr const char* kUnguardedMessage = "";
#endif

TEST(MappingGuard, SigbusOutsideAGuardStillKills) {
  SKIP_IF_SANITIZED();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir dir;
  EXPECT_EXIT(
      {
        Mapped m(dir.file("unguarded"), 2);
        (void)mapping_guard::guarded([] {});  // handler installed
        (void)::ftruncate(m.fd, 0);
        volatile uint8_t v = m.base[0];
        (void)v;
        std::_Exit(0);
      },
      kUnguardedDeath, kUnguardedMessage);
}

// A file written by the writer: a few records in every ring and a few dictionary entries.
struct WrittenFile {
  TempDir dir;
  std::string path = dir.file();
  int64_t key = 0;
  WrittenFile(int records = 20) {
    // 1024 slots: the rings span many pages, so a cut at 64 bytes leaves the slots beyond EOF.
    auto w = Writer::open(path, testing::small_config(1024, 512));
    key = w->intern("a.key.in.the.dictionary");
    for (int i = 0; i < records; ++i) {
      EventView e;
      e.time_unix_nano = static_cast<uint64_t>(i + 1);
      e.event_name_ref = key;
      EXPECT_EQ(w->write(e), WriteStatus::kWritten);
    }
  }
};

TEST(ReaderTruncated, RingReadFaultsBecomeAFailureNotASignal) {
  SKIP_IF_SANITIZED();
  WrittenFile f;
  auto r = Reader::open(f.path, testing::fast_reader());
  Event e;
  ASSERT_TRUE(r->next(e));  // one record read before the truncation
  const uint64_t size = r->file_size();
  ASSERT_EQ(::truncate(f.path.c_str(), static_cast<off_t>(64)), 0);
  // No refresh: the reader touches the ring, which now lies beyond the end of the file.
  size_t more = 0;
  while (r->next(e)) ++more;
  EXPECT_EQ(more, 0u);
  EXPECT_TRUE(r->failed());
  EXPECT_EQ(r->faults(), 1u);
  EXPECT_NE(r->failure().find("shrank or has a hole"), std::string::npos) << r->failure();
  // Sticky, and every other read answers without touching the mapping.
  std::string s;
  EXPECT_FALSE(r->read_string(f.key, s));
  EXPECT_EQ(r->ring_state(layout::RingKind::kEvents).writer_index, -1);
  EXPECT_EQ(r->dictionary_end(), 0);
  EXPECT_FALSE(r->refresh());
  std::printf("figures: 1 record read, then truncated %llu -> 64 bytes: 1 fault, reader failed: %s\n",
              static_cast<unsigned long long>(size), r->failure().c_str());
}

TEST(ReaderTruncated, RefreshRefusesAFileBelowItsLayoutWithoutTouchingIt) {
  WrittenFile f;
  auto r = Reader::open(f.path, testing::fast_reader());
  const uint64_t size = r->file_size();
  ASSERT_EQ(::truncate(f.path.c_str(), static_cast<off_t>(size / 2)), 0);
  EXPECT_FALSE(r->refresh());
  EXPECT_TRUE(r->failed());
  EXPECT_EQ(r->faults(), 0u);  // found by fstat: no signal at all
  EXPECT_NE(r->failure().find("shrank to " + std::to_string(size / 2)), std::string::npos) << r->failure();
  Event e;
  EXPECT_FALSE(r->next(e));
}

TEST(ReaderTruncated, DictionaryRefBeyondATruncatedEndFails) {
  SKIP_IF_SANITIZED();
  WrittenFile f;
  auto r = Reader::open(f.path, testing::fast_reader());
  // Cut the file just after the dictionary header: the entry's page lies beyond EOF, but the
  // reader still believes the old size until it refreshes: it faults, and fails.
  const uint64_t cut = r->file_layout().first_entry_offset();
  const long page = ::sysconf(_SC_PAGESIZE);
  ASSERT_EQ(::truncate(f.path.c_str(), static_cast<off_t>(cut & ~static_cast<uint64_t>(page - 1))), 0);
  std::string s;
  EXPECT_FALSE(r->read_string(f.key, s));
  EXPECT_TRUE(r->failed());
  EXPECT_GE(r->faults(), 1u);
}

TEST(ReaderTruncated, EntryBeyondTheCurrentEndIsRefusedByTheSizeCheck) {
  WrittenFile f;
  auto r = Reader::open(f.path, testing::fast_reader());
  ASSERT_TRUE(r->refresh());
  const uint64_t cut = static_cast<uint64_t>(f.key);  // the entry starts exactly at EOF
  ASSERT_EQ(::truncate(f.path.c_str(), static_cast<off_t>(cut)), 0);
  ASSERT_TRUE(r->refresh());  // still covers header, rings and dictionary header
  std::string s;
  EXPECT_FALSE(r->read_string(f.key, s));
  EXPECT_FALSE(r->failed());  // refused by the bounds check, no fault
  EXPECT_EQ(r->faults(), 0u);
}

// Root mounts a small tmpfs: a page of a hole cannot be allocated once it is full, so even
// reading it through a shared mapping faults (tmpfs allocates a page to read a hole).
class SmallTmpfs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (CI runs as root)";
    ASSERT_TRUE(tmpfs_.ok()) << tmpfs_.error();
    dir_ = tmpfs_.dir();
  }
  testing::Tmpfs tmpfs_{"4m"};
  std::filesystem::path dir_;
};

TEST_F(SmallTmpfs, DictionaryEntryInAHoleOfAFullFilesystemFails) {
  SKIP_IF_SANITIZED();
  const std::string path = (dir_ / "telemetry.otlp").string();
  int64_t key = 0;
  {
    auto w = Writer::open(path, testing::small_config());
    key = w->intern("a key whose page becomes a hole");
  }
  auto r = Reader::open(path, testing::fast_reader());
  std::string s;
  ASSERT_TRUE(r->read_string(key, s));
  // Punch the entry's page out (a hole now), then fill the file system.
  const long page = ::sysconf(_SC_PAGESIZE);
  const off_t at = static_cast<off_t>(key) & ~static_cast<off_t>(page - 1);
  {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, page), 0) << std::strerror(errno);
    ::close(fd);
  }
  // The reader's mapping still holds the old page until it is dropped from the mapping:
  // a fresh reader maps the hole.
  r.reset();
  r = Reader::open(path, testing::fast_reader());
  {
    int fd = ::open((dir_ / "filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    std::string chunk(64 << 10, 'x');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    ::close(fd);
  }
  EXPECT_FALSE(r->read_string(key, s));
  EXPECT_TRUE(r->failed());
  EXPECT_EQ(r->faults(), 1u);
  std::printf("figures: 4 MiB tmpfs full, entry at %lld in a punched hole: read refused, %llu fault, %s\n",
              static_cast<long long>(key), static_cast<unsigned long long>(r->faults()), r->failure().c_str());
}

TEST(ReaderLock, OneConsumingReaderPerFileInspectorsWithout) {
  WrittenFile f;
  ReaderOptions ex = testing::fast_reader();
  ex.exclusive = true;
  auto first = Reader::open(f.path, ex);
  try {
    auto second = Reader::open(f.path, ex);
    FAIL() << "a second exclusive reader was accepted";
  } catch (const FileLockedError& e) {
    EXPECT_NE(std::string(e.what()).find("holds the file's reader lock"), std::string::npos) << e.what();
  }
  // A read-only reader (inspect, stats) takes no lock.
  ReaderOptions ro = testing::fast_reader();
  ro.read_only = true;
  EXPECT_NO_THROW(Reader::open(f.path, ro));
  // Released with the reader: the next one gets it.
  first.reset();
  EXPECT_NO_THROW(Reader::open(f.path, ex));
  // Independent of the writers' flock(): a writer holding its initialisation lock does not
  // block the reader lock.
  int fd = ::open(f.path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  EXPECT_NO_THROW(Reader::open(f.path, ex));
  ::close(fd);
}

TEST(ReaderTrust, SharedWritableAndSymlinksAreRefusedUnlessAllowed) {
  WrittenFile f;
  ASSERT_EQ(::chmod(f.path.c_str(), 0620), 0);
  try {
    Reader::open(f.path, testing::fast_reader());
    FAIL() << "a group-writable file was accepted";
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), FileError::Code::kUntrusted);
    EXPECT_NE(std::string(e.what()).find("--allow-shared-writable"), std::string::npos) << e.what();
  }
  ReaderOptions o = testing::fast_reader();
  o.trust.shared_writable = true;
  EXPECT_NO_THROW(Reader::open(f.path, o));
  ASSERT_EQ(::chmod(f.path.c_str(), 0600), 0);
  const std::string link = f.path + ".link";
  ASSERT_EQ(::symlink(f.path.c_str(), link.c_str()), 0);
  try {
    Reader::open(link, testing::fast_reader());
    FAIL() << "a symbolic link was followed";
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), FileError::Code::kUntrusted);
    EXPECT_NE(std::string(e.what()).find("--follow-symlinks"), std::string::npos) << e.what();
  }
  o.trust.follow_symlinks = true;
  EXPECT_NO_THROW(Reader::open(link, o));
}

}  // namespace
}  // namespace otlp_mmap

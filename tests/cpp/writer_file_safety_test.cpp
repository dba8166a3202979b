// The writer never kills the application (no SIGBUS from its own stores, however full the
// file system) and never clobbers a file it did not create (foreign files refused with their
// bytes unchanged, broken files of ours moved aside, never rewritten).
//
// Full-file-system cases run on a small tmpfs mounted by the test (needs root, as in CI);
// anything that could raise SIGBUS runs in a forked child whose exit status is checked.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace otlp_mmap {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::Tmpfs;

// ------------------------------------------------------------------ helpers

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void set_i64(const std::string& path, uint64_t off, int64_t v) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(off));
  f.write(reinterpret_cast<const char*>(&v), 8);
}

FileError::Code open_error(const std::string& path, const WriterConfig& c, std::string* what = nullptr) {
  try {
    Writer::open(path, c);
  } catch (const FileError& e) {
    if (what != nullptr) *what = e.what();
    return e.code();
  }
  ADD_FAILURE() << path << " was opened";
  return FileError::Code::kNotFound;
}

#define REQUIRE_TMPFS(t)                                                                       \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs (CI runs as root)"; \
  ASSERT_TRUE((t).ok()) << (t).error()

// Fills the file system holding `path` with one file until it is full; returns its size.
uint64_t fill(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  uint64_t size = 0;
  for (uint64_t step = 1 << 20; step >= 4096; step /= 2) {
    while (::fallocate(fd, 0, static_cast<off_t>(size), static_cast<off_t>(step)) == 0) size += step;
  }
  ::close(fd);
  return size;
}

// Runs `body` in a forked child; returns its wait status. The child exits 0 unless a
// check in it failed (exit 1) or it was killed by a signal.
template <class F>
int in_child(F&& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 1;
    try {
      rc = body() ? 0 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

WriterConfig config(uint64_t slots = 64, uint64_t slot_size = 512) { return testing::small_config(slots, slot_size); }

// ------------------------------------------------------------------ no space at creation

TEST(WriterFileSafety, FullTmpfsAtCreationFailsClearlyAndLeavesNothing) {
  Tmpfs t("2m");
  REQUIRE_TMPFS(t);
  const uint64_t filler = fill(t.file("filler"));
  ASSERT_EQ(::truncate(t.file("filler").c_str(), static_cast<off_t>(filler - (256 << 10))), 0);  // 256 KiB left
  auto c = config(512, 512);  // three rings of about 256 KiB each: does not fit
  std::string what;
  EXPECT_EQ(open_error(t.file(), c, &what), FileError::Code::kIo);
  std::cout << "[ figures ] " << what << "\n";
  EXPECT_NE(what.find("no space for a new telemetry file of " + std::to_string(c.geometry.initial_file_size())),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("bytes free"), std::string::npos) << what;
  EXPECT_EQ(names_in(t.dir()), std::vector<std::string>{"filler"});  // no file at the path, no temp
}

TEST(WriterFileSafety, RingGeometryLargerThanTheFileSystemIsRefused) {
  Tmpfs t("2m");
  REQUIRE_TMPFS(t);
  auto c = config(8192, 512);  // 3 x 4 MiB of rings on a 2 MiB file system
  std::string what;
  EXPECT_EQ(open_error(t.file(), c, &what), FileError::Code::kIo);
  std::cout << "[ figures ] " << what << "\n";
  EXPECT_NE(what.find("no space"), std::string::npos) << what;
  EXPECT_TRUE(names_in(t.dir()).empty());
  // With a geometry that fits, the same directory works.
  EXPECT_NO_THROW(Writer::open(t.file(), config()));
}

// ------------------------------------------------------------------ no space while growing

TEST(WriterFileSafety, FullTmpfsDuringDictionaryGrowthDropsEntriesWithoutSigbus) {
  Tmpfs t("2m");
  REQUIRE_TMPFS(t);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const int status = in_child([&] {
    auto c = config();
    c.dictionary_max_bytes = 64 << 20;  // far more than the file system holds
    auto w = Writer::open(t.file(), c);
    const std::string pad(1000, 'x');
    const int64_t kept = w->intern("kept key");
    uint64_t fitted = 0, refused = 0;
    int64_t last = 0;
    for (int i = 0; refused < 200 && i < 100000; ++i) {
      const int64_t ref = w->intern_string(std::to_string(i) + pad);
      if (ref == 0) {
        ++refused;
      } else {
        ++fitted;
        last = ref;
      }
    }
    // Writes that need no new entry still work, and every handed-out ref is readable.
    MeasurementView m;
    m.metric_ref = kept;
    m.as_long = 7;
    const bool wrote = w->write(m) == WriteStatus::kWritten && w->intern("kept key") == kept;
    auto r = Reader::open(t.file());
    std::string s;
    const bool readable = r->read_string(last, s) && s.size() == 1000 + std::to_string(fitted - 1).size();
    Measurement got;
    const bool delivered = r->next(got) && got.as_long == 7;
    const uint64_t counted = w->counters().dropped_unencodable;
    char line[256];
    std::snprintf(line, sizeof line, "%llu %llu %llu %llu %d %d %d\n", static_cast<unsigned long long>(fitted),
                  static_cast<unsigned long long>(refused), static_cast<unsigned long long>(w->dictionary_full_count()),
                  static_cast<unsigned long long>(counted), wrote, readable, delivered);
    (void)!::write(pipefd[1], line, std::strlen(line));
    return true;
  });
  ::close(pipefd[1]);
  char buf[256] = {};
  (void)!::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  unsigned long long fitted = 0, refused = 0, full = 0, counted = 0;
  int wrote = 0, readable = 0, delivered = 0;
  ASSERT_EQ(std::sscanf(buf, "%llu %llu %llu %llu %d %d %d", &fitted, &refused, &full, &counted, &wrote, &readable,
                        &delivered),
            7)
      << buf;
  std::cout << "[ figures ] 2 MiB tmpfs: " << fitted << " entries of ~1 KB fitted, then " << refused
            << " refused (dictionary_full_count " << full << ", dropped_unencodable " << counted << ")\n";
  EXPECT_GT(fitted, 1000u);
  EXPECT_EQ(refused, 200u);
  EXPECT_EQ(full, 200u);
  EXPECT_EQ(counted, 200u);
  EXPECT_TRUE(wrote);
  EXPECT_TRUE(readable);
  EXPECT_TRUE(delivered);
}

TEST(WriterFileSafety, SparseFileOnFullTmpfsIsRefusedNotCrashedOn) {
  Tmpfs t("4m");
  REQUIRE_TMPFS(t);
  const std::string path = t.file();
  int64_t ref = 0;
  {
    auto w = Writer::open(path, config(1024, 512));  // about 1.6 MB of rings
    ref = w->intern("before");
  }
  // Play an older writer / another implementation: a file with holes in the events ring's
  // slots (its headers stay intact, so the file is valid).
  {
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 64 << 10, 256 << 10), 0);
    ::close(fd);
  }
  fill(t.file("filler"));
  const uint64_t before = fnv1a(read_all(path));
  const int status = in_child([&] {
    try {
      auto w = Writer::open(path, config());
      // Had it been adopted, every store would have to be safe.
      for (int i = 0; i < 2000; ++i) {  // through every slot of the events ring, holes included
        EventView e;
        e.event_name_ref = ref;
        e.time_unix_nano = static_cast<uint64_t>(i);
        (void)w->write(e);
      }
      std::fprintf(stderr, "adopted\n");
      return false;
    } catch (const FileError& e) {
      std::printf("[ figures ] %s\n", e.what());
      return e.code() == FileError::Code::kIo && std::string(e.what()).find("sparse") != std::string::npos;
    }
  });
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(fnv1a(read_all(path)), before);  // bytes unchanged
  // With space again, the same file is adopted (its holes now reserved) and keeps its entries.
  fs::remove(t.file("filler"));
  auto w = Writer::open(path, config());
  EXPECT_FALSE(w->created_file());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, static_cast<uint64_t>(st.st_size));
  std::string s;
  EXPECT_TRUE(Reader::open(path)->read_string(ref, s));
  EXPECT_EQ(s, "before");
}

// ------------------------------------------------------------------ files we did not create

TEST(WriterFileSafety, ForeignFilesAreRefusedWithTheirBytesUnchanged) {
  TempDir dir;
  std::mt19937_64 rng(42);
  std::string random(8192, '\0');
  for (auto& ch : random) ch = static_cast<char>(rng());
  std::string image(1 << 20, '\0');  // a "disk image": a boot sector, then mostly zeros
  image[510] = '\x55';
  image[511] = '\xaa';
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"zeros-then-data", std::string(16, '\0') + "user data that follows sixteen zero bytes\n"},
      {"random", random},
      {"disk-image", image},
      {"text", "not telemetry\n"},
  };
  for (const auto& [name, bytes] : cases) {
    const std::string path = dir.file(name);
    write_all(path, bytes);
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    std::string what;
    EXPECT_EQ(open_error(path, config(), &what), FileError::Code::kCorrupt) << name;
    EXPECT_NE(what.find("exists and is not an otlp-mmap file; refusing to overwrite it"), std::string::npos) << what;
    EXPECT_EQ(fnv1a(read_all(path)), fnv1a(bytes)) << name;
    std::cout << "[ figures ] " << name << " (" << bytes.size() << " bytes): " << what << "\n";
  }
  // Nothing moved aside, nothing created beside them.
  EXPECT_EQ(names_in(dir.file("")).size(), cases.size());
}

TEST(WriterFileSafety, SymlinkAtThePathIsNotFollowed) {
  TempDir dir;
  { auto w = Writer::open(dir.file("target.otlp"), config()); }
  const std::string before = read_all(dir.file("target.otlp"));
  fs::create_symlink(dir.file("target.otlp"), dir.file("link.otlp"));
  std::string what;
  EXPECT_EQ(open_error(dir.file("link.otlp"), config(), &what), FileError::Code::kUntrusted);
  EXPECT_NE(what.find("symbolic link"), std::string::npos) << what;
  EXPECT_EQ(read_all(dir.file("target.otlp")), before);
  EXPECT_TRUE(fs::is_symlink(dir.file("link.otlp")));
  auto c = config();
  c.trust.follow_symlinks = true;
  EXPECT_FALSE(Writer::open(dir.file("link.otlp"), c)->created_file());
}

// ------------------------------------------------------------------ broken files of ours

TEST(WriterFileSafety, OurBrokenFilesAreMovedAsideNeverRewritten) {
  TempDir dir;
  struct Case {
    std::string name;
    void (*spoil)(const std::string& path);
  };
  const std::vector<Case> cases = {
      {"all-zero", [](const std::string& p) { write_all(p, std::string(64 << 10, '\0')); }},
      {"version-0", [](const std::string& p) { set_i64(p, 0, 0); }},  // an initialiser that died
      {"version-2", [](const std::string& p) { set_i64(p, 0, 2); }},
      {"bad-version", [](const std::string& p) { set_i64(p, 0, 0x7eadbeef); }},
      {"truncated", [](const std::string& p) { ASSERT_EQ(::truncate(p.c_str(), 40000), 0); }},
      {"bad-indices", [](const std::string& p) { set_i64(p, 64 + 16, 1000); }},  // reader ahead of writer
  };
  for (const auto& c : cases) {
    const std::string path = dir.file(c.name);
    { auto w = Writer::open(path, config()); }
    c.spoil(path);
    const std::string before = read_all(path);
    auto w = Writer::open(path, config());
    EXPECT_TRUE(w->created_file()) << c.name;
    const std::string aside = w->moved_aside_path();
    ASSERT_FALSE(aside.empty()) << c.name;
    EXPECT_EQ(aside.rfind(path + ".corrupt-", 0), 0u) << aside;
    EXPECT_FALSE(w->moved_aside_reason().empty()) << c.name;
    EXPECT_EQ(fnv1a(read_all(aside)), fnv1a(before)) << c.name;  // bytes unchanged
    EXPECT_NO_THROW(Reader::open(path)) << c.name;               // a fresh, valid file
    std::cout << "[ figures ] " << c.name << ": moved to " << fs::path(aside).filename().string() << " ("
              << w->moved_aside_reason() << ")\n";
  }
}

TEST(WriterFileSafety, AbandonedTemporaryFilesAreRemoved) {
  TempDir dir;
  // A pid that cannot be alive (above the kernel's pid_max) and our own pid (alive).
  write_all(dir.file(".telemetry.otlp.init-99999999-deadbeef"), "half-built");
  const std::string mine = ".telemetry.otlp.init-" + std::to_string(::getpid()) + "-cafe";
  write_all(dir.file(mine), "in progress");
  auto w = Writer::open(dir.file(), config());
  EXPECT_EQ(names_in(dir.file("")), (std::vector<std::string>{mine, "telemetry.otlp"}));
}

// ------------------------------------------------------------------ concurrent creators

TEST(WriterFileSafety, EightConcurrentCreatorsShareOneFile) {
  TempDir dir;
  const std::string path = dir.file();
  int go[2], results[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(results), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < 8; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      char b;
      ::close(go[1]);
      (void)!::read(go[0], &b, 1);  // all start together
      int rc = 1;
      try {
        auto w = Writer::open(path, config());
        struct stat st {};
        ::fstat(::open(path.c_str(), O_RDONLY), &st);
        char line[64];
        std::snprintf(line, sizeof line, "%d %llu\n", w->created_file() ? 1 : 0,
                      static_cast<unsigned long long>(st.st_ino));
        (void)!::write(results[1], line, std::strlen(line));
        rc = 0;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
      }
      ::_exit(rc);
    }
    kids.push_back(pid);
  }
  ::close(go[0]);
  ::close(results[1]);
  ::close(go[1]);  // EOF releases every child at once
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(results[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(results[0]);
  for (pid_t pid : kids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  int created = 0, lines = 0;
  std::set<unsigned long long> inodes;
  std::istringstream in(out);
  for (int c; in >> c;) {
    unsigned long long ino = 0;
    in >> ino;
    created += c;
    ++lines;
    inodes.insert(ino);
  }
  std::cout << "[ figures ] 8 concurrent openers: " << created << " created, " << inodes.size() << " inode(s)\n";
  EXPECT_EQ(lines, 8);
  EXPECT_EQ(created, 1);
  EXPECT_EQ(inodes.size(), 1u);
  EXPECT_EQ(names_in(dir.file("")), std::vector<std::string>{"telemetry.otlp"});  // no temp left
}

// ------------------------------------------------------------------ permissions

TEST(WriterFileSafety, SharedWritableFilesAndModesAreRefused) {
  TempDir dir;
  const mode_t old_umask = ::umask(0);
  {
    auto w = Writer::open(dir.file(), config());
    struct stat st {};
    ::stat(dir.file().c_str(), &st);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
  }
  ::umask(old_umask);
  for (mode_t mode : {mode_t{0666}, mode_t{0620}, mode_t{0602}}) {
    ASSERT_EQ(::chmod(dir.file().c_str(), mode), 0);
    std::string what;
    EXPECT_EQ(open_error(dir.file(), config(), &what), FileError::Code::kUntrusted) << std::oct << mode;
    EXPECT_NE(what.find("OTLP_MMAP_ALLOW_SHARED_WRITABLE"), std::string::npos) << what;
  }
  auto c = config();
  c.trust.shared_writable = true;
  EXPECT_NO_THROW(Writer::open(dir.file(), c));

  ::setenv("OTLP_MMAP_FILE_MODE", "0666", 1);
  try {
    WriterConfig::from_env();
    ADD_FAILURE() << "accepted a world-writable mode";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("OTLP_MMAP_FILE_MODE"), std::string::npos) << e.what();
  }
  ::setenv("OTLP_MMAP_FILE_MODE", "0660", 1);
  EXPECT_THROW(WriterConfig::from_env(), std::invalid_argument);
  ::setenv("OTLP_MMAP_ALLOW_SHARED_WRITABLE", "1", 1);
  EXPECT_EQ(WriterConfig::from_env().file_mode, 0660u);
  ::unsetenv("OTLP_MMAP_ALLOW_SHARED_WRITABLE");
  ::setenv("OTLP_MMAP_FILE_MODE", "0640", 1);
  EXPECT_EQ(WriterConfig::from_env().file_mode, 0640u);
  ::unsetenv("OTLP_MMAP_FILE_MODE");
}

// ------------------------------------------------------------------ bounded memory

TEST(WriterFileSafety, InternCacheStaysUnderItsBound) {
  TempDir dir;
  auto c = config();
  c.dictionary_max_bytes = 64 << 20;
  c.intern_cache_bytes = 16 << 20;
  auto w = Writer::open(dir.file(), c);
  uint64_t peak = 0, zeros = 0;
  for (int i = 0; i < 1000000; ++i) {
    zeros += w->intern_string("key-" + std::to_string(i)) == 0 ? 1 : 0;
    peak = std::max(peak, w->cache_bytes());
  }
  const auto entries = static_cast<uint64_t>(fs::file_size(dir.file()));
  std::cout << "[ figures ] 1,000,000 distinct keys: cache peak " << peak << " bytes (bound " << c.intern_cache_bytes
            << "), file " << entries << " bytes\n";
  EXPECT_EQ(zeros, 0u);
  EXPECT_LE(peak, c.intern_cache_bytes);
  EXPECT_GT(peak, c.intern_cache_bytes / 2);
  // A repeated key after a new generation still gets a valid ref (possibly a new one).
  std::string s;
  EXPECT_TRUE(Reader::open(dir.file())->read_string(w->intern_string("key-1"), s));
  EXPECT_EQ(s, "key-1");
}

TEST(WriterFileSafety, HugeStringIsCutToTheEntryLimit) {
  TempDir dir;
  auto w = Writer::open(dir.file(), config());
  std::string huge;
  huge.reserve(100 << 20);
  while (huge.size() < (100u << 20)) huge += "\xc3\xa9";  // é: two bytes, so a cut can split one
  huge += "a";
  const uint64_t truncated_before = w->counters().truncated_values;
  const int64_t ref = w->intern_string(huge);
  ASSERT_NE(ref, 0);
  std::string s;
  ASSERT_TRUE(Reader::open(dir.file())->read_string(ref, s));
  std::cout << "[ figures ] 100 MiB string stored as " << s.size() << " bytes (limit " << w->config().max_entry_bytes
            << ")\n";
  EXPECT_LE(s.size(), w->config().max_entry_bytes);
  EXPECT_GE(s.size(), w->config().max_entry_bytes - 3);
  EXPECT_EQ(s.size() % 2, 0u);  // cut between characters, never inside one
  EXPECT_EQ(w->counters().truncated_values, truncated_before + 1);
  // A message cannot be cut: it is refused and counted.
  const uint64_t dropped_before = w->counters().dropped_unencodable;
  EXPECT_EQ(w->intern(std::string(w->config().max_entry_bytes + 1, 'm')), 0);
  EXPECT_EQ(w->counters().dropped_unencodable, dropped_before + 1);
}

// ------------------------------------------------------------------ full dictionary

TEST(WriterFileSafety, FullDictionaryRollsOverOnTheNextOpen) {
  TempDir dir;
  for (bool unread : {true, false}) {
    const std::string path = dir.file(unread ? "unread.otlp" : "drained.otlp");
    auto c = config();
    c.geometry.dictionary_initial_bytes = 4096;
    c.dictionary_max_bytes = 8192;
    int64_t key = 0;
    uint64_t entries = 0;
    {
      auto w = Writer::open(path, c);
      key = w->intern("metric");
      while (w->intern_string("filler-" + std::to_string(entries)) != 0) ++entries;
      MeasurementView m;
      m.metric_ref = key;
      m.as_long = 99;
      ASSERT_EQ(w->write(m), WriteStatus::kWritten);
      if (!unread) {
        Measurement got;
        ASSERT_TRUE(Reader::open(path)->next(got));
      }
    }
    struct stat old {};
    ASSERT_EQ(::stat(path.c_str(), &old), 0);
    auto w = Writer::open(path, c);  // a restarted application
    EXPECT_TRUE(w->rolled_over());
    EXPECT_TRUE(w->created_file());
    struct stat now {};
    ASSERT_EQ(::stat(path.c_str(), &now), 0);
    EXPECT_NE(now.st_ino, old.st_ino);
    EXPECT_NE(w->intern("new entry"), 0);
    EXPECT_NO_THROW(Reader::open(path));
    if (unread) {
      ASSERT_FALSE(w->full_file_path().empty());
      EXPECT_EQ(w->full_file_path().rfind(path + ".full-", 0), 0u);
      auto r = Reader::open(w->full_file_path());
      Measurement got;
      ASSERT_TRUE(r->next(got));
      EXPECT_EQ(got.as_long, 99);
    } else {
      EXPECT_TRUE(w->full_file_path().empty());
    }
    std::cout << "[ figures ] " << entries << " entries filled an 8 KiB dictionary; "
              << (unread ? "kept as " + fs::path(w->full_file_path()).filename().string() : "nothing unread, not kept")
              << "\n";
  }
}

}  // namespace
}  // namespace otlp_mmap

namespace otlp_mmap {
namespace {

// What reserving every block costs at creation, with the default geometry (no assertion on
// time: printed for docs/RELIABILITY.md).
TEST(WriterFileSafety, DefaultFileIsCreatedWithEveryBlockReserved) {
  auto measure = [](const std::string& dir, const char* what) {
    const std::string path = dir + "/default.otlp";
    WriterConfig c;  // the defaults: about 26 MB
    const auto t0 = std::chrono::steady_clock::now();
    auto w = Writer::open(path, c);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), c.geometry.initial_file_size());
    EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, static_cast<uint64_t>(st.st_size));
    std::cout << "[ figures ] " << what << ": default file of " << st.st_size << " bytes created in " << us.count()
              << " us, " << static_cast<uint64_t>(st.st_blocks) * 512 << " bytes allocated\n";
  };
  {
    testing::TempDir dir;
    measure(std::filesystem::path(dir.file()).parent_path().string(), "temp directory");
  }
  if (::geteuid() == 0) {
    testing::Tmpfs t("64m");
    ASSERT_TRUE(t.ok()) << t.error();
    measure(t.dir(), "tmpfs");
  }
}

}  // namespace
}  // namespace otlp_mmap

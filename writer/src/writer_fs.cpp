// File-system steps of opening: building a new file out of sight, reserving its blocks,
// publishing it without replacing anything, and moving or linking old files aside. Each
// step either completes or leaves the path as it found it (FORMAT.md §9.2, §9.3).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "otlp_mmap/file.hpp"
#include "writer_internal.hpp"

namespace otlp_mmap::writer_detail {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

void io_error(const std::string& path, const char* what, int err) {
  throw FileError(err == ENOENT ? FileError::Code::kNotFound : FileError::Code::kIo,
                  path + ": " + what + ": " + std::strerror(err));
}

namespace {

std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string temp_prefix(const std::string& base) { return "." + base + ".init-"; }

std::string proc_fd(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// Links the inode open as `fd` at `name` (fails with EEXIST when the name is taken). Through
// /proc where it is mounted; AT_EMPTY_PATH otherwise (that one needs CAP_DAC_READ_SEARCH).
int link_fd(int fd, const std::string& name) {
  if (::linkat(AT_FDCWD, proc_fd(fd).c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return 0;
  if (errno != ENOENT || ::access("/proc/self/fd", F_OK) == 0) return errno;
  if (::linkat(fd, "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH) == 0) return 0;
  return errno;
}

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string free_bytes(int fd) {
  struct statvfs sv {};
  if (::fstatvfs(fd, &sv) != 0) return "free space unknown";
  return std::to_string(static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize) + " bytes free";
}

int fallocate_retrying(int fd, int mode, uint64_t off, uint64_t len) {
  for (;;) {
    if (::fallocate(fd, mode, static_cast<off_t>(off), static_cast<off_t>(len)) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

bool cannot_reserve(int err) { return err == EOPNOTSUPP || err == ENOSYS; }
bool no_space(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG; }

const char* no_space_detail(int err) {
  if (err == EDQUOT) return "disk quota exceeded";
  if (err == EFBIG) return "larger than the file system allows";
  return "file system full";
}

}  // namespace

// ------------------------------------------------------------------ the new file

TempFile TempFile::create(const std::string& path, mode_t mode) {
  auto [dir, base] = split_path(path);
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, mode));
  std::string named;
  if (fd.get() < 0) {
    const int err = errno;
    // Old kernels and some file systems (NFS, FUSE, overlay on old kernels) lack O_TMPFILE.
    if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL) io_error(path, "create", err);
    std::random_device rd;
    for (int i = 0; i < 16 && fd.get() < 0; ++i) {
      char rnd[20];
      std::snprintf(rnd, sizeof rnd, "%08x", rd());
      named = dir + "/" + temp_prefix(base) + std::to_string(::getpid()) + "-" + rnd;
      fd = UniqueFd(::open(named.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
      if (fd.get() < 0 && errno != EEXIST) io_error(path, "create", errno);
    }
    if (fd.get() < 0) io_error(path, "create a temporary file", EEXIST);
  }
  TempFile t(std::move(fd), dir, base, named);
  t.fd_number_ = t.fd_.get();
  // The mode is exact, whatever the umask.
  if (::fchmod(t.fd_number_, mode) != 0) io_error(path, "fchmod", errno);
  return t;
}

TempFile::TempFile(TempFile&& o) noexcept
    : fd_(std::move(o.fd_)),
      fd_number_(o.fd_number_),
      dir_(std::move(o.dir_)),
      base_(std::move(o.base_)),
      named_(std::move(o.named_)) {
  o.named_.clear();
}

TempFile::~TempFile() {
  if (!named_.empty()) ::unlink(named_.c_str());
}

void TempFile::link_named() {
  std::random_device rd;
  for (int i = 0; i < 16; ++i) {
    char rnd[20];
    std::snprintf(rnd, sizeof rnd, "%08x", rd());
    std::string name = dir_ + "/" + temp_prefix(base_) + std::to_string(::getpid()) + "-" + rnd;
    const int err = link_fd(fd_number_, name);
    if (err == 0) {
      named_ = std::move(name);
      return;
    }
    if (err != EEXIST) io_error(dir_ + "/" + base_, "link the new file", err);
  }
  io_error(dir_ + "/" + base_, "link the new file", EEXIST);
}

bool TempFile::publish_new(const std::string& path) {
  if (named_.empty()) {
    const int err = link_fd(fd_number_, path);
    if (err == EEXIST) return false;
    if (err != 0) io_error(path, "publish the new file", err);
    return true;
  }
  if (::link(named_.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return false;
    // No hard links here (some FUSE file systems): a rename that refuses to replace.
    if (::renameat2(AT_FDCWD, named_.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST) return false;
      io_error(path, "publish the new file", errno);
    }
    named_.clear();
    return true;
  }
  ::unlink(named_.c_str());
  named_.clear();
  return true;
}

void TempFile::publish_replacing(const std::string& path) {
  if (named_.empty()) link_named();
  if (::rename(named_.c_str(), path.c_str()) != 0) io_error(path, "replace the file", errno);
  named_.clear();
}

bool reserve_new(int fd, uint64_t size, const std::string& path) {
  const int err = fallocate_retrying(fd, 0, 0, size);
  if (err == 0) return true;
  if (cannot_reserve(err)) {
    // tmpfs, ext4, xfs and btrfs reserve; elsewhere the file is sparse (FORMAT.md §9.2).
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) io_error(path, "ftruncate", errno);
    return false;
  }
  if (no_space(err)) {
    throw FileError(FileError::Code::kIo, path + ": no space for a new telemetry file of " + std::to_string(size) +
                                              " bytes on this file system (" + no_space_detail(err) + ", " +
                                              free_bytes(fd) + "); nothing was created");
  }
  io_error(path, "fallocate", err);
}

bool reserve_existing(int fd, uint64_t size, const std::string& path) {
  if (size == 0) return true;
  const int err = fallocate_retrying(fd, FALLOC_FL_KEEP_SIZE, 0, size);
  if (err == 0) return true;
  if (cannot_reserve(err)) return false;
  if (no_space(err)) {
    throw FileError(FileError::Code::kIo,
                    path + ": the existing file has unallocated (sparse) parts and there is no space to back them (" +
                        no_space_detail(err) + ", " + free_bytes(fd) +
                        "); writing into them could crash the application (SIGBUS), so it is not used (its bytes are "
                        "unchanged)");
  }
  io_error(path, "fallocate", err);
}

void remove_abandoned_temps(const std::string& path) {
  auto [dir, base] = split_path(path);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = temp_prefix(base);
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (!name.starts_with(prefix)) continue;
    const std::string rest(name.substr(prefix.size()));
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (pid <= 0 || end == nullptr || *end != '-' || pid == ::getpid()) continue;
    // Only when its creator is gone (a live creator is still building it).
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

bool all_zero(int fd, uint64_t size) {
  std::vector<char> buf(1 << 20);
  uint64_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return true;  // nothing but holes from here on
      data = static_cast<off_t>(pos);   // SEEK_DATA unsupported: read everything
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0 || static_cast<uint64_t>(hole) > size) hole = static_cast<off_t>(size);
    for (uint64_t at = static_cast<uint64_t>(data); at < static_cast<uint64_t>(hole);) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), static_cast<uint64_t>(hole) - at));
      const ssize_t got = ::pread(fd, buf.data(), want, static_cast<off_t>(at));
      if (got <= 0) return false;  // unreadable: not provably zero
      for (ssize_t i = 0; i < got; ++i) {
        if (buf[static_cast<size_t>(i)] != 0) return false;
      }
      at += static_cast<uint64_t>(got);
    }
    pos = static_cast<uint64_t>(hole);
  }
  return true;
}

bool still_names(const std::string& path, const struct stat& st, bool follow_symlinks) {
  struct stat now {};
  if (::fstatat(AT_FDCWD, path.c_str(), &now, follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW) != 0) return false;
  return now.st_dev == st.st_dev && now.st_ino == st.st_ino;
}

std::string move_aside(const std::string& path, const struct stat& st, const char* tag, bool follow_symlinks) {
  const std::string stem = path + "." + tag + "-" + utc_stamp();
  for (int k = 0; k < 1000; ++k) {
    const std::string name = k == 0 ? stem : stem + "-" + std::to_string(k);
    if (!still_names(path, st, follow_symlinks)) return {};
    if (::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, name.c_str(), RENAME_NOREPLACE) == 0) return name;
    if (errno == EEXIST) continue;
    if (errno != EINVAL && errno != ENOSYS) io_error(path, "move aside", errno);
    // No RENAME_NOREPLACE on this file system: link the new name, then drop the old one.
    if (::link(path.c_str(), name.c_str()) != 0) {
      if (errno == EEXIST) continue;
      io_error(path, "move aside", errno);
    }
    if (::unlink(path.c_str()) != 0) io_error(path, "move aside", errno);
    return name;
  }
  io_error(path, "move aside (every name taken)", EEXIST);
}

std::string link_aside(int fd, const std::string& path, const char* tag) {
  const std::string stem = path + "." + tag + "-" + utc_stamp();
  for (int k = 0; k < 1000; ++k) {
    const std::string name = k == 0 ? stem : stem + "-" + std::to_string(k);
    const int err = link_fd(fd, name);
    if (err == 0) return name;
    if (err != EEXIST) io_error(path, "keep the full file", err);
  }
  io_error(path, "keep the full file (every name taken)", EEXIST);
}

}  // namespace otlp_mmap::writer_detail

// Helpers shared by the writer's source files; not part of the public interface.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace otlp_mmap::writer_detail {

// Cuts at a UTF-8 character boundary so a truncated string stays valid text.
inline std::string_view utf8_prefix(std::string_view s, uint64_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

inline uint64_t page_round(uint64_t n) { return (n + 4095) & ~uint64_t{4095}; }

// Owns a descriptor until released.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

// Throws FileError (kNotFound for ENOENT, else kIo) naming the path, the step and errno.
[[noreturn]] void io_error(const std::string& path, const char* what, int err);

// ---------------------------------------------------------------- file-system steps

// A new file being built in the directory of `path`, invisible under `path` until
// published: an unnamed O_TMPFILE inode, or (where unsupported) a named
// `.<basename>.init-<pid>-<random>` that is unlinked unless published.
class TempFile {
 public:
  // Creates it with exactly `mode` (fchmod: the umask cannot change it).
  static TempFile create(const std::string& path, mode_t mode);
  TempFile(TempFile&& o) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile();  // unlinks a named temp that was not published

  int fd() const { return fd_.get(); }
  int release_fd() { return fd_.release(); }  // the MappedFile owns it from then on
  // Links the finished file at `path` unless something is there already (then false).
  bool publish_new(const std::string& path);
  // Puts the finished file at `path` in one atomic step, replacing what is there.
  void publish_replacing(const std::string& path);

 private:
  TempFile(UniqueFd fd, std::string dir, std::string base, std::string named)
      : fd_(std::move(fd)), dir_(std::move(dir)), base_(std::move(base)), named_(std::move(named)) {}
  void link_named();  // gives an O_TMPFILE inode a temporary name
  UniqueFd fd_;       // -1 once the MappedFile took it (the number stays in fd_number_)
  int fd_number_ = -1;
  std::string dir_, base_;
  std::string named_;  // the temporary name, empty while unnamed or once published
};

// Reserves real blocks for [0, size) of a new file (fallocate mode 0, which also sets the
// size). Where the file system cannot reserve blocks at all it sets the size with ftruncate
// (sparse) and returns false. No space: FileError kIo "no space for a new telemetry file".
bool reserve_new(int fd, uint64_t size, const std::string& path);
// Reserves blocks for the existing [0, size) without changing the size. Returns false when
// the file system cannot reserve at all; no space: FileError kIo, bytes unchanged.
bool reserve_existing(int fd, uint64_t size, const std::string& path);

// Removes `.<basename>.init-<pid>-*` temporaries whose creating process is gone.
void remove_abandoned_temps(const std::string& path);

// Whether every byte of the file is zero (holes skipped with SEEK_DATA/SEEK_HOLE).
bool all_zero(int fd, uint64_t size);

// Whether `path` still names the inode `st` describes.
bool still_names(const std::string& path, const struct stat& st, bool follow_symlinks);

// Renames `path` to `<path>.<tag>-<UTC YYYYmmddTHHMMSSZ>` (adding -1, -2... if taken) without
// replacing anything, if `path` still names `st`; returns the new name. Bytes unchanged.
std::string move_aside(const std::string& path, const struct stat& st, const char* tag, bool follow_symlinks);
// Gives the inode open as `fd` a second name `<path>.<tag>-<UTC time>[-k]`; returns it.
std::string link_aside(int fd, const std::string& path, const char* tag);

}  // namespace otlp_mmap::writer_detail

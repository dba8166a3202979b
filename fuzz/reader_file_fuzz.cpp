// libFuzzer target: arbitrary bytes as a whole otlp-mmap file. Opening must either fail
// with FileError or give a reader that drains without crashing, leaking or reading out
// of bounds.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = ::memfd_create("otlp-mmap-fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (size > 0 && ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    ::close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    otlp_mmap::ReaderOptions o;
    o.torn_grace = std::chrono::nanoseconds(0);
    o.max_file_bytes = uint64_t{1} << 30;
    // The input is a memfd (mode 0777) opened through the /proc/self/fd magic link.
    o.trust.follow_symlinks = true;
    o.trust.shared_writable = true;
    auto r = otlp_mmap::Reader::open(path, o);
    otlp_mmap::fuzz::drain(*r);
  } catch (const otlp_mmap::FileError&) {
  }
  ::close(fd);
  return 0;
}

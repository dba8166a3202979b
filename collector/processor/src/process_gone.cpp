#include "otlp_mmap/collector/processor/process_gone.hpp"

#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace otlp_mmap::collector {

// kill(pid, 0): ESRCH means no such process in our pid namespace; EPERM means it exists.
bool process_gone(int64_t pid) {
  if (pid <= 0 || pid > INT32_MAX) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%lld/stat", static_cast<long long>(pid));
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;
  char buf[512];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // "pid (comm) S ...": the state follows the last ')' (comm may contain anything).
  const char* close = std::strrchr(buf, ')');
  return close != nullptr && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

}  // namespace otlp_mmap::collector

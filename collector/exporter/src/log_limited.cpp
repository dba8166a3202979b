#include "log_limited.hpp"

#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace otlp_mmap::collector::detail {

namespace {

struct LogState {
  std::mutex mu;
  struct Entry {
    std::chrono::steady_clock::time_point last;
    uint64_t suppressed = 0;
  };
  std::map<std::string, Entry> entries;
  std::function<void(const std::string&)> sink;
};

LogState& log_state() {
  static LogState* state = new LogState();  // never destroyed: used by threads until exit
  return *state;
}

}  // namespace

void log_limited(const std::string& key, std::chrono::steady_clock::duration interval, const std::string& message) {
  LogState& st = log_state();
  std::string line;
  std::function<void(const std::string&)> sink;
  {
    std::lock_guard lock(st.mu);
    const auto now = std::chrono::steady_clock::now();
    auto [it, inserted] = st.entries.try_emplace(key);
    if (!inserted && (interval.count() == 0 || now - it->second.last < interval)) {
      ++it->second.suppressed;
      return;
    }
    line = "otlp-mmap export: " + message;
    if (it->second.suppressed > 0) {
      line += " (" + std::to_string(it->second.suppressed) + " similar messages suppressed)";
    }
    it->second.last = now;
    it->second.suppressed = 0;
    sink = st.sink;
  }
  if (sink) {
    sink(line);
  } else {
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

void set_log_sink(std::function<void(const std::string&)> sink) {
  LogState& st = log_state();
  std::lock_guard lock(st.mu);
  st.sink = std::move(sink);
  st.entries.clear();
}

}  // namespace otlp_mmap::collector::detail

// Console exporters: readable text, or OTLP/JSON lines (one request per line), to stdout or
// appended to a file. The three signals share one output per path.

#include <fcntl.h>
#include <google/protobuf/message.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "export_internal.hpp"
#include "transport.hpp"

namespace otlp_mmap::collector::detail {

namespace {

class ConsoleSink {
 public:
  explicit ConsoleSink(const std::string& path) : path_(path.empty() ? "stdout" : path) {
    if (path.empty()) {
      file_ = stdout;
    } else {
      file_ = open_private(path);
      owned_ = true;
    }
  }
  ~ConsoleSink() {
    if (owned_) std::fclose(file_);
  }
  ConsoleSink(const ConsoleSink&) = delete;
  ConsoleSink& operator=(const ConsoleSink&) = delete;

  // Whole blocks at a time, so that signals never interleave inside one.
  bool write(const std::string& text) {
    std::lock_guard lock(mu_);
    const size_t n = std::fwrite(text.data(), 1, text.size(), file_);
    return std::fflush(file_) == 0 && n == text.size();
  }

  const std::string& name() const { return path_; }

 private:
  // The output is a copy of the telemetry, which is private (0600) in the file: a file the
  // collector creates is 0600 exactly, whatever the umask. An existing file (or /dev/null, a
  // FIFO) is appended to as it is.
  static std::FILE* open_private(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      if (::fchmod(fd, 0600) != 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error("cannot make console output " + path + " private: " + std::strerror(err));
      }
    } else if (errno == EEXIST) {
      fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0) throw std::runtime_error("cannot open console output " + path + ": " + std::strerror(errno));
    std::FILE* f = ::fdopen(fd, "a");
    if (f == nullptr) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error("cannot open console output " + path + ": " + std::strerror(err));
    }
    return f;
  }

  std::mutex mu_;
  std::FILE* file_ = nullptr;
  bool owned_ = false;
  std::string path_;
};

std::shared_ptr<ConsoleSink> sink_for(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<ConsoleSink>>* sinks =
      new std::map<std::string, std::weak_ptr<ConsoleSink>>();
  std::lock_guard lock(mu);
  if (auto s = (*sinks)[path].lock()) return s;
  auto s = std::make_shared<ConsoleSink>(path);
  (*sinks)[path] = s;
  return s;
}

template <class Request>
class ConsoleTransport final : public Transport<Request> {
 public:
  ConsoleTransport(bool json, std::shared_ptr<ConsoleSink> sink) : json_(json), sink_(std::move(sink)) {}

  SendOutcome send(const Request& request, std::chrono::steady_clock::time_point) override {
    std::string text;
    if (json_) {
      append_otlp_json(request, text);
      text += '\n';
    } else {
      text = to_console_text(request);
    }
    if (text.empty() || sink_->write(text)) return SendOutcome::ok();
    return SendOutcome::permanent("write error", "cannot write to " + sink_->name() + ": " + std::strerror(errno));
  }

 private:
  const bool json_;
  std::shared_ptr<ConsoleSink> sink_;
};

}  // namespace

template <class Request>
std::unique_ptr<Transport<Request>> make_console_transport(const SignalExportConfig& config) {
  return std::make_unique<ConsoleTransport<Request>>(config.protocol == Protocol::kConsoleJson,
                                                     sink_for(config.console_path));
}

template std::unique_ptr<Transport<TraceRequest>> make_console_transport<TraceRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<MetricsRequest>> make_console_transport<MetricsRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<LogsRequest>> make_console_transport<LogsRequest>(const SignalExportConfig&);

}  // namespace otlp_mmap::collector::detail

// Following the path: opens the file it names when none is read, notices when it names
// another file (a writer moved a corrupt file aside, or rolled over from a full dictionary)
// or the file read was re-initialised in place, and says each state once.
//
//  - One reader per file: the file is opened `exclusive` (its reader lock). When another
//    collector holds it, this one waits as a hot standby and says so once.
//  - A file that cannot be trusted (not a regular file, a symbolic link, shared-writable,
//    another user's) before any file was read is refused: waiting would not change it and
//    the operator must know at once. Once a file has been read, one that appears later is
//    only reported and the path kept under watch.
//  - A file that failed under the reader (shrank, faulted) is not opened again before
//    failed_retry: it faults again as long as it is truncated; a new file is read at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/receiver/file_source.hpp"
#include "otlp_mmap/collector/receiver/open_file.hpp"

namespace otlp_mmap::collector {

class PathFollower {
 public:
  PathFollower(std::string path, ReaderOptions options, std::chrono::nanoseconds failed_retry,
               Diagnostics& diagnostics);

  // The file at the path, opened, or nullopt (the reason said once; `first_attempt` says a
  // missing file anyway).
  std::optional<OpenResult> open(bool first_attempt);

  // Another file at the path (kReplaced: that file, opened), or `current` re-initialised in
  // place (kReset: its start time changed; it is opened again once the current reader, which
  // holds its lock, is closed). nullopt when nothing changed or the new file cannot be read
  // yet (said once).
  struct Change {
    enum class Kind { kReplaced, kReset };
    Kind kind = Kind::kReplaced;
    OpenResult opened;  // kReplaced
  };
  std::optional<Change> change(const FileSource& current);

  // `file` failed under its reader. Returns true when it is the file that failed last time.
  bool failed(const FileSource& file);

  const std::string& path() const { return path_; }
  bool refused() const { return refused_; }  // run() exits: see the comment above
  bool standby() const { return standby_; }
  uint64_t standby_waits() const { return standby_waits_; }

 private:
  using Clock = std::chrono::steady_clock;

  bool failed_recently(dev_t dev, ino_t ino) const;
  void report(const OpenResult& r);
  void report_locked(const OpenResult& r);
  void report_untrusted(const OpenResult& r);
  void report_waiting(const OpenResult& r);
  // Whether `state` with `message` is what was said last; remembers it when not.
  bool said(OpenState state, const std::string& message);
  void opened();

  const std::string path_;
  const ReaderOptions options_;
  const std::chrono::nanoseconds failed_retry_;
  Diagnostics& diagnostics_;
  std::optional<OpenState> said_state_;
  std::string said_message_;
  bool ever_opened_ = false;
  bool refused_ = false;
  bool standby_ = false;
  bool standby_said_ = false;
  uint64_t standby_waits_ = 0;
  dev_t failed_dev_ = 0;
  ino_t failed_ino_ = 0;
  Clock::time_point failed_at_{};
};

}  // namespace otlp_mmap::collector

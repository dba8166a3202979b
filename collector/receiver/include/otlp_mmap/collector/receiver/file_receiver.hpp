// The receiver: follows the file at the path (PathFollower) and drains its rings in batches
// into the processors, one per signal.
//
//  - Reading: bounded batches per ring per pass (drain_pass), so no ring starves the others,
//    and never more records than the processors have room for: the rest stays in the file.
//  - When the path is replaced by another file, the new one is read at once and the old one
//    beside it for as long as records keep arriving there (writer processes still on it); it
//    is closed once its rings have been empty for retire_quiet. When the file is
//    re-initialised in place, reading starts over on it.
//  - A file that shrinks or faults (SIGBUS) under the reader is dropped, logged once and
//    counted (files_failed); the processors keep what they aggregated, and the receiver
//    waits for a valid file at the path.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/receiver/drain_pass.hpp"
#include "otlp_mmap/collector/receiver/path_follower.hpp"
#include "otlp_mmap/collector/receiver/read_totals.hpp"
#include "otlp_mmap/collector/receiver/received.hpp"
#include "otlp_mmap/collector/receiver/receiver_stats.hpp"

namespace otlp_mmap::collector {

using namespace std::chrono_literals;

struct ReceiverOptions {
  std::string path;
  ReaderOptions reader;  // opened `exclusive` and writable whatever it says: the receiver consumes
  ResolverLimits dictionary;
  size_t read_batch = 1024;  // records per ring per pass
  // Longest time spent reading a file to its end (before a switch, a liveness check, a stop).
  std::chrono::nanoseconds drain_limit = 2s;
  // After the path was replaced: how long the old file's rings must stay empty before it is
  // closed (its writers may still be writing it for a while).
  std::chrono::nanoseconds retire_quiet = 2s;
  std::chrono::nanoseconds failed_retry = 5s;  // a file that failed is opened again at most this often
};

class FileReceiver {
 public:
  // `now` is the pipeline's time, refreshed here before each pass of a drain to the end;
  // `after_pass` runs after each such pass (the pipeline hands on what is due).
  FileReceiver(ReceiverOptions options, ReceiverConsumers consumers, Now& now, Diagnostics& diagnostics,
               std::function<void()> after_pass);
  ~FileReceiver();

  // Opens the file at the path when none is read. True when one is read.
  bool open(bool first_attempt);
  bool reading() const { return current_ != nullptr; }
  bool refused() const { return follower_.refused(); }
  bool standby() const { return follower_.standby(); }

  // One pass: the old file (while one is drained) and the current one.
  DrainPass pass();
  // The last drain pass left records in a ring for lack of room downstream.
  bool blocked() const { return blocked_; }
  // Reads the current file to its end (within drain_limit): stops early when the rings are
  // empty, waits while records wait for room downstream.
  void drain_current();
  // Checks the path for another file, or the current one re-initialised in place.
  void follow();
  // Drops the current file when it failed under its reader (shrank, faulted).
  void drop_if_failed();
  // At a stop: reads the old file and the current one to their ends, closes the old one.
  void drain_for_stop();
  // Closes the current file (and releases its reader lock).
  void close();

  ReceiverStats stats() const;
  // Records left in the current file's ring of `signal`.
  uint64_t unread(Signal signal) const;

 private:
  struct Retiring {
    std::unique_ptr<FileSource> file;
    Now::Clock::time_point last_record{};
    uint64_t records_after_switch = 0;
  };

  void attach(OpenResult opened);
  void log_reading();
  DrainPass drain(FileSource& file);
  void drain_to_end(FileSource& file);
  DrainPass retire_pass();
  void retire_current();
  void close_retiring(const char* why);
  void close_file(std::unique_ptr<FileSource>& file);

  ReceiverOptions options_;
  ReceiverConsumers consumers_;
  Now& now_;
  Diagnostics& diagnostics_;
  std::function<void()> after_pass_;
  PathFollower follower_;
  std::unique_ptr<FileSource> current_;
  std::unique_ptr<Retiring> retiring_;
  ReadTotals totals_;
  ReceiverStats counters_;  // file events; the per-ring counters come from totals_
  uint64_t next_file_id_ = 1;
  bool blocked_ = false;
};

}  // namespace otlp_mmap::collector

#include "otlp_mmap/collector/receiver/path_follower.hpp"

namespace otlp_mmap::collector {

PathFollower::PathFollower(std::string path, ReaderOptions options, std::chrono::nanoseconds failed_retry,
                           Diagnostics& diagnostics)
    : path_(std::move(path)), options_(options), failed_retry_(failed_retry), diagnostics_(diagnostics) {}

bool PathFollower::said(OpenState state, const std::string& message) {
  // Waiting and standby are said once whatever the reader's words; other errors once per text.
  const std::string key = awaiting(state) || state == OpenState::kLocked ? std::string() : message;
  if (said_state_ == state && said_message_ == key) return true;
  said_state_ = state;
  said_message_ = key;
  return false;
}

bool PathFollower::failed_recently(dev_t dev, ino_t ino) const {
  return failed_ino_ != 0 && dev == failed_dev_ && ino == failed_ino_ && Clock::now() - failed_at_ < failed_retry_;
}

std::optional<OpenResult> PathFollower::open(bool first_attempt) {
  dev_t dev = 0;
  ino_t ino = 0;
  if (!path_identity(path_, dev, ino)) {
    if (!said(OpenState::kAwaitFile, {}) || first_attempt) diagnostics_.log("waiting for " + path_ + " to appear");
    return std::nullopt;
  }
  if (failed_recently(dev, ino)) return std::nullopt;
  OpenResult r = open_file(path_, options_);
  if (r.state != OpenState::kOpened) {
    report(r);
    return std::nullopt;
  }
  if (standby_) {
    diagnostics_.log("took over " + path_);
    standby_ = false;
    standby_said_ = false;
  }
  opened();
  return r;
}

void PathFollower::report(const OpenResult& r) {
  switch (r.state) {
    case OpenState::kOpened:
    case OpenState::kReplaced: return;  // tried again at the next attempt
    case OpenState::kLocked: report_locked(r); return;
    case OpenState::kUntrusted: report_untrusted(r); return;
    default: report_waiting(r); return;
  }
}

void PathFollower::report_locked(const OpenResult& r) {
  standby_ = true;
  said(OpenState::kLocked, r.message);
  if (standby_said_) return;
  ++standby_waits_;
  diagnostics_.log("another collector" +
                   (r.holder_pid > 0 ? " (pid " + std::to_string(r.holder_pid) + ")" : std::string()) + " reads " +
                   path_ + "; waiting as a hot standby");
  standby_said_ = true;
}

void PathFollower::report_untrusted(const OpenResult& r) {
  if (!ever_opened_) {
    diagnostics_.log(r.message);
    refused_ = true;
  } else if (!said(r.state, r.message)) {
    diagnostics_.log(r.message + "; waiting for a file that can be trusted");
  }
}

void PathFollower::report_waiting(const OpenResult& r) {
  if (said(r.state, r.message)) return;
  if (r.state == OpenState::kAwaitFile) {
    diagnostics_.log("waiting for " + path_ + " to appear");
  } else if (r.state == OpenState::kAwaitInitialisation) {
    diagnostics_.log("waiting for " + path_ + " to be initialised by a writer");
  } else {
    // Not a file we can read (yet): a writer may still fix it, move it aside and create a
    // fresh one (or a reference writer is half-way through initialising it).
    diagnostics_.log("cannot read the file yet, will retry: " + r.message);
  }
}

std::optional<PathFollower::Change> PathFollower::change(const FileSource& current) {
  dev_t dev = 0;
  ino_t ino = 0;
  if (!path_identity(path_, dev, ino)) return std::nullopt;
  if (dev == current.dev && ino == current.ino) {
    // Re-initialised in place (a writer that resets files, as the reference does): the ring
    // indices held mean nothing any more.
    if (current.reader->start_time_unix_nano() == current.start_time) return std::nullopt;
    return Change{Change::Kind::kReset, {}};
  }
  OpenResult r = open_file(path_, options_);
  if (r.state != OpenState::kOpened) {
    // A corrupt or untrusted file at the path (or one another collector holds): said once;
    // the current file is still read, and the path checked again next time.
    if (!awaiting(r.state) && r.state != OpenState::kReplaced && !said(r.state, r.message)) {
      diagnostics_.log("a new file is at the path but cannot be read yet: " + r.message);
    }
    return std::nullopt;
  }
  opened();
  return Change{Change::Kind::kReplaced, std::move(r)};
}

bool PathFollower::failed(const FileSource& file) {
  const bool again = file.dev == failed_dev_ && file.ino == failed_ino_;
  failed_dev_ = file.dev;
  failed_ino_ = file.ino;
  failed_at_ = Clock::now();
  said_state_.reset();
  return again;
}

void PathFollower::opened() {
  ever_opened_ = true;
  said_state_.reset();
}

}  // namespace otlp_mmap::collector

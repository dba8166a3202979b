#include "otlp_mmap/collector/receiver/file_receiver.hpp"

#include <sstream>
#include <thread>

namespace otlp_mmap::collector {

namespace {

// One reader per file: the receiver consumes, so it always holds the file's reader lock.
ReaderOptions consuming(ReaderOptions o) {
  o.exclusive = true;
  o.read_only = false;
  return o;
}

bool rings_empty(const Reader& reader) {
  for (Signal s : kSignals) {
    if (unread_records(reader, s) > 0) return false;
  }
  return true;
}

}  // namespace

FileReceiver::FileReceiver(ReceiverOptions options, ReceiverConsumers consumers, Now& now, Diagnostics& diagnostics,
                           std::function<void()> after_pass)
    : options_(std::move(options)),
      consumers_(consumers),
      now_(now),
      diagnostics_(diagnostics),
      after_pass_(std::move(after_pass)),
      follower_(options_.path, consuming(options_.reader), options_.failed_retry, diagnostics) {}

FileReceiver::~FileReceiver() = default;

bool FileReceiver::open(bool first_attempt) {
  if (current_) return true;
  std::optional<OpenResult> opened = follower_.open(first_attempt);
  if (!opened) return false;
  attach(std::move(*opened));
  return true;
}

void FileReceiver::attach(OpenResult opened) {
  if (current_) close_file(current_);
  current_ = std::make_unique<FileSource>(next_file_id_++, std::move(opened.reader), opened.dev, opened.ino,
                                          options_.dictionary);
  ++counters_.files_opened;
  log_reading();
}

void FileReceiver::log_reading() {
  std::ostringstream msg;
  msg << "reading " << options_.path << " (";
  for (auto k : layout::kRingKinds) {
    RingState st = current_->reader->ring_state(k);
    msg << layout::ring_name(k) << " " << st.num_buffers << "x" << st.buffer_size << ", " << st.unread() << " unread"
        << (k == layout::RingKind::kMeasurements ? ")" : "; ");
  }
  diagnostics_.log(msg.str());
}

DrainPass FileReceiver::drain(FileSource& file) {
  const DrainPass pass = drain_pass(file, consumers_, options_.read_batch);
  blocked_ = pass.blocked;
  if (pass.blocked) ++counters_.backpressure_passes;
  return pass;
}

DrainPass FileReceiver::pass() {
  DrainPass pass;
  if (retiring_) pass += retire_pass();
  if (current_) pass += drain(*current_);
  return pass;
}

void FileReceiver::drain_to_end(FileSource& file) {
  if (file.reader->failed()) return;
  const auto deadline = Now::Clock::now() + options_.drain_limit;
  for (;;) {
    now_ = Now::read();
    const DrainPass pass = drain(file);
    after_pass_();
    if (Now::Clock::now() >= deadline) break;
    if (pass.records == 0) {
      if (!pass.blocked) break;
      std::this_thread::sleep_for(1ms);  // records are waiting for room downstream
    }
  }
}

void FileReceiver::drain_current() {
  if (current_) drain_to_end(*current_);
}

DrainPass FileReceiver::retire_pass() {
  const DrainPass pass = drain(*retiring_->file);
  const bool empty = rings_empty(*retiring_->file->reader);
  retiring_->records_after_switch += pass.records;
  if (pass.records > 0 || !empty) retiring_->last_record = now_.steady;
  if (retiring_->file->reader->failed()) {
    close_retiring("it failed");
  } else if (now_.steady - retiring_->last_record >= options_.retire_quiet) {
    close_retiring(empty ? "its rings stayed empty" : "no record arrived");
  }
  return pass;
}

void FileReceiver::follow() {
  // A failed reader answers nothing (its start time reads as 0): it is dropped by
  // drop_if_failed, not taken for a file re-initialised in place.
  if (!current_ || current_->reader->failed()) return;
  std::optional<PathFollower::Change> change = follower_.change(*current_);
  if (!change) return;
  if (change->kind == PathFollower::Change::Kind::kReset) {
    diagnostics_.log("the file was re-initialised in place (its start time changed): starting over on it");
    ++counters_.file_resets;
    close_file(current_);  // releases its reader lock, so the file can be opened again
    open(false);
    return;
  }
  retire_current();
  attach(std::move(change->opened));
}

void FileReceiver::retire_current() {
  // Whatever the old file still holds belongs to its writers, some of which may still be
  // writing it for a while: it is read beside the new one until it has been quiet for
  // retire_quiet (its lock held until then), then closed.
  if (retiring_) {
    drain_to_end(*retiring_->file);
    close_retiring("the path was replaced again");
  }
  drain_to_end(*current_);
  retiring_ = std::make_unique<Retiring>();
  retiring_->file = std::move(current_);
  retiring_->last_record = now_.steady;
  diagnostics_.log(
      "the path now names another file: reading it, and the old one until it has been quiet for " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.retire_quiet).count()) + " ms");
  ++counters_.file_switches;
}

void FileReceiver::close_retiring(const char* why) {
  if (!retiring_) return;
  const Reader& r = *retiring_->file->reader;
  if (r.failed()) {
    ++counters_.files_failed;
    diagnostics_.log(r.failure() + "; dropped the old file");
  } else {
    diagnostics_.log(std::string("finished the old file that was at ") + options_.path + " (" +
                     std::to_string(retiring_->records_after_switch) + " records read from it after the switch; " +
                     why + ")");
  }
  ++counters_.files_retired;
  close_file(retiring_->file);
  retiring_.reset();
}

void FileReceiver::drop_if_failed() {
  if (!current_ || !current_->reader->failed()) return;
  const std::string why = current_->reader->failure();
  ++counters_.files_failed;
  if (!follower_.failed(*current_)) {
    diagnostics_.log(why + "; dropped the file (" + std::to_string(counters_.files_failed) +
                     " so far), keeping what was aggregated in memory; waiting for a valid file at " + options_.path);
  }
  close_file(current_);
}

void FileReceiver::drain_for_stop() {
  if (retiring_) {
    drain_to_end(*retiring_->file);
    close_retiring("shutdown");
  }
  drain_current();
  drop_if_failed();
}

void FileReceiver::close() {
  if (!current_) return;
  counters_.writer = current_->reader->writer_counters();
  close_file(current_);
}

void FileReceiver::close_file(std::unique_ptr<FileSource>& file) {
  totals_.close(*file);
  file.reset();
}

ReceiverStats FileReceiver::stats() const {
  ReceiverStats s = counters_;
  totals_.totals({current_.get(), retiring_ ? retiring_->file.get() : nullptr}, s);
  if (current_) s.writer = current_->reader->writer_counters();
  s.standby = follower_.standby();
  s.standby_waits = follower_.standby_waits();
  return s;
}

uint64_t FileReceiver::unread(Signal signal) const { return current_ ? unread_records(*current_->reader, signal) : 0; }

}  // namespace otlp_mmap::collector

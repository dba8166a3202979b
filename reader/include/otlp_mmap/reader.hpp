// The consumer side: validates a file, reads the rings (skipping what cannot be read,
// counting it, never stalling), and resolves dictionary references with bounds checks.
// One Reader per file; it is not thread-safe (the protocol has a single consumer).
//
// A hostile or damaged mapping never kills the process: the size of the file is checked
// (fstat) before a region is touched, and every load from the mapping runs under
// mapping_guard::guarded, so a SIGBUS (the file shrank, or a hole the filesystem cannot
// back) becomes a failure of this reader: failed() turns true for good, failure() says
// why, and every later read returns nothing. The owner drops the reader and opens the path
// again when it likes.
#pragma once

#include <sys/stat.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "otlp_mmap/file.hpp"
#include "otlp_mmap/file_trust.hpp"
#include "otlp_mmap/layout.hpp"
#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/record_assembler.hpp"
#include "otlp_mmap/record_view.hpp"
#include "otlp_mmap/ring.hpp"
#include "otlp_mmap/ring_consumer.hpp"

namespace otlp_mmap {

struct ReaderOptions {
  // How long a claimed but unpublished slot may block its ring before it is taken for the
  // mark of a writer that died between claim and publish, and skipped.
  std::chrono::nanoseconds torn_grace = std::chrono::seconds(2);
  // Largest dictionary entry the reader will copy (hostile-file guard).
  uint64_t max_entry_bytes = uint64_t{16} << 20;
  // Largest record spread over several slots that the reader will put together (hostile-file
  // guard: a head announcing more is skipped as corrupt). Writers cap theirs at 16 MiB.
  uint64_t max_record_bytes = uint64_t{16} << 20;
  // Address space reserved for the file; the file may grow up to this size.
  uint64_t max_file_bytes = uint64_t{64} << 30;
  // Read-only readers can decode and peek but never consume (inspect tools).
  bool read_only = false;
  // Which files may be read: owner, group/world-writable, a symbolic link at the path.
  TrustPolicy trust{};
  // Take the file's reader lock (an OFD write lock on its first byte, see Reader::open) and
  // fail with FileLockedError when another reader holds it. Needs a writable reader.
  bool exclusive = false;
};

// Reader::open with `exclusive`: another reader (another collector) holds the file's lock.
// Code kIo; `holder_pid` is the holder's pid when the kernel tells it, else 0.
class FileLockedError : public FileError {
 public:
  FileLockedError(std::string message, int64_t holder_pid)
      : FileError(Code::kIo, std::move(message)), holder_pid_(holder_pid) {}
  int64_t holder_pid() const { return holder_pid_; }

 private:
  int64_t holder_pid_;
};

struct RingState {
  uint64_t num_buffers = 0;
  uint64_t buffer_size = 0;
  int64_t reader_index = -1;
  int64_t writer_index = -1;
  int64_t unread() const { return seq_sub(writer_index, reader_index); }
};

// What the reader has skipped. `torn` and `corrupt` are also added to the file header so
// they outlive this process.
struct ReaderCounters {
  std::array<uint64_t, 3> records{};  // decoded records, per ring
  // Slots claimed but never published, skipped after the grace, and continuation slots of a
  // record whose head was lost (FORMAT.md §9.17).
  std::array<uint64_t, 3> torn{};
  // Unreadable length prefixes, undecodable payloads, multi-slot records refused or left
  // incomplete.
  std::array<uint64_t, 3> corrupt{};
};

class Reader {
 public:
  // Throws FileError: kNotFound / kNotInitialized mean "try again later" to a follower.
  static std::unique_ptr<Reader> open(const std::string& path, const ReaderOptions& options = {});

  const std::string& path() const { return file_->path(); }
  // The mapping this reader validated (tools read raw slots through it rather than mapping
  // the path again, which could by then name another file).
  const MappedFile& mapped_file() const { return *file_; }
  const FileLayout& file_layout() const { return layout_; }
  uint64_t start_time_unix_nano() const;
  // The file's size now (fstat; it may have shrunk).
  uint64_t file_size() {
    refresh();
    return size_;
  }

  // Re-reads the file's size (fstat) and fails the reader when the file no longer covers its
  // header, rings and dictionary header. Call it when a pass over the file starts. Returns
  // !failed().
  bool refresh();
  // Sticky: a read of the mapping faulted (SIGBUS) or the file shrank below its layout.
  bool failed() const { return failed_; }
  const std::string& failure() const { return failure_; }
  uint64_t faults() const { return faults_; }
  // dev/ino of the file this reader has open.
  dev_t device() const { return dev_; }
  ino_t inode() const { return ino_; }

  // Next record of a ring, decoded. Returns false when nothing is ready now; unreadable
  // records on the way are skipped and counted.
  bool next(Event& out) { return next_decoded(layout::RingKind::kEvents, out); }
  bool next(SpanEvent& out) { return next_decoded(layout::RingKind::kSpans, out); }
  bool next(Measurement& out) { return next_decoded(layout::RingKind::kMeasurements, out); }
  // The same as views of the record's bytes (no allocation once warm), valid until the next
  // call that reads a record.
  bool next(EventRecordView& out) { return next_decoded(layout::RingKind::kEvents, out); }
  bool next(SpanRecordView& out) { return next_decoded(layout::RingKind::kSpans, out); }
  // Raw payload of the next record of `ring` (protobuf bytes without the length prefix). A
  // record spread over several slots comes whole (FORMAT.md §9.17).
  bool next_payload(layout::RingKind ring, std::string& payload);

  // Drains up to `max` records of `ring` in passes (RingConsumer::take: one guarded pass
  // copies the slots out and stores reader_index once), then calls
  // `f(std::string_view payload)` for each record, outside the SIGBUS guard; a record spread
  // over several slots comes whole. The view is valid during the call only. Torn and corrupt
  // slots on the way are skipped and counted. Returns the number of payloads handed to `f`.
  // `f` may read the dictionary but must not drain again; an exception from `f` propagates,
  // and the rest of that pass, already consumed from the ring, is lost, as it is when the
  // reader fails during the pass.
  template <class F>
  size_t drain(layout::RingKind ring, size_t max, F&& f);
  // The same with each payload decoded into one reused message: `f(const Msg&)`, Msg the
  // ring's record type (SpanEvent, Event, Measurement). Payloads that do not decode are
  // counted as corrupt and not handed on. Returns the number of payloads taken.
  template <class Msg, class F>
  size_t drain_decoded(layout::RingKind ring, size_t max, F&& f);

  // Published records not yet consumed, oldest first, without consuming them. Stops at
  // the first unpublished slot or after `max` records. A record spread over several slots
  // comes whole, with the sequence of its head.
  void peek(layout::RingKind ring, size_t max, const std::function<void(int64_t seq, std::string_view payload)>& f);

  // Every unconsumed sequence of `ring`, published or not (inspect): `state` is kPending for
  // a claimed but unpublished slot (and the published continuations of a record whose head is
  // not published yet), kInvalid for a published slot whose length prefix is
  // invalid or that is part of a multi-slot record that cannot be put together (payload
  // empty), kPublished otherwise: a multi-slot record is reported once, at its head's
  // sequence, whole. `max` bounds the calls. Nothing when the indices are inconsistent.
  enum class SlotState { kPending, kPublished, kInvalid };
  void scan(layout::RingKind ring, size_t max,
            const std::function<void(int64_t seq, SlotState state, std::string_view payload)>& f);

  // Dictionary entries, with every offset and length checked against the file.
  bool entry(int64_t ref, std::string& out);
  bool read_string(int64_t ref, std::string& out);  // ref 0 is the empty string
  bool read(int64_t ref, Resource& out);
  bool read(int64_t ref, InstrumentationScope& out);
  bool read(int64_t ref, MetricRef& out);
  bool read(int64_t ref, AnyValue& out);
  // Every entry in allocation order (inspect tools). Stops at `max` entries.
  void for_each_entry(size_t max, const std::function<void(int64_t ref, std::string_view payload)>& f);
  int64_t dictionary_end() const;
  int64_t dictionary_entries() const;

  RingState ring_state(layout::RingKind ring) const;
  WriterCounters writer_counters() const;
  const ReaderCounters& counters() const { return counters_; }
  // Torn and corrupt totals recorded in the file by every reader so far.
  std::pair<uint64_t, uint64_t> file_skip_totals() const;

 private:
  Reader(std::unique_ptr<MappedFile> file, FileLayout layout, ReaderOptions options, const struct stat& st);

  template <class Msg>
  bool next_decoded(layout::RingKind ring, Msg& out) {
    bool decoded = false;
    const auto take = [&](std::string_view payload) {
      decoded = decode(payload, out);
      if (decoded) {
        ++counters_.records[static_cast<size_t>(ring)];
      } else {
        note_corrupt(ring);
      }
    };
    while (drain(ring, 1, take) == 1 && !decoded) {
    }
    return decoded;
  }
  // One slot of a pass, in order: a whole record (or the last part of a spread one) sets
  // `record` and returns true; the rest is assembled, or counted as torn or corrupt.
  bool accept(layout::RingKind ring, const SlotBatch::Entry& e, std::string_view& record);
  void note_corrupt(layout::RingKind ring);
  void note_torn(layout::RingKind ring);
  void note_fault(layout::RingKind ring);
  template <class Msg>
  bool read_message(int64_t ref, Msg& out);

  template <class F>
  void scan_slots(layout::RingKind ring, size_t max, F&& f);
  // Runs `f` under the SIGBUS guard; on a fault the reader fails (false).
  template <class F>
  bool guard(F&& f);
  void fail(const std::string& why);
  // The bytes [off, off + len) lie inside the file as last sized, and inside the window.
  bool covered(uint64_t off, uint64_t len) const;

  std::unique_ptr<MappedFile> file_;
  uint64_t size_ = 0;      // st_size at the last refresh (may shrink, unlike MappedFile's)
  uint64_t min_size_ = 0;  // the file must cover header, rings and dictionary header
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool failed_ = false;
  std::string failure_;
  uint64_t faults_ = 0;
  FileLayout layout_;
  ReaderOptions options_;
  std::array<RingConsumer, 3> consumers_;
  std::array<RecordAssembler, 3> assemblers_;
  ReaderCounters counters_;
  std::string entry_scratch_;
  SlotBatch batch_;  // drain's current pass
};

template <class F>
size_t Reader::drain(layout::RingKind ring, size_t max, F&& f) {
  if (!file_->writable() || failed_) return 0;
  RingConsumer& c = consumers_[static_cast<size_t>(ring)];
  size_t handed = 0;
  while (handed < max) {
    // Each slot completes at most one record, so `max - handed` slots never hand on too many.
    const RingConsumer::End end = c.take(batch_, max - handed);
    if (end == RingConsumer::End::kFault) {
      note_fault(ring);
      break;
    }
    std::string_view record;
    // A fault while `f` read the dictionary fails the reader: the file is given up, and the rest
    // of the pass is not handed on (it may name the same broken entries).
    for (size_t i = 0; i < batch_.size() && !failed_; ++i) {
      if (!accept(ring, batch_[i], record)) continue;
      ++handed;
      f(record);
    }
    // kMax: `max` slots were taken, or the batch filled up, and more may be waiting.
    if (end != RingConsumer::End::kMax || batch_.empty() || failed_) break;
  }
  return handed;
}

template <class Msg, class F>
size_t Reader::drain_decoded(layout::RingKind ring, size_t max, F&& f) {
  Msg msg;  // reused for every record of the call
  return drain(ring, max, [&](std::string_view payload) {
    if (!decode(payload, msg)) {
      note_corrupt(ring);
      return;
    }
    ++counters_.records[static_cast<size_t>(ring)];
    f(static_cast<const Msg&>(msg));
  });
}

}  // namespace otlp_mmap

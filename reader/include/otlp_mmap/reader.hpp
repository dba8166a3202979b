// The consumer side: validates a file, reads the rings (skipping what cannot be read,
// counting it, never stalling), and resolves dictionary references with bounds checks.
// One Reader per file; it is not thread-safe (the protocol has a single consumer).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "otlp_mmap/file.hpp"
#include "otlp_mmap/layout.hpp"
#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/ring.hpp"
#include "otlp_mmap/ring_consumer.hpp"

namespace otlp_mmap {

struct ReaderOptions {
  // How long a claimed but unpublished slot may block its ring before it is taken for the
  // mark of a writer that died between claim and publish, and skipped.
  std::chrono::nanoseconds torn_grace = std::chrono::seconds(2);
  // Largest dictionary entry the reader will copy (hostile-file guard).
  uint64_t max_entry_bytes = uint64_t{16} << 20;
  // Address space reserved for the file; the file may grow up to this size.
  uint64_t max_file_bytes = uint64_t{64} << 30;
  // Read-only readers can decode and peek but never consume (inspect tools).
  bool read_only = false;
  // Refuse files owned by another user unless this is set.
  bool trust_any_owner = false;
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
  std::array<uint64_t, 3> torn{};     // claimed but never published, skipped after the grace
  std::array<uint64_t, 3> corrupt{};  // unreadable length prefix or undecodable payload
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
  uint64_t file_size() { return file_->refresh_size(); }

  // Next record of a ring, decoded. Returns false when nothing is ready now; unreadable
  // records on the way are skipped and counted.
  bool next(Event& out) { return next_decoded(layout::RingKind::kEvents, out); }
  bool next(SpanEvent& out) { return next_decoded(layout::RingKind::kSpans, out); }
  bool next(Measurement& out) { return next_decoded(layout::RingKind::kMeasurements, out); }
  // Raw payload of the next record of `ring` (protobuf bytes without the length prefix).
  bool next_payload(layout::RingKind ring, std::string& payload);

  // Published records not yet consumed, oldest first, without consuming them. Stops at
  // the first unpublished slot or after `max` records.
  void peek(layout::RingKind ring, size_t max, const std::function<void(int64_t seq, std::string_view payload)>& f);

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
  Reader(std::unique_ptr<MappedFile> file, FileLayout layout, ReaderOptions options);

  template <class Msg>
  bool next_decoded(layout::RingKind ring, Msg& out) {
    while (next_payload(ring, scratch_)) {
      if (decode(scratch_, out)) {
        ++counters_.records[static_cast<size_t>(ring)];
        return true;
      }
      note_corrupt(ring);
    }
    return false;
  }
  void note_corrupt(layout::RingKind ring);
  template <class Msg>
  bool read_message(int64_t ref, Msg& out);

  std::unique_ptr<MappedFile> file_;
  FileLayout layout_;
  ReaderOptions options_;
  std::array<RingConsumer, 3> consumers_;
  ReaderCounters counters_;
  std::string scratch_;
  std::string entry_scratch_;
};

}  // namespace otlp_mmap

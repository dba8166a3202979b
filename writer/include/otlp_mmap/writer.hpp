// The application side: creates or opens the file, interns dictionary entries, and writes
// records into the rings without ever blocking on the reader.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "otlp_mmap/file.hpp"
#include "otlp_mmap/layout.hpp"
#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/ring.hpp"

namespace otlp_mmap {

struct WriterConfig {
  layout::Geometry geometry = layout::kDefaultGeometry;
  uint64_t dictionary_max_bytes = layout::kDefaultDictionaryMaxBytes;
  mode_t file_mode = 0600;
  // Re-checks of a full ring before its record is dropped, after 2, 4, 8 pause
  // instructions (about a microsecond in all): enough for a reader that is about to advance,
  // cheap when the reader is gone and every write would otherwise wait in vain.
  int full_ring_retries = 3;
  // When false, nothing is written that a reader of the plain protocol cannot take: span
  // events (the add_event extension) go to the events ring as log records carrying the
  // span's context, the way other implementations record them. OTLP_MMAP_EXTENSIONS=none.
  bool extensions = true;
  // Adopt an existing file owned by another user (refused by default).
  bool trust_any_owner = false;

  // Defaults overridden by OTLP_MMAP_* environment variables (see docs/FORMAT.md).
  // Throws std::invalid_argument naming the variable when a value is malformed.
  static WriterConfig from_env();
  // Throws std::invalid_argument when the geometry or limits are unusable.
  void validate() const;
};

enum class WriteStatus : uint8_t {
  kWritten,             // as given
  kWrittenTruncated,    // written after shortening values or splitting the record
  kDroppedFull,         // ring stayed full through the bounded retry
  kDroppedUnencodable,  // could not be made to fit a slot, or the dictionary is full
  kDroppedSkipped,      // the reader had given up on the slot (writer stalled past the grace)
};
inline bool written(WriteStatus s) { return s == WriteStatus::kWritten || s == WriteStatus::kWrittenTruncated; }

class Writer {
 public:
  // Opens `path`, creating and initialising it if needed. Safe against other processes
  // opening the same file at the same time. One Writer per file per process is shared.
  static std::shared_ptr<Writer> open(const std::string& path, const WriterConfig& config = WriterConfig::from_env());

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  const std::string& path() const { return file_->path(); }
  const FileLayout& file_layout() const { return layout_; }
  const WriterConfig& config() const { return config_; }
  bool created_file() const { return created_; }

  // A dictionary entry holding exactly `payload`; the same bytes always give the same ref
  // (entries are untyped, so a string and a message with identical bytes may share one).
  // Returns 0 when the dictionary is full.
  int64_t intern(std::string_view payload);

  // Dictionary messages; attribute order does not matter (sorted by key before encoding).
  int64_t create_resource(ResourceView r);
  int64_t create_scope(ScopeView s);
  int64_t create_metric_stream(const MetricRefView& m);

  WriteStatus write(const EventView& e);
  WriteStatus write(const MeasurementView& m);
  WriteStatus write(const SpanEventView& s);

  WriterCounters counters() const;

  // Resets in-process locks in a forked child (a parent thread may have held them).
  void after_fork_in_child();

 private:
  Writer(std::unique_ptr<MappedFile> file, FileLayout layout, WriterConfig config, bool created);

  // Writes one record that must fit a slot; `encoded` is encoded_size(v), which the
  // callers have already computed to decide whether the record fits.
  template <class View>
  WriteStatus write_one(layout::RingKind kind, const View& v, uint64_t encoded);
  template <class View>
  WriteStatus write_one(layout::RingKind kind, const View& v) {
    return write_one(kind, v, encoded_size(v));
  }
  WriteStatus write_span_attributes(const SpanEventView& base, std::span<const KeyValueView> attrs, bool& truncated);
  void count(uint64_t field, uint64_t n = 1);
  int64_t append_entry(std::string_view payload);
  WriteStatus note(WriteStatus s);

  std::unique_ptr<MappedFile> file_;
  FileLayout layout_;
  WriterConfig config_;
  bool created_;
  std::array<Ring, 3> rings_;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex intern_mu_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> interned_;
};

}  // namespace otlp_mmap

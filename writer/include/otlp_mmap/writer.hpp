// The application side: creates or opens the file, interns dictionary entries, and writes
// records into the rings without ever blocking on the reader.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "otlp_mmap/file.hpp"
#include "otlp_mmap/file_trust.hpp"
#include "otlp_mmap/layout.hpp"
#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/ring.hpp"

namespace otlp_mmap {

namespace writer_detail {
class ValueCap;
}

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
  // Which existing files may be adopted: owner, group/world-writable, symbolic links
  // (OTLP_MMAP_TRUST_ANY_OWNER, OTLP_MMAP_ALLOW_SHARED_WRITABLE, OTLP_MMAP_FOLLOW_SYMLINKS).
  TrustPolicy trust;
  // Bound on the memory of the in-process interning cache: key bytes plus an estimate of
  // the per-entry overhead. When an entry would exceed it the cache starts afresh, so a
  // later identical entry may be appended to the file again (bounded duplication).
  // OTLP_MMAP_INTERN_CACHE_BYTES; 0 disables the cache.
  uint64_t intern_cache_bytes = uint64_t{16} << 20;
  // Largest dictionary entry this writer appends: a longer string is cut at a UTF-8
  // boundary (counted in truncated_values), a longer message is refused (ref 0, counted in
  // dropped_unencodable). OTLP_MMAP_MAX_ENTRY_BYTES.
  uint64_t max_entry_bytes = uint64_t{64} << 10;
  // Longest string or bytes value written into a record (attribute values, log bodies, span
  // names, status messages): a longer one is cut, strings at a UTF-8 boundary, and counted in
  // truncated_values. OTLP_MMAP_MAX_VALUE_BYTES.
  uint64_t max_value_bytes = uint64_t{64} << 10;
  // Largest record spread over consecutive slots of its ring (FORMAT.md §9.17), also capped
  // at half a ring; a larger record is shortened or split as in §9.5. Only with extensions:
  // without them a record never exceeds one slot. OTLP_MMAP_MAX_RECORD_BYTES.
  uint64_t max_record_bytes = uint64_t{1} << 20;

  // Defaults overridden by OTLP_MMAP_* environment variables (see docs/FORMAT.md).
  // Throws std::invalid_argument naming the variable when a value is malformed.
  static WriterConfig from_env();
  // Throws std::invalid_argument when the geometry or limits are unusable.
  void validate() const;
};

enum class WriteStatus : uint8_t {
  kWritten,             // as given
  kWrittenTruncated,    // written after shortening values or splitting the record
  kDroppedFull,         // ring stayed full (for all of a record's slots) through the bounded retry
  kDroppedUnencodable,  // could not be made to fit, or the dictionary is full
  kDroppedSkipped,      // the reader had given up on the slot (writer stalled past the grace)
};
inline bool written(WriteStatus s) { return s == WriteStatus::kWritten || s == WriteStatus::kWrittenTruncated; }

class Writer {
 public:
  // Opens `path`, creating it if needed. Safe against other processes opening the same file
  // at the same time. One Writer per file per process is shared. A new file is built
  // completely (blocks reserved) before it appears at the path; an existing file is adopted
  // if valid, moved aside if it is a broken file of ours, refused (FileError kCorrupt) if it
  // is anything else, and replaced by a fresh one if its dictionary is (nearly) full.
  static std::shared_ptr<Writer> open(const std::string& path, const WriterConfig& config = WriterConfig::from_env());

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  const std::string& path() const { return file_->path(); }
  const FileLayout& file_layout() const { return layout_; }
  const WriterConfig& config() const { return config_; }
  bool created_file() const { return created_; }
  // Where a broken file of ours found at the path was moved (bytes unchanged) before a fresh
  // one was created; empty if none.
  const std::string& moved_aside_path() const { return moved_aside_; }
  // Why that file was judged broken (e.g. "every byte is zero"); empty if none was moved.
  const std::string& moved_aside_reason() const { return moved_aside_reason_; }
  // True when the file at the path had a full dictionary and was replaced by a fresh one.
  bool rolled_over() const { return rolled_over_; }
  // Where that full file was kept because it still held unread records; empty if none.
  const std::string& full_file_path() const { return full_aside_; }

  // A dictionary entry holding exactly `payload`; the same bytes always give the same ref
  // (entries are untyped, so a string and a message with identical bytes may share one).
  // Returns 0 when the dictionary is full or `payload` is longer than max_entry_bytes.
  int64_t intern(std::string_view payload);
  // A string entry: like intern, but a string longer than max_entry_bytes is cut at a UTF-8
  // character boundary (counted in truncated_values) instead of refused.
  int64_t intern_string(std::string_view s);

  // Dictionary messages; attribute order does not matter (sorted by key before encoding).
  int64_t create_resource(ResourceView r);
  int64_t create_scope(ScopeView s);
  int64_t create_metric_stream(const MetricRefView& m);

  WriteStatus write(const EventView& e);
  WriteStatus write(const MeasurementView& m);
  WriteStatus write(const SpanEventView& s);

  WriterCounters counters() const;

  // What open found and did; defined and used only inside the writer (writer_open.cpp).
  struct Opened;
  // Entries this process could not append because the dictionary's window was exhausted or
  // the file system had no space for it to grow.
  uint64_t dictionary_full_count() const { return dictionary_full_.load(std::memory_order_relaxed); }
  // Memory the interning cache accounts for now (key bytes + per-entry estimate).
  uint64_t cache_bytes() const;

  // Resets in-process locks in a forked child (a parent thread may have held them).
  void after_fork_in_child();

 private:
  explicit Writer(Opened&& o);

  // Writes one record that must fit record_limit_; `encoded` is encoded_size(v), which the
  // callers have already computed to decide whether the record fits. A record larger than
  // a slot is spread over consecutive slots.
  template <class View>
  WriteStatus write_one(layout::RingKind kind, const View& v, uint64_t encoded);
  template <class View>
  WriteStatus write_spread(layout::RingKind kind, const View& v, uint64_t encoded);
  WriteStatus spread(layout::RingKind kind, const uint8_t* payload, uint64_t n);
  // A record larger than one slot: its values cut to max_value_bytes (counted, `cap` keeps the
  // copies), then written if it is within the record limit; nullopt: it must be shortened.
  template <class View>
  std::optional<WriteStatus> write_within_limits(layout::RingKind kind, View& v, uint64_t size,
                                                 writer_detail::ValueCap& cap);
  template <class View>
  WriteStatus write_one(layout::RingKind kind, const View& v) {
    return write_one(kind, v, encoded_size(v));
  }
  WriteStatus write_span_attributes(const SpanEventView& base, std::span<const KeyValueView> attrs, bool& truncated);
  void count(uint64_t field, uint64_t n = 1);
  int64_t append_entry(std::string_view payload);
  int64_t intern_locked(std::string_view payload);
  void remember(std::string_view payload, int64_t ref);
  WriteStatus note(WriteStatus s);

  std::unique_ptr<MappedFile> file_;
  FileLayout layout_;
  WriterConfig config_;
  bool created_ = false;
  bool rolled_over_ = false;
  std::string moved_aside_;
  std::string moved_aside_reason_;
  std::string full_aside_;
  std::array<Ring, 3> rings_;
  // Per ring, in payload bytes: records up to fast_limit_ go straight into one slot (nothing in
  // them can exceed max_value_bytes); record_limit_ is the largest record written at all.
  std::array<uint64_t, 3> fast_limit_{};
  std::array<uint64_t, 3> record_limit_{};
  std::atomic<uint64_t> dictionary_full_{0};
  // After growth failed for lack of space, further appends fail fast (no `end` bump, no
  // system call) until this steady-clock time in nanoseconds, then growth is tried again.
  std::atomic<int64_t> grow_retry_after_ns_{0};

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex intern_mu_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> interned_;
  uint64_t cache_bytes_ = 0;  // guarded by intern_mu_
};

}  // namespace otlp_mmap

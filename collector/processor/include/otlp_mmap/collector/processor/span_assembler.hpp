// Span assembly: the records of the span ring (start, rename, attribute updates, links,
// span events, end) become complete OTLP spans, encoded as they are assembled (SpanDraft): a
// record's strings and attribute values go from the ring's bytes into the span's bytes with
// no message object in between.
//
// A span lives here from its start until its end. One whose end never comes is exported
// marked incomplete (attribute otlp_mmap.incomplete = true and otlp_mmap.incomplete.reason,
// status unset) when
//   - its writer process has exited (WriterLiveness checks process.pid): ended at the last
//     time known for the span, the latest of its start and its events' times;
//   - it has been in flight longer than max_age, or the collector shuts down: ended at the
//     time the collector gave up on it (the span was still running then);
//   - max_in_flight spans are in flight and another starts: the oldest is evicted, ended at
//     the time it was evicted;
//   - another start arrives with the same ids: the first is superseded.
// So a crash shows what the process was doing, and memory stays bounded.
//
// Records that cannot be used are counted and skipped, never fatal: ids of the wrong length,
// records with no known event, updates and ends of spans whose start was never seen.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/processor/span_draft.hpp"
#include "otlp_mmap/collector/receiver/resolver.hpp"
#include "otlp_mmap/record_view.hpp"

namespace otlp_mmap::collector {

enum class IncompleteReason : uint8_t { kWriterExited, kMaxAge, kShutdown, kEvicted, kSuperseded };
inline constexpr size_t kIncompleteReasons = 5;
const char* incomplete_reason_name(IncompleteReason r);

inline constexpr const char* kIncompleteAttribute = "otlp_mmap.incomplete";
inline constexpr const char* kIncompleteReasonAttribute = "otlp_mmap.incomplete.reason";

struct SpanAssemblerOptions {
  size_t max_in_flight = 100000;
  std::chrono::nanoseconds max_age = std::chrono::hours(1);
  // Per span, beyond these the rest is dropped and added to the span's dropped counts (a
  // hostile or broken writer cannot grow one span without bound).
  size_t max_attributes = 1024;
  size_t max_events = 1024;
  size_t max_links = 1024;
};

struct SpanStats {
  uint64_t records = 0;     // span records handled
  uint64_t started = 0;     // spans started
  uint64_t completed = 0;   // spans ended by their end record
  uint64_t incomplete = 0;  // spans exported without an end (all reasons)
  std::array<uint64_t, kIncompleteReasons> incomplete_by_reason{};
  uint64_t orphans = 0;          // updates and ends of spans whose start was not seen: dropped
  uint64_t invalid_ids = 0;      // trace id not 16 bytes or span id not 8: record skipped
  uint64_t unknown_records = 0;  // no event the collector knows: record skipped
  uint64_t invalid_fields = 0;   // bad parent or link ids, kind or status code: field dropped
  uint64_t limited = 0;          // attributes, events or links beyond the per-span limits
};

class SpanAssembler {
 public:
  // Receives every finished span (the draft is valid during the call only).
  using Sink = std::function<void(std::shared_ptr<const ResolvedScope>, const SpanDraft&)>;

  SpanAssembler(SpanAssemblerOptions options, Sink sink);

  // One record; its refs are resolved by `resolver`, the dictionary of the file it came from.
  void handle(const SpanRecordView& record, DictionaryResolver& resolver, const Now& now);

  // Exports as incomplete the spans in flight for longer than max_age. Returns how many.
  size_t expire(const Now& now);
  // Exports as incomplete every span in flight (oldest first). Returns how many.
  size_t finish_all(IncompleteReason reason, const Now& now);
  // Exports as incomplete (writer exited) every span whose resource's process.pid is one
  // of `pids`. Returns how many.
  size_t finish_writers(const std::unordered_set<int64_t>& pids);

  // Distinct process.pid values of the resources of spans in flight.
  std::vector<int64_t> writer_pids() const;
  // Counting of span records per writer pid, for the pids being watched (the pipeline uses
  // it to tell a dead writer from a pid it cannot see, e.g. in another pid namespace).
  void watch(const std::unordered_set<int64_t>& pids);
  uint64_t watched_records(int64_t pid) const;

  size_t in_flight() const { return spans_.size(); }
  const SpanStats& stats() const { return stats_; }

 private:
  struct Key {
    uint64_t a = 0, b = 0, c = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      uint64_t h = k.a * 0x9E3779B97F4A7C15ull ^ k.b * 0xC2B2AE3D27D4EB4Full ^ k.c * 0x165667B19E3779F9ull;
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };
  struct InFlight {
    SpanDraft span;
    std::shared_ptr<const ResolvedScope> scope;
    std::chrono::steady_clock::time_point first_seen;
    uint64_t last_time = 0;  // latest of start and span event times
    uint64_t order = 0;
    uint32_t dropped_attributes = 0;  // by the collector (unresolvable, over the limit)
    uint32_t dropped_events = 0;
    uint32_t dropped_links = 0;
  };
  using Map = std::unordered_map<Key, InFlight, KeyHash>;
  static constexpr size_t kSpareNodes = 256;
  static constexpr size_t kSpareNodeBytes = 16 << 10;  // a node holding more is freed, not kept

  static bool make_key(std::string_view trace_id, std::string_view span_id, Key& out);
  void start(const Key& key, const SpanRecordView& r, DictionaryResolver& resolver, const Now& now);
  void end(Map::iterator it, const SpanRecordView& r);
  void add_links(InFlight& s, const SpanRecordView& r, DictionaryResolver& resolver);
  void add_event(InFlight& s, const SpanRecordView& r, DictionaryResolver& resolver);
  void incomplete(Map::iterator it, IncompleteReason reason, uint64_t end_time);
  void emit(Map::iterator it);        // hands the span to the sink and forgets it
  InFlight& emplace(const Key& key);  // a fresh in-flight span of a key not in flight
  void merge_attributes(DictionaryResolver& resolver, std::span<const KeyValueRefView> attrs, SpanDraft& span,
                        uint32_t& dropped);
  void compact_fifo();

  SpanAssemblerOptions options_;
  Sink sink_;
  Map spans_;
  std::deque<std::pair<uint64_t, Key>> fifo_;  // start order; entries of finished spans are stale
  uint64_t next_order_ = 0;
  std::unordered_map<int64_t, size_t> pid_spans_;  // in-flight spans per writer pid
  std::unordered_map<int64_t, uint64_t> watched_;
  // Nodes of finished spans, reused for the next ones: a span then costs no allocation of its
  // map node nor of its draft's strings (they keep their memory; an attribute list grew
  // through several reallocations in every span).
  std::vector<Map::node_type> spare_;
  SpanStats stats_;
  std::string scratch_;  // attributes of one link or event
};

}  // namespace otlp_mmap::collector

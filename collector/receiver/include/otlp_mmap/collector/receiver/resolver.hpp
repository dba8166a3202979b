// Dictionary resolution for the pipeline: refs found in records become OTLP values, through
// bounded caches (a file can hold millions of entries; the collector's memory stays bounded).
//
// Refs are file offsets: they mean something only in the file they came from, so every cache
// of refs is emptied when the pipeline moves to another file (attach). What leaves the
// resolver (resolved resources and scopes) carries its content, never a ref: spans and log
// records are grouped by that content, so identical resources written twice, by two processes
// or by one process before and after a restart, are one group.
//
// Failures (a ref outside the file, an entry that does not decode, a chain of value refs that
// is too deep) are counted and never fatal. Strings that are not valid UTF-8 are repaired
// (invalid bytes become U+FFFD): OTLP receivers reject a whole request over one bad string.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "otlp_mmap/collector/otlp.hpp"
#include "otlp_mmap/collector/resolved_scope.hpp"
#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/record_view.hpp"

namespace otlp_mmap {
class Reader;
}

namespace otlp_mmap::collector {

namespace otlp_wire {
class Out;
}

struct ResolverLimits {
  size_t max_strings = 65536;  // cached ref -> string (attribute keys, event names)
  size_t max_string_bytes = size_t{16} << 20;
  size_t max_values = 4096;  // cached ref -> AnyValue (value_ref entries)
  size_t max_value_bytes = size_t{32} << 20;
  size_t max_scopes = 4096;     // cached ref -> resolved scope
  size_t max_resources = 1024;  // cached ref -> resolved resource
  size_t max_interned = 4096;   // resolved scopes/resources kept by content
  int max_value_depth = 16;     // nesting of arrays, kvlists and value refs
};

struct ResolverStats {
  uint64_t string_failures = 0;    // key or string refs that could not be read
  uint64_t scope_failures = 0;     // scope refs that could not be read (records kept, empty scope)
  uint64_t resource_failures = 0;  // resource refs that could not be read (empty resource)
  uint64_t value_failures = 0;     // value refs that could not be read or nested too deep
  uint64_t metric_failures = 0;    // metric refs that could not be read
  uint64_t repaired_utf8 = 0;      // strings with invalid UTF-8 repaired
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_evictions = 0;  // generations of a cache dropped because it was full
};

// A map from ref to value bounded in entries and bytes, with two generations: lookups hit
// the current one or promote from the previous one; when the current one fills up, the
// previous one is dropped and the current one becomes the previous one. Recently used
// entries survive, the cost per operation stays O(1), and memory stays within the bound.
// A pointer returned by find/insert is valid until the next insert.
template <class V>
class RefCache {
 public:
  RefCache(size_t max_entries, size_t max_bytes)
      : max_entries_(std::max<size_t>(2, max_entries) / 2), max_bytes_(std::max<size_t>(2, max_bytes) / 2) {}

  V* find(int64_t ref) {
    auto it = cur_.find(ref);
    if (it != cur_.end()) return &it->second.first;
    auto old = old_.find(ref);
    if (old == old_.end()) return nullptr;
    auto node = old_.extract(old);
    cur_bytes_ += node.mapped().second;
    return &cur_.insert(std::move(node)).position->second.first;
  }

  V* insert(int64_t ref, V value, size_t bytes) {
    if (cur_.size() >= max_entries_ || cur_bytes_ + bytes > max_bytes_) {
      old_ = std::move(cur_);
      cur_ = {};
      cur_bytes_ = 0;
      ++rotations_;
    }
    cur_bytes_ += bytes;
    auto [it, inserted] = cur_.insert_or_assign(ref, std::pair<V, size_t>(std::move(value), bytes));
    (void)inserted;
    return &it->second.first;
  }

  void clear() {
    cur_.clear();
    old_.clear();
    cur_bytes_ = 0;
  }
  size_t size() const { return cur_.size() + old_.size(); }
  uint64_t rotations() const { return rotations_; }
  size_t max_entries() const { return 2 * max_entries_; }

 private:
  size_t max_entries_;
  size_t max_bytes_;
  size_t cur_bytes_ = 0;
  uint64_t rotations_ = 0;
  std::unordered_map<int64_t, std::pair<V, size_t>> cur_, old_;
};

// Replaces invalid UTF-8 sequences by U+FFFD. Returns true if `s` was changed.
bool repair_utf8(std::string& s);
// Length of the longest prefix of `s` that is valid UTF-8 (s.size() when all of it is).
size_t valid_utf8_prefix(std::string_view s);

class DictionaryResolver {
 public:
  explicit DictionaryResolver(ResolverLimits limits = {});

  // The file whose refs are resolved from now on (nullptr: none). Empties every ref cache.
  void attach(Reader* reader);
  Reader* reader() const { return reader_; }

  // A string entry (attribute key, event name); ref 0 is "". nullptr on failure (counted).
  // The pointer is valid until the next call of the resolver.
  const std::string* string(int64_t ref);

  // The scope (with its resource) of a scope ref. Never null: ref 0 and refs that cannot
  // be read give an empty scope on an empty resource (failures counted).
  std::shared_ptr<const ResolvedScope> scope(int64_t ref);

  // The metric stream definition of a metric ref; false on failure (counted).
  bool metric(int64_t ref, MetricRef& out);

  // One value (value refs followed, strings repaired). False if it or part of it could not
  // be resolved; what could be resolved is in `out`.
  bool value(const AnyValue& in, otlp::AnyValue& out) { return value_at(in, out, 0); }

  // Adds `in` to `out`. A key already present in `out` gets the new value (the OpenTelemetry
  // rule: a later value replaces an earlier one), so `out` never holds a key twice. Returns
  // the number of attributes left out because their key or value could not be resolved.
  uint32_t merge_attributes(const std::vector<KeyValueRef>& in, otlp::KeyValues& out);

  // Like merge_attributes, into a reusable vector: the first `n` elements are the result
  // (element storage is reused between calls; no allocation once warm). Returns n.
  size_t attributes_into(const std::vector<KeyValueRef>& in, std::vector<otlp::KeyValue>& out, uint32_t* dropped);

  // ---- OTLP bytes straight from record views (resolver_wire.cpp) ----
  //
  // The same results as the message-building functions above, written as protobuf bytes: an
  // attribute list is a run of KeyValue messages, each one length-delimited field `field` of
  // the message it belongs to (Span.attributes, LogRecord.attributes, ...).

  // Adds `in` to the encoded list `list` as merge_attributes does (a key already in the list
  // gets the new value, in its place). Returns the attributes left out (key or value could not
  // be resolved); `entries` receives the number of attributes the list holds now.
  uint32_t merge_attributes(std::span<const KeyValueRefView> in, uint32_t field, std::string& list,
                            size_t* entries = nullptr);
  // Writes the content of the OTLP AnyValue for an AnyValue's member (as record views hand
  // them out, validated), as value() resolves it. False as value() is false; what could
  // be resolved is written.
  bool value(const AnyValueMember& value, otlp_wire::Out& out) { return wire_value_at(value, out, 0); }

  const ResolverStats& stats() const { return stats_; }
  const ResolverLimits& limits() const { return limits_; }
  size_t cached_strings() const { return strings_.size(); }
  size_t cached_values() const { return values_.size(); }
  size_t cached_scopes() const { return scopes_.size(); }
  size_t interned() const { return interned_scopes_.size() + interned_resources_.size(); }

 private:
  bool value_at(const AnyValue& in, otlp::AnyValue& out, int depth);
  bool wire_value_at(const AnyValueMember& in, otlp_wire::Out& out, int depth);
  enum class Written { kWritten, kNotString, kUnresolved };
  Written string_entry(const KeyValueRefView& in, uint32_t field, otlp_wire::Out& out, uint64_t& key_hash);
  bool wire_kv_at(const KeyValueRefView& in, otlp_wire::Out& out, int depth, uint64_t* key_hash);
  // An attribute key, encoded as KeyValue's key field, with a hash of the key: from a small
  // direct-mapped cache in front of string(). nullptr when the ref cannot be read.
  struct WireKey {
    int64_t ref = -1;  // never a ref: refs are 0 or dictionary offsets
    uint64_t hash = 0;
    std::string field;  // tag, length and key; empty for the empty key (proto3 omits it)
  };
  const WireKey* wire_key(int64_t ref);
  bool kv_at(const KeyValueRef& in, otlp::KeyValue& out, int depth);
  const otlp::AnyValue* value_ref(int64_t ref, int depth);
  std::shared_ptr<const ResolvedResource> resource(int64_t ref);
  std::shared_ptr<const ResolvedScope> intern(std::shared_ptr<ResolvedScope> s);
  std::shared_ptr<const ResolvedResource> intern(std::shared_ptr<ResolvedResource> r);
  void note_rotation(uint64_t before, uint64_t after) { stats_.cache_evictions += after - before; }

  ResolverLimits limits_;
  Reader* reader_ = nullptr;
  ResolverStats stats_;
  RefCache<std::string> strings_;
  RefCache<otlp::AnyValue> values_;
  RefCache<std::shared_ptr<const ResolvedScope>> scopes_;
  RefCache<std::shared_ptr<const ResolvedResource>> resources_;
  std::unordered_map<std::string, std::weak_ptr<const ResolvedScope>> interned_scopes_;
  std::unordered_map<std::string, std::weak_ptr<const ResolvedResource>> interned_resources_;
  std::shared_ptr<const ResolvedScope> empty_scope_;
  std::vector<WireKey> wire_keys_;  // direct-mapped; emptied by attach()
  struct ListEntry {
    size_t begin, end;  // the whole field in the list
    uint64_t hash;      // of its key
  };
  std::vector<ListEntry> list_scratch_;
  std::string entry_scratch_, value_scratch_;
  std::string scratch_;
  int active_depth_ = 0;
};

}  // namespace otlp_mmap::collector

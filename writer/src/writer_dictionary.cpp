// The dictionary: interning (a byte-bounded in-process cache) and lock-free appends that
// never write a byte the file system has not reserved (FORMAT.md §5.3, §9.8, §9.9).
#include <algorithm>
#include <chrono>
#include <vector>

#include "otlp_mmap/slot_record.hpp"
#include "otlp_mmap/writer.hpp"
#include "writer_internal.hpp"

namespace otlp_mmap {

namespace dh = layout::dictionary_header;

void Writer::count(uint64_t field, uint64_t n) {
  file_->atomic_at<uint64_t>(layout_.dictionary_offset + field).fetch_add(n, std::memory_order_relaxed);
}

WriterCounters Writer::counters() const { return read_writer_counters(*file_, layout_.dictionary_offset); }

namespace {

// What one cache entry costs besides its key bytes: the hash node (std::string, ref, next
// pointer, cached hash), its heap block and its bucket. An estimate, deliberately generous.
constexpr uint64_t kCacheEntryOverhead = 96;
// How long appends fail fast after the file system ran out of space for the dictionary.
constexpr int64_t kGrowRetryNanos = 1'000'000'000;

int64_t steady_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int64_t Writer::append_entry(std::string_view payload) {
  // Dictionary entries use the same framing as slot records: varint length, then the bytes.
  const uint64_t total = slot_record::encoded_size(payload.size());
  auto end = file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kEnd);
  // A reservation moves `end` for good, so do not make one that is bound to fail: past the
  // window, or needing growth while the file system has just said it has no space.
  const uint64_t seen = static_cast<uint64_t>(end.load(std::memory_order_relaxed));
  if (seen + total > file_->window()) return 0;
  if (seen + total > file_->reserved() && steady_nanos() < grow_retry_after_ns_.load(std::memory_order_relaxed)) {
    return 0;
  }
  // Lock-free bump allocation, shared by every process writing the file.
  const int64_t start = end.fetch_add(static_cast<int64_t>(total), std::memory_order_acq_rel);
  if (start < static_cast<int64_t>(layout_.first_entry_offset()) ||
      static_cast<uint64_t>(start) + total > file_->window()) {
    return 0;
  }
  const uint64_t need = static_cast<uint64_t>(start) + total;
  // Grow by at least the current dictionary size (doubling), in 1 MiB steps. ensure_size
  // reserves real blocks, so the stores below cannot raise SIGBUS on a full file system.
  const uint64_t chunk = std::max<uint64_t>(uint64_t{1} << 20, file_->known_size() - layout_.dictionary_offset);
  if (!file_->ensure_size(need, chunk)) {
    if (file_->last_grow_errno() != 0) {
      grow_retry_after_ns_.store(steady_nanos() + kGrowRetryNanos, std::memory_order_relaxed);
    }
    return 0;
  }
  uint8_t* at = file_->base() + start;
  const uint64_t prefix = slot_record::write_prefix(at, payload.size());
  std::copy(payload.begin(), payload.end(), reinterpret_cast<char*>(at + prefix));
  file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kNumEntries).fetch_add(1, std::memory_order_release);
  return start;
}

void Writer::remember(std::string_view payload, int64_t ref) {
  const uint64_t cost = payload.size() + kCacheEntryOverhead;
  if (cost > config_.intern_cache_bytes) return;  // would not fit even an empty cache
  if (cache_bytes_ + cost > config_.intern_cache_bytes) {
    // A new generation: dropping everything is O(1) per entry on average and keeps the
    // bound exact; the price is that later identical entries are appended again.
    std::unordered_map<std::string, int64_t, Hash, std::equal_to<>>().swap(interned_);
    cache_bytes_ = 0;
  }
  interned_.emplace(std::string(payload), ref);
  cache_bytes_ += cost;
}

int64_t Writer::intern_locked(std::string_view payload) {
  if (auto it = interned_.find(payload); it != interned_.end()) return it->second;
  const int64_t ref = append_entry(payload);
  if (ref == 0) {
    // The dictionary is full (window exhausted, or no space to grow): no ref is handed out.
    count(dh::kDroppedUnencodable);
    dictionary_full_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  remember(payload, ref);
  return ref;
}

int64_t Writer::intern(std::string_view payload) {
  // A message cut short would not decode, so an oversized one is refused outright.
  if (payload.size() > config_.max_entry_bytes) {
    count(dh::kDroppedUnencodable);
    return 0;
  }
  std::lock_guard<std::mutex> lock(intern_mu_);
  return intern_locked(payload);
}

int64_t Writer::intern_string(std::string_view s) {
  // A string stays useful when shortened; it is cut where a UTF-8 character starts.
  if (s.size() > config_.max_entry_bytes) {
    s = writer_detail::utf8_prefix(s, config_.max_entry_bytes);
    count(dh::kTruncatedValues);
  }
  std::lock_guard<std::mutex> lock(intern_mu_);
  return intern_locked(s);
}

uint64_t Writer::cache_bytes() const {
  std::lock_guard<std::mutex> lock(intern_mu_);
  return cache_bytes_;
}

namespace {
std::vector<KeyValueView> sorted_by_key(std::span<const KeyValueView> attrs) {
  std::vector<KeyValueView> v(attrs.begin(), attrs.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const KeyValueView& a, const KeyValueView& b) { return a.key_ref < b.key_ref; });
  return v;
}
}  // namespace

int64_t Writer::create_resource(ResourceView r) {
  auto attrs = sorted_by_key(r.attributes);
  r.attributes = attrs;
  return intern(encode_to_string(r));
}

int64_t Writer::create_scope(ScopeView s) {
  auto attrs = sorted_by_key(s.attributes);
  s.attributes = attrs;
  return intern(encode_to_string(s));
}

int64_t Writer::create_metric_stream(const MetricRefView& m) { return intern(encode_to_string(m)); }

}  // namespace otlp_mmap

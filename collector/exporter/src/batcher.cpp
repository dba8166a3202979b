#include "otlp_mmap/collector/exporter/batcher.hpp"

#include <algorithm>

namespace otlp_mmap::collector {

namespace {
bool same_content(const ResolvedScope& a, const ResolvedScope& b) {
  return a.resource->key == b.resource->key && a.key == b.key;
}
}  // namespace

Batcher::Batcher(size_t max_batch, std::chrono::nanoseconds delay, size_t max_bytes)
    : max_batch_(std::max<size_t>(1, max_batch)), delay_(delay), max_bytes_(max_bytes) {}

void Batcher::add(const std::shared_ptr<const ResolvedScope>& scope, std::string_view item, Clock::time_point now) {
  if (order_.empty()) oldest_ = now;
  EncodedGroup& b = bucket(scope);
  const size_t before = b.items.size();
  b.add(item);
  order_.push_back(static_cast<uint32_t>(last_));
  sizes_.push_back(static_cast<uint32_t>(b.items.size() - before));
  bytes_ += sizes_.back();
}

size_t Batcher::take_count() const {
  const size_t most = std::min(order_.size(), max_batch_);
  size_t n = 0, bytes = 0;
  for (; n < most && (n == 0 || bytes + sizes_[n] <= max_bytes_); ++n) bytes += sizes_[n];
  return n;
}

// A bucket holds at most one batch: a take then moves whole buckets. A bucket holding the
// thousands of items a drain pass adds had the rest of its bytes moved down at every take (up
// to megabytes per batch: 1.3% of the collector's samples exporting 100k spans, and growing
// with the pass).
bool Batcher::open(const EncodedGroup& b) const { return b.size() < max_batch_ && b.items.size() < max_bytes_; }

EncodedGroup& Batcher::bucket(const std::shared_ptr<const ResolvedScope>& scope) {
  if (last_ < buckets_.size() && buckets_[last_].scope == scope && open(buckets_[last_])) return buckets_[last_];
  bool scope_full = false;
  for (last_ = 0; last_ < buckets_.size(); ++last_) {
    if (buckets_[last_].scope != scope) continue;
    if (open(buckets_[last_])) return buckets_[last_];
    scope_full = true;
  }
  size_t reserve = 0;
  // The first bucket (most batches have one scope), and the next one of a scope whose bucket
  // is full, are allocated once, at the size of the largest bucket taken so far, rather than
  // grown item by item.
  if (buckets_.empty() || scope_full) reserve = std::min<size_t>(reserve_, size_t{4} << 20);
  EncodedGroup& b = buckets_.emplace_back();
  b.scope = scope;
  b.items.reserve(reserve);
  return b;
}

// Per bucket holding some of the n oldest items: how many, and where its first one is;
// ordered by content (equal content in several objects, after a file switch emptied the
// resolver's caches, sorts together, in finish order).
std::vector<Batcher::Taken> Batcher::taken_buckets(size_t n) const {
  std::vector<Taken> taken(buckets_.size());
  for (size_t b = 0; b < buckets_.size(); ++b) taken[b].bucket = b;
  for (size_t i = n; i-- > 0;) {
    Taken& t = taken[order_[i]];
    ++t.count;
    t.first = i;
  }
  std::erase_if(taken, [](const Taken& t) { return t.count == 0; });
  std::sort(taken.begin(), taken.end(), [&](const Taken& a, const Taken& b) {
    const ResolvedScope& sa = *buckets_[a.bucket].scope;
    const ResolvedScope& sb = *buckets_[b.bucket].scope;
    if (sa.resource->key != sb.resource->key) return sa.resource->key < sb.resource->key;
    if (sa.key != sb.key) return sa.key < sb.key;
    return a.first < b.first;
  });
  return taken;
}

// Moves the taken items of buckets taken[g, h) (one content) into one group of `out`.
void Batcher::move_group(const std::vector<Taken>& taken, size_t g, size_t h, size_t n, EncodedRequest& out) {
  EncodedGroup& into = out.group(buckets_[taken[g].bucket].scope);
  if (h == g + 1) {
    EncodedGroup& from = buckets_[taken[g].bucket];
    reserve_ = std::max(reserve_, from.items.size());
    into.append(take_items(from, taken[g].count));  // a whole bucket moves, not copied
    return;
  }
  // Several objects of one content: their items in the order they were finished.
  std::vector<size_t> next(buckets_.size(), 0);
  std::vector<bool> member(buckets_.size(), false);
  for (size_t t = g; t < h; ++t) member[taken[t].bucket] = true;
  for (size_t i = 0; i < n; ++i) {
    const size_t b = order_[i];
    if (!member[b]) continue;
    const EncodedGroup& from = buckets_[b];
    const size_t at = next[b]++;
    const uint32_t begin = at == 0 ? 0 : from.ends[at - 1];
    into.add_field(std::string_view(from.items).substr(begin, from.ends[at] - begin));
  }
  for (size_t t = g; t < h; ++t) take_items(buckets_[taken[t].bucket], taken[t].count);
}

// Forgets the n oldest items (taken); empty buckets go, the items left are renumbered.
void Batcher::forget(size_t n) {
  order_.erase(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n));
  for (size_t i = 0; i < n; ++i) bytes_ -= sizes_[i];
  sizes_.erase(sizes_.begin(), sizes_.begin() + static_cast<std::ptrdiff_t>(n));
  std::vector<uint32_t> renumber(buckets_.size());
  size_t kept = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    renumber[b] = static_cast<uint32_t>(kept);
    if (!buckets_[b].ends.empty()) {
      if (kept != b) buckets_[kept] = std::move(buckets_[b]);
      ++kept;
    }
  }
  buckets_.resize(kept);
  for (uint32_t& b : order_) b = renumber[b];
  last_ = 0;
}

size_t Batcher::take(EncodedRequest& out) {
  const size_t n = take_count();
  if (n == 0) return 0;
  const std::vector<Taken> taken = taken_buckets(n);
  for (size_t g = 0; g < taken.size();) {
    size_t h = g + 1;
    while (h < taken.size() && same_content(*buckets_[taken[h].bucket].scope, *buckets_[taken[g].bucket].scope)) ++h;
    move_group(taken, g, h, n, out);
    g = h;
  }
  forget(n);
  return n;  // items left over are due when the oldest taken one was: never later than their own
}

}  // namespace otlp_mmap::collector

// Batching of finished spans and log records into export requests.
//
// A batch is taken when it holds max_batch items, or when its oldest item has waited
// `delay` (OTEL_BSP_* / OTEL_BLRP_*). Inside a request, items are grouped by resource and
// then by scope CONTENT, never by file offset, in a deterministic order: resources and scopes
// sorted by their content, items in the order they were finished.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "otlp_mmap/collector/otlp.hpp"
#include "otlp_mmap/collector/resolved_scope.hpp"

namespace otlp_mmap::collector {

namespace batch_detail {
inline otlp::ResourceSpans* add_resource(otlp::ExportTraceServiceRequest& r) { return r.add_resource_spans(); }
inline otlp::ResourceLogs* add_resource(otlp::ExportLogsServiceRequest& r) { return r.add_resource_logs(); }
inline otlp::ScopeSpans* add_scope(otlp::ResourceSpans* r) { return r->add_scope_spans(); }
inline otlp::ScopeLogs* add_scope(otlp::ResourceLogs* r) { return r->add_scope_logs(); }
inline void add_item(otlp::ScopeSpans* s, std::unique_ptr<otlp::Span> item) {
  s->mutable_spans()->AddAllocated(item.release());
}
inline void add_item(otlp::ScopeLogs* s, std::unique_ptr<otlp::LogRecord> item) {
  s->mutable_log_records()->AddAllocated(item.release());
}
}  // namespace batch_detail

template <class Item>
class Batcher {
 public:
  using Clock = std::chrono::steady_clock;

  Batcher(size_t max_batch, std::chrono::nanoseconds delay)
      : max_batch_(std::max<size_t>(1, max_batch)), delay_(delay) {}

  void add(std::shared_ptr<const ResolvedScope> scope, std::unique_ptr<Item> item, Clock::time_point now) {
    if (items_.empty()) oldest_ = now;
    items_.push_back({std::move(scope), std::move(item)});
  }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  bool full() const { return items_.size() >= max_batch_; }
  bool due(Clock::time_point now) const { return full() || (!items_.empty() && now - oldest_ >= delay_); }
  Clock::time_point oldest() const { return oldest_; }
  size_t max_batch() const { return max_batch_; }

  // Moves up to max_batch of the oldest items into `out` (which should be empty), grouped.
  // Returns the number of items moved.
  template <class Request>
  size_t take(Request& out) {
    const size_t n = std::min(items_.size(), max_batch_);
    if (n == 0) return 0;
    // Group by scope object first (cheap), then order the groups by content and merge the
    // ones with equal content (the same content can sit in two objects, e.g. after a file
    // switch emptied the resolver's caches).
    std::unordered_map<const ResolvedScope*, size_t> index;
    std::vector<Group> groups;
    for (size_t i = 0; i < n; ++i) {
      const ResolvedScope* s = items_[i].scope.get();
      auto [it, inserted] = index.emplace(s, groups.size());
      if (inserted) groups.push_back(Group{s, {}});
      groups[it->second].items.push_back(i);
    }
    std::sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
      const auto& ra = a.scope->resource->key;
      const auto& rb = b.scope->resource->key;
      if (ra != rb) return ra < rb;
      if (a.scope->key != b.scope->key) return a.scope->key < b.scope->key;
      return a.items.front() < b.items.front();
    });
    decltype(batch_detail::add_resource(out)) resource = nullptr;
    decltype(batch_detail::add_scope(resource)) scope = nullptr;
    const ResolvedScope* prev = nullptr;
    for (size_t g = 0; g < groups.size(); ++g) {
      const ResolvedScope* s = groups[g].scope;
      const bool same_resource = prev != nullptr && prev->resource->key == s->resource->key;
      const bool same_scope = same_resource && prev->key == s->key;
      if (!same_resource) {
        resource = batch_detail::add_resource(out);
        resource->mutable_resource()->CopyFrom(s->resource->resource);
        resource->set_schema_url(s->resource->schema_url);
      }
      if (!same_scope) {
        scope = batch_detail::add_scope(resource);
        scope->mutable_scope()->CopyFrom(s->scope);
        scope->set_schema_url(s->schema_url);
        // Equal content in several objects: gather every group of it, items in finish order.
        std::vector<size_t> all = groups[g].items;
        size_t h = g + 1;
        for (;
             h < groups.size() && groups[h].scope->resource->key == s->resource->key && groups[h].scope->key == s->key;
             ++h) {
          all.insert(all.end(), groups[h].items.begin(), groups[h].items.end());
        }
        if (h > g + 1) std::sort(all.begin(), all.end());
        for (size_t i : all) batch_detail::add_item(scope, std::move(items_[i].item));
      }
      prev = s;
    }
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(n));
    return n;  // items left over are due when the oldest taken one was: never later than their own
  }

 private:
  struct Pending {
    std::shared_ptr<const ResolvedScope> scope;
    std::unique_ptr<Item> item;
  };
  struct Group {
    const ResolvedScope* scope;
    std::vector<size_t> items;
  };

  size_t max_batch_;
  std::chrono::nanoseconds delay_;
  std::vector<Pending> items_;
  Clock::time_point oldest_{};
};

}  // namespace otlp_mmap::collector

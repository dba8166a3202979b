#include "otlp_mmap/collector/processor/span_assembler.hpp"

#include <algorithm>
#include <cstring>

namespace otlp_mmap::collector {

namespace {

namespace wf = otlp_wire::span;

constexpr int32_t kMaxSpanKind = 5;  // SPAN_KIND_CONSUMER
constexpr int32_t kMaxStatusCode = 2;

uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void set_string(std::string& dst, std::string_view src) {
  dst.assign(src);
  repair_utf8(dst);
}

template <size_t N>
void copy_id(std::array<char, N>& dst, std::string_view src) {
  std::memcpy(dst.data(), src.data(), N);
}

}  // namespace

const char* incomplete_reason_name(IncompleteReason r) {
  switch (r) {
    case IncompleteReason::kWriterExited: return "writer_exited";
    case IncompleteReason::kMaxAge: return "max_age";
    case IncompleteReason::kShutdown: return "shutdown";
    case IncompleteReason::kEvicted: return "evicted";
    case IncompleteReason::kSuperseded: return "superseded";
  }
  return "unknown";
}

SpanAssembler::SpanAssembler(SpanAssemblerOptions options, Sink sink) : options_(options), sink_(std::move(sink)) {
  if (options_.max_in_flight == 0) options_.max_in_flight = 1;
  spans_.reserve(std::min<size_t>(options_.max_in_flight, 1024));  // grows with the spans in flight
}

bool SpanAssembler::make_key(std::string_view trace_id, std::string_view span_id, Key& out) {
  if (trace_id.size() != 16 || span_id.size() != 8) return false;
  out.a = load64(trace_id.data());
  out.b = load64(trace_id.data() + 8);
  out.c = load64(span_id.data());
  return true;
}

void SpanAssembler::merge_attributes(DictionaryResolver& resolver, std::span<const KeyValueRefView> attrs,
                                     SpanDraft& span, uint32_t& dropped) {
  if (attrs.empty()) return;
  size_t n = 0;
  dropped += resolver.merge_attributes(attrs, wf::kAttributes, span.attributes, &n);
  span.attribute_count = n;
  if (n > options_.max_attributes) {
    const auto over = static_cast<uint32_t>(n - options_.max_attributes);
    span.keep_attributes(options_.max_attributes);
    dropped += over;
    stats_.limited += over;
  }
}

void SpanAssembler::handle(const SpanRecordView& r, DictionaryResolver& resolver, const Now& now) {
  ++stats_.records;
  Key key;
  if (r.type == SpanEventType::kNone) {
    ++stats_.unknown_records;
    return;
  }
  if (!make_key(r.trace_id, r.span_id, key)) {
    ++stats_.invalid_ids;
    return;
  }
  auto it = spans_.find(key);
  if (!watched_.empty() && it != spans_.end()) {
    auto w = watched_.find(it->second.scope->resource->pid);
    if (w != watched_.end()) ++w->second;
  }
  if (r.type == SpanEventType::kStart) {
    if (it != spans_.end())
      incomplete(it, IncompleteReason::kSuperseded, std::max(now.unix_nano, it->second.last_time));
    start(key, r, resolver, now);
    return;
  }
  if (it == spans_.end()) {
    ++stats_.orphans;
    return;
  }
  InFlight& s = it->second;
  switch (r.type) {
    case SpanEventType::kName: set_string(s.span.name, r.name); break;
    case SpanEventType::kAttributes: merge_attributes(resolver, r.attributes, s.span, s.dropped_attributes); break;
    case SpanEventType::kLink: add_links(s, r, resolver); break;
    case SpanEventType::kAddEvent: add_event(s, r, resolver); break;
    case SpanEventType::kEnd: end(it, r); break;
    case SpanEventType::kStart:
    case SpanEventType::kNone: break;
  }
}

void SpanAssembler::add_links(InFlight& s, const SpanRecordView& r, DictionaryResolver& resolver) {
  namespace lf = otlp_wire::span_link;
  otlp_wire::Out out(s.span.links);
  for (const LinkRecordView& l : r.links) {
    if (l.trace_id.size() != 16 || l.span_id.size() != 8) {
      ++stats_.invalid_fields;
      ++s.dropped_links;
      continue;
    }
    if (s.span.link_count >= options_.max_links) {
      ++stats_.limited;
      ++s.dropped_links;
      continue;
    }
    const auto link = out.open(wf::kLinks, 2);
    out.bytes_field(lf::kTraceId, l.trace_id);
    out.bytes_field(lf::kSpanId, l.span_id);
    if (!l.trace_state.empty()) {
      set_string(scratch_, l.trace_state);
      out.opt_bytes(lf::kTraceState, scratch_);
    }
    scratch_.clear();
    uint32_t dropped = l.dropped_attributes_count;
    dropped += resolver.merge_attributes(
        std::span<const KeyValueRefView>(r.links_attributes).subspan(l.first_attribute, l.attribute_count),
        lf::kAttributes, scratch_);
    out.raw(scratch_);
    out.opt_varint(lf::kDroppedAttributes, dropped);
    out.opt_fixed32(lf::kFlags, l.flags);
    out.close(link);
    ++s.span.link_count;
  }
}

void SpanAssembler::add_event(InFlight& s, const SpanRecordView& r, DictionaryResolver& resolver) {
  namespace ef = otlp_wire::span_event;
  s.last_time = std::max(s.last_time, r.event_time_unix_nano);
  if (s.span.event_count >= options_.max_events) {
    ++stats_.limited;
    ++s.dropped_events;
    return;
  }
  otlp_wire::Out out(s.span.events);
  const auto event = out.open(wf::kEvents, 2);
  out.opt_fixed64(ef::kTime, r.event_time_unix_nano);
  set_string(scratch_, r.name);
  out.opt_bytes(ef::kName, scratch_);
  scratch_.clear();
  uint32_t dropped = r.dropped_attributes_count;
  dropped += resolver.merge_attributes(r.attributes, ef::kAttributes, scratch_);
  out.raw(scratch_);
  out.opt_varint(ef::kDroppedAttributes, dropped);
  out.close(event);
  ++s.span.event_count;
}

void SpanAssembler::start(const Key& key, const SpanRecordView& r, DictionaryResolver& resolver, const Now& now) {
  while (spans_.size() >= options_.max_in_flight && !fifo_.empty()) {
    auto [order, k] = fifo_.front();
    fifo_.pop_front();
    auto old = spans_.find(k);
    if (old != spans_.end() && old->second.order == order) {
      incomplete(old, IncompleteReason::kEvicted, std::max(now.unix_nano, old->second.last_time));
    }
  }
  ++stats_.started;
  auto scope = resolver.scope(r.scope_ref);
  // A span of these ids in flight was superseded just before: the key is free.
  InFlight& s = emplace(key);
  s.scope = std::move(scope);
  s.first_seen = now.steady;
  s.last_time = r.start_time_unix_nano;
  s.order = next_order_++;
  fifo_.emplace_back(s.order, key);
  if (const int64_t pid = s.scope->resource->pid; pid != 0) {
    ++pid_spans_[pid];
    if (!watched_.empty()) {
      auto w = watched_.find(pid);
      if (w != watched_.end()) ++w->second;
    }
  }
  SpanDraft& span = s.span;
  copy_id(span.trace_id, r.trace_id);
  copy_id(span.span_id, r.span_id);
  if (r.parent_span_id.size() == 8) {
    copy_id(span.parent_span_id, r.parent_span_id);
    span.has_parent = true;
  } else if (!r.parent_span_id.empty()) {
    ++stats_.invalid_fields;
  }
  if (!r.trace_state.empty()) set_string(span.trace_state, r.trace_state);
  set_string(span.name, r.name);
  if (r.kind >= 0 && r.kind <= kMaxSpanKind) {
    span.kind = r.kind;
  } else {
    ++stats_.invalid_fields;
  }
  span.start_time_unix_nano = r.start_time_unix_nano;
  span.flags = r.flags;
  merge_attributes(resolver, r.attributes, span, s.dropped_attributes);
  if (fifo_.size() > 2 * spans_.size() + 4096) compact_fifo();
}

void SpanAssembler::end(Map::iterator it, const SpanRecordView& r) {
  InFlight& s = it->second;
  SpanDraft& span = s.span;
  span.end_time_unix_nano = r.end_time_unix_nano;
  if (r.has_status) {
    span.has_status = true;
    if (r.status_code >= 0 && r.status_code <= kMaxStatusCode) {
      span.status_code = r.status_code;
    } else {
      ++stats_.invalid_fields;
    }
    if (!r.status_message.empty()) set_string(span.status_message, r.status_message);
  }
  span.dropped_attributes_count = r.dropped_attributes_count + s.dropped_attributes;
  span.dropped_events_count = r.dropped_events_count + s.dropped_events;
  span.dropped_links_count = r.dropped_links_count + s.dropped_links;
  ++stats_.completed;
  emit(it);
}

void SpanAssembler::incomplete(Map::iterator it, IncompleteReason reason, uint64_t end_time) {
  InFlight& s = it->second;
  SpanDraft& span = s.span;
  span.end_time_unix_nano = std::max(end_time, span.start_time_unix_nano);
  span.has_status = false;
  span.status_code = 0;
  span.status_message.clear();
  span.dropped_attributes_count = s.dropped_attributes;
  span.dropped_events_count = s.dropped_events;
  span.dropped_links_count = s.dropped_links;
  // AnyValue contents: bool_value = true; string_value = the reason.
  span.set_attribute(kIncompleteAttribute, std::string_view("\x10\x01", 2));
  scratch_.clear();
  otlp_wire::Out(scratch_).bytes_field(otlp_wire::any_value::kString, incomplete_reason_name(reason));
  span.set_attribute(kIncompleteReasonAttribute, scratch_);
  ++stats_.incomplete;
  ++stats_.incomplete_by_reason[static_cast<size_t>(reason)];
  emit(it);
}

void SpanAssembler::emit(Map::iterator it) {
  InFlight& s = it->second;
  if (const int64_t pid = s.scope->resource->pid; pid != 0) {
    auto p = pid_spans_.find(pid);
    if (p != pid_spans_.end() && --p->second == 0) pid_spans_.erase(p);
  }
  // The sink writes the span into its batch; then it is forgotten.
  sink_(std::move(s.scope), s.span);
  Map::node_type node = spans_.extract(it);
  if (spare_.size() < kSpareNodes && node.mapped().span.capacity() <= kSpareNodeBytes) {
    spare_.push_back(std::move(node));
  }
}

SpanAssembler::InFlight& SpanAssembler::emplace(const Key& key) {
  if (spare_.empty()) return spans_.try_emplace(key).first->second;
  Map::node_type node = std::move(spare_.back());
  spare_.pop_back();
  node.key() = key;
  InFlight& s = node.mapped();
  s.span.clear();
  s.scope.reset();
  s.first_seen = {};
  s.last_time = s.order = 0;
  s.dropped_attributes = s.dropped_events = s.dropped_links = 0;
  return spans_.insert(std::move(node)).position->second;
}

void SpanAssembler::compact_fifo() {
  std::deque<std::pair<uint64_t, Key>> live;
  for (const auto& e : fifo_) {
    auto it = spans_.find(e.second);
    if (it != spans_.end() && it->second.order == e.first) live.push_back(e);
  }
  fifo_.swap(live);
}

size_t SpanAssembler::expire(const Now& now) {
  size_t n = 0;
  while (!fifo_.empty()) {
    auto [order, k] = fifo_.front();
    auto it = spans_.find(k);
    if (it == spans_.end() || it->second.order != order) {
      fifo_.pop_front();
      continue;
    }
    if (now.steady - it->second.first_seen < options_.max_age) break;
    fifo_.pop_front();
    incomplete(it, IncompleteReason::kMaxAge, std::max(now.unix_nano, it->second.last_time));
    ++n;
  }
  return n;
}

size_t SpanAssembler::finish_all(IncompleteReason reason, const Now& now) {
  size_t n = 0;
  while (!fifo_.empty()) {
    auto [order, k] = fifo_.front();
    fifo_.pop_front();
    auto it = spans_.find(k);
    if (it == spans_.end() || it->second.order != order) continue;
    incomplete(it, reason, std::max(now.unix_nano, it->second.last_time));
    ++n;
  }
  return n;
}

size_t SpanAssembler::finish_writers(const std::unordered_set<int64_t>& pids) {
  if (pids.empty()) return 0;
  size_t n = 0;
  for (const auto& [order, k] : fifo_) {
    auto it = spans_.find(k);
    if (it == spans_.end() || it->second.order != order) continue;
    if (pids.count(it->second.scope->resource->pid) == 0) continue;
    incomplete(it, IncompleteReason::kWriterExited, it->second.last_time);
    ++n;
  }
  if (n > 0) compact_fifo();
  return n;
}

std::vector<int64_t> SpanAssembler::writer_pids() const {
  std::vector<int64_t> out;
  out.reserve(pid_spans_.size());
  for (const auto& [pid, count] : pid_spans_) out.push_back(pid);
  std::sort(out.begin(), out.end());
  return out;
}

void SpanAssembler::watch(const std::unordered_set<int64_t>& pids) {
  watched_.clear();
  for (int64_t p : pids) watched_[p] = 0;
}

uint64_t SpanAssembler::watched_records(int64_t pid) const {
  auto it = watched_.find(pid);
  return it == watched_.end() ? 0 : it->second;
}

}  // namespace otlp_mmap::collector

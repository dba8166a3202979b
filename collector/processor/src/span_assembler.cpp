#include "otlp_mmap/collector/processor/span_assembler.hpp"

#include <algorithm>
#include <cstring>

namespace otlp_mmap::collector {

namespace {

constexpr int32_t kMaxSpanKind = 5;  // SPAN_KIND_CONSUMER
constexpr int32_t kMaxStatusCode = 2;

uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void set_string(std::string* dst, const std::string& src) {
  *dst = src;
  repair_utf8(*dst);
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
  spans_.reserve(std::min<size_t>(options_.max_in_flight, 65536));
}

bool SpanAssembler::make_key(const std::string& trace_id, const std::string& span_id, Key& out) {
  if (trace_id.size() != 16 || span_id.size() != 8) return false;
  out.a = load64(trace_id.data());
  out.b = load64(trace_id.data() + 8);
  out.c = load64(span_id.data());
  return true;
}

void SpanAssembler::merge_attributes(DictionaryResolver& resolver, const std::vector<KeyValueRef>& attrs,
                                     otlp::KeyValues& out, uint32_t& dropped) {
  dropped += resolver.merge_attributes(attrs, out);
  if (static_cast<size_t>(out.size()) > options_.max_attributes) {
    const auto over = static_cast<uint32_t>(static_cast<size_t>(out.size()) - options_.max_attributes);
    out.DeleteSubrange(static_cast<int>(options_.max_attributes), static_cast<int>(over));
    dropped += over;
    stats_.limited += over;
  }
}

void SpanAssembler::handle(const SpanEvent& r, DictionaryResolver& resolver, const Now& now) {
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
  otlp::Span& span = *s.span;
  switch (r.type) {
    case SpanEventType::kName: set_string(span.mutable_name(), r.name); break;
    case SpanEventType::kAttributes:
      merge_attributes(resolver, r.attributes, *span.mutable_attributes(), s.dropped_attributes);
      break;
    case SpanEventType::kLink:
      for (const Link& l : r.links) {
        if (l.trace_id.size() != 16 || l.span_id.size() != 8) {
          ++stats_.invalid_fields;
          ++s.dropped_links;
          continue;
        }
        if (static_cast<size_t>(span.links_size()) >= options_.max_links) {
          ++stats_.limited;
          ++s.dropped_links;
          continue;
        }
        otlp::Span::Link* out = span.add_links();
        out->set_trace_id(l.trace_id);
        out->set_span_id(l.span_id);
        set_string(out->mutable_trace_state(), l.trace_state);
        uint32_t dropped = l.dropped_attributes_count;
        dropped += resolver.merge_attributes(l.attributes, *out->mutable_attributes());
        out->set_dropped_attributes_count(dropped);
        out->set_flags(l.flags);
      }
      break;
    case SpanEventType::kAddEvent: {
      s.last_time = std::max(s.last_time, r.event_time_unix_nano);
      if (static_cast<size_t>(span.events_size()) >= options_.max_events) {
        ++stats_.limited;
        ++s.dropped_events;
        break;
      }
      otlp::Span::Event* ev = span.add_events();
      ev->set_time_unix_nano(r.event_time_unix_nano);
      set_string(ev->mutable_name(), r.name);
      uint32_t dropped = r.dropped_attributes_count;
      dropped += resolver.merge_attributes(r.attributes, *ev->mutable_attributes());
      ev->set_dropped_attributes_count(dropped);
      break;
    }
    case SpanEventType::kEnd: end(it, r); break;
    case SpanEventType::kStart:
    case SpanEventType::kNone: break;
  }
}

void SpanAssembler::start(const Key& key, const SpanEvent& r, DictionaryResolver& resolver, const Now& now) {
  while (spans_.size() >= options_.max_in_flight && !fifo_.empty()) {
    auto [order, k] = fifo_.front();
    fifo_.pop_front();
    auto old = spans_.find(k);
    if (old != spans_.end() && old->second.order == order) {
      incomplete(old, IncompleteReason::kEvicted, std::max(now.unix_nano, old->second.last_time));
    }
  }
  ++stats_.started;
  InFlight s;
  s.span = std::make_unique<otlp::Span>();
  s.scope = resolver.scope(r.scope_ref);
  s.first_seen = now.steady;
  s.last_time = r.start_time_unix_nano;
  s.order = next_order_++;
  otlp::Span& span = *s.span;
  span.set_trace_id(r.trace_id);
  span.set_span_id(r.span_id);
  if (r.parent_span_id.size() == 8) {
    span.set_parent_span_id(r.parent_span_id);
  } else if (!r.parent_span_id.empty()) {
    ++stats_.invalid_fields;
  }
  if (!r.trace_state.empty()) set_string(span.mutable_trace_state(), r.trace_state);
  set_string(span.mutable_name(), r.name);
  if (r.kind >= 0 && r.kind <= kMaxSpanKind) {
    span.set_kind(static_cast<otlp::Span::SpanKind>(r.kind));
  } else {
    ++stats_.invalid_fields;
  }
  span.set_start_time_unix_nano(r.start_time_unix_nano);
  span.set_flags(r.flags);
  merge_attributes(resolver, r.attributes, *span.mutable_attributes(), s.dropped_attributes);
  if (const int64_t pid = s.scope->resource->pid; pid != 0) {
    ++pid_spans_[pid];
    if (!watched_.empty()) {
      auto w = watched_.find(pid);
      if (w != watched_.end()) ++w->second;
    }
  }
  fifo_.emplace_back(s.order, key);
  spans_.emplace(key, std::move(s));
  if (fifo_.size() > 2 * spans_.size() + 4096) compact_fifo();
}

void SpanAssembler::end(Map::iterator it, const SpanEvent& r) {
  InFlight& s = it->second;
  otlp::Span& span = *s.span;
  span.set_end_time_unix_nano(r.end_time_unix_nano);
  if (r.has_status) {
    otlp::Status* st = span.mutable_status();
    if (r.status_code >= 0 && r.status_code <= kMaxStatusCode) {
      st->set_code(static_cast<otlp::Status::StatusCode>(r.status_code));
    } else {
      ++stats_.invalid_fields;
    }
    if (!r.status_message.empty()) set_string(st->mutable_message(), r.status_message);
  }
  span.set_dropped_attributes_count(r.dropped_attributes_count + s.dropped_attributes);
  span.set_dropped_events_count(r.dropped_events_count + s.dropped_events);
  span.set_dropped_links_count(r.dropped_links_count + s.dropped_links);
  ++stats_.completed;
  emit(it);
}

void SpanAssembler::incomplete(Map::iterator it, IncompleteReason reason, uint64_t end_time) {
  InFlight& s = it->second;
  otlp::Span& span = *s.span;
  span.set_end_time_unix_nano(std::max(end_time, span.start_time_unix_nano()));
  span.clear_status();
  span.set_dropped_attributes_count(s.dropped_attributes);
  span.set_dropped_events_count(s.dropped_events);
  span.set_dropped_links_count(s.dropped_links);
  auto set_attr = [&span](const char* key) -> otlp::AnyValue* {
    for (auto& kv : *span.mutable_attributes()) {
      if (kv.key() == key) return kv.mutable_value();
    }
    otlp::KeyValue* kv = span.add_attributes();
    kv->set_key(key);
    return kv->mutable_value();
  };
  set_attr(kIncompleteAttribute)->set_bool_value(true);
  set_attr(kIncompleteReasonAttribute)->set_string_value(incomplete_reason_name(reason));
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
  auto scope = std::move(s.scope);
  auto span = std::move(s.span);
  spans_.erase(it);
  sink_(std::move(scope), std::move(span));
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

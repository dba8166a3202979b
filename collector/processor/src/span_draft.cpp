#include "otlp_mmap/collector/processor/span_draft.hpp"

#include <cassert>

namespace otlp_mmap::collector {

namespace {
namespace f = otlp_wire::span;
namespace kv = otlp_wire::key_value;
}  // namespace

void SpanDraft::set_attribute(std::string_view key, std::string_view value) {
  std::string entry;
  otlp_wire::Out e(entry);
  const auto m = e.open(f::kAttributes);
  e.opt_bytes(kv::kKey, key);
  e.bytes_field(kv::kValue, value);
  e.close(m);
  size_t at = std::string::npos, len = 0;
  otlp_wire::for_each_entry(attributes, [&](size_t begin, size_t, size_t end) {
    if (at == std::string::npos && otlp_wire::entry_key(attributes, begin, end) == key) {
      at = begin;
      len = end - begin;
    }
  });
  if (at == std::string::npos) {
    attributes += entry;
    ++attribute_count;
  } else {
    attributes.replace(at, len, entry);
  }
}

void SpanDraft::keep_attributes(size_t n) {
  if (n >= attribute_count) return;
  attributes.resize(otlp_wire::entry_offset(attributes, n));
  attribute_count = n;
}

void SpanDraft::clear() {
  std::string kept[] = {std::move(trace_state), std::move(name),  std::move(attributes),
                        std::move(events),      std::move(links), std::move(status_message)};
  *this = SpanDraft{};
  for (std::string& k : kept) k.clear();
  trace_state = std::move(kept[0]);
  name = std::move(kept[1]);
  attributes = std::move(kept[2]);
  events = std::move(kept[3]);
  links = std::move(kept[4]);
  status_message = std::move(kept[5]);
}

size_t SpanDraft::capacity() const {
  return trace_state.capacity() + name.capacity() + attributes.capacity() + events.capacity() + links.capacity() +
         status_message.capacity();
}

namespace {

using wire::fixed32_field_size;
using wire::fixed64_field_size;
using wire::len_field_size;
using wire::opt_len_field_size;
using wire::opt_varint_field_size;

uint64_t as_varint(int32_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }

size_t status_size(const SpanDraft& s) {
  return opt_len_field_size(otlp_wire::status::kMessage, s.status_message) +
         opt_varint_field_size(otlp_wire::status::kCode, as_varint(s.status_code));
}

}  // namespace

size_t SpanDraft::encoded_size() const {
  size_t n = len_field_size(f::kTraceId, trace_id.size()) + len_field_size(f::kSpanId, span_id.size()) +
             opt_len_field_size(f::kTraceState, trace_state) +
             (has_parent ? len_field_size(f::kParentSpanId, parent_span_id.size()) : 0) +
             opt_len_field_size(f::kName, name) + opt_varint_field_size(f::kKind, as_varint(kind)) +
             (start_time_unix_nano != 0 ? fixed64_field_size(f::kStartTime) : 0) +
             (end_time_unix_nano != 0 ? fixed64_field_size(f::kEndTime) : 0) + attributes.size() +
             opt_varint_field_size(f::kDroppedAttributes, dropped_attributes_count) + events.size() +
             opt_varint_field_size(f::kDroppedEvents, dropped_events_count) + links.size() +
             opt_varint_field_size(f::kDroppedLinks, dropped_links_count) +
             (flags != 0 ? fixed32_field_size(f::kFlags) : 0);
  if (has_status) n += len_field_size(f::kStatus, status_size(*this));
  return n;
}

// Every size is known up front: the message is written with one size check (and none per
// field), which took a quarter of the collector's instructions spent on emitting a span.
void SpanDraft::encode(otlp_wire::Out& out) const {
  wire::Encoder e = out.extend(encoded_size());
  [[maybe_unused]] const auto* end = reinterpret_cast<const uint8_t*>(out.str().data() + out.size());
  e.bytes_field(f::kTraceId, std::string_view(trace_id.data(), trace_id.size()));
  e.bytes_field(f::kSpanId, std::string_view(span_id.data(), span_id.size()));
  e.opt_bytes_field(f::kTraceState, trace_state);
  if (has_parent) e.bytes_field(f::kParentSpanId, std::string_view(parent_span_id.data(), parent_span_id.size()));
  e.opt_bytes_field(f::kName, name);
  e.opt_varint_field(f::kKind, as_varint(kind));
  if (start_time_unix_nano != 0) e.fixed64_field(f::kStartTime, start_time_unix_nano);
  if (end_time_unix_nano != 0) e.fixed64_field(f::kEndTime, end_time_unix_nano);
  e.raw(attributes);
  e.opt_varint_field(f::kDroppedAttributes, dropped_attributes_count);
  e.raw(events);
  e.opt_varint_field(f::kDroppedEvents, dropped_events_count);
  e.raw(links);
  e.opt_varint_field(f::kDroppedLinks, dropped_links_count);
  if (has_status) {
    e.len_header(f::kStatus, status_size(*this));
    e.opt_bytes_field(otlp_wire::status::kMessage, status_message);
    e.opt_varint_field(otlp_wire::status::kCode, as_varint(status_code));
  }
  if (flags != 0) e.fixed32_field(f::kFlags, flags);
  assert(e.pos() == end);  // encoded_size() agrees with what was written (Debug and ASan builds)
}

}  // namespace otlp_mmap::collector

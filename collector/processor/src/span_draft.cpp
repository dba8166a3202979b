#include "otlp_mmap/collector/processor/span_draft.hpp"

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

void SpanDraft::encode(otlp_wire::Out& out) const {
  out.bytes_field(f::kTraceId, std::string_view(trace_id.data(), trace_id.size()));
  out.bytes_field(f::kSpanId, std::string_view(span_id.data(), span_id.size()));
  out.opt_bytes(f::kTraceState, trace_state);
  if (has_parent) out.bytes_field(f::kParentSpanId, std::string_view(parent_span_id.data(), parent_span_id.size()));
  out.opt_bytes(f::kName, name);
  out.opt_varint(f::kKind, static_cast<uint64_t>(static_cast<int64_t>(kind)));
  out.opt_fixed64(f::kStartTime, start_time_unix_nano);
  out.opt_fixed64(f::kEndTime, end_time_unix_nano);
  out.raw(attributes);
  out.opt_varint(f::kDroppedAttributes, dropped_attributes_count);
  out.raw(events);
  out.opt_varint(f::kDroppedEvents, dropped_events_count);
  out.raw(links);
  out.opt_varint(f::kDroppedLinks, dropped_links_count);
  if (has_status) {
    const auto s = out.open(f::kStatus);
    out.opt_bytes(otlp_wire::status::kMessage, status_message);
    out.opt_varint(otlp_wire::status::kCode, static_cast<uint64_t>(static_cast<int64_t>(status_code)));
    out.close(s);
  }
  out.opt_fixed32(f::kFlags, flags);
}

}  // namespace otlp_mmap::collector

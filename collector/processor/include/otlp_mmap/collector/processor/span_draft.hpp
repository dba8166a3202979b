// A span being assembled, held as the parts of its OTLP encoding: scalar fields as they are,
// attributes, events and links as encoded runs of their messages (written once, as the records
// arrive). encode() writes the Span message's fields in field order.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "otlp_mmap/collector/otlp_wire.hpp"

namespace otlp_mmap::collector {

struct SpanDraft {
  std::array<char, 16> trace_id{};
  std::array<char, 8> span_id{};
  std::array<char, 8> parent_span_id{};
  bool has_parent = false;
  std::string trace_state;  // repaired UTF-8, as every string below
  std::string name;
  int32_t kind = 0;
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  uint32_t flags = 0;
  std::string attributes;  // KeyValue fields (Span.attributes)
  size_t attribute_count = 0;
  std::string events;  // Event fields (Span.events)
  size_t event_count = 0;
  std::string links;  // Link fields (Span.links)
  size_t link_count = 0;
  uint32_t dropped_attributes_count = 0;
  uint32_t dropped_events_count = 0;
  uint32_t dropped_links_count = 0;
  bool has_status = false;
  int32_t status_code = 0;
  std::string status_message;

  // Sets attribute `key` to the AnyValue whose content is `value` (replacing its value when
  // the key is there, else appended).
  void set_attribute(std::string_view key, std::string_view value);
  // Keeps the first `n` attributes.
  void keep_attributes(size_t n);
  // Back to an empty draft, keeping the strings' memory for the next span.
  void clear();
  // The memory its strings hold.
  size_t capacity() const;

  // The Span message's bytes, appended to `out`.
  void encode(otlp_wire::Out& out) const;
  // How many bytes encode() appends.
  size_t encoded_size() const;
};

}  // namespace otlp_mmap::collector

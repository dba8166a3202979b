// Zero-copy views of the records a collector reads most: span records and events. Strings and
// attribute values point into the record's bytes; the attribute lists are vectors owned by the
// view and reused from record to record, so decoding a stream of records allocates nothing
// once the vectors have grown. A view is valid while the bytes it was decoded from are.
//
// The view decoders accept exactly what the owned decoders of messages.hpp accept (the same
// walk over the fields, the same checks of wire types and nesting, "a later value wins" for
// scalars and oneof members), and every AnyValue a view hands out has been validated, so
// whoever walks it again (an OTLP encoder, say) meets no malformed bytes. A differential test
// (tests/cpp/record_view_test.cpp) holds the two decoders to each other.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "otlp_mmap/messages.hpp"

namespace otlp_mmap {

// The member an AnyValue holds: the last of its known fields (1..8, as the owned decoder keeps
// it); number 0 when it holds none (kind kEmpty).
struct AnyValueMember {
  uint32_t number = 0;
  uint64_t u = 0;          // bool, int, double bits, value ref
  std::string_view bytes;  // string, bytes, array or kvlist content
};
// One KeyValueRef of an attribute list: its key ref and its AnyValue's bytes (validated;
// empty when the value is absent or holds no known member: AnyValue kind kEmpty), with the
// member they hold (found while validating them).
struct KeyValueRefView {
  int64_t key_ref = 0;
  std::string_view value;
  AnyValueMember member;
};

// A SpanContext (events, measurements); `present` when the record has one.
struct SpanContextRefView {
  bool present = false;
  std::string_view trace_id;
  std::string_view span_id;
  uint32_t flags = 0;
};

// One link of an AddLink record; its attributes are links_attributes[first, first + count) of
// the record's view.
struct LinkRecordView {
  std::string_view trace_id;
  std::string_view span_id;
  std::string_view trace_state;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
  size_t first_attribute = 0;
  size_t attribute_count = 0;
};

// One record of the span ring (SpanEvent); only the fields of `type` are set.
struct SpanRecordView {
  SpanEventType type = SpanEventType::kNone;
  std::string_view trace_id;
  std::string_view span_id;
  int64_t scope_ref = 0;
  std::string_view parent_span_id;  // kStart
  int32_t kind = 0;
  uint64_t start_time_unix_nano = 0;
  uint32_t flags = 0;
  std::string_view trace_state;
  std::string_view name;                    // kStart, kName, kAddEvent
  std::vector<KeyValueRefView> attributes;  // kStart, kAttributes, kAddEvent
  uint64_t end_time_unix_nano = 0;          // kEnd
  bool has_status = false;
  std::string_view status_message;
  int32_t status_code = 0;
  uint32_t dropped_attributes_count = 0;  // kEnd (span) and kAddEvent (event)
  uint32_t dropped_events_count = 0;
  uint32_t dropped_links_count = 0;
  std::vector<LinkRecordView> links;  // kLink
  std::vector<KeyValueRefView> links_attributes;
  uint64_t event_time_unix_nano = 0;  // kAddEvent

  // Empties every field and list (the lists keep their capacity).
  void reset();
};

// One record of the events ring (Event).
struct EventRecordView {
  int64_t scope_ref = 0;
  uint64_t time_unix_nano = 0;
  int32_t severity_number = 0;
  std::string_view severity_text;
  bool has_body = false;
  std::string_view body;  // AnyValue bytes (validated)
  AnyValueMember body_member;
  int64_t event_name_ref = 0;
  SpanContextRefView span_context;
  std::vector<KeyValueRefView> attributes;
  uint64_t observed_time_unix_nano = 0;
  uint32_t dropped_attributes_count = 0;

  void reset();
};

// Named as the owned decoders, so that code generic in the record type (Reader::drain_decoded)
// takes either.
bool decode(std::string_view bytes, SpanRecordView& out);
bool decode(std::string_view bytes, EventRecordView& out);

// Whether `bytes` is an AnyValue the owned decoder accepts (a value nested `depth` deep).
bool valid_any_value(std::string_view bytes, int depth = 0);

// ---- walking values a view handed out (validated: these do not check again)

AnyValueMember any_value_member(std::string_view any_value);

// The elements of an array's or a key-value list's content (field 1 of each), in order:
// AnyValue bytes or KeyValueRef bytes.
template <class F>
void for_each_element(std::string_view content, F&& f) {
  wire::Decoder d(content);
  while (!d.done()) {
    uint32_t field;
    wire::WireType type;
    if (!d.tag(field, type)) return;
    if (field == 1 && type == wire::kLen) {
      std::string_view element;
      if (!d.bytes(element)) return;
      f(element);
    } else if (!d.skip(type)) {
      return;
    }
  }
}

// A KeyValueRef from its bytes.
KeyValueRefView key_value_ref(std::string_view bytes);

}  // namespace otlp_mmap

// Zero-copy decoding of span records and events. Field numbers: proto/mmap.proto; every
// check mirrors the owned decoder of the same message in messages.cpp.
#include "otlp_mmap/record_view.hpp"

#include "wire_fields.hpp"

namespace otlp_mmap {

namespace {

using wire_fields::Field;
using wire_fields::for_each_field;
using wire_fields::want;

bool valid_kv(std::string_view bytes, KeyValueRefView& out, int depth);

// Written by hand because attributes are most of a record's fields (a third of the collector's
// CPU per span went to walking them generically): the layout writers emit for a scalar value,
// key_ref then a value with one string, bytes, bool, int, double or value_ref member, each field
// once. Decodes it as the general path would and returns true; anything else (arrays, lists,
// repeated or unknown fields, an empty value) returns false and takes the general path.
bool scalar_kv(std::string_view bytes, KeyValueRefView& out) {
  wire::Decoder d(bytes);
  uint64_t key = 0, len = 0;
  if (d.done() || static_cast<uint8_t>(bytes[0]) != ((1u << 3) | wire::kVarint)) return false;
  uint32_t number;
  wire::WireType type;
  if (!d.tag(number, type) || !d.varint(key) || !d.tag(number, type) || number != 2 || type != wire::kLen ||
      !d.varint(len) || len != d.remaining() || len == 0) {
    return false;
  }
  const std::string_view value(reinterpret_cast<const char*>(d.pos()), len);
  if (!d.tag(number, type)) return false;
  AnyValueMember m{number, 0, {}};
  switch (number) {
    case 1:
    case 7:
      if (type != wire::kLen || !d.bytes(m.bytes)) return false;
      break;
    case 2:
    case 3:
    case 8:
      if (type != wire::kVarint || !d.varint(m.u)) return false;
      break;
    case 4:
      if (type != wire::kFixed64 || !d.fixed64(m.u)) return false;
      break;
    default: return false;
  }
  if (!d.done()) return false;
  out.key_ref = static_cast<int64_t>(key);
  out.value = value;
  out.member = m;
  return true;
}

bool view_kv(const Field& f, std::vector<KeyValueRefView>& attrs, int depth) {
  if (!want(f, wire::kLen)) return false;
  KeyValueRefView& kv = attrs.emplace_back();
  if (depth == 0 && scalar_kv(f.bytes, kv)) return true;
  kv = KeyValueRefView{};
  return valid_kv(f.bytes, kv, depth + 1);
}

// `member` (when given) receives the member the value holds.
bool valid_any(std::string_view bytes, int depth, AnyValueMember* member = nullptr) {
  if (depth > kMaxNesting) return false;
  if (member != nullptr) *member = AnyValueMember{};
  return for_each_field(bytes, [&](const Field& f) {
    if (member != nullptr && f.number >= 1 && f.number <= 8) *member = AnyValueMember{f.number, f.u, f.bytes};
    switch (f.number) {
      case 1:
      case 7: return want(f, wire::kLen);
      case 2:
      case 3:
      case 8: return want(f, wire::kVarint);
      case 4: return want(f, wire::kFixed64);
      case 5:
        if (!want(f, wire::kLen)) return false;
        return for_each_field(f.bytes, [&](const Field& g) {
          if (g.number != 1) return true;
          return want(g, wire::kLen) && valid_any(g.bytes, depth + 1);
        });
      case 6:
        if (!want(f, wire::kLen)) return false;
        return for_each_field(f.bytes, [&](const Field& g) {
          if (g.number != 1) return true;
          if (!want(g, wire::kLen)) return false;
          KeyValueRefView kv;
          return valid_kv(g.bytes, kv, depth + 1);
        });
      default: return true;
    }
  });
}

bool valid_kv(std::string_view bytes, KeyValueRefView& out, int depth) {
  if (depth > kMaxNesting) return false;
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1:
        if (!want(f, wire::kVarint)) return false;
        out.key_ref = static_cast<int64_t>(f.u);
        return true;
      case 2:
        if (!want(f, wire::kLen)) return false;
        out.value = f.bytes;
        return valid_any(f.bytes, depth + 1, &out.member);
      default: return true;
    }
  });
}

bool view_int64(const Field& f, int64_t& out) {
  if (!want(f, wire::kVarint)) return false;
  out = static_cast<int64_t>(f.u);
  return true;
}
bool view_int32(const Field& f, int32_t& out) {
  if (!want(f, wire::kVarint)) return false;
  out = static_cast<int32_t>(static_cast<int64_t>(f.u));
  return true;
}
bool view_uint32(const Field& f, uint32_t& out) {
  if (!want(f, wire::kVarint)) return false;
  out = static_cast<uint32_t>(f.u);
  return true;
}
bool view_fixed64(const Field& f, uint64_t& out) {
  if (!want(f, wire::kFixed64)) return false;
  out = f.u;
  return true;
}
bool view_fixed32(const Field& f, uint32_t& out) {
  if (!want(f, wire::kFixed32)) return false;
  out = static_cast<uint32_t>(f.u);
  return true;
}
bool view_bytes(const Field& f, std::string_view& out) {
  if (!want(f, wire::kLen)) return false;
  out = f.bytes;
  return true;
}

bool view_span_context(std::string_view bytes, SpanContextRefView& out) {
  out = SpanContextRefView{};
  out.present = true;
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return view_bytes(f, out.span_id);
      case 2: return view_bytes(f, out.trace_id);
      case 3: return view_fixed32(f, out.flags);
      default: return true;
    }
  });
}

bool view_link(std::string_view bytes, SpanRecordView& out) {
  out.links.emplace_back();
  out.links.back().first_attribute = out.links_attributes.size();
  const bool ok = for_each_field(bytes, [&](const Field& f) {
    LinkRecordView& l = out.links.back();
    switch (f.number) {
      case 1: return view_bytes(f, l.trace_id);
      case 2: return view_bytes(f, l.span_id);
      case 3: return view_bytes(f, l.trace_state);
      case 4: return view_kv(f, out.links_attributes, 0);
      case 5: return view_uint32(f, l.dropped_attributes_count);
      case 6: return view_fixed32(f, l.flags);
      default: return true;
    }
  });
  LinkRecordView& l = out.links.back();
  l.attribute_count = out.links_attributes.size() - l.first_attribute;
  return ok;
}

bool view_status(std::string_view bytes, SpanRecordView& out) {
  out.has_status = true;
  return for_each_field(bytes, [&](const Field& g) {
    switch (g.number) {
      case 2: return view_bytes(g, out.status_message);
      case 3: return view_int32(g, out.status_code);
      default: return true;
    }
  });
}

bool view_span_body(std::string_view bytes, SpanRecordView& out) {
  return for_each_field(bytes, [&](const Field& f) {
    switch (out.type) {
      case SpanEventType::kStart:
        switch (f.number) {
          case 4: return view_bytes(f, out.parent_span_id);
          case 5: return view_bytes(f, out.name);
          case 6: return view_int32(f, out.kind);
          case 7: return view_fixed64(f, out.start_time_unix_nano);
          case 9: return view_kv(f, out.attributes, 0);
          case 16: return view_fixed32(f, out.flags);
          case 100: return view_bytes(f, out.trace_state);
          default: return true;
        }
      case SpanEventType::kEnd:
        switch (f.number) {
          case 8: return view_fixed64(f, out.end_time_unix_nano);
          case 15: return want(f, wire::kLen) && view_status(f.bytes, out);
          case 100: return view_uint32(f, out.dropped_attributes_count);
          case 101: return view_uint32(f, out.dropped_events_count);
          case 102: return view_uint32(f, out.dropped_links_count);
          default: return true;
        }
      case SpanEventType::kName: return f.number == 5 ? view_bytes(f, out.name) : true;
      case SpanEventType::kAttributes: return f.number == 9 ? view_kv(f, out.attributes, 0) : true;
      case SpanEventType::kLink: return f.number == 13 ? want(f, wire::kLen) && view_link(f.bytes, out) : true;
      case SpanEventType::kAddEvent:
        switch (f.number) {
          case 1: return view_fixed64(f, out.event_time_unix_nano);
          case 2: return view_bytes(f, out.name);
          case 3: return view_kv(f, out.attributes, 0);
          case 4: return view_uint32(f, out.dropped_attributes_count);
          default: return true;
        }
      case SpanEventType::kNone: return true;
    }
    return true;
  });
}

SpanEventType span_event_type(uint32_t field) {
  switch (field) {
    case 11: return SpanEventType::kStart;
    case 12: return SpanEventType::kEnd;
    case 13: return SpanEventType::kName;
    case 14: return SpanEventType::kAttributes;
    case 15: return SpanEventType::kLink;
    case 100: return SpanEventType::kAddEvent;
    default: return SpanEventType::kNone;
  }
}

}  // namespace

void SpanRecordView::reset() {
  auto a = std::move(attributes), la = std::move(links_attributes);
  auto l = std::move(links);
  *this = SpanRecordView{};
  a.clear();
  la.clear();
  l.clear();
  attributes = std::move(a);
  links_attributes = std::move(la);
  links = std::move(l);
}

void EventRecordView::reset() {
  auto a = std::move(attributes);
  *this = EventRecordView{};
  a.clear();
  attributes = std::move(a);
}

bool valid_any_value(std::string_view bytes, int depth) { return valid_any(bytes, depth); }

AnyValueMember any_value_member(std::string_view any_value) {
  AnyValueMember m;
  for_each_field(any_value, [&](const Field& f) {
    if (f.number >= 1 && f.number <= 8) m = AnyValueMember{f.number, f.u, f.bytes};
    return true;
  });
  return m;
}

KeyValueRefView key_value_ref(std::string_view bytes) {
  KeyValueRefView kv;
  valid_kv(bytes, kv, 0);
  return kv;
}

bool decode(std::string_view bytes, SpanRecordView& out) {
  out.reset();
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return view_bytes(f, out.trace_id);
      case 2: return view_bytes(f, out.span_id);
      case 20: return view_int64(f, out.scope_ref);
      default: break;
    }
    const SpanEventType t = span_event_type(f.number);
    if (t == SpanEventType::kNone) return true;
    if (!want(f, wire::kLen)) return false;
    // A later oneof member replaces an earlier one, as in any proto3 parser. (Only then is
    // there anything to clear: the record was reset before its first field.)
    if (out.type != SpanEventType::kNone) {
      const std::string_view trace_id = out.trace_id, span_id = out.span_id;
      const int64_t scope_ref = out.scope_ref;
      out.reset();
      out.trace_id = trace_id;
      out.span_id = span_id;
      out.scope_ref = scope_ref;
    }
    out.type = t;
    return view_span_body(f.bytes, out);
  });
}

bool decode(std::string_view bytes, EventRecordView& out) {
  out.reset();
  return for_each_field(bytes, [&](const Field& f) {
    switch (f.number) {
      case 1: return view_int64(f, out.scope_ref);
      case 2: return view_fixed64(f, out.time_unix_nano);
      case 3: return view_int32(f, out.severity_number);
      case 4: return view_bytes(f, out.severity_text);
      case 5:
        if (!want(f, wire::kLen)) return false;
        out.has_body = true;
        out.body = f.bytes;
        return valid_any(f.bytes, 0, &out.body_member);
      case 6: return view_int64(f, out.event_name_ref);
      case 7: return want(f, wire::kLen) && view_span_context(f.bytes, out.span_context);
      case 8: return view_kv(f, out.attributes, 0);
      case 100: return view_fixed64(f, out.observed_time_unix_nano);
      case 101: return view_uint32(f, out.dropped_attributes_count);
      default: return true;
    }
  });
}

}  // namespace otlp_mmap

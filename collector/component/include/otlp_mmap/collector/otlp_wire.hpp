// Writing OTLP protobuf bytes directly (no message objects): an appending writer over a reused
// std::string, and the field numbers of the OTLP messages the collector sends
// (proto/otlp/opentelemetry/proto/...). Output is what a conforming proto3 serializer emits for
// the same message: fields in ascending order, default scalars omitted, a set oneof member and
// a present submessage always written; tests parse it with libprotobuf.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "otlp_mmap/protowire.hpp"

namespace otlp_mmap::collector::otlp_wire {

using wire::WireType;

class Out {
 public:
  explicit Out(std::string& s) : s_(s) {}
  std::string& str() { return s_; }
  size_t size() const { return s_.size(); }

  void varint(uint64_t v) {
    char buf[10];
    s_.append(buf, put_varint(buf, v));
  }
  void tag(uint32_t field, WireType t) { varint((uint64_t{field} << 3) | t); }
  // Each field's tag and value go in one append: the collector writes tens of fields per span,
  // and std::string::append's length and capacity checks, not the bytes, dominate small writes.
  void varint_field(uint32_t field, uint64_t v) {
    char buf[20];
    size_t n = put_varint(buf, (uint64_t{field} << 3) | wire::kVarint);
    n += put_varint(buf + n, v);
    s_.append(buf, n);
  }
  void fixed64_field(uint32_t field, uint64_t v) {
    char buf[18];
    const size_t n = put_varint(buf, (uint64_t{field} << 3) | wire::kFixed64);
    std::memcpy(buf + n, &v, 8);
    s_.append(buf, n + 8);
  }
  void fixed32_field(uint32_t field, uint32_t v) {
    char buf[14];
    const size_t n = put_varint(buf, (uint64_t{field} << 3) | wire::kFixed32);
    std::memcpy(buf + n, &v, 4);
    s_.append(buf, n + 4);
  }
  void bytes_field(uint32_t field, std::string_view b) {
    len_header(field, b.size());
    s_.append(b);
  }
  // The tag and length of a length-delimited field whose `len` bytes of content follow.
  void len_header(uint32_t field, uint64_t len) {
    char buf[20];
    size_t n = put_varint(buf, (uint64_t{field} << 3) | wire::kLen);
    n += put_varint(buf + n, len);
    s_.append(buf, n);
  }
  // Proto3 implicit presence: zero and empty values are not written.
  void opt_varint(uint32_t field, uint64_t v) {
    if (v != 0) varint_field(field, v);
  }
  void opt_fixed64(uint32_t field, uint64_t v) {
    if (v != 0) fixed64_field(field, v);
  }
  void opt_fixed32(uint32_t field, uint32_t v) {
    if (v != 0) fixed32_field(field, v);
  }
  void opt_bytes(uint32_t field, std::string_view b) {
    if (!b.empty()) bytes_field(field, b);
  }
  void raw(std::string_view b) { s_.append(b); }
  // `n` more bytes, for a wire::Encoder to fill: a field of several parts whose sizes are all
  // known goes in with one size check, instead of one append (and memcpy call) per part.
  wire::Encoder extend(size_t n) {
    const size_t at = s_.size();
    s_.resize(at + n);
    return wire::Encoder(reinterpret_cast<uint8_t*>(s_.data() + at));
  }

  // A length-delimited field whose length is known only once its content is written: open()
  // writes the tag and reserves `reserve` bytes for the length; close() writes the length and
  // moves the content only when the length does not take exactly that many bytes.
  struct Mark {
    size_t at;  // where the length goes
    uint32_t reserved;
  };
  Mark open(uint32_t field, uint32_t reserve = 1) {
    tag(field, wire::kLen);
    const Mark m{s_.size(), reserve};
    s_.append(reserve, '\0');
    return m;
  }
  void close(Mark m) {
    const size_t len = s_.size() - m.at - m.reserved;
    const uint32_t need = wire::varint_size(len);
    if (need != m.reserved) {
      if (need > m.reserved) {
        s_.insert(m.at + m.reserved, need - m.reserved, '\0');
      } else {
        s_.erase(m.at + need, m.reserved - need);
      }
    }
    put_varint(s_.data() + m.at, len);
  }

 private:
  static size_t put_varint(char* buf, uint64_t v) { return wire::put_varint(reinterpret_cast<uint8_t*>(buf), v); }

  std::string& s_;
};

// The length-delimited fields of bytes we wrote ourselves (an attribute list, say): for each,
// where the field begins, where its content begins and where it ends.
template <class F>
void for_each_entry(std::string_view list, F&& f) {
  wire::Decoder d(list);
  const auto* base = reinterpret_cast<const uint8_t*>(list.data());
  while (!d.done()) {
    const auto begin = static_cast<size_t>(d.pos() - base);
    uint32_t field;
    WireType type;
    std::string_view content;
    if (!d.tag(field, type) || type != wire::kLen || !d.bytes(content)) return;
    const auto at = static_cast<size_t>(reinterpret_cast<const uint8_t*>(content.data()) - base);
    f(begin, at, at + content.size());
  }
}

// Where entry `index` of such a list begins (the list's size when it has fewer entries).
inline size_t entry_offset(std::string_view list, size_t index) {
  size_t at = list.size(), i = 0;
  for_each_entry(list, [&](size_t begin, size_t, size_t) {
    if (i++ == index) at = begin;
  });
  return at;
}

// The key of the KeyValue field at [begin, end) of a list we wrote (its key field comes first,
// when it has one).
inline std::string_view entry_key(std::string_view list, size_t begin, size_t end) {
  wire::Decoder d(list.substr(begin, end - begin));
  uint32_t field;
  WireType type;
  std::string_view content, key;
  if (!d.tag(field, type) || !d.bytes(content)) return {};
  if (content.empty() || static_cast<uint8_t>(content[0]) != ((1u << 3) | wire::kLen)) return {};
  wire::Decoder k(content.substr(1));
  return k.bytes(key) ? key : std::string_view();
}

// Size of a length-delimited field holding `len` bytes.
inline size_t len_field_size(uint32_t field, size_t len) { return wire::len_field_size(field, len); }

// Field numbers.
namespace any_value {  // common.v1.AnyValue (a oneof)
inline constexpr uint32_t kString = 1, kBool = 2, kInt = 3, kDouble = 4, kArray = 5, kKvList = 6, kBytes = 7;
inline constexpr uint32_t kValues = 1;  // ArrayValue.values, KeyValueList.values
}  // namespace any_value
namespace key_value {
inline constexpr uint32_t kKey = 1, kValue = 2;
}
namespace span {
inline constexpr uint32_t kTraceId = 1, kSpanId = 2, kTraceState = 3, kParentSpanId = 4, kName = 5, kKind = 6,
                          kStartTime = 7, kEndTime = 8, kAttributes = 9, kDroppedAttributes = 10, kEvents = 11,
                          kDroppedEvents = 12, kLinks = 13, kDroppedLinks = 14, kStatus = 15, kFlags = 16;
}
namespace span_event {
inline constexpr uint32_t kTime = 1, kName = 2, kAttributes = 3, kDroppedAttributes = 4;
}
namespace span_link {
inline constexpr uint32_t kTraceId = 1, kSpanId = 2, kTraceState = 3, kAttributes = 4, kDroppedAttributes = 5,
                          kFlags = 6;
}
namespace status {
inline constexpr uint32_t kMessage = 2, kCode = 3;
}
namespace log_record {
inline constexpr uint32_t kTime = 1, kSeverityNumber = 2, kSeverityText = 3, kBody = 5, kAttributes = 6,
                          kDroppedAttributes = 7, kFlags = 8, kTraceId = 9, kSpanId = 10, kObservedTime = 11,
                          kEventName = 12;
}
// Export{Trace,Logs}ServiceRequest > Resource{Spans,Logs} > Scope{Spans,Logs}: the same numbers
// for both signals.
namespace request {
inline constexpr uint32_t kResources = 1;                               // the request's list
inline constexpr uint32_t kResource = 1, kScopes = 2, kSchemaUrl = 3;   // Resource{Spans,Logs}
inline constexpr uint32_t kScope = 1, kItems = 2, kScopeSchemaUrl = 3;  // Scope{Spans,Logs}
}  // namespace request

}  // namespace otlp_mmap::collector::otlp_wire

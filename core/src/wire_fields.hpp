// Walking the fields of a protobuf message read from untrusted bytes: shared by the owned
// decoders (messages.cpp) and the zero-copy views (record_view.cpp), so that both accept
// exactly the same input.
#pragma once

#include <cstdint>
#include <string_view>

#include "otlp_mmap/protowire.hpp"

namespace otlp_mmap::wire_fields {

// A field read from the wire: its number, type and raw value.
struct Field {
  uint32_t number = 0;
  wire::WireType type = wire::kVarint;
  uint64_t u = 0;          // varint, fixed64, fixed32
  std::string_view bytes;  // length-delimited
};

inline bool next_field(wire::Decoder& d, Field& f) {
  if (!d.tag(f.number, f.type)) return false;
  switch (f.type) {
    case wire::kVarint: return d.varint(f.u);
    case wire::kFixed64: return d.fixed64(f.u);
    case wire::kFixed32: {
      uint32_t x;
      if (!d.fixed32(x)) return false;
      f.u = x;
      return true;
    }
    case wire::kLen: return d.bytes(f.bytes);
    default: return false;
  }
}

// Runs `on_field` for every field; returns false on malformed input or when on_field does.
template <class F>
bool for_each_field(std::string_view bytes, F&& on_field) {
  wire::Decoder d(bytes);
  Field f;
  while (!d.done()) {
    if (!next_field(d, f)) return false;
    if (!on_field(f)) return false;
  }
  return true;
}

inline bool want(const Field& f, wire::WireType t) { return f.type == t; }

}  // namespace otlp_mmap::wire_fields

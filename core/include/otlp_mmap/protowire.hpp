// Protobuf wire-format primitives.
//
// Hand-written on purpose: the writer encodes straight into a ring slot on the
// application's hot path with no allocation, and the Python package must build from a
// compiler alone (no libprotobuf). Tests check the bytes against libprotobuf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace otlp_mmap::wire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

constexpr uint32_t varint_size(uint64_t v) {
  uint32_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
// Writes `v` as a varint at `p` (room for 10 bytes); returns how many bytes it took.
inline size_t put_varint(uint8_t* p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  p[n++] = static_cast<uint8_t>(v);
  return n;
}

constexpr uint32_t tag_size(uint32_t field) { return varint_size(uint64_t{field} << 3); }

// Sizes of complete fields (tag + value), matching what a conforming serializer emits.
constexpr uint32_t varint_field_size(uint32_t field, uint64_t v) { return tag_size(field) + varint_size(v); }
constexpr uint32_t int64_field_size(uint32_t field, int64_t v) {
  return varint_field_size(field, static_cast<uint64_t>(v));
}
constexpr uint32_t fixed64_field_size(uint32_t field) { return tag_size(field) + 8; }
constexpr uint32_t fixed32_field_size(uint32_t field) { return tag_size(field) + 4; }
constexpr uint64_t len_field_size(uint32_t field, uint64_t len) { return tag_size(field) + varint_size(len) + len; }
// Proto3 leaves a scalar at its default (0, empty) out: the sizes of such optional fields.
constexpr uint64_t opt_varint_field_size(uint32_t field, uint64_t v) {
  return v != 0 ? varint_field_size(field, v) : 0;
}
constexpr uint64_t opt_len_field_size(uint32_t field, std::string_view s) {
  return s.empty() ? 0 : len_field_size(field, s.size());
}

// Writes into a buffer whose size was computed beforehand; never checks bounds itself.
class Encoder {
 public:
  explicit Encoder(uint8_t* p) : p_(p) {}
  uint8_t* pos() const { return p_; }

  void varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<uint8_t>(v | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<uint8_t>(v);
  }
  void tag(uint32_t field, WireType wt) { varint((uint64_t{field} << 3) | wt); }
  void varint_field(uint32_t field, uint64_t v) {
    tag(field, kVarint);
    varint(v);
  }
  void int64_field(uint32_t field, int64_t v) { varint_field(field, static_cast<uint64_t>(v)); }
  void fixed64_field(uint32_t field, uint64_t v) {
    tag(field, kFixed64);
    std::memcpy(p_, &v, 8);
    p_ += 8;
  }
  void fixed32_field(uint32_t field, uint32_t v) {
    tag(field, kFixed32);
    std::memcpy(p_, &v, 4);
    p_ += 4;
  }
  void double_field(uint32_t field, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    fixed64_field(field, bits);
  }
  void bytes_field(uint32_t field, std::string_view s) {
    tag(field, kLen);
    varint(s.size());
    raw(s);
  }
  // The optional forms: nothing for a default value (0, empty), as proto3 writes.
  void opt_varint_field(uint32_t field, uint64_t v) {
    if (v != 0) varint_field(field, v);
  }
  void opt_bytes_field(uint32_t field, std::string_view s) {
    if (!s.empty()) bytes_field(field, s);
  }
  void len_header(uint32_t field, uint64_t len) {
    tag(field, kLen);
    varint(len);
  }
  void raw(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }

 private:
  uint8_t* p_;
};

// Bounds-checked reader over untrusted bytes. Every method returns false on malformed
// input instead of reading past the end.
class Decoder {
 public:
  Decoder(const uint8_t* p, const uint8_t* end) : p_(p), end_(end) {}
  explicit Decoder(std::string_view s) : p_(reinterpret_cast<const uint8_t*>(s.data())), end_(p_ + s.size()) {}

  bool done() const { return p_ >= end_; }
  const uint8_t* pos() const { return p_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

  bool varint(uint64_t& out) {
    if (p_ < end_ && *p_ < 0x80) {  // one byte: tags, small lengths and numbers
      out = *p_++;
      return true;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      uint8_t b = *p_++;
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        out = v;
        return true;
      }
    }
    return false;  // more than 10 bytes
  }
  bool tag(uint32_t& field, WireType& wt) {
    uint64_t t;
    if (!varint(t)) return false;
    field = static_cast<uint32_t>(t >> 3);
    wt = static_cast<WireType>(t & 7);
    return field != 0 && (t >> 3) <= 0x1fffffff;
  }
  bool fixed64(uint64_t& out) {
    if (remaining() < 8) return false;
    std::memcpy(&out, p_, 8);
    p_ += 8;
    return true;
  }
  bool fixed32(uint32_t& out) {
    if (remaining() < 4) return false;
    std::memcpy(&out, p_, 4);
    p_ += 4;
    return true;
  }
  bool bytes(std::string_view& out) {
    uint64_t n;
    if (!varint(n) || n > remaining()) return false;
    out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  bool skip(WireType wt) {
    uint64_t u;
    std::string_view s;
    switch (wt) {
      case kVarint: return varint(u);
      case kFixed64: return fixed64(u);
      case kLen: return bytes(s);
      case kFixed32: {
        uint32_t x;
        return fixed32(x);
      }
      default: return false;  // groups are not used by this protocol
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace otlp_mmap::wire

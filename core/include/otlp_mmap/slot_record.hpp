// The record format inside a ring slot, one description for writer and reader alike:
//
//   slot = varint(payload length) ‖ payload ‖ leftovers of earlier laps (ignored)
//
// The length prefix is protobuf's length-delimited framing, at most 10 bytes. A record fits
// a slot of B bytes when prefix + payload <= B.
//
// Extension (docs/FORMAT.md §9.17): a record too large for one slot occupies k consecutive
// sequences of its ring. Its head slot holds the ordinary prefix, whose length is larger
// than the slot (so plain-protocol readers see an invalid slot), and the first payload bytes;
// each continuation slot holds a 10-byte varint of 2^63 + the head's sequence (mod 2^63), a
// length no slot can hold, and the next payload bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "otlp_mmap/protowire.hpp"

namespace otlp_mmap::slot_record {

inline constexpr uint64_t kMaxPrefixBytes = 10;
// A continuation slot's prefix: always the 10-byte varint of a value with bit 63 set.
inline constexpr uint64_t kContinuationPrefixBytes = 10;
inline constexpr uint64_t kContinuationBit = uint64_t{1} << 63;

constexpr uint64_t prefix_size(uint64_t payload_len) { return wire::varint_size(payload_len); }
constexpr uint64_t encoded_size(uint64_t payload_len) { return prefix_size(payload_len) + payload_len; }
constexpr bool fits(uint64_t payload_len, uint64_t slot_size) { return encoded_size(payload_len) <= slot_size; }

// The largest payload a slot of `slot_size` bytes holds (0 when not even an empty one fits).
constexpr uint64_t max_payload(uint64_t slot_size) {
  if (slot_size == 0) return 0;
  uint64_t n = slot_size - 1;
  while (n > 0 && !fits(n, slot_size)) --n;
  return n;
}

// Payload bytes in each continuation slot (0: the slot is too small to continue a record).
constexpr uint64_t continuation_room(uint64_t slot_size) {
  return slot_size > kContinuationPrefixBytes ? slot_size - kContinuationPrefixBytes : 0;
}

// Slots a record of `payload_len` bytes occupies: 1 when it fits one slot, otherwise the head
// and as many continuations as its remaining bytes need; 0 when it cannot be spread at all
// (slots too small to continue it).
constexpr uint64_t slots_needed(uint64_t payload_len, uint64_t slot_size) {
  if (fits(payload_len, slot_size)) return 1;
  const uint64_t prefix = prefix_size(payload_len);
  const uint64_t cont = continuation_room(slot_size);
  if (cont == 0 || prefix >= slot_size) return 0;
  const uint64_t rest = payload_len - (slot_size - prefix);
  return 1 + rest / cont + (rest % cont != 0 ? 1 : 0);
}

// The largest payload that occupies at most `slots` slots of `slot_size` bytes.
constexpr uint64_t max_payload_in(uint64_t slots, uint64_t slot_size) {
  if (slots <= 1 || continuation_room(slot_size) == 0) return max_payload(slot_size);
  uint64_t n = slot_size + (slots - 1) * continuation_room(slot_size);
  while (n > 0 && slots_needed(n, slot_size) > slots) --n;  // a few steps: the prefix is 1-10 bytes
  return n;
}

// Writes the length prefix at the start of `slot`; returns its size in bytes.
inline uint64_t write_prefix(uint8_t* slot, uint64_t payload_len) { return wire::put_varint(slot, payload_len); }

// Writes the prefix of a continuation slot of the record whose head has sequence `head`.
inline uint64_t write_continuation_prefix(uint8_t* slot, int64_t head) {
  return write_prefix(slot, kContinuationBit | (static_cast<uint64_t>(head) & ~kContinuationBit));
}

// What a slot holds, from its prefix alone.
struct Slot {
  enum class Kind : uint8_t {
    kRecord,        // a whole record: `bytes` is its payload
    kHead,          // the first slot of a record of `length` bytes; `bytes` is its first part
    kContinuation,  // a later slot of the record whose head sequence is `head` (mod 2^63)
    kInvalid,       // unreadable prefix
  };
  Kind kind = Kind::kInvalid;
  uint64_t length = 0;  // kRecord, kHead: the record's payload length
  uint64_t head = 0;    // kContinuation: the head's sequence, low 63 bits
  std::string_view bytes;
};

// Whether a continuation's `head` field names sequence `seq`.
constexpr bool names_head(uint64_t head, int64_t seq) {
  return head == (static_cast<uint64_t>(seq) & ~kContinuationBit);
}

// Classifies a slot of `slot_size` bytes. The view points into `slot`: copy it out before the
// slot may be reused. A prefix longer than 10 bytes, or one whose tenth byte overflows 64 bits,
// is invalid; a length larger than the slot (and below 2^63) is a head, whatever it claims:
// the reader checks that claim against its limits and the following slots.
inline Slot parse(const uint8_t* slot, uint64_t slot_size) {
  Slot s;
  uint64_t len = 0;
  uint64_t i = 0;
  for (int shift = 0;; shift += 7) {
    if (i >= slot_size || i >= kMaxPrefixBytes) return s;
    const uint8_t byte = slot[i++];
    if (i == kMaxPrefixBytes && byte > 1) return s;  // beyond 64 bits
    len |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  const auto* data = reinterpret_cast<const char*>(slot + i);
  if (len <= slot_size - i) {
    s.kind = Slot::Kind::kRecord;
    s.length = len;
    s.bytes = std::string_view(data, len);
  } else if ((len & kContinuationBit) == 0) {
    s.kind = Slot::Kind::kHead;
    s.length = len;
    s.bytes = std::string_view(data, slot_size - i);
  } else if (i == kContinuationPrefixBytes) {
    s.kind = Slot::Kind::kContinuation;
    s.head = len & ~kContinuationBit;
    s.bytes = std::string_view(data, slot_size - i);
  }
  return s;
}

// The payload of a slot that holds a whole record, or nullopt otherwise (an invalid prefix,
// or a part of a larger record).
inline std::optional<std::string_view> payload(const uint8_t* slot, uint64_t slot_size) {
  const Slot s = parse(slot, slot_size);
  if (s.kind != Slot::Kind::kRecord) return std::nullopt;
  return s.bytes;
}

}  // namespace otlp_mmap::slot_record

// The record format inside a ring slot, one description for writer and reader alike:
//
//   slot = varint(payload length) ‖ payload ‖ leftovers of earlier laps (ignored)
//
// The length prefix is protobuf's length-delimited framing, at most 10 bytes. A record fits
// a slot of B bytes when prefix + payload <= B.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "otlp_mmap/protowire.hpp"

namespace otlp_mmap::slot_record {

inline constexpr uint64_t kMaxPrefixBytes = 10;

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

// Writes the length prefix at the start of `slot`; returns its size in bytes.
inline uint64_t write_prefix(uint8_t* slot, uint64_t payload_len) {
  uint64_t i = 0;
  while (payload_len >= 0x80) {
    slot[i++] = static_cast<uint8_t>(payload_len | 0x80);
    payload_len >>= 7;
  }
  slot[i++] = static_cast<uint8_t>(payload_len);
  return i;
}

// The payload of a slot of `slot_size` bytes, or nullopt when its length prefix is invalid
// (longer than 10 bytes, or a length beyond the end of the slot). The view points into
// `slot`: copy it out before the slot may be reused.
inline std::optional<std::string_view> payload(const uint8_t* slot, uint64_t slot_size) {
  uint64_t len = 0;
  uint64_t i = 0;
  for (int shift = 0;; shift += 7) {
    if (i >= slot_size || i >= kMaxPrefixBytes) return std::nullopt;
    const uint8_t byte = slot[i++];
    len |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (len > slot_size - i) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(slot + i), len);
}

}  // namespace otlp_mmap::slot_record

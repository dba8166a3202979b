// The one description of the otlp-mmap file layout (protocol version 1).
//
// Writer and reader both take every offset from here; docs/FORMAT.md is the prose
// version of this file and must be kept in step with it.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <string_view>

namespace otlp_mmap::layout {

static_assert(std::endian::native == std::endian::little,
              "the otlp-mmap file is little-endian; big-endian hosts are not supported");

inline constexpr int64_t kVersion = 1;

// File header: 64 bytes at offset 0. All fields are 8-byte little-endian integers.
namespace file_header {
inline constexpr uint64_t kVersion = 0;              // int64; published last, release store
inline constexpr uint64_t kEventsOffset = 8;         // int64, absolute
inline constexpr uint64_t kSpansOffset = 16;         // int64, absolute
inline constexpr uint64_t kMeasurementsOffset = 24;  // int64, absolute
inline constexpr uint64_t kDictionaryOffset = 32;    // int64, absolute
inline constexpr uint64_t kStartTime = 40;           // uint64, unix nanoseconds at creation
// Extension (unused by other implementations): counters kept by the reader so that
// `otlp-mmap inspect` can show them after the reader is gone.
inline constexpr uint64_t kReaderSkippedTorn = 48;     // uint64
inline constexpr uint64_t kReaderSkippedCorrupt = 56;  // uint64
inline constexpr uint64_t kSize = 64;
}  // namespace file_header

// Ring header, at the ring's offset; followed by int32 availability[N] and N slots of B bytes.
namespace ring_header {
inline constexpr uint64_t kNumBuffers = 0;    // int64 N, a power of two
inline constexpr uint64_t kBufferSize = 8;    // int64 B, bytes per slot
inline constexpr uint64_t kReaderIndex = 16;  // int64, last sequence consumed (-1 initially)
inline constexpr uint64_t kWriterIndex = 24;  // int64, last sequence claimed (-1 initially)
inline constexpr uint64_t kAvailability = 32;
inline constexpr uint64_t kSize = 32;
}  // namespace ring_header

// Dictionary header, at the dictionary offset; entries start 64 bytes after it.
namespace dictionary_header {
inline constexpr uint64_t kEnd = 0;         // int64, absolute offset of the next free byte
inline constexpr uint64_t kNumEntries = 8;  // int64, informational
// Extension (unused by other implementations): writer-side loss counters, uint64 each.
inline constexpr uint64_t kDroppedFullEvents = 16;
inline constexpr uint64_t kDroppedFullSpans = 24;
inline constexpr uint64_t kDroppedFullMeasurements = 32;
inline constexpr uint64_t kDroppedUnencodable = 40;  // could not be made to fit, or dictionary full
inline constexpr uint64_t kTruncatedValues = 48;     // values shortened to fit a slot
inline constexpr uint64_t kDroppedSkipped = 56;      // slot skipped by the reader before publish
inline constexpr uint64_t kSize = 64;
}  // namespace dictionary_header

enum class RingKind : uint8_t { kEvents = 0, kSpans = 1, kMeasurements = 2 };
inline constexpr std::array<RingKind, 3> kRingKinds = {RingKind::kEvents, RingKind::kSpans, RingKind::kMeasurements};

constexpr std::string_view ring_name(RingKind k) {
  switch (k) {
    case RingKind::kEvents: return "events";
    case RingKind::kSpans: return "spans";
    case RingKind::kMeasurements: return "measurements";
  }
  return "?";
}

constexpr uint64_t header_offset_field(RingKind k) { return file_header::kEventsOffset + 8 * static_cast<uint64_t>(k); }

constexpr uint64_t dropped_full_field(RingKind k) {
  return dictionary_header::kDroppedFullEvents + 8 * static_cast<uint64_t>(k);
}

// Limits the reader enforces on geometry read from a file (hostile-input guards).
inline constexpr uint64_t kMaxRingSlots = uint64_t{1} << 26;
inline constexpr uint64_t kMinSlotSize = 16;
inline constexpr uint64_t kMaxSlotSize = uint64_t{1} << 20;

struct RingGeometry {
  uint64_t num_buffers = 0;
  uint64_t buffer_size = 0;

  // 32-byte header + int32 availability per slot + the slots. No padding: this is the
  // byte-exact formula of protocol version 1.
  constexpr uint64_t bytes() const { return ring_header::kSize + 4 * num_buffers + num_buffers * buffer_size; }
  constexpr uint64_t slots_offset() const { return ring_header::kSize + 4 * num_buffers; }
  constexpr bool operator==(const RingGeometry&) const = default;
};

// A ring geometry is usable when N is a power of two of at least 2 and B a multiple of 8:
// then 32 + 4N + N*B is a multiple of 8 and every following section stays 8-byte aligned
// (atomics in the next header need it).
constexpr std::optional<std::string_view> check_ring_geometry(const RingGeometry& g) {
  if (g.num_buffers < 2 || !std::has_single_bit(g.num_buffers)) {
    return "number of slots must be a power of two, at least 2";
  }
  if (g.num_buffers > kMaxRingSlots) return "too many slots";
  if (g.buffer_size < kMinSlotSize || g.buffer_size > kMaxSlotSize) return "slot size out of range";
  if (g.buffer_size % 8 != 0) return "slot size must be a multiple of 8";
  return std::nullopt;
}

// Where everything lives, computed from the ring geometries. Writer uses it to build a
// file; reader rebuilds it from a file's ring headers and checks the header offsets.
struct Geometry {
  std::array<RingGeometry, 3> rings;
  uint64_t dictionary_initial_bytes = 1024;  // entry area, after the 64-byte dictionary header

  constexpr uint64_t ring_offset(RingKind k) const {
    uint64_t off = file_header::kSize;
    for (auto r : kRingKinds) {
      if (r == k) return off;
      off += rings[static_cast<size_t>(r)].bytes();
    }
    return off;
  }
  constexpr uint64_t dictionary_offset() const { return ring_offset(RingKind::kMeasurements) + rings[2].bytes(); }
  constexpr uint64_t first_entry_offset() const { return dictionary_offset() + dictionary_header::kSize; }
  constexpr uint64_t initial_file_size() const { return first_entry_offset() + dictionary_initial_bytes; }
  const RingGeometry& ring(RingKind k) const { return rings[static_cast<size_t>(k)]; }
};

// The geometry of the protocol's reference implementation (1024 slots of 512 bytes per
// ring, 1 KiB dictionary). Kept for compatibility tests and for `--compat` files.
inline constexpr Geometry kReferenceGeometry{
    {RingGeometry{1024, 512}, RingGeometry{1024, 512}, RingGeometry{1024, 512}}, 1024};

// Our defaults, chosen by measurement (see docs/FORMAT.md "Default sizes"): the span ring
// holds a 10,000-span burst (20,000 records) without any help from the reader.
inline constexpr Geometry kDefaultGeometry{
    {RingGeometry{8192, 512}, RingGeometry{32768, 512}, RingGeometry{16384, 256}}, 1 << 20};
inline constexpr uint64_t kDefaultDictionaryMaxBytes = uint64_t{256} << 20;

// Availability flag for sequence `idx`: the lap number. The protocol text computes it as a
// 64-bit shift then a 32-bit truncation; one implementation truncates first. They agree
// below 2^32; a reader accepts either so files of both kinds stay readable forever.
constexpr int32_t availability_flag(int64_t idx, int shift) {
  return static_cast<int32_t>(static_cast<uint64_t>(idx) >> shift);
}
constexpr int32_t availability_flag_truncated_first(int64_t idx, int shift) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(idx)) >> shift);
}

}  // namespace otlp_mmap::layout

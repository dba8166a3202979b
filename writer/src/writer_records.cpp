// Fitting records to the ring and writing them: a record is never claimed unless it fits
// (FORMAT.md §9.5); a record larger than a slot is spread over consecutive slots (§9.17); what
// does not fit is shortened, split or dropped, and counted.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <vector>

#include "otlp_mmap/slot_record.hpp"
#include "otlp_mmap/writer.hpp"
#include "writer_internal.hpp"
#include "writer_values.hpp"

namespace otlp_mmap {

using layout::RingKind;
namespace dh = layout::dictionary_header;
using writer_detail::utf8_prefix;

namespace {

// Whether the record `v` is at most `limit` payload bytes.
template <class View>
bool fits(const View& v, uint64_t limit) {
  return encoded_size(v) <= limit;
}

// Shortens a value to `limit`: strings and bytes to `limit` bytes, arrays and kvlists to
// limit/8 elements. Returns whether anything changed.
bool shorten(AnyValueView& v, uint64_t limit) {
  using K = AnyValueView::Kind;
  switch (v.kind) {
    case K::kString: {
      auto p = utf8_prefix(v.bytes, limit);
      bool changed = p.size() != v.bytes.size();
      v.bytes = p;
      return changed;
    }
    case K::kBytes: {
      bool changed = v.bytes.size() > limit;
      v.bytes = v.bytes.substr(0, std::min<uint64_t>(limit, v.bytes.size()));
      return changed;
    }
    case K::kArray: {
      bool changed = v.array.size() > limit / 8;
      v.array = v.array.first(std::min<uint64_t>(limit / 8, v.array.size()));
      return changed;
    }
    case K::kKvList: {
      bool changed = v.kvlist.size() > limit / 8;
      v.kvlist = v.kvlist.first(std::min<uint64_t>(limit / 8, v.kvlist.size()));
      return changed;
    }
    default: return false;
  }
}

uint64_t longest(const AnyValueView& v) {
  using K = AnyValueView::Kind;
  switch (v.kind) {
    case K::kString:
    case K::kBytes: return v.bytes.size();
    case K::kArray: return 8 * v.array.size();
    case K::kKvList: return 8 * v.kvlist.size();
    default: return 0;
  }
}

// Largest limit in [0, hi] for which fits(limit) holds, or -1 if none does.
template <class F>
int64_t largest_fitting(uint64_t hi, F&& fits_with) {
  if (!fits_with(0)) return -1;
  uint64_t lo = 0;  // fits
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (fits_with(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return static_cast<int64_t>(lo);
}

// Largest prefix length k in [0, n] for which fits(k) holds (fits(0) is assumed true).
template <class F>
size_t largest_prefix(size_t n, F&& fits_with) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo + 1) / 2;
    if (fits_with(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

struct Shortened {
  std::vector<KeyValueView> attrs;
  uint64_t changed = 0;
};

Shortened shorten_all(std::span<const KeyValueView> in, uint64_t limit) {
  Shortened s{std::vector<KeyValueView>(in.begin(), in.end()), 0};
  for (auto& kv : s.attrs) s.changed += shorten(kv.value, limit) ? 1 : 0;
  return s;
}

uint64_t longest_of(std::span<const KeyValueView> attrs) {
  uint64_t m = 0;
  for (const auto& kv : attrs) m = std::max(m, longest(kv.value));
  return m;
}

// This thread's buffer for encoding a record that is spread over several slots. Buffers above
// 64 KiB are given back after use, so a thread keeps little after one huge record.
class EncodeBuffer {
 public:
  uint8_t* get(uint64_t n) {
    if (n > size_) {
      data_.reset(new (std::nothrow) uint8_t[n]);
      size_ = data_ ? n : 0;
    }
    return data_.get();
  }
  void done() {
    if (size_ > kKeep) {
      data_.reset();
      size_ = 0;
    }
  }

 private:
  static constexpr uint64_t kKeep = uint64_t{64} << 10;
  std::unique_ptr<uint8_t[]> data_;
  uint64_t size_ = 0;
};

WriteStatus with_cut(WriteStatus st, bool cut) {
  return st == WriteStatus::kWritten && cut ? WriteStatus::kWrittenTruncated : st;
}

}  // namespace

WriteStatus Writer::note(WriteStatus s) {
  if (s == WriteStatus::kDroppedUnencodable) count(dh::kDroppedUnencodable);
  return s;
}

template <class View>
WriteStatus Writer::write_one(RingKind kind, const View& v, uint64_t n) {
  const Ring& ring = rings_[static_cast<size_t>(kind)];
  // Never claim a slot for a record that does not fit: an unpublished slot stalls the
  // reader, which is exactly how the protocol's first implementation jams its rings.
  if (!slot_record::fits(n, ring.buffer_size())) {
    if (n > record_limit_[static_cast<size_t>(kind)]) return WriteStatus::kDroppedUnencodable;
    return write_spread(kind, v, n);
  }
  int64_t idx = -1;
  if (ring.claim(idx, config_.full_ring_retries) != Ring::Claim::kOk) {
    count(layout::dropped_full_field(kind));
    return WriteStatus::kDroppedFull;
  }
  uint8_t* slot = ring.slot(idx);
  wire::Encoder e(slot + slot_record::write_prefix(slot, n));
  encode(v, e);
  if (!ring.publish(idx)) {
    count(dh::kDroppedSkipped);
    return WriteStatus::kDroppedSkipped;
  }
  return WriteStatus::kWritten;
}

template <class View>
WriteStatus Writer::write_spread(RingKind kind, const View& v, uint64_t n) {
  thread_local EncodeBuffer buffer;
  uint8_t* data = buffer.get(n);
  if (data == nullptr) return note(WriteStatus::kDroppedUnencodable);
  wire::Encoder e(data);
  encode(v, e);
  const WriteStatus st = spread(kind, data, n);
  buffer.done();
  return st;
}

// Claims the record's k slots in one step, writes the continuations and publishes them, and
// publishes the head last: a reader that sees the head published finds every continuation
// published too, and a record whose head never appears is skipped whole (FORMAT.md §9.17).
WriteStatus Writer::spread(RingKind kind, const uint8_t* payload, uint64_t n) {
  const Ring& ring = rings_[static_cast<size_t>(kind)];
  const uint64_t b = ring.buffer_size();
  const uint64_t k = slot_record::slots_needed(n, b);
  int64_t first = -1;
  if (ring.claim(first, config_.full_ring_retries, k) != Ring::Claim::kOk) {
    count(layout::dropped_full_field(kind));
    return WriteStatus::kDroppedFull;
  }
  const uint64_t head_bytes = b - slot_record::prefix_size(n);
  const uint64_t room = slot_record::continuation_room(b);
  uint64_t off = head_bytes;
  for (uint64_t i = 1; i < k; ++i) {
    const int64_t seq = seq_add(first, static_cast<int64_t>(i));
    uint8_t* slot = ring.slot(seq);
    const uint64_t len = std::min(room, n - off);
    std::memcpy(slot + slot_record::write_continuation_prefix(slot, first), payload + off, len);
    off += len;
    // Skipped by the reader (this writer stalled past the grace): the rest is never published.
    if (!ring.publish(seq)) {
      count(dh::kDroppedSkipped);
      return WriteStatus::kDroppedSkipped;
    }
  }
  uint8_t* head = ring.slot(first);
  std::memcpy(head + slot_record::write_prefix(head, n), payload, head_bytes);
  if (!ring.publish(first)) {
    count(dh::kDroppedSkipped);
    return WriteStatus::kDroppedSkipped;
  }
  return WriteStatus::kWritten;
}

template <class View>
std::optional<WriteStatus> Writer::write_within_limits(RingKind kind, View& v, uint64_t size,
                                                       writer_detail::ValueCap& cap) {
  // No value can be longer than the whole record.
  if (size > config_.max_value_bytes) {
    cap.apply(v);
    if (cap.cut() > 0) {
      count(dh::kTruncatedValues, cap.cut());
      size = encoded_size(v);
    }
  }
  if (size > record_limit_[static_cast<size_t>(kind)]) return std::nullopt;
  return with_cut(write_one(kind, v, size), cap.cut() > 0);
}

WriteStatus Writer::write(const MeasurementView& original) {
  // The common case: the record fits one slot as it is (its size is computed once).
  const uint64_t size = encoded_size(original);
  if (size <= fast_limit_[2]) return write_one(RingKind::kMeasurements, original, size);
  MeasurementView m = original;
  writer_detail::ValueCap cap(config_.max_value_bytes);
  if (auto st = write_within_limits(RingKind::kMeasurements, m, size, cap)) return *st;
  const uint64_t slot = record_limit_[2];
  // Shorten every long value to the same limit: deterministic, so one oversized series
  // stays one series.
  MeasurementView t = m;
  int64_t limit = largest_fitting(longest_of(m.attributes), [&](uint64_t l) {
    auto s = shorten_all(m.attributes, l);
    t.attributes = s.attrs;
    return fits(t, slot);
  });
  if (limit < 0) return note(WriteStatus::kDroppedUnencodable);
  auto s = shorten_all(m.attributes, static_cast<uint64_t>(limit));
  t.attributes = s.attrs;
  count(dh::kTruncatedValues, s.changed);
  WriteStatus st = write_one(RingKind::kMeasurements, t);
  return st == WriteStatus::kWritten ? WriteStatus::kWrittenTruncated : st;
}

WriteStatus Writer::write(const EventView& original) {
  // The common case: the record fits one slot as it is (its size is computed once).
  const uint64_t size = encoded_size(original);
  if (size <= fast_limit_[0]) return write_one(RingKind::kEvents, original, size);
  EventView ev = original;
  writer_detail::ValueCap cap(config_.max_value_bytes);
  if (auto st = write_within_limits(RingKind::kEvents, ev, size, cap)) return *st;
  const uint64_t slot = record_limit_[0];
  EventView t = ev;
  const AnyValueView body = ev.body != nullptr ? *ev.body : AnyValueView{};
  AnyValueView b;
  t.body = ev.body != nullptr ? &b : nullptr;
  Shortened s;
  uint64_t changed = 0;
  // 1. Every attribute kept: shorten all long values (and the body) to one limit.
  auto with_limit = [&](uint64_t l) {
    s = shorten_all(ev.attributes, l);
    b = body;
    changed = s.changed + ((ev.body != nullptr && shorten(b, l)) ? 1 : 0);
    t.attributes = s.attrs;
    return fits(t, slot);
  };
  int64_t limit = largest_fitting(std::max(longest_of(ev.attributes), longest(body)), with_limit);
  if (limit >= 0) {
    with_limit(static_cast<uint64_t>(limit));
  } else {
    // 2. Too many attributes to fit even empty: keep the leading ones whole, count the
    // rest as dropped, and give the body whatever room is left.
    t.severity_text = utf8_prefix(ev.severity_text, 64);
    b = body;
    shorten(b, 0);
    // The dropped count is part of the record too: sized with each candidate prefix.
    const auto keep = [&](size_t n) {
      t.attributes = ev.attributes.first(n);
      t.dropped_attributes_count = ev.dropped_attributes_count + static_cast<uint32_t>(ev.attributes.size() - n);
    };
    size_t k = largest_prefix(ev.attributes.size(), [&](size_t n) {
      keep(n);
      return fits(t, slot);
    });
    keep(k);
    int64_t body_limit = largest_fitting(longest(body), [&](uint64_t l) {
      b = body;
      shorten(b, l);
      return fits(t, slot);
    });
    if (body_limit < 0) return note(WriteStatus::kDroppedUnencodable);
    b = body;
    changed = shorten(b, static_cast<uint64_t>(body_limit)) ? 1 : 0;
  }
  count(dh::kTruncatedValues, changed);
  WriteStatus st = write_one(RingKind::kEvents, t);
  return st == WriteStatus::kWritten ? WriteStatus::kWrittenTruncated : st;
}

// Writes `attrs` as UpdateAttributes records of the span in `base`, as many per record
// as fit; a single attribute too large for a record of its own is shortened.
WriteStatus Writer::write_span_attributes(const SpanEventView& base, std::span<const KeyValueView> attrs,
                                          bool& truncated) {
  const uint64_t slot = record_limit_[1];
  SpanEventView u;
  u.type = SpanEventType::kAttributes;
  u.trace_id = base.trace_id;
  u.span_id = base.span_id;
  u.scope_ref = base.scope_ref;
  WriteStatus worst = WriteStatus::kWritten;
  while (!attrs.empty()) {
    size_t k = largest_prefix(attrs.size(), [&](size_t n) {
      u.attributes = attrs.first(n);
      return fits(u, slot);
    });
    WriteStatus st;
    if (k > 0) {
      u.attributes = attrs.first(k);
      st = write_one(RingKind::kSpans, u);
    } else {
      k = 1;
      KeyValueView one = attrs[0];
      int64_t limit = largest_fitting(longest(one.value), [&](uint64_t l) {
        KeyValueView c = attrs[0];
        shorten(c.value, l);
        one = c;
        u.attributes = std::span<const KeyValueView>(&one, 1);
        return fits(u, slot);
      });
      if (limit < 0) {
        st = note(WriteStatus::kDroppedUnencodable);
      } else {
        one = attrs[0];
        shorten(one.value, static_cast<uint64_t>(limit));
        u.attributes = std::span<const KeyValueView>(&one, 1);
        count(dh::kTruncatedValues);
        truncated = true;
        st = write_one(RingKind::kSpans, u);
      }
    }
    if (!written(st)) worst = st;
    attrs = attrs.subspan(k);
  }
  return worst;
}

WriteStatus Writer::write(const SpanEventView& in) {
  if (in.type == SpanEventType::kAddEvent && !config_.extensions) {
    // Plain-protocol form of a span event: a log record carrying the span's context.
    EventView e;
    e.scope_ref = in.scope_ref;
    e.time_unix_nano = in.event_time_unix_nano;
    e.event_name_ref = intern_string(in.name);
    e.span_context = {true, in.trace_id, in.span_id, 1};
    e.attributes = in.attributes;
    return write(e);
  }
  // The common case: the record fits one slot as it is (its size is computed once).
  const SizedSpanEvent sized_in = sized(in);
  const uint64_t size = encoded_size(sized_in);
  if (size <= fast_limit_[1]) return write_one(RingKind::kSpans, sized_in, size);
  SpanEventView s = in;
  writer_detail::ValueCap cap(config_.max_value_bytes);
  if (auto st = write_within_limits(RingKind::kSpans, s, size, cap)) return *st;
  const uint64_t slot = record_limit_[1];
  SpanEventView t = s;
  bool truncated = cap.cut() > 0;
  auto finish = [&](WriteStatus st) {
    if (st == WriteStatus::kWritten && truncated) return WriteStatus::kWrittenTruncated;
    return st;
  };
  // Shortens a text field of `t` to fit, or reports that nothing fits.
  auto fit_text = [&](std::string_view whole, std::string_view& field) {
    int64_t l = largest_fitting(whole.size(), [&](uint64_t len) {
      field = utf8_prefix(whole, len);
      return fits(t, slot);
    });
    if (l < 0) return false;
    field = utf8_prefix(whole, static_cast<uint64_t>(l));
    if (field.size() != whole.size()) {
      count(dh::kTruncatedValues);
      truncated = true;
    }
    return true;
  };

  switch (s.type) {
    case SpanEventType::kStart: {
      // A start that is too large becomes a start with the attributes that fit, followed
      // by attribute updates for the rest; the reader merges them into one span.
      t.attributes = {};
      t.trace_state = utf8_prefix(s.trace_state, 1024);
      if (!fits(t, slot) && !fit_text(s.name, t.name)) return note(WriteStatus::kDroppedUnencodable);
      size_t k = largest_prefix(s.attributes.size(), [&](size_t n) {
        t.attributes = s.attributes.first(n);
        return fits(t, slot);
      });
      t.attributes = s.attributes.first(k);
      WriteStatus st = write_one(RingKind::kSpans, t);
      if (!written(st)) return st;
      WriteStatus rest = write_span_attributes(s, s.attributes.subspan(k), truncated);
      return finish(written(rest) ? st : rest);
    }
    case SpanEventType::kAttributes: return finish(write_span_attributes(s, s.attributes, truncated));
    case SpanEventType::kName:
      if (!fit_text(s.name, t.name)) return note(WriteStatus::kDroppedUnencodable);
      return finish(write_one(RingKind::kSpans, t));
    case SpanEventType::kEnd:
      if (!fit_text(s.status_message, t.status_message)) return note(WriteStatus::kDroppedUnencodable);
      return finish(write_one(RingKind::kSpans, t));
    case SpanEventType::kAddEvent: {
      t.attributes = {};
      if (!fits(t, slot) && !fit_text(s.name, t.name)) return note(WriteStatus::kDroppedUnencodable);
      // The dropped count is part of the record too: sized with each candidate prefix.
      const auto keep = [&](size_t n) {
        t.attributes = s.attributes.first(n);
        t.dropped_attributes_count = s.dropped_attributes_count + static_cast<uint32_t>(s.attributes.size() - n);
      };
      size_t k = largest_prefix(s.attributes.size(), [&](size_t n) {
        keep(n);
        return fits(t, slot);
      });
      keep(k);
      truncated = truncated || k < s.attributes.size();
      return finish(write_one(RingKind::kSpans, t));
    }
    case SpanEventType::kLink: {
      WriteStatus worst = WriteStatus::kWritten;
      std::span<const LinkView> links = s.links;
      while (!links.empty()) {
        size_t k = largest_prefix(links.size(), [&](size_t n) {
          t.links = links.first(n);
          return fits(t, slot);
        });
        LinkView cut;
        if (k == 0) {
          // One link with too many attributes: keep those that fit, count the rest.
          k = 1;
          cut = links[0];
          t.links = std::span<const LinkView>(&cut, 1);
          const auto keep = [&](size_t n) {
            cut.attributes = links[0].attributes.first(n);
            cut.dropped_attributes_count =
                links[0].dropped_attributes_count + static_cast<uint32_t>(links[0].attributes.size() - n);
          };
          size_t a = largest_prefix(links[0].attributes.size(), [&](size_t n) {
            keep(n);
            return fits(t, slot);
          });
          keep(a);
          truncated = true;
          if (!fits(t, slot)) {
            worst = note(WriteStatus::kDroppedUnencodable);
            links = links.subspan(1);
            continue;
          }
        } else {
          t.links = links.first(k);
        }
        WriteStatus st = write_one(RingKind::kSpans, t);
        if (!written(st)) worst = st;
        links = links.subspan(k);
      }
      return finish(worst);
    }
    case SpanEventType::kNone: break;
  }
  return note(WriteStatus::kDroppedUnencodable);
}

}  // namespace otlp_mmap

// The resolver's OTLP-bytes side: attribute lists and values written straight from record
// views, with the rules of the message-building side (resolver.cpp) step by step: keys from
// string(), strings repaired, value refs followed through value_ref(), nesting bounded, a later
// value of a key replacing an earlier one in its place, what cannot be resolved left out.
#include <cassert>

#include "otlp_mmap/collector/otlp_wire.hpp"
#include "otlp_mmap/collector/receiver/resolver.hpp"

namespace otlp_mmap::collector {

namespace {

namespace av = otlp_wire::any_value;
namespace kv = otlp_wire::key_value;

constexpr size_t kWireKeys = 1024;  // direct-mapped key cache slots

uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Writes a string field, repaired to valid UTF-8 when it is not. True when repaired.
bool string_field(otlp_wire::Out& out, uint32_t field, std::string_view s, std::string& scratch) {
  if (valid_utf8_prefix(s) == s.size()) {
    out.bytes_field(field, s);
    return false;
  }
  scratch.assign(s);
  repair_utf8(scratch);
  out.bytes_field(field, scratch);
  return true;
}

}  // namespace

const DictionaryResolver::WireKey* DictionaryResolver::wire_key(int64_t ref) {
  if (wire_keys_.empty()) wire_keys_.resize(kWireKeys);
  WireKey& slot = wire_keys_[(static_cast<uint64_t>(ref) * 0x9E3779B97F4A7C15ull) >> 54];
  if (slot.ref == ref) {
    ++stats_.cache_hits;
    return &slot;
  }
  const std::string* key = string(ref);  // counts its own hit, miss or failure
  if (key == nullptr) return nullptr;
  slot.ref = ref;
  slot.hash = hash_bytes(*key);
  slot.field.clear();
  otlp_wire::Out out(slot.field);
  out.opt_bytes(kv::kKey, *key);
  return &slot;
}

// Mirrors value_at: the last member the bytes hold (as the owned decoder keeps it) decides.
bool DictionaryResolver::wire_value_at(const AnyValueMember& m, otlp_wire::Out& out, int depth) {
  if (depth > limits_.max_value_depth) {
    ++stats_.value_failures;
    return false;
  }
  switch (m.number) {
    case av::kString:
      if (string_field(out, av::kString, m.bytes, value_scratch_)) ++stats_.repaired_utf8;
      return true;
    case av::kBool: out.varint_field(av::kBool, m.u != 0 ? 1 : 0); return true;
    case av::kInt: out.varint_field(av::kInt, m.u); return true;
    case av::kDouble: out.fixed64_field(av::kDouble, m.u); return true;
    case av::kBytes: out.bytes_field(av::kBytes, m.bytes); return true;
    case av::kArray: {
      const auto arr = out.open(av::kArray);
      bool ok = true;
      for_each_element(m.bytes, [&](std::string_view element) {
        const auto e = out.open(av::kValues);
        ok = wire_value_at(any_value_member(element), out, depth + 1) && ok;  // a failed element stays, empty
        out.close(e);
      });
      out.close(arr);
      return ok;
    }
    case av::kKvList: {
      const auto list = out.open(av::kKvList);
      bool ok = true;
      for_each_element(m.bytes, [&](std::string_view entry) {
        const size_t at = out.size();
        const auto e = out.open(av::kValues);
        if (wire_kv_at(key_value_ref(entry), out, depth + 1, nullptr)) {
          out.close(e);
        } else {
          out.str().resize(at);  // left out, as kv_at's failures are
          ok = false;
        }
      });
      out.close(list);
      return ok;
    }
    case 8: {  // value_ref: resolved (and cached) as a message, written serialised
      const otlp::AnyValue* v = value_ref(static_cast<int64_t>(m.u), depth);
      if (v == nullptr) {
        ++stats_.value_failures;
        return false;
      }
      entry_scratch_.clear();
      v->AppendToString(&entry_scratch_);
      out.raw(entry_scratch_);
      return true;
    }
    default: return true;  // no member: an empty AnyValue
  }
}

// The common attribute, a valid UTF-8 string under a key that resolves, written with every
// length known up front (no length reserved and moved): most of the work of merging a list.
// Writes nothing for anything else (kNotString) or when the key does not resolve.
DictionaryResolver::Written DictionaryResolver::string_entry(const KeyValueRefView& in, uint32_t field,
                                                             otlp_wire::Out& out, uint64_t& key_hash) {
  if (in.member.number != av::kString || valid_utf8_prefix(in.member.bytes) != in.member.bytes.size()) {
    return Written::kNotString;
  }
  const WireKey* key = wire_key(in.key_ref);
  if (key == nullptr) return Written::kUnresolved;
  key_hash = key->hash;
  const std::string_view value = in.member.bytes;
  const size_t any = otlp_wire::len_field_size(av::kString, value.size());
  const size_t entry = key->field.size() + otlp_wire::len_field_size(kv::kValue, any);
  wire::Encoder e = out.extend(otlp_wire::len_field_size(field, entry));
  e.len_header(field, entry);
  e.raw(key->field);
  e.len_header(kv::kValue, any);
  e.bytes_field(av::kString, value);
  assert(e.pos() == reinterpret_cast<const uint8_t*>(out.str().data() + out.size()));
  return Written::kWritten;
}

// Mirrors kv_at; `key_hash` receives the hash of the key when it resolved.
bool DictionaryResolver::wire_kv_at(const KeyValueRefView& in, otlp_wire::Out& out, int depth, uint64_t* key_hash) {
  const WireKey* key = wire_key(in.key_ref);
  if (key == nullptr) return false;
  if (key_hash != nullptr) *key_hash = key->hash;
  out.raw(key->field);  // before the value: resolving it may reuse the key's cache slot
  const auto v = out.open(kv::kValue);
  const size_t content = out.size();
  const bool ok = wire_value_at(in.member, out, depth);
  const bool set = out.size() > content;
  out.close(v);
  // A value that failed entirely leaves the attribute out; a partly resolved array or list
  // is kept with what could be resolved.
  return ok || set;
}

uint32_t DictionaryResolver::merge_attributes(std::span<const KeyValueRefView> in, uint32_t field, std::string& list,
                                              size_t* entries) {
  if (in.empty() && entries == nullptr) return 0;
  // The entries already in the list.
  list_scratch_.clear();
  otlp_wire::for_each_entry(list, [&](size_t begin, size_t, size_t end) {
    list_scratch_.push_back({begin, end, hash_bytes(otlp_wire::entry_key(list, begin, end))});
  });
  uint32_t dropped = 0;
  otlp_wire::Out out(list);
  for (const KeyValueRefView& a : in) {
    const size_t begin = list.size();
    uint64_t hash = 0;
    const Written w = string_entry(a, field, out, hash);
    if (w == Written::kUnresolved) {
      ++dropped;
      continue;
    }
    if (w == Written::kNotString) {
      const auto entry = out.open(field);
      if (!wire_kv_at(a, out, 0, &hash)) {
        list.resize(begin);
        ++dropped;
        continue;
      }
      out.close(entry);
    }
    ListEntry* same = nullptr;
    for (ListEntry& e : list_scratch_) {
      if (e.hash != hash) continue;
      const std::string_view view(list);
      if (otlp_wire::entry_key(view, e.begin, e.end) == otlp_wire::entry_key(view, begin, list.size())) {
        same = &e;
        break;
      }
    }
    if (same == nullptr) {
      list_scratch_.push_back({begin, list.size(), hash});
      continue;
    }
    // The key is there already: the new entry takes the old one's place.
    entry_scratch_.assign(list, begin, std::string::npos);
    list.resize(begin);
    list.replace(same->begin, same->end - same->begin, entry_scratch_);
    const auto delta =
        static_cast<std::ptrdiff_t>(entry_scratch_.size()) - static_cast<std::ptrdiff_t>(same->end - same->begin);
    for (ListEntry& e : list_scratch_) {
      if (e.begin > same->begin) {
        e.begin = static_cast<size_t>(static_cast<std::ptrdiff_t>(e.begin) + delta);
        e.end = static_cast<size_t>(static_cast<std::ptrdiff_t>(e.end) + delta);
      }
    }
    same->end = same->begin + entry_scratch_.size();
  }
  if (entries != nullptr) *entries = list_scratch_.size();
  return dropped;
}

}  // namespace otlp_mmap::collector

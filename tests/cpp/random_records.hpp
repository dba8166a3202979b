// Random records in the protocol's wire format (proto/mmap.proto), for differential tests:
// mostly well-formed, with what a proto3 parser must cope with (unknown fields, a scalar or a
// oneof member given twice, nested arrays and key-value lists, value refs, strings that are
// not UTF-8), and mutated copies (bytes changed, cut or inserted) that two decoders must
// accept or refuse alike. Field numbers are written out here on purpose: an independent
// reading of the .proto file.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace otlp_mmap::testing {

class RandomRecords {
 public:
  // `key_refs` / `value_refs`: dictionary refs attributes may use (a few unknown refs are
  // added by the generator itself); `scope_refs`: scopes records may name.
  RandomRecords(uint64_t seed, std::vector<int64_t> key_refs, std::vector<int64_t> value_refs = {},
                std::vector<int64_t> scope_refs = {})
      : rng_(seed), keys_(std::move(key_refs)), values_(std::move(value_refs)), scopes_(std::move(scope_refs)) {}

  std::mt19937_64& rng() { return rng_; }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  // ------------------------------------------------------------------ values

  std::string text() {
    static const char* const words[] = {"GET",    "/users/{id}", "api.example.com", "",    "ok",
                                        "ümlaut", "日本語",      "a\nb\"c\\",       "\x7f"};
    std::string s = words[below(std::size(words))];
    if (chance(0.3)) s += std::string(below(40), static_cast<char>('a' + below(26)));
    if (chance(0.05)) s += "\xff\xfe";      // not UTF-8
    if (chance(0.03)) s += "\xed\xa0\x80";  // a surrogate
    if (chance(0.03)) s.push_back('\xc3');  // cut sequence
    return s;
  }

  std::string any_value(int depth) {
    std::string out;
    const int members = chance(0.1) ? 2 : (chance(0.05) ? 0 : 1);  // a later member wins
    for (int m = 0; m < members; ++m) {
      switch (below(depth >= 3 ? 6 : 8)) {
        case 0: bytes(out, 1, text()); break;
        case 1: varint(out, 2, below(2)); break;
        case 2: varint(out, 3, static_cast<uint64_t>(static_cast<int64_t>(rng_()) >> below(64))); break;
        case 3: fixed64(out, 4, double_bits()); break;
        case 4: bytes(out, 7, std::string(below(12), static_cast<char>(below(256)))); break;
        case 5:
          if (!values_.empty() || chance(0.2))
            varint(out, 8, static_cast<uint64_t>(value_ref()));
          else
            bytes(out, 1, text());
          break;
        case 6: {
          std::string arr;
          for (uint64_t i = 0, n = below(4); i < n; ++i) bytes(arr, 1, any_value(depth + 1));
          bytes(out, 5, arr);
          break;
        }
        default: {
          std::string list;
          for (uint64_t i = 0, n = below(4); i < n; ++i) bytes(list, 1, key_value(depth + 1));
          bytes(out, 6, list);
          break;
        }
      }
    }
    if (chance(0.05)) varint(out, 50, 7);  // unknown field
    noise(out, 8);
    return out;
  }

  // Now and then a known field number with any wire type (often the wrong one for it).
  void noise(std::string& out, uint32_t max_field) {
    if (!chance(0.02)) return;
    const auto field = static_cast<uint32_t>(below(max_field) + 1);
    switch (below(4)) {
      case 0: varint(out, field, below(300)); break;
      case 1: fixed64(out, field, rng_()); break;
      case 2: fixed32(out, field, static_cast<uint32_t>(rng_())); break;
      default: bytes(out, field, std::string(below(3), '\x08')); break;
    }
  }

  std::string key_value(int depth = 0) {
    std::string out;
    varint(out, 1, static_cast<uint64_t>(key_ref()));
    if (!chance(0.03)) bytes(out, 2, any_value(depth));
    if (chance(0.03)) varint(out, 1, static_cast<uint64_t>(key_ref()));  // a later key wins
    noise(out, 2);
    return out;
  }

  void attributes(std::string& out, uint32_t field, uint64_t max) {
    for (uint64_t i = 0, n = below(max + 1); i < n; ++i) bytes(out, field, key_value());
  }

  // ------------------------------------------------------------------ records

  enum SpanRecord : uint32_t { kStart = 11, kEnd = 12, kName = 13, kAttributes = 14, kLink = 15, kAddEvent = 100 };

  // A SpanEvent of `type` for the given ids.
  std::string span_record(uint32_t type, const std::string& trace, const std::string& span) {
    std::string out;
    bytes(out, 1, trace);
    bytes(out, 2, span);
    if (!scopes_.empty() || chance(0.5)) varint(out, 20, static_cast<uint64_t>(scope_ref()));
    std::string body;
    switch (type) {
      case kStart:
        if (chance(0.7)) bytes(body, 4, chance(0.9) ? id(8) : id(below(10)));
        bytes(body, 5, text());
        varint(body, 6, chance(0.9) ? below(6) : below(1000));
        fixed64(body, 7, 1'700'000'000'000'000'000ull + below(1'000'000));
        attributes(body, 9, 12);
        if (chance(0.5)) fixed32(body, 16, static_cast<uint32_t>(below(0x400)));
        if (chance(0.2)) bytes(body, 100, text());
        break;
      case kEnd: {
        fixed64(body, 8, 1'700'000'000'001'000'000ull + below(1'000'000));
        if (chance(0.7)) {
          std::string status;
          if (chance(0.5)) bytes(status, 2, text());
          varint(status, 3, chance(0.9) ? below(3) : below(100));
          noise(status, 3);
          bytes(body, 15, status);
        }
        for (uint32_t f : {100u, 101u, 102u}) {
          if (chance(0.3)) varint(body, f, below(5));
        }
        break;
      }
      case kName: bytes(body, 5, text()); break;
      case kAttributes: attributes(body, 9, 6); break;
      case kLink:
        for (uint64_t i = 0, n = below(3) + 1; i < n; ++i) {
          std::string link;
          bytes(link, 1, chance(0.9) ? id(16) : id(below(20)));
          bytes(link, 2, chance(0.9) ? id(8) : id(below(10)));
          if (chance(0.3)) bytes(link, 3, text());
          attributes(link, 4, 3);
          if (chance(0.3)) varint(link, 5, below(4));
          if (chance(0.5)) fixed32(link, 6, static_cast<uint32_t>(below(0x400)));
          noise(link, 6);
          bytes(body, 13, link);
        }
        break;
      default:  // kAddEvent
        fixed64(body, 1, 1'700'000'000'000'500'000ull + below(1'000'000));
        bytes(body, 2, text());
        attributes(body, 3, 4);
        if (chance(0.3)) varint(body, 4, below(4));
        break;
    }
    if (chance(0.05)) varint(body, 77, 1);  // unknown field in the body
    noise(body, 16);
    bytes(out, type, body);
    noise(out, 20);
    return out;
  }

  // An Event (a log record).
  std::string event_record() {
    std::string out;
    if (!scopes_.empty() || chance(0.5)) varint(out, 1, static_cast<uint64_t>(scope_ref()));
    if (chance(0.9)) fixed64(out, 2, 1'700'000'000'000'000'000ull + below(1'000'000));
    if (chance(0.9)) varint(out, 3, chance(0.9) ? below(25) : below(1000));
    if (chance(0.7)) bytes(out, 4, text());
    if (chance(0.8)) bytes(out, 5, any_value(0));
    if (chance(0.3)) varint(out, 6, static_cast<uint64_t>(key_ref()));
    if (chance(0.5)) {
      std::string sc;
      bytes(sc, 1, chance(0.9) ? id(8) : id(below(10)));
      bytes(sc, 2, chance(0.9) ? id(16) : id(below(20)));
      fixed32(sc, 3, static_cast<uint32_t>(below(0x400)));
      noise(sc, 3);
      bytes(out, 7, sc);
    }
    attributes(out, 8, 8);
    if (chance(0.5)) fixed64(out, 100, 1'700'000'000'000'100'000ull);
    if (chance(0.3)) varint(out, 101, below(5));
    noise(out, 8);
    return out;
  }

  // A copy of `in` with one to three bytes changed, cut off or inserted.
  std::string mutate(std::string in) {
    for (uint64_t k = 0, n = below(3) + 1; k < n && !in.empty(); ++k) {
      const size_t at = below(in.size());
      switch (below(3)) {
        case 0: in[at] = static_cast<char>(below(256)); break;
        case 1: in.resize(at); break;
        default: in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(below(256))); break;
      }
    }
    return in;
  }

  std::string id(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(below(256));
    return s;
  }

  // ------------------------------------------------------------------ wire writing

  static void varint_raw(std::string& out, uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
  static void varint(std::string& out, uint32_t field, uint64_t v) {
    varint_raw(out, uint64_t{field} << 3);
    varint_raw(out, v);
  }
  static void fixed64(std::string& out, uint32_t field, uint64_t v) {
    varint_raw(out, (uint64_t{field} << 3) | 1);
    out.append(reinterpret_cast<const char*>(&v), 8);
  }
  static void fixed32(std::string& out, uint32_t field, uint32_t v) {
    varint_raw(out, (uint64_t{field} << 3) | 5);
    out.append(reinterpret_cast<const char*>(&v), 4);
  }
  static void bytes(std::string& out, uint32_t field, const std::string& b) {
    varint_raw(out, (uint64_t{field} << 3) | 2);
    varint_raw(out, b.size());
    out += b;
  }

 private:
  int64_t pick(const std::vector<int64_t>& refs) {
    if (refs.empty() || chance(0.03)) return static_cast<int64_t>(below(4) == 0 ? 0 : 999'983 + below(5));
    return refs[below(refs.size())];
  }
  int64_t key_ref() { return pick(keys_); }
  int64_t value_ref() { return pick(values_); }
  int64_t scope_ref() { return pick(scopes_); }
  uint64_t double_bits() {
    static const double specials[] = {0.0, -0.0, 1.5, -2.25, 1e300, 5e-324};
    double d =
        chance(0.5) ? specials[below(std::size(specials))] : std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    return bits;
  }

  std::mt19937_64 rng_;
  std::vector<int64_t> keys_, values_, scopes_;
};

}  // namespace otlp_mmap::testing

// KeyCache: the dictionary references of attribute keys, per writer (steps 3 and 5 of a
// record_* call, see to_views.hpp).
#pragma once

#include <nanobind/nanobind.h>

#include <array>
#include <string_view>

#include "otlp_mmap/writer.hpp"
#include "scratch.hpp"

namespace otlp_mmap::py {

// Per-writer cache {key str: dictionary reference} in front of Writer::intern(), which
// takes a mutex and hashes the bytes again; a str caches its own hash.
class KeyCache {
 public:
  KeyCache();
  ~KeyCache();
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;
  // The reference of `key` (a str), interning it on a miss. 0 when the dictionary is full.
  int64_t get(Writer& w, PyObject* key, std::string_view utf8, Scratch* s);
  // Fills every pending key of `s`. False when the dictionary is full (the record is then
  // dropped; the core has counted it).
  bool resolve(Writer& w, Scratch& s);
  // Step 5: remembers the keys interned during the call.
  void remember(Scratch& s);
  // Entries of the dict (the recent-object table only repeats some of them).
  size_t size() const;

 private:
  void insert(PyObject* key, int64_t ref);
  void remember_object(PyObject* key, int64_t ref);

  // In front of the dict, by the key object's address: attribute keys are mostly the same
  // str objects call after call (literals, interned names), and comparing an address costs a
  // tenth of the dict's probe and string compare (callgrind: ~150 instructions per key, a
  // tenth of a 10-attribute span's cost). Direct-mapped; each entry holds a reference, so an
  // address is never reused by another object while it is here; at most kRecent cached keys
  // (of at most kMaxKeyBytes) are kept alive by it.
  struct Recent {
    PyObject* key = nullptr;
    int64_t ref = 0;
  };
  static constexpr size_t kRecentBits = 9;
  static constexpr size_t kRecent = size_t{1} << kRecentBits;
  static size_t recent_slot(const PyObject* key) {
    // Fibonacci hashing: the top bits of the address times 2^64/phi spread the 16-byte-aligned
    // addresses of the allocator over the table.
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(key) * 0x9E3779B97F4A7C15ull) >> (64 - kRecentBits));
  }
  std::array<Recent, kRecent> recent_{};

  // At most 65,536 keys of at most 1 KiB, holding at most 4 Mi characters in all, so a
  // stream of distinct keys cannot grow the application's memory without bound.
  static constexpr Py_ssize_t kMaxEntries = 1 << 16;
  static constexpr size_t kMaxKeyBytes = 1024;
  static constexpr size_t kMaxChars = size_t{4} << 20;
  nb::dict map_;
  size_t chars_ = 0;
};

}  // namespace otlp_mmap::py

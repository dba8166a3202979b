// KeyCache: the dictionary references of attribute keys, per writer (steps 3 and 5 of a
// record_* call, see to_views.hpp).
#pragma once

#include <nanobind/nanobind.h>

#include <string_view>

#include "otlp_mmap/writer.hpp"
#include "scratch.hpp"

namespace otlp_mmap::py {

// Per-writer cache {key str: dictionary reference} in front of Writer::intern(), which
// takes a mutex and hashes the bytes again; a str caches its own hash.
class KeyCache {
 public:
  KeyCache();
  // The reference of `key` (a str), interning it on a miss. 0 when the dictionary is full.
  int64_t get(Writer& w, PyObject* key, std::string_view utf8, Scratch* s);
  // Fills every pending key of `s`. False when the dictionary is full (the record is then
  // dropped; the core has counted it).
  bool resolve(Writer& w, Scratch& s);
  // Step 5: remembers the keys interned during the call.
  void remember(Scratch& s);
  size_t size() const;

 private:
  void insert(PyObject* key, int64_t ref);

  // At most 65,536 keys of at most 1 KiB, holding at most 4 Mi characters in all, so a
  // stream of distinct keys cannot grow the application's memory without bound.
  static constexpr Py_ssize_t kMaxEntries = 1 << 16;
  static constexpr size_t kMaxKeyBytes = 1024;
  static constexpr size_t kMaxChars = size_t{4} << 20;
  nb::dict map_;
  size_t chars_ = 0;
};

}  // namespace otlp_mmap::py

// PtrSet: a small set of str objects compared by identity (interned names), for leaving the
// standard attributes of logging.LogRecord out of a record's attributes without hashing.
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>

namespace otlp_mmap::py {

class PtrSet {
 public:
  // Interns and adds every str of `set` (a set or frozenset); `set` stays the reference for
  // keys that are equal but not identical.
  void assign(PyObject* set);
  bool contains(PyObject* key) const {
    if (set_ == nullptr) return false;
    size_t i = (reinterpret_cast<uintptr_t>(key) >> 4) & (kSlots - 1);
    for (size_t n = 0; n < kSlots; ++n, i = (i + 1) & (kSlots - 1)) {
      if (slots_[i] == key) return true;
      if (slots_[i] == nullptr) break;
    }
    int r = PySet_Contains(set_, key);
    if (r < 0) PyErr_Clear();
    return r == 1;
  }

 private:
  static constexpr size_t kSlots = 128;
  PyObject* slots_[kSlots] = {};
  PyObject* set_ = nullptr;  // borrowed: the owner keeps the set alive
};

}  // namespace otlp_mmap::py

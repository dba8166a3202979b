// Ref: an owned reference to a Python object, for the code written against the CPython C
// API (the SDK types' fast paths), where nanobind's nb::object would bring its own
// conventions into plain C structs and vectorcall functions.
//
// A Ref is one pointer; it releases its reference when it goes out of scope, so an early
// return cannot leak one and no path releases one twice.
#pragma once

#include <Python.h>

#include <utility>

namespace otlp_mmap::py {

class Ref {
 public:
  Ref() = default;
  // Takes over a new reference (nullptr allowed: an API call that failed).
  explicit Ref(PyObject* new_ref) noexcept : p_(new_ref) {}
  // A new reference to a borrowed object (nullptr allowed).
  static Ref borrow(PyObject* o) noexcept {
    Py_XINCREF(o);
    return Ref(o);
  }
  Ref(Ref&& o) noexcept : p_(o.release()) {}
  Ref& operator=(Ref&& o) noexcept {
    reset(o.release());
    return *this;
  }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  ~Ref() { Py_XDECREF(p_); }

  PyObject* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  // Gives up the reference to the caller (a function returning a new reference).
  PyObject* release() noexcept { return std::exchange(p_, nullptr); }
  // Another new reference to the same object, for the caller; this one stays.
  PyObject* new_ref() const noexcept {
    Py_XINCREF(p_);
    return p_;
  }
  // Holds `new_ref` instead (released after the old one is replaced, as Py_XSETREF).
  void reset(PyObject* new_ref = nullptr) noexcept {
    PyObject* old = std::exchange(p_, new_ref);
    Py_XDECREF(old);
  }

 private:
  PyObject* p_ = nullptr;
};

// A new reference to `o` (Py_NewRef, which Python 3.9 lacks).
inline PyObject* new_ref(PyObject* o) noexcept {
  Py_INCREF(o);
  return o;
}
// The same for `o` that may be null (Py_XNewRef).
inline PyObject* xnew_ref(PyObject* o) noexcept {
  Py_XINCREF(o);
  return o;
}

// Sets the owned pointer field `field` to a new reference to `value` (nullptr allowed),
// releasing the old one afterwards: for the reference fields of the native types' structs.
template <class T>
void assign(T*& field, PyObject* value) noexcept {
  Py_XINCREF(value);
  T* old = field;
  field = reinterpret_cast<T*>(value);
  Py_XDECREF(reinterpret_cast<PyObject*>(old));
}
// The same with a reference the caller hands over (stolen).
template <class T>
void assign(T*& field, Ref&& value) noexcept {
  T* old = field;
  field = reinterpret_cast<T*>(value.release());
  Py_XDECREF(reinterpret_cast<PyObject*>(old));
}

// Releases the owned pointer field `field` and sets it to null (before the release, which may
// run code that looks at the object), as Py_CLEAR.
template <class T>
void clear_ref(T*& field) noexcept {
  if (T* old = field) {
    field = nullptr;
    Py_DECREF(reinterpret_cast<PyObject*>(old));
  }
}

}  // namespace otlp_mmap::py

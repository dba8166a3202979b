// What the SDK's native types (Tracer, Span, CurrentSpanContextManager, the instruments,
// Logger, LogBridge, LogRecordFactory) have in common, written once:
//
//  * a type's reference fields are listed once (RefFields); dealloc, and for garbage-
//    collected types traverse and clear, are made from that list;
//  * the type object is filled from a TypeSpec, readied and added to the module
//    (define_type);
//  * the writer a type writes through (take_writer) and the private methods every writing
//    type has: _set_enabled, and _set_scope_ref / _set_metric_ref (set_ref).
//
// The types stay plain C structs with PyObject* fields (allocated by CPython, zeroed), so
// their fast paths read fields directly; only their bookkeeping is generated.
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common.hpp"
#include "py_ref.hpp"
#include "py_writer.hpp"

namespace otlp_mmap::py::sdk {

// The reference fields of T, as pointers to members (PyObject* or another object type's
// pointer); each one is owned by the object and may be null.
template <class T, auto... Fields>
struct RefFields {
  static int traverse(T* o, visitproc visit, void* arg) {
    int r = 0;
    ((r = r != 0 ? r : visit_one(o->*Fields, visit, arg)), ...);
    return r;
  }
  static void clear(T* o) { (clear_ref(o->*Fields), ...); }

 private:
  template <class F>
  static int visit_one(F* p, visitproc visit, void* arg) {
    return p != nullptr ? visit(reinterpret_cast<PyObject*>(p), arg) : 0;
  }
};

struct TypeSpec {
  const char* name;  // "otlp_mmap._native.X": the module gets attribute X
  const char* doc;
  PyMethodDef* methods = nullptr;
  PyGetSetDef* getset = nullptr;
  newfunc tp_new = nullptr;
  reprfunc repr = nullptr;
  ternaryfunc call = nullptr;
  PyTypeObject* base = nullptr;
  unsigned long extra_flags = 0;  // Py_TPFLAGS_BASETYPE, Py_TPFLAGS_HAVE_VECTORCALL
  Py_ssize_t vectorcall_offset = 0;
  bool in_module = true;  // false: a base type that is not exported
};

// Objects that the garbage collector tracks (they may hold cycles through user objects).
enum class Gc : bool { kNo = false, kYes = true };

template <class T, class Refs, Gc kGc>
struct TypeSlots {
  OTLP_MMAP_HOT static void dealloc(PyObject* self) {
    T* o = reinterpret_cast<T*>(self);
    if constexpr (kGc == Gc::kYes) PyObject_GC_UnTrack(self);
    if constexpr (requires { o->weakreflist; }) {
      if (o->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
    }
    Refs::clear(o);
    if constexpr (kGc == Gc::kYes) {
      PyObject_GC_Del(self);  // what tp_free is for these static types, called directly
    } else {
      Py_TYPE(self)->tp_free(self);
    }
  }
  static int traverse(PyObject* self, visitproc visit, void* arg) {
    return Refs::traverse(reinterpret_cast<T*>(self), visit, arg);
  }
  static int clear(PyObject* self) {
    Refs::clear(reinterpret_cast<T*>(self));
    return 0;
  }
};

// A statically allocated type object as CPython's macros initialise one (reference count,
// no type, no size), everything else empty.
const PyTypeObject& blank_type();

// Fills `t` from `spec` for objects of struct T, readies it and adds it to the module.
template <class T, class Refs, Gc kGc = Gc::kNo>
void define_type(nb::module_& m, PyTypeObject& t, const TypeSpec& spec) {
  using Slots = TypeSlots<T, Refs, kGc>;
  t = blank_type();
  t.tp_name = spec.name;
  t.tp_doc = spec.doc;
  t.tp_basicsize = sizeof(T);
  t.tp_flags = Py_TPFLAGS_DEFAULT | spec.extra_flags | (kGc == Gc::kYes ? Py_TPFLAGS_HAVE_GC : 0);
  t.tp_new = spec.tp_new;
  t.tp_dealloc = Slots::dealloc;
  if constexpr (kGc == Gc::kYes) {
    t.tp_traverse = Slots::traverse;
    t.tp_clear = Slots::clear;
  }
  t.tp_methods = spec.methods;
  t.tp_getset = spec.getset;
  t.tp_repr = spec.repr;
  t.tp_call = spec.call;
  t.tp_base = spec.base;
  t.tp_vectorcall_offset = spec.vectorcall_offset;
  if constexpr (requires(T o) { o.weakreflist; }) t.tp_weaklistoffset = offsetof(T, weakreflist);
  if (PyType_Ready(&t) < 0) throw_current();
  if (spec.in_module) {
    const char* dot = std::strrchr(spec.name, '.');
    m.attr(dot != nullptr ? dot + 1 : spec.name) = nb::borrow(reinterpret_cast<PyObject*>(&t));
  }
}

// A METH_FASTCALL | METH_KEYWORDS (or METH_FASTCALL) function as the PyCFunction that
// PyMethodDef holds.
template <class F>
PyCFunction fastcall(F* f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

// The writer argument of a type's constructor: `field` gets a new reference and `w` the core
// behind it. TypeError (and false) when `writer` is not an otlp_mmap._native.Writer.
bool take_writer(PyObject* writer, PyObject*& field, WriterAccess& w);

// _set_enabled(flag): T::enabled.
template <class T>
PyObject* set_enabled(PyObject* self, PyObject* arg) {
  const int on = PyObject_IsTrue(arg);
  if (on < 0) return nullptr;
  reinterpret_cast<T*>(self)->enabled = on != 0;
  Py_RETURN_NONE;
}

// _set_scope_ref(ref) and the like: an int64 field (a dictionary reference).
template <class T, int64_t T::*Field>
PyObject* set_ref(PyObject* self, PyObject* arg) {
  const long long ref = PyLong_AsLongLong(arg);
  if (ref == -1 && PyErr_Occurred()) return nullptr;
  reinterpret_cast<T*>(self)->*Field = ref;
  Py_RETURN_NONE;
}

}  // namespace otlp_mmap::py::sdk

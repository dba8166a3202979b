#include "to_views.hpp"

#include "py_ref.hpp"

namespace otlp_mmap::py {

// ------------------------------------------------------------------ step 1: normalise

namespace {

bool is_mapping(PyObject* o) {
  if (PyDict_Check(o)) return true;
  int r = PyObject_IsInstance(o, g_mapping_abc);
  if (r < 0) throw_current();
  return r == 1;
}

PyObject* keep(Scratch& s, PyObject* new_ref) {
  if (new_ref == nullptr) throw_current();
  s.owned.push_back(nb::steal(new_ref));
  return new_ref;
}

// A copy of any mapping as a dict owned by `s`.
PyObject* dict_copy(PyObject* mapping, Scratch& s) {
  PyObject* d = keep(s, PyDict_New());
  if (PyDict_Merge(d, mapping, 1) != 0) throw_current();
  return d;
}

// Value of `name` in a dict (borrowed, kept alive by `s`), or nullptr.
PyObject* field(PyObject* dict, PyObject* name, Scratch& s) {
  PyObject* v = PyDict_GetItemWithError(dict, name);
  if (v == nullptr) {
    if (PyErr_Occurred()) throw_current();
    return nullptr;
  }
  return keep(s, new_ref(v));
}

}  // namespace

PyObject* as_dict(PyObject* attributes, Scratch& s, const char* what) {
  if (attributes == Py_None) return nullptr;
  if (PyDict_Check(attributes)) return attributes;
  if (!is_mapping(attributes)) {
    throw_py(PyExc_TypeError, "%s must be a mapping (such as a dict) or None, not %.100s", what,
             Py_TYPE(attributes)->tp_name);
  }
  return dict_copy(attributes, s);
}

SpanContextView span_context_arg(PyObject* obj, Scratch& s) {
  SpanContextView sc;
  if (obj == Py_None) return sc;
  if (!is_mapping(obj)) {
    throw_py(PyExc_TypeError,
             "span_context must be a mapping {'trace_id': 16 bytes, 'span_id': 8 bytes, 'flags': int} or None, "
             "not %.100s",
             Py_TYPE(obj)->tp_name);
  }
  PyObject* d = PyDict_Check(obj) ? obj : dict_copy(obj, s);
  PyObject* trace_id = field(d, g_names.trace_id, s);
  PyObject* span_id = field(d, g_names.span_id, s);
  PyObject* flags = field(d, g_names.flags, s);
  if (trace_id == nullptr || span_id == nullptr) {
    throw_py(PyExc_ValueError, "span_context needs 'trace_id' (16 bytes) and 'span_id' (8 bytes)");
  }
  sc.present = true;
  sc.trace_id = id_arg(trace_id, 16, "span_context['trace_id']");
  sc.span_id = id_arg(span_id, 8, "span_context['span_id']");
  if (flags != nullptr && flags != Py_None) sc.flags = uint32_arg(flags, "span_context['flags']");
  return sc;
}

PyObject* normalise_links(PyObject* links, Scratch& s) {
  if (PyUnicode_Check(links) || PyBytes_Check(links) || PyByteArray_Check(links) || is_mapping(links)) {
    throw_py(PyExc_TypeError, "links must be a sequence of mappings, not %.100s", Py_TYPE(links)->tp_name);
  }
  PyObject* items = PySequence_Tuple(links);
  if (items == nullptr) {
    PyErr_Clear();
    throw_py(PyExc_TypeError, "links must be a sequence of mappings, not %.100s", Py_TYPE(links)->tp_name);
  }
  keep(s, items);
  const Py_ssize_t n = PyTuple_GET_SIZE(items);
  PyObject* t = keep(s, PyTuple_New(n));  // new: a caller's tuple is never modified
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyTuple_GET_ITEM(items, i);
    if (!is_mapping(item)) {
      throw_py(PyExc_TypeError, "links[%zd] must be a mapping, not %.100s", i, Py_TYPE(item)->tp_name);
    }
    // Only the known fields, under our interned names: step 2 then looks them up without
    // comparing against (and so running __eq__ of) arbitrary caller objects.
    PyObject* src = dict_copy(item, s);
    PyObject* d = keep(s, PyDict_New());
    for (PyObject* name : {g_names.trace_id, g_names.span_id, g_names.trace_state, g_names.flags,
                           g_names.dropped_attributes_count, g_names.attributes}) {
      PyObject* v = PyDict_GetItemWithError(src, name);
      if (v == nullptr) {
        if (PyErr_Occurred()) throw_current();
        continue;
      }
      if (name == g_names.attributes && v != Py_None && !PyDict_Check(v)) {
        if (!is_mapping(v)) {
          throw_py(PyExc_TypeError, "links[%zd]: attributes must be a mapping or None, not %.100s", i,
                   Py_TYPE(v)->tp_name);
        }
        v = dict_copy(v, s);
      }
      if (PyDict_SetItem(d, name, v) != 0) throw_current();
    }
    PyTuple_SET_ITEM(t, i, new_ref(d));
  }
  return t;
}

// ------------------------------------------------------------------ step 2: convert

std::span<const LinkView> convert_links(PyObject* links, Scratch& s) {
  const Py_ssize_t n = PyTuple_GET_SIZE(links);
  s.links.resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* d = PyTuple_GET_ITEM(links, i);
    LinkView& l = s.links[static_cast<size_t>(i)];
    l = LinkView{};
    PyObject* trace_id = PyDict_GetItem(d, g_names.trace_id);
    PyObject* span_id = PyDict_GetItem(d, g_names.span_id);
    if (trace_id == nullptr || span_id == nullptr) {
      throw_py(PyExc_ValueError, "links[%zd] needs 'trace_id' (16 bytes) and 'span_id' (8 bytes)", i);
    }
    l.trace_id = id_arg(trace_id, 16, "link trace_id");
    l.span_id = id_arg(span_id, 8, "link span_id");
    if (PyObject* ts = PyDict_GetItem(d, g_names.trace_state)) l.trace_state = optional_str_arg(ts, "link trace_state");
    if (PyObject* f = PyDict_GetItem(d, g_names.flags); f != nullptr && f != Py_None) {
      l.flags = uint32_arg(f, "link flags");
    }
    if (PyObject* c = PyDict_GetItem(d, g_names.dropped_attributes_count); c != nullptr && c != Py_None) {
      l.dropped_attributes_count = uint32_arg(c, "link dropped_attributes_count");
    }
    if (PyObject* a = PyDict_GetItem(d, g_names.attributes); a != nullptr && a != Py_None) {
      l.attributes = convert_attributes(a, s, kStrictAttributes);
    }
  }
  return s.links;
}

}  // namespace otlp_mmap::py

// Lenient attribute and body conversion for the SDK types.
//
// Two phases, as in to_views.hpp, so that views never borrow from objects that Python code
// could free while they are in use:
//  * fast path: the caller's dict is converted directly; only scalars, lists, tuples and
//    dicts of those are read, and no Python code runs;
//  * when a value needs Python code (another Mapping or Sequence type, an unsupported
//    object), the whole mapping is first normalised into tuples and dicts owned by the
//    Scratch, then converted.
// Values that cannot be converted (unsupported types, ints beyond 64 bits, strings that are
// not valid Unicode) and keys that are not non-empty str are dropped and counted.
#include <algorithm>
#include <limits>

#include "sdk_core.hpp"

namespace otlp_mmap::py::sdk {

namespace {

// AnyValue nesting a record can hold: each container level costs two protobuf levels, and a
// top-level attribute one more (the reader decodes kMaxNesting levels).
constexpr int kMaxDepth = kMaxNesting / 2 - 2;

PyObject* g_sequence_abc = nullptr;

enum class R : uint8_t { kOk, kInvalid, kExotic };

bool str_view(PyObject* v, int64_t max_len, std::string_view& out) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(v, &n);
  if (p == nullptr) {
    PyErr_Clear();
    return false;
  }
  if (max_len >= 0 && PyUnicode_GET_LENGTH(v) > max_len) {
    // The UTF-8 prefix holding the first max_len characters.
    Py_ssize_t i = 0;
    int64_t chars = 0;
    while (i < n && chars < max_len) {
      const auto c = static_cast<unsigned char>(p[i]);
      i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      ++chars;
    }
    n = std::min(i, n);
  }
  out = {p, static_cast<size_t>(n)};
  return true;
}

R value(PyObject* v, AnyValueView& out, Scratch& s, int64_t max_len, int depth) {
  if (PyUnicode_Check(v)) {
    std::string_view sv;
    if (!str_view(v, max_len, sv)) return R::kInvalid;
    out = AnyValueView::string(sv);
    return R::kOk;
  }
  if (PyBool_Check(v)) {
    out = AnyValueView::boolean(v == Py_True);
    return R::kOk;
  }
  if (PyLong_Check(v)) {
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow != 0) return R::kInvalid;
    if (x == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      return R::kInvalid;
    }
    out = AnyValueView::integer(x);
    return R::kOk;
  }
  if (PyFloat_Check(v)) {
    out = AnyValueView::real(PyFloat_AS_DOUBLE(v));
    return R::kOk;
  }
  if (PyBytes_Check(v)) {
    out = AnyValueView::blob({PyBytes_AS_STRING(v), static_cast<size_t>(PyBytes_GET_SIZE(v))});
    return R::kOk;
  }
  if (v == Py_None) {
    out = AnyValueView{};
    return R::kOk;
  }
  if (v == g_api.invalid) return R::kInvalid;
  if (PyList_Check(v) || PyTuple_Check(v)) {
    if (depth >= kMaxDepth) return R::kInvalid;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
    PyObject** items = PySequence_Fast_ITEMS(v);
    AnyValueView* elems = s.values.alloc(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      R r = value(items[i], elems[i], s, max_len, depth + 1);
      if (r != R::kOk) return r;
    }
    out = AnyValueView{};
    out.kind = AnyValueView::Kind::kArray;
    out.array = {elems, static_cast<size_t>(n)};
    return R::kOk;
  }
  if (PyDict_Check(v)) {
    if (depth >= kMaxDepth) return R::kInvalid;
    const Py_ssize_t n = PyDict_GET_SIZE(v);
    KeyValueView* kvs = s.kvs.alloc(static_cast<size_t>(n));
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *item;
    while (PyDict_Next(v, &pos, &key, &item) && i < n) {
      if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) continue;  // as the API does
      Py_ssize_t kn = 0;
      const char* kp = PyUnicode_AsUTF8AndSize(key, &kn);
      if (kp == nullptr) {
        PyErr_Clear();
        continue;
      }
      R r = value(item, kvs[i].value, s, max_len, depth + 1);
      if (r != R::kOk) return r;
      s.keys.push_back(PendingKey{&kvs[i].key_ref, key, {kp, static_cast<size_t>(kn)}});
      ++i;
    }
    out = AnyValueView{};
    out.kind = AnyValueView::Kind::kKvList;
    out.kvlist = {kvs, static_cast<size_t>(i)};
    return R::kOk;
  }
  if (PyByteArray_Check(v)) return R::kExotic;  // mutable: copied to bytes by normalisation
  return R::kExotic;
}

int is_instance(PyObject* v, PyObject* abc) {
  int r = PyObject_IsInstance(v, abc);
  if (r < 0) PyErr_Clear();
  return r;
}

PyObject* invalid_ref() {
  Py_INCREF(g_api.invalid);
  return g_api.invalid;
}

PyObject* normalise_new(PyObject* v, int depth);

// A new tuple of the normalised items of a sequence snapshot.
PyObject* normalise_items(PyObject* seq, int depth) {
  PyObject* items = PySequence_Tuple(seq);
  if (items == nullptr) {
    PyErr_Clear();
    return invalid_ref();
  }
  const Py_ssize_t n = PyTuple_GET_SIZE(items);
  PyObject* t = PyTuple_New(n);
  if (t == nullptr) {
    PyErr_Clear();
    Py_DECREF(items);
    return invalid_ref();
  }
  for (Py_ssize_t i = 0; i < n; ++i) PyTuple_SET_ITEM(t, i, normalise_new(PyTuple_GET_ITEM(items, i), depth + 1));
  Py_DECREF(items);
  return t;
}

// A new dict with the mapping's items, values normalised; keys kept as they are.
PyObject* normalise_mapping(PyObject* m, int depth) {
  PyObject* items = PyDict_Check(m) ? PyDict_Items(m) : PyMapping_Items(m);
  if (items == nullptr) {
    PyErr_Clear();
    return nullptr;
  }
  PyObject* d = PyDict_New();
  if (d == nullptr) {
    PyErr_Clear();
    Py_DECREF(items);
    return nullptr;
  }
  const Py_ssize_t n = PyList_GET_SIZE(items);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* pair = PyList_GET_ITEM(items, i);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) continue;
    PyObject* key = PyTuple_GET_ITEM(pair, 0);
    PyObject* val = normalise_new(PyTuple_GET_ITEM(pair, 1), depth + 1);
    if (PyDict_SetItem(d, key, val) < 0) PyErr_Clear();  // an unhashable key: dropped
    Py_DECREF(val);
  }
  Py_DECREF(items);
  return d;
}

PyObject* normalise_new(PyObject* v, int depth) {
  if (PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v) || PyBytes_Check(v) || v == Py_None) {
    Py_INCREF(v);
    return v;
  }
  if (v == g_api.invalid || depth > kMaxDepth) return invalid_ref();
  if (PyByteArray_Check(v)) {
    PyObject* b = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v));
    if (b == nullptr) {
      PyErr_Clear();
      return invalid_ref();
    }
    return b;
  }
  if (PyList_Check(v) || PyTuple_Check(v)) return normalise_items(v, depth);
  if (PyDict_Check(v) || is_instance(v, g_mapping_abc) == 1) {
    PyObject* d = normalise_mapping(v, depth);
    return d != nullptr ? d : invalid_ref();
  }
  if (is_instance(v, g_sequence_abc) == 1) return normalise_items(v, depth);
  return invalid_ref();
}

PyObject* keep(Scratch& s, PyObject* new_ref) {
  s.owned.push_back(nb::steal(new_ref));
  return new_ref;
}

void count_invalid(uint32_t n, PyObject* example_key, PyObject* example_value) {
  if (n == 0) return;
  g_counters.invalid_attributes.fetch_add(n, std::memory_order_relaxed);
  if (example_key != nullptr && (!PyUnicode_Check(example_key) || PyUnicode_GET_LENGTH(example_key) == 0)) {
    warn_once(Warn::kInvalidKey,
              "Invalid attribute key %R: keys must be non-empty strings; the attribute is dropped "
              "(further invalid attributes are dropped and counted silently)",
              example_key);
  } else {
    warn_once(Warn::kInvalidValue,
              "Invalid value of type %.100s for attribute %R: expected str, bool, int (64-bit), float, bytes, None, "
              "or a sequence or mapping of those; the attribute is dropped (further invalid attributes are "
              "dropped and counted silently)",
              example_value ? Py_TYPE(example_value)->tp_name : "?", example_key ? example_key : Py_None);
  }
}

}  // namespace

std::span<const KeyValueView> convert_attrs(PyObject* attrs, Scratch& s, const AttrLimits& lim, int64_t already,
                                            uint32_t& dropped, const PtrSet* skip) {
  if (attrs == nullptr || attrs == Py_None) return {};
  PyObject* d = attrs;
  bool normalised = false;
  if (!PyDict_Check(attrs)) {
    d = normalise_mapping(attrs, 0);
    if (d == nullptr) {
      dropped += 1;
      g_counters.invalid_attributes.fetch_add(1, std::memory_order_relaxed);
      warn_once(Warn::kInvalidValue, "Invalid attributes of type %.100s (expected a mapping): dropped",
                Py_TYPE(attrs)->tp_name);
      return {};
    }
    keep(s, d);
    normalised = true;
  }
  const int64_t room = lim.max_count < 0 ? std::numeric_limits<int64_t>::max()
                                         : std::max<int64_t>(0, lim.max_count - std::max<int64_t>(0, already));
  for (;;) {
    const size_t keys_mark = s.keys.size();
    const Py_ssize_t n = PyDict_GET_SIZE(d);
    if (n == 0) return {};
    KeyValueView* out = s.kvs.alloc(static_cast<size_t>(n));
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *val;
    uint32_t limited = 0, invalid = 0;
    PyObject *bad_key = nullptr, *bad_value = nullptr;
    bool exotic = false;
    while (PyDict_Next(d, &pos, &key, &val)) {
      if (skip != nullptr && PyUnicode_CheckExact(key) && skip->contains(key)) continue;
      if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) {
        ++invalid;
        if (bad_key == nullptr) bad_key = key, bad_value = val;
        continue;
      }
      if (i >= n) break;  // defensive: the dict cannot grow here (no Python code runs)
      if (i >= room) {
        ++limited;
        continue;
      }
      const size_t mark = s.keys.size();
      R r = value(val, out[i].value, s, lim.max_len, 0);
      if (r == R::kExotic && !normalised) {
        exotic = true;
        break;
      }
      Py_ssize_t kn = 0;
      const char* kp = r == R::kOk ? PyUnicode_AsUTF8AndSize(key, &kn) : nullptr;
      if (kp == nullptr) {
        PyErr_Clear();
        s.keys.resize(mark);
        ++invalid;
        if (bad_key == nullptr) bad_key = key, bad_value = val;
        continue;
      }
      s.keys.push_back(PendingKey{&out[i].key_ref, key, {kp, static_cast<size_t>(kn)}});
      ++i;
    }
    if (exotic) {
      s.keys.resize(keys_mark);
      d = normalise_mapping(d, 0);
      if (d == nullptr) return {};
      keep(s, d);
      normalised = true;
      continue;
    }
    if (invalid != 0) count_invalid(invalid, bad_key, bad_value);
    if (limited != 0) {
      g_counters.limited_attributes.fetch_add(limited, std::memory_order_relaxed);
      warn_once(Warn::kAttributeLimit,
                "Attribute count limit (%lld) reached: further attributes are dropped and counted "
                "(dropped_attributes_count)",
                static_cast<long long>(lim.max_count));
    }
    dropped += invalid + limited;
    return {out, static_cast<size_t>(i)};
  }
}

PyObject* clean_value(PyObject* v) {
  if (PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v) || PyBytes_Check(v) || v == Py_None) {
    Py_INCREF(v);
    return v;
  }
  PyObject* r = normalise_new(v, 0);
  if (r == g_api.invalid) {
    Py_DECREF(r);
    return nullptr;
  }
  return r;
}

bool convert_body_lenient(PyObject* body, Scratch& s, AnyValueView& out, int64_t max_len) {
  const size_t mark = s.keys.size();
  R r = value(body, out, s, max_len, 0);
  if (r == R::kOk) return true;
  s.keys.resize(mark);
  if (r == R::kExotic) {
    PyObject* n = keep(s, normalise_new(body, 0));
    r = value(n, out, s, max_len, 0);
    if (r == R::kOk) return true;
    s.keys.resize(mark);
  }
  // Not an AnyValue: its str(), as the logging bridge of the official SDK does.
  PyObject* text = PyObject_Str(body);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  keep(s, text);
  warn_once(Warn::kBadBody, "Log body of type %.100s is not an OpenTelemetry AnyValue: recorded as its str()",
            Py_TYPE(body)->tp_name);
  std::string_view sv;
  if (!str_view(text, max_len, sv)) return false;
  out = AnyValueView::string(sv);
  return true;
}

void PtrSet::assign(PyObject* set) {
  set_ = set;
  std::fill(std::begin(slots_), std::end(slots_), nullptr);
  PyObject* it = PyObject_GetIter(set);
  if (it == nullptr) {
    PyErr_Clear();
    return;
  }
  size_t used = 0;
  while (PyObject* item = PyIter_Next(it)) {
    if (PyUnicode_CheckExact(item) && used < kSlots / 2) {
      PyObject* name = item;
      Py_INCREF(name);
      PyUnicode_InternInPlace(&name);  // the canonical object; kept for the life of the process
      size_t i = (reinterpret_cast<uintptr_t>(name) >> 4) & (kSlots - 1);
      while (slots_[i] != nullptr && slots_[i] != name) i = (i + 1) & (kSlots - 1);
      if (slots_[i] == nullptr) ++used;
      slots_[i] = name;
    }
    Py_DECREF(item);
  }
  Py_DECREF(it);
  PyErr_Clear();
}

void init_attrs() {
  if (g_sequence_abc == nullptr) {
    nb::object seq = nb::module_::import_("collections.abc").attr("Sequence");
    g_sequence_abc = seq.release().ptr();
  }
}

}  // namespace otlp_mmap::py::sdk

#include "to_views.hpp"

#include <limits>

namespace otlp_mmap::py {

using Kind = AnyValueView::Kind;

namespace {
// Nesting limit of log bodies; the reader decodes up to kMaxNesting levels, and each
// mapping level costs two (the KeyValue and its AnyValue).
constexpr int kMaxBodyDepth = kMaxNesting / 2 - 1;
thread_local Scratch t_scratch;
}  // namespace

ScratchLease::ScratchLease() {
  if (!t_scratch.busy) {
    s_ = &t_scratch;
    s_->busy = true;
  } else {
    own_ = std::make_unique<Scratch>();
    s_ = own_.get();
  }
}

ScratchLease::~ScratchLease() {
  // Releasing owned objects may run a __del__ that calls the writer again: the scratch is
  // still busy then, so that call takes a fresh one.
  s_->owned.clear();
  s_->reset();
  if (!own_) s_->busy = false;
}

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
  Py_INCREF(v);
  return keep(s, v);
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

namespace {

PyObject* normalise_any(PyObject* v, Scratch& s, int depth) {
  if (depth > kMaxBodyDepth) {
    throw_py(PyExc_ValueError, "body is nested more than %d levels deep", kMaxBodyDepth);
  }
  if (v == Py_None || PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v) || PyBytes_Check(v)) {
    return v;  // kept alive by its container, itself owned by `s`
  }
  if (PyByteArray_Check(v)) {
    return keep(s, PyBytes_FromStringAndSize(PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v)));
  }
  if (PyList_Check(v) || PyTuple_Check(v)) {
    // A snapshot of the items (a list could change while nested values are normalised),
    // then a new tuple: a caller's tuple is never modified.
    PyObject* items = keep(s, PySequence_Tuple(v));
    const Py_ssize_t n = PyTuple_GET_SIZE(items);
    PyObject* t = keep(s, PyTuple_New(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* norm = normalise_any(PyTuple_GET_ITEM(items, i), s, depth + 1);
      Py_INCREF(norm);
      PyTuple_SET_ITEM(t, i, norm);
    }
    return t;
  }
  if (is_mapping(v)) {
    PyObject* d = dict_copy(v, s);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    // Replacing values (not keys) while iterating is allowed by PyDict_Next.
    while (PyDict_Next(d, &pos, &key, &value)) {
      if (!PyUnicode_Check(key)) {
        throw_py(PyExc_TypeError, "body mapping keys must be str, not %.100s", Py_TYPE(key)->tp_name);
      }
      PyObject* norm = normalise_any(value, s, depth + 1);
      if (norm != value && PyDict_SetItem(d, key, norm) != 0) throw_current();
    }
    return d;
  }
  throw_py(PyExc_TypeError,
           "unsupported body value type %.100s (allowed: str, bool, int, float, bytes, None, and lists or "
           "mappings of those)",
           Py_TYPE(v)->tp_name);
}

}  // namespace

PyObject* normalise_body(PyObject* body, Scratch& s) {
  // The caller holds `body` for the whole call; what normalise_any makes is owned by `s`.
  return normalise_any(body, s, 0);
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
    Py_INCREF(d);
    PyTuple_SET_ITEM(t, i, d);
  }
  return t;
}

// ------------------------------------------------------------------ step 2: convert

namespace {

// Categories of scalar values; arrays must hold one category only.
enum class Cat : uint8_t { kStr, kBool, kInt, kFloat, kBytes, kOther };

const char* cat_name(Cat c) {
  switch (c) {
    case Cat::kStr: return "str";
    case Cat::kBool: return "bool";
    case Cat::kInt: return "int";
    case Cat::kFloat: return "float";
    case Cat::kBytes: return "bytes";
    case Cat::kOther: break;
  }
  return "?";
}

constexpr const char* kAllowed = "str, bool, int, float, bytes, or a list/tuple of one of those";

// Converts a scalar; kOther when `v` is not one. `key` names the attribute in errors
// (nullptr: the value is part of a log body).
Cat scalar(PyObject* key, PyObject* v, AnyValueView& out) {
  if (PyUnicode_Check(v)) {
    Py_ssize_t n;
    const char* p = PyUnicode_AsUTF8AndSize(v, &n);
    if (p == nullptr) {
      PyErr_Clear();
      if (key == nullptr) throw_py(PyExc_ValueError, "body: a string cannot be encoded as UTF-8 (lone surrogate)");
      throw_py(PyExc_ValueError, "attribute '%U': the string cannot be encoded as UTF-8 (lone surrogate)", key);
    }
    out = AnyValueView::string({p, static_cast<size_t>(n)});
    return Cat::kStr;
  }
  if (PyBool_Check(v)) {
    out = AnyValueView::boolean(v == Py_True);
    return Cat::kBool;
  }
  if (PyLong_Check(v)) {
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow != 0) {
      if (key == nullptr) throw_py(PyExc_ValueError, "body: int %R does not fit in a signed 64-bit integer", v);
      throw_py(PyExc_ValueError, "attribute '%U': int %R does not fit in a signed 64-bit integer", key, v);
    }
    if (x == -1 && PyErr_Occurred()) throw_current();
    out = AnyValueView::integer(x);
    return Cat::kInt;
  }
  if (PyFloat_Check(v)) {
    out = AnyValueView::real(PyFloat_AS_DOUBLE(v));
    return Cat::kFloat;
  }
  if (PyBytes_Check(v)) {
    out = AnyValueView::blob({PyBytes_AS_STRING(v), static_cast<size_t>(PyBytes_GET_SIZE(v))});
    return Cat::kBytes;
  }
  if (PyByteArray_Check(v)) {
    out = AnyValueView::blob({PyByteArray_AS_STRING(v), static_cast<size_t>(PyByteArray_GET_SIZE(v))});
    return Cat::kBytes;
  }
  return Cat::kOther;
}

AnyValueView attribute_value(PyObject* key, PyObject* v, Scratch& s) {
  AnyValueView out;
  if (scalar(key, v, out) != Cat::kOther) return out;
  if (PyList_Check(v) || PyTuple_Check(v)) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
    PyObject** items = PySequence_Fast_ITEMS(v);
    AnyValueView* elems = s.values.alloc(static_cast<size_t>(n));
    Cat first = Cat::kOther;
    for (Py_ssize_t i = 0; i < n; ++i) {
      Cat c = scalar(key, items[i], elems[i]);
      if (c == Cat::kOther) {
        throw_py(PyExc_TypeError, "attribute '%U': unsupported list element type %.100s (allowed: %s)", key,
                 Py_TYPE(items[i])->tp_name, kAllowed);
      }
      if (i == 0) {
        first = c;
      } else if (c != first) {
        throw_py(PyExc_TypeError, "attribute '%U': list mixes %s and %s; a list must hold one type", key,
                 cat_name(first), cat_name(c));
      }
    }
    out.kind = Kind::kArray;
    out.array = {elems, static_cast<size_t>(n)};
    return out;
  }
  throw_py(PyExc_TypeError, "attribute '%U': unsupported value type %.100s (allowed: %s)", key, Py_TYPE(v)->tp_name,
           kAllowed);
}

// Checks a key and queues it for step 3. The UTF-8 is taken now so that an unencodable
// key rejects the call before anything is written.
void add_key(PyObject* key, int64_t* target, Scratch& s, const char* what) {
  if (!PyUnicode_Check(key)) {
    throw_py(PyExc_TypeError, "%s keys must be str, not %.100s", what, Py_TYPE(key)->tp_name);
  }
  Py_ssize_t n;
  const char* p = PyUnicode_AsUTF8AndSize(key, &n);
  if (p == nullptr) {
    PyErr_Clear();
    throw_py(PyExc_ValueError, "%s key '%U' cannot be encoded as UTF-8 (lone surrogate)", what, key);
  }
  s.keys.push_back(PendingKey{target, key, {p, static_cast<size_t>(n)}});
}

AnyValueView body_value(PyObject* v, Scratch& s);

// The items of a normalised mapping (a dict made by normalise_body) as a kvlist.
std::span<const KeyValueView> body_kvlist(PyObject* d, Scratch& s) {
  const Py_ssize_t n = PyDict_GET_SIZE(d);
  KeyValueView* out = s.kvs.alloc(static_cast<size_t>(n));
  Py_ssize_t pos = 0, i = 0;
  PyObject *key, *value;
  while (PyDict_Next(d, &pos, &key, &value) && i < n) {
    add_key(key, &out[i].key_ref, s, "body");
    out[i].value = body_value(value, s);
    ++i;
  }
  return {out, static_cast<size_t>(i)};
}

AnyValueView body_value(PyObject* v, Scratch& s) {
  AnyValueView out;
  if (v == Py_None) return out;  // an empty AnyValue
  if (scalar(nullptr, v, out) != Cat::kOther) return out;
  if (PyTuple_Check(v)) {
    const Py_ssize_t n = PyTuple_GET_SIZE(v);
    AnyValueView* elems = s.values.alloc(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) elems[i] = body_value(PyTuple_GET_ITEM(v, i), s);
    out.kind = Kind::kArray;
    out.array = {elems, static_cast<size_t>(n)};
    return out;
  }
  if (PyDict_Check(v)) {
    out.kind = Kind::kKvList;
    out.kvlist = body_kvlist(v, s);
    return out;
  }
  // normalise_body() let nothing else through.
  throw_py(PyExc_TypeError, "unsupported body value type %.100s", Py_TYPE(v)->tp_name);
}

}  // namespace

std::span<const KeyValueView> convert_attributes(PyObject* dict, Scratch& s) {
  if (dict == nullptr) return {};
  const Py_ssize_t n = PyDict_GET_SIZE(dict);
  if (n == 0) return {};
  KeyValueView* out = s.kvs.alloc(static_cast<size_t>(n));
  Py_ssize_t pos = 0, i = 0;
  PyObject *key, *value;
  while (PyDict_Next(dict, &pos, &key, &value) && i < n) {
    add_key(key, &out[i].key_ref, s, "attribute");
    out[i].value = attribute_value(key, value, s);
    ++i;
  }
  return {out, static_cast<size_t>(i)};
}

AnyValueView convert_body(PyObject* body, Scratch& s) { return body_value(body, s); }

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
      l.attributes = convert_attributes(a, s);
    }
  }
  return s.links;
}

// ------------------------------------------------------------------ steps 3 and 5

KeyCache::KeyCache() = default;

size_t KeyCache::size() const { return map_.size(); }

int64_t KeyCache::get(Writer& w, PyObject* key, std::string_view utf8, Scratch* s) {
  // Only exact str objects go into the cache: a subclass could run Python code in its
  // __hash__/__eq__ during a lookup.
  // Long keys are not cached: they are rare, and caching them would let a few huge keys
  // hold most of the cache's memory (the Writer's own cache still dedups their entries).
  const bool cacheable = PyUnicode_CheckExact(key) && utf8.size() <= kMaxKeyBytes;
  if (cacheable) {
    if (PyObject* hit = PyDict_GetItemWithError(map_.ptr(), key)) return PyLong_AsLongLong(hit);
    if (PyErr_Occurred()) throw_current();
  }
  int64_t ref = w.intern_string(utf8);
  if (ref != 0 && cacheable) {
    if (s != nullptr) {
      s->new_keys.emplace_back(key, ref);
    } else {
      insert(key, ref);
    }
  }
  return ref;
}

void KeyCache::insert(PyObject* key, int64_t ref) {
  // Bounded by entries and by characters held: the cache keeps its keys alive.
  const size_t chars = static_cast<size_t>(PyUnicode_GET_LENGTH(key));
  if (PyDict_GET_SIZE(map_.ptr()) >= kMaxEntries || chars_ + chars > kMaxChars) return;
  nb::object v = nb::steal(PyLong_FromLongLong(ref));
  if (!v.is_valid() || PyDict_SetItem(map_.ptr(), key, v.ptr()) != 0) {
    PyErr_Clear();  // only a cache
    return;
  }
  chars_ += chars;
}

bool KeyCache::resolve(Writer& w, Scratch& s) {
  for (const PendingKey& k : s.keys) {
    *k.target = get(w, k.key, k.utf8, &s);
    if (*k.target == 0) return false;
  }
  return true;
}

void KeyCache::remember(Scratch& s) {
  for (auto& [key, ref] : s.new_keys) insert(key, ref);
  s.new_keys.clear();
}

}  // namespace otlp_mmap::py

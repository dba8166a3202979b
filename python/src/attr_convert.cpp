// One converter, two policies (attr_convert.hpp). The policy decides only what a failure does:
// strict raises a message that names the key, lenient reports the attribute as invalid. The
// shape decides which values are accepted.
//
// Lenient conversion has two phases, so that views never borrow from objects that Python code
// could free while they are in use:
//  * fast path: the caller's dict is converted directly; only scalars, lists, tuples and dicts
//    of those are read, and no Python code runs;
//  * when a value needs Python code (another Mapping or Sequence type, an unsupported object),
//    the whole mapping is first normalised into tuples and dicts owned by the Scratch, then
//    converted again.
#include "attr_convert.hpp"

#include <algorithm>
#include <cstdarg>
#include <limits>
#include <string_view>

#include "py_ref.hpp"
#include "sdk_core.hpp"

namespace otlp_mmap::py {

using Kind = AnyValueView::Kind;

namespace {

// Nesting the reader decodes (kMaxNesting protobuf levels); each container level costs two
// (the value and its array or key/value list). A strict body may use one level more than a
// lenient value, which is also counted as sitting inside a KeyValue.
constexpr int kMaxBodyDepth = kMaxNesting / 2 - 1;
constexpr int kMaxLenientDepth = kMaxNesting / 2 - 2;

PyObject* g_sequence_abc = nullptr;
// What lenient normalisation puts in place of a value it cannot convert.
PyObject* g_invalid = nullptr;

constexpr const char* kAllowed = "str, bool, int, float, bytes, or a list/tuple of one of those";

// Categories of scalar values; attribute arrays must hold one category only. kBad: a scalar
// that cannot be converted (lenient; strict raises instead).
enum class Cat : uint8_t { kStr, kBool, kInt, kFloat, kBytes, kOther, kBad };

const char* cat_name(Cat c) {
  switch (c) {
    case Cat::kStr: return "str";
    case Cat::kBool: return "bool";
    case Cat::kInt: return "int";
    case Cat::kFloat: return "float";
    case Cat::kBytes: return "bytes";
    case Cat::kOther:
    case Cat::kBad: break;
  }
  return "?";
}

// kExotic: a lenient value that needs normalisation (Python code) before conversion.
enum class R : uint8_t { kOk, kInvalid, kExotic };

// The UTF-8 of `v` (a str), at most `max_len` characters of it (-1: all); false (no error
// set) when it cannot be encoded.
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

bool is_mapping(PyObject* o, Policy policy) {
  if (PyDict_Check(o)) return true;
  const int r = PyObject_IsInstance(o, g_mapping_abc);
  if (r < 0) {
    if (policy == Policy::kStrict) throw_current();
    PyErr_Clear();
  }
  return r == 1;
}

// ------------------------------------------------------------------ views

// Policy and shape are template parameters: each of the four converters is compiled without
// tests of either on its path (the SDK's lenient one is on every span, measurement and log).
template <Policy kPolicy, Shape kShape>
class Converter {
 public:
  Converter(Scratch& s, const Rules& r) : s_(s), max_len_(r.max_len) {}

  // One value; `key` names it in strict errors (nullptr: part of a body).
  OTLP_MMAP_HOT R value(PyObject* key, PyObject* v, AnyValueView& out, int depth) {
    const Cat c = scalar(key, v, out);
    if (c == Cat::kBad) return R::kInvalid;
    if (c != Cat::kOther) return R::kOk;
    constexpr bool any = kShape == Shape::kAnyValue;
    if (any && v == Py_None) {
      out = AnyValueView{};
      return R::kOk;
    }
    if (v == g_invalid) return R::kInvalid;
    if (PyList_Check(v) || PyTuple_Check(v)) {
      if constexpr (any) return array(key, v, out, depth);
      return homogeneous(key, v, out);
    }
    if (any && PyDict_Check(v)) return kvlist(v, out, depth);
    if constexpr (lenient()) return any ? R::kExotic : R::kInvalid;
    if (key == nullptr) throw_py(PyExc_TypeError, "unsupported body value type %.100s", Py_TYPE(v)->tp_name);
    throw_py(PyExc_TypeError, "attribute '%U': unsupported value type %.100s (allowed: %s)", key, Py_TYPE(v)->tp_name,
             kAllowed);
  }

  // Checks a key and queues it for resolution. Strict: raises for a key that is not a str or
  // cannot be encoded. Lenient: false for those and for the empty key.
  bool add_key(PyObject* key, int64_t* target, const char* what) {
    const bool is_str = PyUnicode_Check(key);
    if (!is_str && !lenient()) {
      throw_py(PyExc_TypeError, "%s keys must be str, not %.100s", what, Py_TYPE(key)->tp_name);
    }
    if (!is_str || (lenient() && PyUnicode_GET_LENGTH(key) == 0)) return false;
    Py_ssize_t n;
    const char* p = PyUnicode_AsUTF8AndSize(key, &n);
    if (p == nullptr) {
      PyErr_Clear();
      if (lenient()) return false;
      throw_py(PyExc_ValueError, "%s key '%U' cannot be encoded as UTF-8 (lone surrogate)", what, key);
    }
    s_.keys.push_back(PendingKey{target, key, {p, static_cast<size_t>(n)}});
    return true;
  }

  // A lenient key already known to be a non-empty str: queued, or false when it cannot be
  // encoded.
  OTLP_MMAP_HOT bool add_str_key(PyObject* key, int64_t* target) {
    Py_ssize_t n;
    const char* p = PyUnicode_AsUTF8AndSize(key, &n);
    if (p == nullptr) {
      PyErr_Clear();
      return false;
    }
    s_.keys.push_back(PendingKey{target, key, {p, static_cast<size_t>(n)}});
    return true;
  }

  static constexpr bool lenient() { return kPolicy == Policy::kLenient; }

 private:
  OTLP_MMAP_HOT Cat scalar(PyObject* key, PyObject* v, AnyValueView& out) {
    if (PyUnicode_Check(v)) {
      std::string_view sv;
      if (!str_view(v, max_len_, sv)) {
        if (lenient()) return Cat::kBad;
        if (key == nullptr) throw_py(PyExc_ValueError, "body: a string cannot be encoded as UTF-8 (lone surrogate)");
        throw_py(PyExc_ValueError, "attribute '%U': the string cannot be encoded as UTF-8 (lone surrogate)", key);
      }
      out = AnyValueView::string(sv);
      return Cat::kStr;
    }
    if (PyBool_Check(v)) {
      out = AnyValueView::boolean(v == Py_True);
      return Cat::kBool;
    }
    if (PyLong_Check(v)) {
      int overflow = 0;
      const long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
      if (overflow != 0) {
        if (lenient()) return Cat::kBad;
        if (key == nullptr) throw_py(PyExc_ValueError, "body: int %R does not fit in a signed 64-bit integer", v);
        throw_py(PyExc_ValueError, "attribute '%U': int %R does not fit in a signed 64-bit integer", key, v);
      }
      if (x == -1 && PyErr_Occurred()) {
        if (!lenient()) throw_current();
        PyErr_Clear();
        return Cat::kBad;
      }
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
      // Borrowed like bytes: no Python code runs (that could resize it) until the record is written.
      out = AnyValueView::blob({PyByteArray_AS_STRING(v), static_cast<size_t>(PyByteArray_GET_SIZE(v))});
      return Cat::kBytes;
    }
    return Cat::kOther;
  }

  // An attribute array: scalars of one category.
  R homogeneous(PyObject* key, PyObject* v, AnyValueView& out) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
    PyObject** items = PySequence_Fast_ITEMS(v);
    AnyValueView* elems = s_.values.alloc(static_cast<size_t>(n));
    Cat first = Cat::kOther;
    for (Py_ssize_t i = 0; i < n; ++i) {
      const Cat c = scalar(key, items[i], elems[i]);
      if (c == Cat::kBad) return R::kInvalid;
      if (c == Cat::kOther) {
        if (lenient()) return R::kInvalid;
        throw_py(PyExc_TypeError, "attribute '%U': unsupported list element type %.100s (allowed: %s)", key,
                 Py_TYPE(items[i])->tp_name, kAllowed);
      }
      if (i == 0) {
        first = c;
      } else if (c != first) {
        if (lenient()) return R::kInvalid;
        throw_py(PyExc_TypeError, "attribute '%U': list mixes %s and %s; a list must hold one type", key,
                 cat_name(first), cat_name(c));
      }
    }
    out = AnyValueView{};
    out.kind = Kind::kArray;
    out.array = {elems, static_cast<size_t>(n)};
    return R::kOk;
  }

  // Strict bodies were checked for depth by normalise_body().
  bool too_deep(int depth) const { return lenient() && depth >= kMaxLenientDepth; }

  OTLP_MMAP_HOT R array(PyObject* key, PyObject* v, AnyValueView& out, int depth) {
    if (too_deep(depth)) return R::kInvalid;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
    PyObject** items = PySequence_Fast_ITEMS(v);
    AnyValueView* elems = s_.values.alloc(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      const R r = value(key, items[i], elems[i], depth + 1);
      if (r != R::kOk) return r;
    }
    out = AnyValueView{};
    out.kind = Kind::kArray;
    out.array = {elems, static_cast<size_t>(n)};
    return R::kOk;
  }

  // A mapping inside a value. Lenient: keys that are not non-empty str are left out, as the
  // API does; strict: normalise_body() let only str keys through.
  OTLP_MMAP_HOT R kvlist(PyObject* d, AnyValueView& out, int depth) {
    if (too_deep(depth)) return R::kInvalid;
    const Py_ssize_t n = PyDict_GET_SIZE(d);
    KeyValueView* kvs = s_.kvs.alloc(static_cast<size_t>(n));
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *item;
    while (PyDict_Next(d, &pos, &key, &item) && i < n) {
      const size_t mark = s_.keys.size();
      if (!add_key(key, &kvs[i].key_ref, "body")) continue;
      const R r = value(nullptr, item, kvs[i].value, depth + 1);
      if (r != R::kOk) {
        s_.keys.resize(mark);
        return r;
      }
      ++i;
    }
    out = AnyValueView{};
    out.kind = Kind::kKvList;
    out.kvlist = {kvs, static_cast<size_t>(i)};
    return R::kOk;
  }

  Scratch& s_;
  int64_t max_len_;
};

// ------------------------------------------------------------------ normalisation

// Copies a value into objects conversion can walk without running Python code: tuples for
// sequences, dicts for mappings, bytes for bytearray. Strict raises for anything that is not
// an AnyValue; lenient puts g_invalid in its place. Returns a new reference.
class Normaliser {
 public:
  Normaliser(Policy policy, int max_depth) : policy_(policy), max_depth_(max_depth) {}

  Ref any(PyObject* v, int depth) {
    // Strict: nothing beyond the depth (the reader would refuse the record). Lenient: scalars
    // at any depth; a container too deep is refused when the value is converted.
    if (!lenient() && depth > max_depth_) {
      return fail(PyExc_ValueError, "body is nested more than %d levels deep", max_depth_);
    }
    if (v == Py_None || PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v) || PyBytes_Check(v)) {
      return Ref::borrow(v);
    }
    if (v == g_invalid || depth > max_depth_) return Ref::borrow(g_invalid);
    if (PyByteArray_Check(v)) return made(PyBytes_FromStringAndSize(PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v)));
    if (PyList_Check(v) || PyTuple_Check(v)) return items(v, depth);
    if (is_mapping(v, policy_)) return mapping_or_invalid(v, depth);
    if (lenient() && is_sequence(v)) return items(v, depth);
    if (lenient() && has_own_str(v)) return str_or_invalid(v);
    return fail(PyExc_TypeError,
                "unsupported body value type %.100s (allowed: str, bool, int, float, bytes, None, and lists or "
                "mappings of those)",
                Py_TYPE(v)->tp_name);
  }

  // A new dict of the mapping's items with their values normalised; nullptr (lenient, no
  // error set) when its items cannot be read.
  Ref mapping(PyObject* m, int depth) {
    Ref pairs(PyDict_Check(m) ? PyDict_Items(m) : PyMapping_Items(m));
    Ref d = pairs ? Ref(PyDict_New()) : Ref();
    if (!d) return failed();
    const Py_ssize_t n = PyList_GET_SIZE(pairs.get());
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* pair = PyList_GET_ITEM(pairs.get(), i);
      if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) continue;
      PyObject* key = PyTuple_GET_ITEM(pair, 0);
      if (!lenient() && !PyUnicode_Check(key)) {
        throw_py(PyExc_TypeError, "body mapping keys must be str, not %.100s", Py_TYPE(key)->tp_name);
      }
      Ref val = any(PyTuple_GET_ITEM(pair, 1), depth + 1);
      if (PyDict_SetItem(d.get(), key, val.get()) < 0) {
        if (!lenient()) throw_current();
        PyErr_Clear();  // an unhashable key: dropped
      }
    }
    return d;
  }

 private:
  bool lenient() const { return policy_ == Policy::kLenient; }

  // As the official SDK (1.45) keeps an attribute of an unsupported type: its str(), when its
  // type defines __str__ or __repr__ (object's own repr names only an address: dropped).
  static bool has_own_str(PyObject* v) {
    return Py_TYPE(v)->tp_str != PyBaseObject_Type.tp_str || Py_TYPE(v)->tp_repr != PyBaseObject_Type.tp_repr;
  }

  Ref str_or_invalid(PyObject* v) {
    Ref text(PyObject_Str(v));
    if (text && PyUnicode_Check(text.get())) return text;
    PyErr_Clear();  // a failing __str__ is the application's bug, never raised into it
    return Ref::borrow(g_invalid);
  }

  static bool is_sequence(PyObject* v) {
    const int r = PyObject_IsInstance(v, g_sequence_abc);
    if (r < 0) PyErr_Clear();
    return r == 1;
  }

  Ref mapping_or_invalid(PyObject* m, int depth) {
    Ref d = mapping(m, depth);
    return d ? std::move(d) : Ref::borrow(g_invalid);
  }

  // A new tuple of the normalised items of a snapshot of the sequence (a list could change
  // while nested values are normalised); a caller's tuple is never modified.
  Ref items(PyObject* seq, int depth) {
    Ref snapshot(PySequence_Tuple(seq));
    if (!snapshot) return failed_value();
    const Py_ssize_t n = PyTuple_GET_SIZE(snapshot.get());
    Ref t(PyTuple_New(n));
    if (!t) return failed_value();
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyTuple_SET_ITEM(t.get(), i, any(PyTuple_GET_ITEM(snapshot.get(), i), depth + 1).release());
    }
    return t;
  }

  Ref made(PyObject* new_ref) { return new_ref != nullptr ? Ref(new_ref) : failed_value(); }

  // An API call failed: strict raises its error; lenient clears it.
  Ref failed() {
    if (!lenient()) throw_current();
    PyErr_Clear();
    return Ref();
  }
  Ref failed_value() {
    failed();
    return Ref::borrow(g_invalid);
  }

  Ref fail(PyObject* type, const char* format, ...) {
    if (lenient()) return Ref::borrow(g_invalid);
    va_list args;
    va_start(args, format);
    PyErr_FormatV(type, format, args);
    va_end(args);
    throw_current();
  }

  Policy policy_;
  int max_depth_;
};

PyObject* keep(Scratch& s, Ref&& r) {
  PyObject* p = r.get();
  s.owned.push_back(nb::steal(r.release()));
  return p;
}

// ------------------------------------------------------------------ lenient reporting

void report_invalid(uint32_t n, PyObject* example_key, PyObject* example_value) {
  using sdk::Warn;
  if (n == 0) return;
  sdk::g_counters.invalid_attributes.fetch_add(n, std::memory_order_relaxed);
  if (example_key != nullptr && (!PyUnicode_Check(example_key) || PyUnicode_GET_LENGTH(example_key) == 0)) {
    sdk::warn_once(Warn::kInvalidKey,
                   "Invalid attribute key %R: keys must be non-empty strings; the attribute is dropped "
                   "(further invalid attributes are dropped and counted silently)",
                   example_key);
  } else {
    sdk::warn_once(Warn::kInvalidValue,
                   "Invalid value of type %.100s for attribute %R: expected str, bool, int (64-bit), float, bytes, "
                   "None, or a sequence or mapping of those; the attribute is dropped (further invalid attributes "
                   "are dropped and counted silently)",
                   example_value ? Py_TYPE(example_value)->tp_name : "?", example_key ? example_key : Py_None);
  }
}

void report_limited(uint32_t n, int64_t max_count) {
  if (n == 0) return;
  sdk::g_counters.limited_attributes.fetch_add(n, std::memory_order_relaxed);
  sdk::warn_once(sdk::Warn::kAttributeLimit,
                 "Attribute count limit (%lld) reached: further attributes are dropped and counted "
                 "(dropped_attributes_count)",
                 static_cast<long long>(max_count));
}

// ------------------------------------------------------------------ attributes

// Not inlined into convert_attributes: each of the four converters stays a compact function of
// its own (the SDK's lenient one is on every span and measurement).
template <Shape kShape>
[[gnu::noinline]] std::span<const KeyValueView> strict_attributes(PyObject* dict, Scratch& s, const Rules& rules) {
  if (dict == nullptr) return {};
  const Py_ssize_t n = PyDict_GET_SIZE(dict);
  if (n == 0) return {};
  Converter<Policy::kStrict, kShape> c(s, rules);
  KeyValueView* out = s.kvs.alloc(static_cast<size_t>(n));
  Py_ssize_t pos = 0, i = 0;
  PyObject *key, *value;
  while (PyDict_Next(dict, &pos, &key, &value) && i < n) {
    c.add_key(key, &out[i].key_ref, "attribute");
    c.value(key, value, out[i].value, 0);
    ++i;
  }
  return {out, static_cast<size_t>(i)};
}

template <Shape kShape>
[[gnu::noinline]] OTLP_MMAP_HOT std::span<const KeyValueView> lenient_attributes(PyObject* attrs, Scratch& s,
                                                                                 const Rules& rules, uint32_t& dropped,
                                                                                 int64_t already) {
  if (attrs == nullptr || attrs == Py_None) return {};
  Normaliser normaliser(Policy::kLenient, kMaxLenientDepth);
  PyObject* d = attrs;
  bool normalised = false;
  if (!PyDict_Check(attrs)) {
    Ref copy = normaliser.mapping(attrs, 0);
    if (!copy) {
      dropped += 1;
      sdk::g_counters.invalid_attributes.fetch_add(1, std::memory_order_relaxed);
      sdk::warn_once(sdk::Warn::kInvalidValue, "Invalid attributes of type %.100s (expected a mapping): dropped",
                     Py_TYPE(attrs)->tp_name);
      return {};
    }
    d = keep(s, std::move(copy));
    normalised = true;
  }
  const int64_t room = rules.max_count < 0 ? std::numeric_limits<int64_t>::max()
                                           : std::max<int64_t>(0, rules.max_count - std::max<int64_t>(0, already));
  Converter<Policy::kLenient, kShape> c(s, rules);
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
      if (rules.skip != nullptr && PyUnicode_CheckExact(key) && rules.skip->contains(key)) continue;
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
      const R r = c.value(key, val, out[i].value, 0);
      if (r == R::kExotic && !normalised) {
        exotic = true;
        break;
      }
      if (r != R::kOk || !c.add_str_key(key, &out[i].key_ref)) {
        s.keys.resize(mark);
        ++invalid;
        if (bad_key == nullptr) bad_key = key, bad_value = val;
        continue;
      }
      ++i;
    }
    if (exotic) {
      s.keys.resize(keys_mark);
      Ref copy = normaliser.mapping(d, 0);
      if (!copy) return {};
      d = keep(s, std::move(copy));
      normalised = true;
      continue;
    }
    report_invalid(invalid, bad_key, bad_value);
    report_limited(limited, rules.max_count);
    dropped += invalid + limited;
    return {out, static_cast<size_t>(i)};
  }
}

// `v` with strings cut to `max_len` characters (also the strings of a tuple); new reference.
Ref truncated(PyObject* v, int64_t max_len) {
  if (max_len >= 0 && PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) > max_len) {
    return Ref(PyUnicode_Substring(v, 0, static_cast<Py_ssize_t>(max_len)));
  }
  if (max_len >= 0 && PyTuple_Check(v)) {
    const Py_ssize_t n = PyTuple_GET_SIZE(v);
    bool any = false;
    for (Py_ssize_t i = 0; i < n && !any; ++i) {
      PyObject* e = PyTuple_GET_ITEM(v, i);
      any = PyUnicode_Check(e) && PyUnicode_GET_LENGTH(e) > max_len;
    }
    if (any) {
      Ref t(PyTuple_New(n));
      if (!t) return t;
      for (Py_ssize_t i = 0; i < n; ++i) {
        Ref e = truncated(PyTuple_GET_ITEM(v, i), max_len);
        if (!e) return e;
        PyTuple_SET_ITEM(t.get(), i, e.release());
      }
      return t;
    }
  }
  return Ref::borrow(v);
}

}  // namespace

OTLP_MMAP_HOT std::span<const KeyValueView> convert_attributes(PyObject* attrs, Scratch& s, const Rules& rules,
                                                               uint32_t* dropped, int64_t already) {
  const bool any = rules.shape == Shape::kAnyValue;
  if (rules.policy == Policy::kStrict) {
    return any ? strict_attributes<Shape::kAnyValue>(attrs, s, rules)
               : strict_attributes<Shape::kAttribute>(attrs, s, rules);
  }
  uint32_t ignored = 0;
  uint32_t& d = dropped != nullptr ? *dropped : ignored;
  return any ? lenient_attributes<Shape::kAnyValue>(attrs, s, rules, d, already)
             : lenient_attributes<Shape::kAttribute>(attrs, s, rules, d, already);
}

OTLP_MMAP_HOT bool convert_body(PyObject* body, Scratch& s, const Rules& rules, AnyValueView& out) {
  if (rules.policy == Policy::kStrict) {
    Converter<Policy::kStrict, Shape::kAnyValue>(s, rules).value(nullptr, body, out, 0);
    return true;
  }
  Converter<Policy::kLenient, Shape::kAnyValue> c(s, rules);
  const size_t mark = s.keys.size();
  R r = c.value(nullptr, body, out, 0);
  if (r == R::kOk) return true;
  s.keys.resize(mark);
  if (r == R::kExotic) {
    PyObject* n = keep(s, Normaliser(Policy::kLenient, kMaxLenientDepth).any(body, 0));
    r = c.value(nullptr, n, out, 0);
    if (r == R::kOk) return true;
    s.keys.resize(mark);
  }
  // Not an AnyValue: its str(), as the logging bridge of the official SDK does.
  Ref text(PyObject_Str(body));
  if (!text) {
    PyErr_Clear();
    return false;
  }
  PyObject* t = keep(s, std::move(text));
  sdk::warn_once(sdk::Warn::kBadBody, "Log body of type %.100s is not an OpenTelemetry AnyValue: recorded as its str()",
                 Py_TYPE(body)->tp_name);
  std::string_view sv;
  if (!str_view(t, rules.max_len, sv)) return false;
  out = AnyValueView::string(sv);
  return true;
}

PyObject* normalise_body(PyObject* body, Scratch& s) {
  // The caller holds `body` for the whole call; what normalisation makes is owned by `s`.
  return keep(s, Normaliser(Policy::kStrict, kMaxBodyDepth).any(body, 0));
}

PyObject* clean_value(PyObject* v) {
  Ref r = Normaliser(Policy::kLenient, kMaxLenientDepth).any(v, 0);
  if (r.get() == g_invalid) return nullptr;
  return r.release();
}

void clean_attributes_into(PyObject* out, PyObject* attrs, int64_t max_count, int64_t max_len) {
  if (attrs == nullptr || attrs == Py_None) return;
  Ref items(PyDict_Check(attrs) ? PyDict_Items(attrs) : PyMapping_Items(attrs));
  if (!items) {
    PyErr_Clear();
    return;
  }
  const Py_ssize_t n = PyList_GET_SIZE(items.get());
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* pair = PyList_GET_ITEM(items.get(), i);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) continue;
    PyObject* key = PyTuple_GET_ITEM(pair, 0);
    if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) continue;
    const int known = PyDict_Contains(out, key);
    if (known < 0) break;
    if (known == 0 && max_count >= 0 && PyDict_GET_SIZE(out) >= max_count) continue;
    Ref v(clean_value(PyTuple_GET_ITEM(pair, 1)));
    if (!v) continue;
    Ref c = truncated(v.get(), max_len);
    if (!c || PyDict_SetItem(out, key, c.get()) < 0) break;
  }
  PyErr_Clear();
}

void init_attr_convert() {
  if (g_sequence_abc == nullptr) {
    nb::object seq = nb::module_::import_("collections.abc").attr("Sequence");
    g_sequence_abc = seq.release().ptr();
  }
  if (g_invalid == nullptr) {
    g_invalid = PyObject_CallNoArgs(reinterpret_cast<PyObject*>(&PyBaseObject_Type));  // for the life of the process
    if (g_invalid == nullptr) throw_current();
  }
}

}  // namespace otlp_mmap::py

// Native logs of otlp_mmap.sdk.
//
//  * Logger: opentelemetry._logs.Logger. emit() takes both call styles of the API: a
//    LogRecord positionally, or keywords (timestamp, observed_timestamp, context,
//    severity_number, severity_text, body, attributes, event_name, exception). The body is
//    written as the body (never interned), the event name as an event name, the caller's
//    attributes are never modified.
//  * LogBridge: the core of otlp_mmap.sdk.logs.LoggingHandler. handle(record) reads a
//    logging.LogRecord's __dict__ directly and writes one Event: level -> severity number and
//    text, message -> body, extra fields -> attributes, exc_info -> exception.* attributes,
//    optionally code.* attributes, and the current span's context. One scope per logger name.
//  * LogRecordFactory: logging.LogRecord made natively (see its section).
//
// The fast paths of a logging call (the handler's own cost is a few hundred nanoseconds):
// the usual message ("text %s", str and int arguments) is formatted straight into UTF-8
// without making the str; on Python <= 3.11 the bridge reads the fields of the record the
// factory has just made from a memo instead of its dict (only while that dict is unchanged,
// which its version tag tells); the factory remembers what does not change from a call to
// the next (logging's switches while logging's globals are unchanged, whether a builtin
// type is a Mapping while abc's cache token is unchanged, the filename and module of a
// pathname, the thread ident and pid objects).
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <new>
#include <type_traits>

#include "sdk_core.hpp"

namespace otlp_mmap::py::sdk {

namespace {

// Small caches kept in plain fields of the bridge and the record factory: safe because the
// GIL serialises the calls; a free-threaded build does without them.
#ifdef Py_GIL_DISABLED
constexpr bool kRecordCaches = false;
#else
constexpr bool kRecordCaches = true;
#endif

// Python 3.11 and older: a dict's ma_version_tag changes whenever the dict does (PEP 509;
// 3.12 deprecates it), and no two states of any dicts share a tag, so (address, tag) names
// one state of one dict.
#if PY_VERSION_HEX < 0x030C0000 && !defined(Py_GIL_DISABLED)
constexpr bool kDictVersions = true;
uint64_t dict_version(PyObject* d) { return reinterpret_cast<PyDictObject*>(d)->ma_version_tag; }
#else
constexpr bool kDictVersions = false;
uint64_t dict_version(PyObject*) { return 0; }
#endif

// The fields of the last record the native factory made, as the bridge reads them: when the
// bridge gets a record whose __dict__ is still that dict in that state (nothing set or
// changed since, by extra=, a filter or anyone), the values are these (borrowed: the
// unchanged dict holds them) and it does not look them up. Python <= 3.11 only.
enum MemoField : uint8_t {
  mName,
  mMsg,
  mArgs,
  mLevelno,
  mLevelname,
  mPathname,
  mFuncName,
  mLineno,
  mExcInfo,
  mCreated,
  mCount
};
struct RecordMemo {
  PyObject* dict = nullptr;
  uint64_t version = 0;
  PyObject* v[mCount] = {};
};
RecordMemo g_record_memo;

static_assert(std::is_trivially_destructible_v<KeyValueView>);

struct LoggerObject {
  PyObject_HEAD PyObject* writer;
  WriterAccess w;
  int64_t scope_ref;
  int64_t max_attributes, max_length;
  bool enabled;
  PyObject* name;
  PyObject* version;
  PyObject* schema_url;
  PyObject* attributes;
  PyObject* weakreflist;
};

struct BridgeObject {
  PyObject_HEAD PyObject* writer;
  WriterAccess w;
  int64_t resource_ref;
  int64_t max_attributes, max_length;
  bool enabled;
  bool code_attributes;
  PyObject* scopes;       // {logger name: scope ref}
  PyObject* filters;      // the handler's filters list (shared), or nullptr
  PyObject* handler;      // weak reference to the handler
  PyObject* reserved;     // frozenset of LogRecord attributes that are not user attributes
  PyObject* record_type;  // logging.LogRecord: its getMessage() is done natively
  PtrSet reserved_fast;
  Py_ssize_t standard_fields;  // attributes of a LogRecord made by logging (no extra fields)
  int64_t code_refs[3];        // dictionary refs of code.file.path, code.function.name, code.line.number
  PyObject* last_name;         // the logger name of the last record, and its scope (a memo of `scopes`)
  int64_t last_scope;
};

// Static types, initialised field by field in bind_*().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
PyTypeObject LoggerType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject BridgeType = {PyVarObject_HEAD_INIT(nullptr, 0)};
#pragma GCC diagnostic pop

// SeverityNumber of a Python logging level, as the specification's mapping and the official
// SDK: DEBUG 5 (10..19 -> 5..8), INFO 9, WARN 13, ERROR 17, FATAL 21 (53+ -> 24).
int severity_of_level(long level) {
  if (level < 10) return 0;
  if (level > 53) return 24;
  const long decade = level / 10;
  const long offset = std::min<long>(level % 10, 3);
  return static_cast<int>(5 + (decade - 1) * 4 + offset);
}

int severity_arg(PyObject* v) {
  if (v == nullptr || v == Py_None) return 0;
  PyObject* n = PyLong_Check(v) ? (Py_INCREF(v), v) : PyObject_GetAttr(v, g_sn.value_attr);
  if (n == nullptr) {
    PyErr_Clear();
    return 0;
  }
  long x = PyLong_Check(n) ? PyLong_AsLong(n) : 0;
  Py_DECREF(n);
  if (x == -1 && PyErr_Occurred()) PyErr_Clear();
  return x < 0 ? 0 : x > 24 ? 24 : static_cast<int>(x);
}

uint64_t optional_time(PyObject* v, uint64_t dflt) {
  if (v == nullptr || v == Py_None) return dflt;
  if (PyLong_Check(v)) {
    unsigned long long x = PyLong_AsUnsignedLongLong(v);
    if (!(x == static_cast<unsigned long long>(-1) && PyErr_Occurred())) return x;
    PyErr_Clear();
  } else if (PyFloat_Check(v) && PyFloat_AS_DOUBLE(v) >= 0) {
    return static_cast<uint64_t>(PyFloat_AS_DOUBLE(v));
  }
  return dflt;
}

PyObject* new_ref(PyObject* o) {
  Py_INCREF(o);
  return o;
}

PyObject* getattr_or_null(PyObject* o, PyObject* name) {
  PyObject* v = PyObject_GetAttr(o, name);
  if (v == nullptr) PyErr_Clear();
  if (v == Py_None) {
    Py_DECREF(v);
    return nullptr;
  }
  return v;
}

// Copies key views whose refs are resolved (s.keys emptied), so arrays can be concatenated.
bool resolve_now(WriterAccess& w, Scratch& s) {
  if (!w.keys->resolve(*w.core, s)) {
    PyErr_Clear();
    return false;
  }
  s.keys.clear();
  return true;
}

std::span<const KeyValueView> concat(Scratch& s, std::span<const KeyValueView> a, std::span<const KeyValueView> b,
                                     std::span<const KeyValueView> c = {}) {
  if (b.empty() && c.empty()) return a;
  const size_t n = a.size() + b.size() + c.size();
  KeyValueView* out = s.kvs.alloc(n);
  std::copy(a.begin(), a.end(), out);
  std::copy(b.begin(), b.end(), out + a.size());
  std::copy(c.begin(), c.end(), out + a.size() + b.size());
  return {out, n};
}

// ------------------------------------------------------------------ Logger.emit

struct EmitArgs {
  PyObject* timestamp = nullptr;
  PyObject* observed = nullptr;
  PyObject* context = nullptr;
  PyObject* severity_number = nullptr;
  PyObject* severity_text = nullptr;
  PyObject* body = nullptr;
  PyObject* attributes = nullptr;
  PyObject* event_name = nullptr;
  PyObject* exception = nullptr;
  // From a LogRecord: its resolved trace context.
  PyObject* trace_id = nullptr;
  PyObject* span_id = nullptr;
  PyObject* trace_flags = nullptr;
};

void logger_emit_impl(LoggerObject* lg, EmitArgs& a) {
  ScratchLease s;
  EventView e;
  e.scope_ref = lg->scope_ref;
  e.time_unix_nano = optional_time(a.timestamp, 0);
  e.observed_time_unix_nano = optional_time(a.observed, now_ns());
  e.severity_number = severity_arg(a.severity_number);
  if (a.severity_text != nullptr && PyUnicode_Check(a.severity_text)) {
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(a.severity_text, &n);
    if (p != nullptr) e.severity_text = {p, static_cast<size_t>(n)};
    PyErr_Clear();
  }
  // Trace context: the record's ids when it has them, else the span in the context.
  SpanContextStorage storage;
  bool have_ids = false;
  if (a.trace_id != nullptr && a.span_id != nullptr) {
    Parent p;
    if (int_to_be(a.trace_id, p.trace_id, 16) && int_to_be(a.span_id, p.span_id, 8)) {
      bool nonzero = false;
      for (uint8_t b : p.span_id) nonzero = nonzero || b != 0;
      if (nonzero) {
        std::memcpy(storage.trace_id, p.trace_id, 16);
        std::memcpy(storage.span_id, p.span_id, 8);
        e.span_context.present = true;
        e.span_context.trace_id = {reinterpret_cast<const char*>(storage.trace_id), 16};
        e.span_context.span_id = {reinterpret_cast<const char*>(storage.span_id), 8};
        long f = a.trace_flags != nullptr && PyLong_Check(a.trace_flags) ? PyLong_AsLong(a.trace_flags) : 0;
        e.span_context.flags = static_cast<uint32_t>(f & 0xff);
        have_ids = true;
      }
    }
    PyErr_Clear();
  }
  if (!have_ids) current_span_context(a.context, e.span_context, storage, false);
  AnyValueView body;
  if (a.body != nullptr && a.body != Py_None && convert_body_lenient(a.body, *s, body, -1)) e.body = &body;
  if (a.event_name != nullptr && PyUnicode_Check(a.event_name) && PyUnicode_GET_LENGTH(a.event_name) > 0) {
    e.event_name_ref = intern_str(lg->w, a.event_name);
  }
  AttrLimits lim{lg->max_attributes, lg->max_length};
  uint32_t dropped = 0;
  if (a.exception != nullptr) {
    // exception.* attributes first; the caller's attributes take precedence.
    PyObject* merged = PyObject_CallFunctionObjArgs(g_api.exception_attributes, a.exception, Py_None, nullptr);
    if (merged == nullptr) {
      swallow_error("exception attributes");
    } else {
      s->owned.push_back(nb::steal(merged));
      if (a.attributes != nullptr && PyDict_Check(merged) && PyDict_Merge(merged, a.attributes, 1) < 0) {
        swallow_error("log attributes");
      }
      a.attributes = merged;
    }
  }
  e.attributes = convert_attrs(a.attributes, *s, lim, 0, dropped);
  e.dropped_attributes_count = dropped;
  write_record(lg->w, *s, e);
  if (PyErr_Occurred()) swallow_error("Logger.emit");
}

PyObject* logger_emit(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* v[10];
  if (!parse_args("emit", args, nargs, kwnames,
                  {g_sn.record, g_sn.timestamp, g_sn.observed_timestamp, g_sn.context, g_sn.severity_number,
                   g_sn.severity_text, g_sn.body, g_sn.attributes, g_sn.event_name, g_sn.exception},
                  1, v)) {
    return nullptr;
  }
  LoggerObject* lg = reinterpret_cast<LoggerObject*>(self);
  if (!lg->enabled) Py_RETURN_NONE;
  EmitArgs a;
  PyObject* record = v[0];
  if (record != nullptr && record != Py_None) {
    // The positional style: every field from the LogRecord (getattr, so any record type works).
    PyObject* owned[12] = {};
    PyObject* names[12] = {
        g_sn.timestamp, g_sn.observed_timestamp, g_sn.context,    g_sn.severity_number, g_sn.severity_text,
        g_sn.body,      g_sn.attributes,         g_sn.event_name, g_sn.exception,       g_sn.trace_id,
        g_sn.span_id,   g_sn.trace_flags};
    for (int i = 0; i < 12; ++i) owned[i] = getattr_or_null(record, names[i]);
    a.timestamp = owned[0];
    a.observed = owned[1];
    a.context = owned[2];
    a.severity_number = owned[3];
    a.severity_text = owned[4];
    a.body = owned[5];
    a.attributes = owned[6];
    a.event_name = owned[7];
    a.exception = owned[8];
    a.trace_id = owned[9];
    a.span_id = owned[10];
    a.trace_flags = owned[11];
    logger_emit_impl(lg, a);
    for (PyObject* o : owned) Py_XDECREF(o);
    Py_RETURN_NONE;
  }
  auto opt = [](PyObject* o) { return o == Py_None ? nullptr : o; };
  a.timestamp = opt(v[1]);
  a.observed = opt(v[2]);
  a.context = opt(v[3]);
  a.severity_number = opt(v[4]);
  a.severity_text = opt(v[5]);
  a.body = opt(v[6]);
  a.attributes = opt(v[7]);
  a.event_name = opt(v[8]);
  a.exception = opt(v[9]);
  logger_emit_impl(lg, a);
  Py_RETURN_NONE;
}

PyObject* logger_enabled(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* v[3];
  if (!parse_args("enabled", args, nargs, kwnames, {g_sn.context, g_sn.severity_number, g_sn.event_name}, 0, v)) {
    return nullptr;
  }
  return PyBool_FromLong(reinterpret_cast<LoggerObject*>(self)->enabled);
}

PyObject* logger_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {"writer",     "scope_ref",  "name",           "version",
                             "schema_url", "attributes", "max_attributes", "max_attribute_length",
                             nullptr};
  PyObject *writer, *name, *version = Py_None, *schema_url = Py_None, *attributes = Py_None;
  long long ref, max_attrs = 128, max_len = -1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OLU|OOOLL", const_cast<char**>(kw), &writer, &ref, &name, &version,
                                   &schema_url, &attributes, &max_attrs, &max_len)) {
    return nullptr;
  }
  WriterAccess w;
  if (!writer_access(writer, w)) {
    PyErr_SetString(PyExc_TypeError, "writer must be an otlp_mmap._native.Writer");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  LoggerObject* lg = reinterpret_cast<LoggerObject*>(type->tp_alloc(type, 0));
  if (lg == nullptr) return nullptr;
  Py_INCREF(writer);
  lg->writer = writer;
  lg->w = w;
  lg->scope_ref = ref;
  lg->max_attributes = max_attrs;
  lg->max_length = max_len;
  lg->enabled = true;
  Py_INCREF(name);
  lg->name = name;
  Py_INCREF(version);
  lg->version = version;
  Py_INCREF(schema_url);
  lg->schema_url = schema_url;
  Py_INCREF(attributes);
  lg->attributes = attributes;
  return reinterpret_cast<PyObject*>(lg);
}

void logger_dealloc(PyObject* self) {
  LoggerObject* lg = reinterpret_cast<LoggerObject*>(self);
  if (lg->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  Py_XDECREF(lg->writer);
  Py_XDECREF(lg->name);
  Py_XDECREF(lg->version);
  Py_XDECREF(lg->schema_url);
  Py_XDECREF(lg->attributes);
  Py_TYPE(self)->tp_free(self);
}

PyObject* logger_set_scope(PyObject* self, PyObject* arg) {
  long long ref = PyLong_AsLongLong(arg);
  if (ref == -1 && PyErr_Occurred()) return nullptr;
  reinterpret_cast<LoggerObject*>(self)->scope_ref = ref;
  Py_RETURN_NONE;
}

PyObject* logger_set_enabled(PyObject* self, PyObject* arg) {
  int on = PyObject_IsTrue(arg);
  if (on < 0) return nullptr;
  reinterpret_cast<LoggerObject*>(self)->enabled = on != 0;
  Py_RETURN_NONE;
}

PyObject* logger_get(PyObject* self, void* which) {
  LoggerObject* lg = reinterpret_cast<LoggerObject*>(self);
  PyObject* v = nullptr;
  switch (reinterpret_cast<intptr_t>(which)) {
    case 0: v = lg->name; break;
    case 1: v = lg->version; break;
    case 2: v = lg->schema_url; break;
    case 3: v = lg->attributes; break;
    default: return PyLong_FromLongLong(lg->scope_ref);
  }
  Py_INCREF(v);
  return v;
}

PyObject* logger_repr(PyObject* self) {
  return PyUnicode_FromFormat("otlp_mmap.Logger(name=%R)", reinterpret_cast<LoggerObject*>(self)->name);
}

#define FASTCALL(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))

PyMethodDef logger_methods[] = {
    {"emit", FASTCALL(logger_emit), METH_FASTCALL | METH_KEYWORDS,
     "emit(record=None, *, timestamp=None, observed_timestamp=None, context=None, severity_number=None, "
     "severity_text=None, body=None, attributes=None, event_name=None, exception=None)"},
    {"enabled", FASTCALL(logger_enabled), METH_FASTCALL | METH_KEYWORDS,
     "enabled(*, context=None, severity_number=None, event_name=None)"},
    {"_set_scope_ref", logger_set_scope, METH_O, "Writes later records under another scope (after fork)."},
    {"_set_enabled", logger_set_enabled, METH_O, "False: records are dropped (shutdown)."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef logger_getset[] = {{"name", logger_get, nullptr, "Scope name.", reinterpret_cast<void*>(0)},
                               {"version", logger_get, nullptr, "Scope version.", reinterpret_cast<void*>(1)},
                               {"schema_url", logger_get, nullptr, "Scope schema URL.", reinterpret_cast<void*>(2)},
                               {"attributes", logger_get, nullptr, "Scope attributes.", reinterpret_cast<void*>(3)},
                               {"scope_ref", logger_get, nullptr, "Scope reference.", reinterpret_cast<void*>(4)},
                               {nullptr, nullptr, nullptr, nullptr, nullptr}};

// ------------------------------------------------------------------ LogBridge

PyObject* dict_get(PyObject* d, PyObject* record, PyObject* name) {
  PyObject* v = d ? PyDict_GetItemWithError(d, name) : nullptr;
  if (v != nullptr) {
    Py_INCREF(v);
    return v;
  }
  PyErr_Clear();
  v = PyObject_GetAttr(record, name);
  if (v == nullptr) PyErr_Clear();
  return v;
}

int64_t scope_for(BridgeObject* b, PyObject* logger_name) {
  if (logger_name == nullptr || !PyUnicode_Check(logger_name)) return 0;
  if (kRecordCaches && logger_name == b->last_name) return b->last_scope;
  PyObject* hit = PyDict_GetItemWithError(b->scopes, logger_name);
  if (hit != nullptr) {
    const int64_t ref = PyLong_AsLongLong(hit);
    if (kRecordCaches && ref > 0 && PyUnicode_CheckExact(logger_name)) {
      Py_INCREF(logger_name);
      Py_XSETREF(b->last_name, logger_name);
      b->last_scope = ref;
    }
    return ref;
  }
  PyErr_Clear();
  int64_t name_ref = intern_str(b->w, logger_name);
  if (name_ref == 0) return 0;
  ScopeView v;
  v.name_ref = name_ref;
  v.resource_ref = b->resource_ref;
  int64_t ref = 0;
  try {
    ref = b->w.core->create_scope(v);
  } catch (const std::exception&) {
    ref = 0;
  }
  if (ref != 0) {
    PyObject* r = PyLong_FromLongLong(ref);
    if (r == nullptr || PyDict_SetItem(b->scopes, logger_name, r) < 0) PyErr_Clear();
    Py_XDECREF(r);
  }
  return ref;
}

bool is_exportable_body(PyObject* v) {
  return v == Py_None || PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v) || PyBytes_Check(v) ||
         PyList_Check(v) || PyTuple_Check(v) || PyDict_Check(v);
}

// LogRecord.getMessage(), str(msg) % args, for the usual case, written as UTF-8 into `out`
// without making the str: msg an exact str, args an exact tuple, and only %s (of an exact
// str or int), %d and %i (of an exact int) and %% in msg, one argument per conversion.
// Anything else returns false, nothing raised, for PyUnicode_Format to do (and to raise
// what it raises). '%' is ASCII, so it is found in the UTF-8 bytes as is.
bool format_message_utf8(PyObject* msg, PyObject* args, char* out, size_t cap, size_t& len) {
  if (!PyUnicode_CheckExact(msg) || !PyTuple_CheckExact(args)) return false;
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(msg, &n);
  if (p == nullptr) {
    PyErr_Clear();
    return false;
  }
  const char* const end = p + n;
  const Py_ssize_t nargs = PyTuple_GET_SIZE(args);
  Py_ssize_t next = 0;
  size_t used = 0;
  auto put = [&](const char* s, size_t k) {
    if (k > cap - used) return false;
    std::memcpy(out + used, s, k);
    used += k;
    return true;
  };
  while (p < end) {
    const char* pct = static_cast<const char*>(std::memchr(p, '%', static_cast<size_t>(end - p)));
    if (!put(p, static_cast<size_t>((pct ? pct : end) - p))) return false;
    if (pct == nullptr) break;
    if (pct + 1 >= end) return false;  // "incomplete format"
    const char conv = pct[1];
    p = pct + 2;
    if (conv == '%') {
      if (!put("%", 1)) return false;
      continue;
    }
    if ((conv != 's' && conv != 'd' && conv != 'i') || next >= nargs) return false;
    PyObject* a = PyTuple_GET_ITEM(args, next++);
    if (conv == 's' && PyUnicode_CheckExact(a)) {
      Py_ssize_t k = 0;
      const char* q = PyUnicode_AsUTF8AndSize(a, &k);
      if (q == nullptr) {
        PyErr_Clear();
        return false;
      }
      if (!put(q, static_cast<size_t>(k))) return false;
    } else if (PyLong_CheckExact(a)) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(a, &overflow);
      if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return false;
      }
      char digits[24];
      const auto r = std::to_chars(digits, digits + sizeof digits, v);
      if (r.ec != std::errc() || !put(digits, static_cast<size_t>(r.ptr - digits))) return false;
    } else {
      return false;
    }
  }
  if (next != nargs) return false;  // "not all arguments converted"
  len = used;
  return true;
}

void bridge_emit(BridgeObject* b, PyObject* record, PyObject* handler) {
  if (!b->enabled) return;
  PyObject* d = PyObject_GenericGetDict(record, nullptr);
  if (d == nullptr) PyErr_Clear();
  if (d != nullptr && !PyDict_Check(d)) Py_CLEAR(d);
  // The handler's formatter, if any: it runs Python code on the record, so the record's
  // fields are then all looked up as they are (no memo).
  PyObject* formatter = handler ? PyObject_GetAttr(handler, g_sn.formatter) : nullptr;
  if (formatter == nullptr) PyErr_Clear();
  const bool formatted = formatter != nullptr && formatter != Py_None;
  // The record's fields: from the factory's memo when the record's dict is the memo's dict
  // in the same state (a snapshot, new references), else looked up when needed.
  PyObject* snap[mCount] = {};
  uint64_t snap_version = 0;
  bool from_memo = kDictVersions && !formatted && d != nullptr && d == g_record_memo.dict &&
                   (snap_version = dict_version(d)) == g_record_memo.version;
  if (from_memo) {
    for (int i = 0; i < mCount; ++i) snap[i] = new_ref(g_record_memo.v[i]);
  }
  auto field = [&](MemoField i) -> PyObject* {  // a new reference, or nullptr
    static PyObject* const* const names[mCount] = {&g_sn.name,      &g_sn.msg,      &g_sn.args,     &g_sn.levelno,
                                                   &g_sn.levelname, &g_sn.pathname, &g_sn.funcName, &g_sn.lineno,
                                                   &g_sn.exc_info,  &g_sn.created};
    if (!from_memo) return dict_get(d, record, *names[i]);
    PyObject* o = snap[i];
    snap[i] = nullptr;
    return o;
  };
  auto finish = [&]() {
    for (PyObject* o : snap) Py_XDECREF(o);
    Py_XDECREF(d);
  };
  ScratchLease s;
  EventView e;

  PyObject* levelno = field(mLevelno);
  long level = levelno && PyLong_Check(levelno) ? PyLong_AsLong(levelno) : 0;
  Py_XDECREF(levelno);
  if (level == -1 && PyErr_Occurred()) PyErr_Clear();
  e.severity_number = severity_of_level(level);

  PyObject* levelname = field(mLevelname);
  if (levelname != nullptr) {
    s->owned.push_back(nb::steal(levelname));
    PyObject* text = levelname;
    if (PyUnicode_Check(levelname)) {
      const Py_ssize_t len = PyUnicode_GET_LENGTH(levelname);
      if (levelname == g_sn.warning_str || (len == 7 && PyUnicode_Compare(levelname, g_sn.warning_str) == 0)) {
        text = g_sn.warn_str;
      } else if (levelname == g_sn.critical_str || (len == 8 && PyUnicode_Compare(levelname, g_sn.critical_str) == 0)) {
        text = g_sn.fatal_str;
      }
      Py_ssize_t n = 0;
      const char* p = PyUnicode_AsUTF8AndSize(text, &n);
      if (p != nullptr) e.severity_text = {p, static_cast<size_t>(n)};
    }
    PyErr_Clear();
  }

  // Times: the record's creation time, and now.
  PyObject* created = field(mCreated);
  if (created != nullptr && PyFloat_Check(created)) {
    e.time_unix_nano = static_cast<uint64_t>(PyFloat_AS_DOUBLE(created) * 1e9);
  } else if (created != nullptr && PyLong_Check(created)) {
    e.time_unix_nano = static_cast<uint64_t>(PyLong_AsLongLong(created)) * 1000000000ULL;
    PyErr_Clear();
  }
  Py_XDECREF(created);
  e.observed_time_unix_nano = now_ns();

  // Body: the formatted message (the handler's formatter when it has one).
  PyObject* body = nullptr;
  AnyValueView body_view;
  char text_buf[1024];
  bool body_done = false;
  if (formatted) {
    body = PyObject_CallMethodOneArg(handler, g_sn.format, record);
  } else {
    PyObject* msg = field(mMsg);
    PyObject* args = field(mArgs);
    const int has_args = args == nullptr ? 0 : PyObject_IsTrue(args);
    if (has_args < 0) PyErr_Clear();
    if (has_args <= 0 && msg != nullptr) {
      // No arguments: the message itself (an AnyValue may stay what it is, as the official
      // bridge does); anything else as its str().
      if (is_exportable_body(msg)) {
        body = msg;
        Py_INCREF(body);
      } else {
        body = PyObject_Str(msg);
      }
    } else if (msg != nullptr && Py_TYPE(record) == reinterpret_cast<PyTypeObject*>(b->record_type)) {
      // LogRecord.getMessage(): str(msg) % args, straight to UTF-8 when it can be.
      size_t len = 0;
      if (format_message_utf8(msg, args, text_buf, sizeof text_buf, len)) {
        body_view = AnyValueView::string({text_buf, len});
        e.body = &body_view;
        body_done = true;
      } else {
        PyObject* text = PyUnicode_CheckExact(msg) ? (Py_INCREF(msg), msg) : PyObject_Str(msg);
        body = text ? PyUnicode_Format(text, args) : nullptr;
        Py_XDECREF(text);
      }
    } else {
      body = PyObject_CallMethodNoArgs(record, g_sn.getMessage);
    }
    Py_XDECREF(msg);
    Py_XDECREF(args);
  }
  Py_XDECREF(formatter);
  // str() of a message or an argument may have run code that changed the record.
  if (from_memo && dict_version(d) != snap_version) from_memo = false;
  if (body == nullptr && !body_done) swallow_error("formatting a log message");
  if (body != nullptr) {
    s->owned.push_back(nb::steal(body));
    if (convert_body_lenient(body, *s, body_view, -1)) e.body = &body_view;
  }

  // Scope: the logger's name.
  PyObject* name = field(mName);
  e.scope_ref = scope_for(b, name);
  Py_XDECREF(name);

  SpanContextStorage storage;
  current_span_context(nullptr, e.span_context, storage, false);

  // Attributes: extra fields of the record, code location, exception.
  AttrLimits lim{b->max_attributes, b->max_length};
  uint32_t dropped = 0;
  std::span<const KeyValueView> extra;
  // A record with only the attributes logging gives every record has no extra fields: its
  // dict is not walked. (Formatters add "message"/"asctime"; extra= adds keys.)
  if (d != nullptr && PyDict_GET_SIZE(d) > b->standard_fields) {
    extra = convert_attrs(d, *s, lim, 0, dropped, &b->reserved_fast);
  }
  // Filled in place (no zeroing of three views that are mostly not all used).
  alignas(KeyValueView) unsigned char code_mem[3 * sizeof(KeyValueView)];
  KeyValueView* const code_kvs = reinterpret_cast<KeyValueView*>(code_mem);
  size_t ncode = 0;
  if (b->code_attributes) {
    if (b->code_refs[0] == 0) {
      b->code_refs[0] = intern_str(b->w, g_sn.code_file_path);
      b->code_refs[1] = intern_str(b->w, g_sn.code_function_name);
      b->code_refs[2] = intern_str(b->w, g_sn.code_line_number);
    }
    PyObject* path = field(mPathname);
    PyObject* func = field(mFuncName);
    PyObject* line = field(mLineno);
    for (PyObject* o : {path, func, line}) {
      if (o != nullptr) s->owned.push_back(nb::steal(o));
    }
    const int64_t room = lim.max_count < 0 ? 3 : lim.max_count - static_cast<int64_t>(extra.size());
    auto add_str = [&](int i, PyObject* v) {
      if (v == nullptr || !PyUnicode_Check(v) || b->code_refs[i] == 0) return;
      if (static_cast<int64_t>(ncode) >= room) {
        ++dropped;
        return;
      }
      Py_ssize_t n = 0;
      const char* p = PyUnicode_AsUTF8AndSize(v, &n);
      if (p == nullptr) {
        PyErr_Clear();
        return;
      }
      new (&code_kvs[ncode]) KeyValueView{b->code_refs[i], AnyValueView::string({p, static_cast<size_t>(n)})};
      ++ncode;
    };
    add_str(0, path);
    add_str(1, func);
    if (line != nullptr && PyLong_Check(line) && b->code_refs[2] != 0) {
      if (static_cast<int64_t>(ncode) >= room) {
        ++dropped;
      } else {
        new (&code_kvs[ncode]) KeyValueView{b->code_refs[2], AnyValueView::integer(PyLong_AsLongLong(line))};
        ++ncode;
        PyErr_Clear();
      }
    }
  }
  std::span<const KeyValueView> code{code_kvs, ncode};
  std::span<const KeyValueView> exc;
  PyObject* exc_info = field(mExcInfo);
  if (exc_info != nullptr && exc_info != Py_None && PyObject_IsTrue(exc_info) == 1) {
    PyObject* ed = PyObject_CallOneArg(g_api.log_exc_attributes, record);
    if (ed == nullptr) {
      swallow_error("exception attributes of a log record");
    } else {
      s->owned.push_back(nb::steal(ed));
      exc = convert_attrs(ed, *s, lim, static_cast<int64_t>(extra.size() + code.size()), dropped);
    }
  }
  PyErr_Clear();
  Py_XDECREF(exc_info);
  if (!code.empty() || !exc.empty()) {
    if (!resolve_now(b->w, *s)) {
      g_counters.not_written.fetch_add(1, std::memory_order_relaxed);
      finish();
      return;
    }
    e.attributes = extra.empty() && exc.empty() ? code : concat(*s, extra, code, exc);
  } else {
    e.attributes = extra;
  }
  e.dropped_attributes_count = dropped;
  write_record(b->w, *s, e);
  finish();
  if (PyErr_Occurred()) swallow_error("logging handler");
}

// The handler (a new reference), or nullptr once it is gone.
PyObject* handler_of(BridgeObject* b) {
  if (b->handler == nullptr) return nullptr;
#if PY_VERSION_HEX >= 0x030D0000
  PyObject* h = nullptr;
  if (PyWeakref_GetRef(b->handler, &h) < 0) PyErr_Clear();
  return h;
#else
  PyObject* h = PyWeakref_GetObject(b->handler);  // borrowed
  if (h == nullptr || h == Py_None) return nullptr;
  Py_INCREF(h);
  return h;
#endif
}

PyObject* bridge_handle(PyObject* self, PyObject* record) {
  BridgeObject* b = reinterpret_cast<BridgeObject*>(self);
  PyObject* handler = handler_of(b);
  PyObject* rec = record;
  Py_INCREF(rec);
  // The handler's filters (logging.Filterer.filter), only when it has any.
  if (handler != nullptr && b->filters != nullptr && PyList_Check(b->filters) && PyList_GET_SIZE(b->filters) > 0) {
    PyObject* rv = PyObject_CallMethodOneArg(handler, g_sn.filter, record);
    if (rv == nullptr) {
      swallow_error("logging filter");
      Py_DECREF(rec);
      Py_DECREF(handler);
      Py_RETURN_FALSE;
    }
    int keep = PyObject_IsTrue(rv);
    if (keep <= 0) {
      PyErr_Clear();
      Py_DECREF(rv);
      Py_DECREF(rec);
      Py_DECREF(handler);
      Py_RETURN_FALSE;
    }
    if (rv != Py_True && !PyBool_Check(rv) && !PyLong_Check(rv)) {
      Py_SETREF(rec, rv);  // Python 3.12+: a filter may return a replacement record
    } else {
      Py_DECREF(rv);
    }
  }
  bridge_emit(b, rec, handler);
  Py_DECREF(rec);
  Py_XDECREF(handler);
  Py_RETURN_TRUE;
}

PyObject* bridge_emit_method(PyObject* self, PyObject* record) {
  BridgeObject* b = reinterpret_cast<BridgeObject*>(self);
  PyObject* handler = handler_of(b);
  bridge_emit(b, record, handler);
  Py_XDECREF(handler);
  Py_RETURN_NONE;
}

PyObject* bridge_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {
      "writer",         "resource_ref",         "handler",         "filters",     "reserved",
      "max_attributes", "max_attribute_length", "code_attributes", "record_type", "standard_fields",
      nullptr};
  PyObject *writer, *handler, *filters, *reserved, *record_type = Py_None;
  long long ref, max_attrs = 128, max_len = -1;
  Py_ssize_t standard = 0;
  int code = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OLOOO|LLpOn", const_cast<char**>(kw), &writer, &ref, &handler,
                                   &filters, &reserved, &max_attrs, &max_len, &code, &record_type, &standard)) {
    return nullptr;
  }
  WriterAccess w;
  if (!writer_access(writer, w)) {
    PyErr_SetString(PyExc_TypeError, "writer must be an otlp_mmap._native.Writer");
    return nullptr;
  }
  if (!PyAnySet_Check(reserved)) {
    PyErr_SetString(PyExc_TypeError, "reserved must be a frozenset");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  BridgeObject* b = reinterpret_cast<BridgeObject*>(type->tp_alloc(type, 0));
  if (b == nullptr) return nullptr;
  Py_INCREF(writer);
  b->writer = writer;
  b->w = w;
  b->resource_ref = ref;
  b->max_attributes = max_attrs;
  b->max_length = max_len;
  b->enabled = true;
  b->code_attributes = code != 0;
  b->scopes = PyDict_New();
  b->handler = handler == Py_None ? nullptr : PyWeakref_NewRef(handler, nullptr);
  if (b->handler == nullptr) PyErr_Clear();
  b->filters = filters == Py_None ? nullptr : (Py_INCREF(filters), filters);
  Py_INCREF(reserved);
  b->reserved = reserved;
  new (&b->reserved_fast) PtrSet();
  b->reserved_fast.assign(reserved);
  Py_INCREF(record_type);
  b->record_type = record_type;
  b->standard_fields = standard;
  if (b->scopes == nullptr) {
    Py_DECREF(b);
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(b);
}

void bridge_dealloc(PyObject* self) {
  BridgeObject* b = reinterpret_cast<BridgeObject*>(self);
  Py_XDECREF(b->writer);
  Py_XDECREF(b->scopes);
  Py_XDECREF(b->last_name);
  Py_XDECREF(b->handler);
  Py_XDECREF(b->filters);
  Py_XDECREF(b->reserved);
  Py_XDECREF(b->record_type);
  Py_TYPE(self)->tp_free(self);
}

PyObject* bridge_reset(PyObject* self, PyObject* arg) {
  long long ref = PyLong_AsLongLong(arg);
  if (ref == -1 && PyErr_Occurred()) return nullptr;
  BridgeObject* b = reinterpret_cast<BridgeObject*>(self);
  b->resource_ref = ref;
  PyDict_Clear(b->scopes);
  Py_CLEAR(b->last_name);
  Py_RETURN_NONE;
}

PyObject* bridge_set_enabled(PyObject* self, PyObject* arg) {
  int on = PyObject_IsTrue(arg);
  if (on < 0) return nullptr;
  reinterpret_cast<BridgeObject*>(self)->enabled = on != 0;
  Py_RETURN_NONE;
}

PyMethodDef bridge_methods[] = {
    {"handle", bridge_handle, METH_O, "logging.Handler.handle: filters, then writes the record."},
    {"emit", bridge_emit_method, METH_O, "logging.Handler.emit: writes the record."},
    {"_reset", bridge_reset, METH_O, "A new resource reference (after fork): scopes are created again."},
    {"_set_enabled", bridge_set_enabled, METH_O, "False: records are dropped (shutdown)."},
    {nullptr, nullptr, 0, nullptr}};

// ------------------------------------------------------------------ LogRecordFactory

// logging.LogRecord made natively: the same attributes, in the same order and with the same
// values, as LogRecord.__init__ of the running Python computes them (the Python side probes
// the stdlib before installing it and checks the result against a stdlib record).
enum Field : uint8_t {
  kName,
  kMsg,
  kArgs,
  kLevelname,
  kLevelno,
  kPathname,
  kFilename,
  kModule,
  kExcInfo,
  kExcText,
  kStackInfo,
  kLineno,
  kFuncName,
  kCreated,
  kMsecs,
  kRelativeCreated,
  kThread,
  kThreadName,
  kProcessName,
  kProcess,
  kTaskName,
  kFieldCount
};
const char* const kFieldNames[kFieldCount] = {
    "name",     "msg",        "args",        "levelname", "levelno",  "pathname", "filename", "module",
    "exc_info", "exc_text",   "stack_info",  "lineno",    "funcName", "created",  "msecs",    "relativeCreated",
    "thread",   "threadName", "processName", "process",   "taskName"};

struct FactoryObject {
  PyObject_HEAD vectorcallfunc vectorcall;
  PyObject* record_type;
  PyObject* logging_dict;             // logging.__dict__ (logThreads... read at each call, as the stdlib does)
  PyObject* level_to_name;            // logging._levelToName
  PyObject* get_level_name;           // logging.getLevelName as installed
  PyObject* current_thread;           // threading.current_thread
  PyObject* active_threads;           // threading._active {ident: Thread}
  PyObject* name_property;            // threading.Thread.name
  PyObject* s_name_attr;              // "_name"
  PyTypeObject* plain_thread_type;    // a thread class whose `name` is Thread's property...
  unsigned int plain_thread_version;  // ...as long as its tp_version_tag is unchanged
  uint64_t pid_generation;
  PyObject* sys_modules;
  PyObject* field_names[kFieldCount];  // interned
  uint8_t order[kFieldCount];
  int nfields;
  bool ns_mode;    // Python 3.13+: time_ns based
  bool int_msecs;  // msecs = int(...) + 0.0 (gh-89047)
  double start_time;
  long long start_time_ns;
  PyObject* s_logThreads;
  PyObject* s_logMultiprocessing;
  PyObject* s_logProcesses;
  PyObject* s_logAsyncioTasks;
  PyObject* s_getLevelName;
  PyObject* s_multiprocessing;
  PyObject* s_asyncio;
  PyObject* s_current_process;
  PyObject* s_get_running_loop;
  PyObject* s_current_task;
  PyObject* s_get_name;
  PyObject* main_process;  // "MainProcess"
  PyObject* unknown_module;
  uint32_t present;  // bit k: field k is one of this Python's LogRecord attributes
  // isinstance(x, collections.abc.Mapping) of a few builtin types, remembered while abc's
  // cache token (abc.get_cache_token(), changed by every ABC.register) stays the same.
  PyObject* get_cache_token;  // _abc.get_cache_token, or nullptr: no memo
  unsigned long long abc_token;
  int8_t mapping_memo[8];  // -1 unknown, else the answer for kMemoTypes[i]
  // Values that many records share (immutable, so sharing them is invisible): the
  // filename and module of a pathname, the current thread's ident, the pid.
  PyObject* path_cache;      // {pathname str: (filename, module)}
  uint64_t logging_version;  // logging_flags() memo (Python <= 3.11)
  uint8_t flags;
  bool flags_valid;
  uint64_t modules_version;  // multiprocessing known to be absent from sys.modules (Python <= 3.11)
  bool no_multiprocessing;
  unsigned long ident_value;
  PyObject* ident;
  PyObject* pid_obj;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
PyTypeObject FactoryType = {PyVarObject_HEAD_INIT(nullptr, 0)};
#pragma GCC diagnostic pop

enum LoggingFlag : uint8_t {
  kLogThreads = 1,
  kLogMultiprocessing = 2,
  kLogProcesses = 4,
  kLogAsyncioTasks = 8,
  kOriginalGetLevelName = 16,  // logging.getLevelName is the function the factory was made with
};

// logging's switches (a missing one counts as on) and whether getLevelName is the original,
// as LogRecord.__init__ reads them from logging's globals at each call; remembered while the
// globals are unchanged and the switches plain bools or ints (whose truth cannot change).
uint8_t logging_flags(FactoryObject* f) {
  if (kDictVersions && f->flags_valid && f->logging_version == dict_version(f->logging_dict)) return f->flags;
  const std::pair<PyObject*, uint8_t> switches[] = {{f->s_logThreads, kLogThreads},
                                                    {f->s_logMultiprocessing, kLogMultiprocessing},
                                                    {f->s_logProcesses, kLogProcesses},
                                                    {f->s_logAsyncioTasks, kLogAsyncioTasks}};
  uint8_t flags = 0;
  bool plain = true;
  for (const auto& [name, bit] : switches) {
    PyObject* v = PyDict_GetItemWithError(f->logging_dict, name);
    if (v == nullptr) {
      PyErr_Clear();
      flags |= bit;
      continue;
    }
    plain = plain && (PyBool_Check(v) || PyLong_CheckExact(v));
    const int t = PyObject_IsTrue(v);
    if (t < 0) PyErr_Clear();
    if (t != 0) flags |= bit;
  }
  PyObject* gln = PyDict_GetItemWithError(f->logging_dict, f->s_getLevelName);
  if (gln == nullptr) PyErr_Clear();
  if (gln == f->get_level_name) flags |= kOriginalGetLevelName;
  if (kDictVersions) {
    f->flags = flags;
    f->flags_valid = plain;
    f->logging_version = dict_version(f->logging_dict);
  }
  return flags;
}

// sys.modules.get(name) (a new reference), or nullptr (no error). Without multiprocessing
// (which LogRecord asks for the process name), that answer is remembered while sys.modules
// is unchanged.
PyObject* loaded_module(FactoryObject* f, PyObject* name) {
  const bool memo = kDictVersions && name == f->s_multiprocessing;
  if (memo && f->no_multiprocessing && f->modules_version == dict_version(f->sys_modules)) return nullptr;
  PyObject* m = PyDict_GetItemWithError(f->sys_modules, name);
  if (m == nullptr) PyErr_Clear();
  if (memo) {
    f->no_multiprocessing = m == nullptr;
    f->modules_version = dict_version(f->sys_modules);
  }
  Py_XINCREF(m);
  return m;
}

// os.path.basename and os.path.splitext(...)[0] of a POSIX path (posixpath semantics).
bool split_path(PyObject* path, PyObject** filename, PyObject** module) {
  const Py_ssize_t n = PyUnicode_GET_LENGTH(path);
  const Py_ssize_t slash = PyUnicode_FindChar(path, '/', 0, n, -1);
  if (slash == -2) return false;
  const Py_ssize_t start = slash + 1;
  *filename = PyUnicode_Substring(path, start, n);
  if (*filename == nullptr) return false;
  // splitext: the last dot after the last separator, unless the name is only leading dots.
  const Py_ssize_t fn = n - start;
  const Py_ssize_t dot = PyUnicode_FindChar(*filename, '.', 0, fn, -1);
  Py_ssize_t cut = fn;
  if (dot > 0) {
    for (Py_ssize_t i = 0; i < dot; ++i) {
      if (PyUnicode_READ_CHAR(*filename, i) != '.') {
        cut = dot;
        break;
      }
    }
  }
  *module = PyUnicode_Substring(*filename, 0, cut);
  if (*module == nullptr) {
    Py_CLEAR(*filename);
    return false;
  }
  return true;
}

PyObject* call_name_of(PyObject* obj, PyObject* method) {
  // obj.method().name / get_name(); nullptr (no error) on failure.
  PyObject* r = PyObject_CallMethodNoArgs(obj, method);
  if (r == nullptr) PyErr_Clear();
  return r;
}

// isinstance(o, collections.abc.Mapping), as LogRecord.__init__ asks it of a lone argument.
// The ABC's answer for an exact builtin type only changes when some ABC's registry does,
// which changes abc's cache token (CPython's own negative cache relies on the same), so for
// these types it is asked once per token instead of going through ABCMeta.__instancecheck__.
int is_mapping(FactoryObject* f, PyObject* o) {
  if (PyDict_Check(o)) return 1;
  static PyTypeObject* const kMemoTypes[8] = {&PyUnicode_Type, &PyLong_Type,  &PyFloat_Type, &PyBool_Type,
                                              &PyBytes_Type,   &PyTuple_Type, &PyList_Type,  Py_TYPE(Py_None)};
  int slot = -1;
  for (int i = 0; i < 8; ++i) {
    if (Py_TYPE(o) == kMemoTypes[i]) slot = i;
  }
  if (!kRecordCaches || slot < 0 || f->get_cache_token == nullptr) return PyObject_IsInstance(o, g_mapping_abc);
  PyObject* token = PyObject_CallNoArgs(f->get_cache_token);
  const unsigned long long t = token != nullptr && PyLong_Check(token) ? PyLong_AsUnsignedLongLong(token) : ~0ULL;
  Py_XDECREF(token);
  if (t == ~0ULL) {
    PyErr_Clear();
    return PyObject_IsInstance(o, g_mapping_abc);
  }
  if (t != f->abc_token) {
    f->abc_token = t;
    std::memset(f->mapping_memo, -1, sizeof f->mapping_memo);
  }
  if (f->mapping_memo[slot] >= 0) return f->mapping_memo[slot];
  const int r = PyObject_IsInstance(o, g_mapping_abc);
  if (r >= 0) f->mapping_memo[slot] = static_cast<int8_t>(r);
  return r;
}

// filename and module of a str pathname (new references), remembered per pathname.
bool path_parts(FactoryObject* f, PyObject* pathname, PyObject** filename, PyObject** module) {
  if (kRecordCaches && f->path_cache != nullptr) {
    PyObject* hit = PyDict_GetItemWithError(f->path_cache, pathname);
    if (hit != nullptr) {
      *filename = new_ref(PyTuple_GET_ITEM(hit, 0));
      *module = new_ref(PyTuple_GET_ITEM(hit, 1));
      return true;
    }
    PyErr_Clear();
  }
  if (!split_path(pathname, filename, module)) return false;
  if (kRecordCaches && f->path_cache != nullptr) {
    if (PyDict_GET_SIZE(f->path_cache) >= 512) PyDict_Clear(f->path_cache);
    PyObject* entry = PyTuple_Pack(2, *filename, *module);
    if (entry == nullptr || PyDict_SetItem(f->path_cache, pathname, entry) < 0) PyErr_Clear();
    Py_XDECREF(entry);
  }
  return true;
}

// threading.get_ident() as an int (a new reference).
PyObject* thread_ident(FactoryObject* f) {
  const unsigned long id = PyThread_get_thread_ident();
  if (!kRecordCaches) return PyLong_FromUnsignedLong(id);
  if (f->ident == nullptr || f->ident_value != id) {
    PyObject* o = PyLong_FromUnsignedLong(id);
    if (o == nullptr) return nullptr;
    Py_XSETREF(f->ident, o);
    f->ident_value = id;
  }
  return new_ref(f->ident);
}

PyObject* factory_vectorcall(PyObject* self, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  FactoryObject* f = reinterpret_cast<FactoryObject*>(self);
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  // (name, level, pathname, lineno, msg, args, exc_info, func=None, sinfo=None, **kwargs)
  PyObject* a[9] = {};
  for (Py_ssize_t i = 0; i < nargs && i < 9; ++i) a[i] = args[i];
  if (kwnames != nullptr) {
    static const char* names[9] = {"name", "level", "pathname", "lineno", "msg", "args", "exc_info", "func", "sinfo"};
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(kwnames); ++j) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, j);
      for (int k = 0; k < 9; ++k) {
        if (PyUnicode_CompareWithASCIIString(key, names[k]) == 0) a[k] = args[nargs + j];
      }
    }
  }
  for (int k = 0; k < 7; ++k) {
    if (a[k] == nullptr) {
      PyErr_SetString(PyExc_TypeError, "LogRecord() missing required arguments");
      return nullptr;
    }
  }
  const uint64_t ns = now_ns();
  PyObject* v[kFieldCount] = {};
  auto set = [&](Field k, PyObject* o) { v[k] = o; };  // takes a new reference
  auto wanted = [f](Field k) { return ((f->present >> k) & 1U) != 0; };
  auto release_all = [&]() -> PyObject* {
    for (PyObject* o : v) Py_XDECREF(o);
    return nullptr;
  };
  auto ref = [](PyObject* o) {
    Py_INCREF(o);
    return o;
  };
  PyObject* level = a[1];
  PyObject* pathname = a[2];
  PyObject* record_args = a[5];
  set(kName, ref(a[0]));
  set(kMsg, ref(a[4]));
  // args: a single non-empty mapping in a tuple is used directly.
  if (PyTuple_Check(record_args) && PyTuple_GET_SIZE(record_args) == 1) {
    PyObject* first = PyTuple_GET_ITEM(record_args, 0);
    int is_map = is_mapping(f, first);
    if (is_map < 0) return release_all();
    if (is_map == 1) {
      int non_empty = PyObject_IsTrue(first);
      if (non_empty < 0) return release_all();
      if (non_empty) record_args = first;
    }
  } else if (!PyTuple_Check(record_args)) {
    int truth = PyObject_IsTrue(record_args);
    if (truth < 0) return release_all();
    if (truth) {
      Py_ssize_t n = PyObject_Length(record_args);
      if (n < 0) {
        PyErr_Clear();
      } else if (n == 1) {
        PyObject* first = PySequence_GetItem(record_args, 0);
        if (first == nullptr) return release_all();
        int is_map = PyObject_IsInstance(first, g_mapping_abc);
        int non_empty = is_map == 1 ? PyObject_IsTrue(first) : 0;
        if (is_map < 0 || non_empty < 0) {
          Py_DECREF(first);
          return release_all();
        }
        if (non_empty) {
          PyObject* o = first;
          set(kArgs, o);
        } else {
          Py_DECREF(first);
        }
      }
    }
  }
  if (v[kArgs] == nullptr) set(kArgs, ref(record_args));
  // levelname: getLevelName(level)
  uint8_t flags = logging_flags(f);
  PyObject* levelname = nullptr;
  if ((flags & kOriginalGetLevelName) != 0 && PyLong_CheckExact(level)) {
    levelname = PyDict_GetItemWithError(f->level_to_name, level);
    Py_XINCREF(levelname);
  }
  if (levelname == nullptr) {
    PyErr_Clear();
    PyObject* gln = PyDict_GetItemWithError(f->logging_dict, f->s_getLevelName);
    if (gln == nullptr) PyErr_Clear();
    levelname = PyObject_CallOneArg(gln ? gln : f->get_level_name, level);
    flags = logging_flags(f);  // that ran Python code: logging's switches are read after it, as LogRecord does
  }
  if (levelname == nullptr) goto error;
  set(kLevelname, levelname);
  set(kLevelno, ref(level));
  set(kPathname, ref(pathname));
  {
    PyObject *filename = nullptr, *module = nullptr;
    if (PyUnicode_CheckExact(pathname) && path_parts(f, pathname, &filename, &module)) {
      set(kFilename, filename);
      set(kModule, module);
    } else {
      PyErr_Clear();
      set(kFilename, ref(pathname));
      set(kModule, ref(f->unknown_module));
      if (!PyUnicode_CheckExact(pathname)) {
        // Not a str: the stdlib's os.path functions decide (bytes, PathLike...).
        PyObject* os_path = PyImport_ImportModule("os.path");
        PyObject* fn = os_path ? PyObject_CallMethod(os_path, "basename", "O", pathname) : nullptr;
        PyObject* sp = fn ? PyObject_CallMethod(os_path, "splitext", "O", fn) : nullptr;
        if (sp != nullptr && PyTuple_Check(sp) && PyTuple_GET_SIZE(sp) == 2) {
          Py_SETREF(v[kFilename], fn);
          fn = nullptr;
          Py_SETREF(v[kModule], ref(PyTuple_GET_ITEM(sp, 0)));
        }
        PyErr_Clear();
        Py_XDECREF(fn);
        Py_XDECREF(sp);
        Py_XDECREF(os_path);
      }
    }
  }
  set(kExcInfo, ref(a[6]));
  set(kExcText, ref(Py_None));
  set(kStackInfo, ref(a[8] ? a[8] : Py_None));
  set(kLineno, ref(a[3]));
  set(kFuncName, ref(a[7] ? a[7] : Py_None));
  if (f->ns_mode) {
    const double created = static_cast<double>(ns) / 1e9;
    double msecs = static_cast<double>((ns % 1000000000ULL) / 1000000ULL);
    if (msecs == 999.0 && static_cast<long long>(created) != static_cast<long long>(ns / 1000000000ULL)) msecs = 0.0;
    set(kCreated, PyFloat_FromDouble(created));
    set(kMsecs, PyFloat_FromDouble(msecs));
    set(kRelativeCreated, PyFloat_FromDouble(static_cast<double>(static_cast<long long>(ns) - f->start_time_ns) / 1e6));
  } else {
    // time.time(): whole seconds exactly, else nanoseconds / 1e9.
    const double ct = ns % 1000000000ULL == 0 ? static_cast<double>(ns / 1000000000ULL) : static_cast<double>(ns) / 1e9;
    const double frac = ct - static_cast<double>(static_cast<long long>(ct));
    const double msecs = f->int_msecs ? static_cast<double>(static_cast<long long>(frac * 1000)) + 0.0 : frac * 1000;
    set(kCreated, PyFloat_FromDouble(ct));
    set(kMsecs, PyFloat_FromDouble(msecs));
    set(kRelativeCreated, PyFloat_FromDouble((ct - f->start_time) * 1000));
  }
  if ((flags & kLogThreads) != 0) {
    PyObject* ident = thread_ident(f);
    if (ident == nullptr) goto error;
    set(kThread, ident);
    // threading.current_thread().name, without running Python code in the usual case: the
    // thread registered under this ident, whose `name` is Thread's own property (_name).
    PyObject* name = nullptr;
    PyObject* t = f->active_threads ? PyDict_GetItemWithError(f->active_threads, ident) : nullptr;
    if (t != nullptr) {
      PyTypeObject* tt = Py_TYPE(t);
      bool plain =
          tt == f->plain_thread_type && tt->tp_version_tag != 0 && tt->tp_version_tag == f->plain_thread_version;
      if (!plain) {
        PyObject* prop = PyObject_GetAttr(reinterpret_cast<PyObject*>(tt), g_sn.name);
        plain = prop != nullptr && prop == f->name_property;
        Py_XDECREF(prop);
        PyErr_Clear();
        if (plain && tt->tp_version_tag != 0) {
          f->plain_thread_type = tt;
          f->plain_thread_version = tt->tp_version_tag;
        }
      }
      name = PyObject_GetAttr(t, plain ? f->s_name_attr : g_sn.name);
    } else {
      PyErr_Clear();
      PyObject* cur = PyObject_CallNoArgs(f->current_thread);
      name = cur ? PyObject_GetAttr(cur, g_sn.name) : nullptr;
      Py_XDECREF(cur);
    }
    if (name == nullptr) goto error;
    set(kThreadName, name);
  } else {
    set(kThread, ref(Py_None));
    set(kThreadName, ref(Py_None));
  }
  if (!wanted(kProcessName)) {
    // not an attribute of this Python's records
  } else if ((flags & kLogMultiprocessing) == 0) {
    set(kProcessName, ref(Py_None));
  } else {
    PyObject* name = ref(f->main_process);
    PyObject* mp = loaded_module(f, f->s_multiprocessing);
    if (mp != nullptr && mp != Py_None) {
      PyObject* proc = call_name_of(mp, f->s_current_process);
      PyObject* pname = proc ? PyObject_GetAttr(proc, g_sn.name) : nullptr;
      if (pname != nullptr) Py_SETREF(name, pname);
      PyErr_Clear();
      Py_XDECREF(proc);
    }
    Py_XDECREF(mp);
    PyErr_Clear();
    set(kProcessName, name);
  }
  if ((flags & kLogProcesses) != 0) {
    const uint64_t gen = fork_generation();
    if (!kRecordCaches) {
      set(kProcess, PyLong_FromLong(static_cast<long>(::getpid())));
    } else {
      if (f->pid_generation != gen || f->pid_obj == nullptr) {
        PyObject* pid = PyLong_FromLong(static_cast<long>(::getpid()));
        if (pid == nullptr) goto error;
        Py_XSETREF(f->pid_obj, pid);
        f->pid_generation = gen;
      }
      set(kProcess, new_ref(f->pid_obj));
    }
  } else {
    set(kProcess, ref(Py_None));
  }
  if (wanted(kTaskName)) {
    PyObject* task_name = ref(Py_None);
    if ((flags & kLogAsyncioTasks) != 0) {
      PyObject* aio = loaded_module(f, f->s_asyncio);
      if (aio != nullptr && PyObject_IsTrue(aio) == 1) {
        // asyncio.current_task() raises without a running loop (name stays None); asking for
        // the running loop first gives the same result without the exception.
        PyObject* loop = call_name_of(aio, f->s_get_running_loop);
        if (loop != nullptr && loop != Py_None) {
          PyObject* task = call_name_of(aio, f->s_current_task);
          PyObject* tname = task && task != Py_None ? call_name_of(task, f->s_get_name) : nullptr;
          if (tname != nullptr) Py_SETREF(task_name, tname);
          Py_XDECREF(task);
        }
        Py_XDECREF(loop);
      }
      Py_XDECREF(aio);
      PyErr_Clear();
    }
    set(kTaskName, task_name);
  }
  for (PyObject* o : v) {
    if (o == nullptr && PyErr_Occurred()) goto error;
  }
  {
    PyTypeObject* type = reinterpret_cast<PyTypeObject*>(f->record_type);
    PyObject* rec = type->tp_new(type, g_api.empty_tuple, nullptr);
    if (rec == nullptr) goto error;
    PyObject* d = PyObject_GenericGetDict(rec, nullptr);
    if (d == nullptr) {
      Py_DECREF(rec);
      goto error;
    }
    for (int i = 0; i < f->nfields; ++i) {
      const uint8_t k = f->order[i];
      if (v[k] == nullptr || PyDict_SetItem(d, f->field_names[k], v[k]) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "LogRecordFactory: missing field");
        Py_DECREF(d);
        Py_DECREF(rec);
        goto error;
      }
    }
    if (kDictVersions) {
      static constexpr Field of[mCount] = {kName,     kMsg,      kArgs,   kLevelno, kLevelname,
                                           kPathname, kFuncName, kLineno, kExcInfo, kCreated};
      bool all = true;
      for (Field k : of) all = all && wanted(k);
      RecordMemo& m = g_record_memo;
      m.dict = all ? d : nullptr;
      m.version = dict_version(d);
      for (int i = 0; i < mCount; ++i) m.v[i] = v[of[i]];  // borrowed: the dict holds them
    }
    Py_DECREF(d);
    for (PyObject* o : v) Py_XDECREF(o);
    return rec;
  }
error:
  for (PyObject* o : v) Py_XDECREF(o);
  return nullptr;
}

PyObject* factory_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {"record_type", "logging_module", "field_order", "ns_mode", "int_msecs", nullptr};
  PyObject *record_type, *logging_module, *order;
  int ns_mode = 0, int_msecs = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!pp", const_cast<char**>(kw), &record_type, &logging_module,
                                   &PyTuple_Type, &order, &ns_mode, &int_msecs)) {
    return nullptr;
  }
  if (!PyType_Check(record_type)) {
    PyErr_SetString(PyExc_TypeError, "record_type must be a class");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  FactoryObject* f = reinterpret_cast<FactoryObject*>(type->tp_alloc(type, 0));
  if (f == nullptr) return nullptr;
  f->vectorcall = factory_vectorcall;
  Py_INCREF(record_type);
  f->record_type = record_type;
  auto fail = [&]() -> PyObject* {
    Py_DECREF(f);
    return nullptr;
  };
  f->logging_dict = PyObject_GenericGetDict(logging_module, nullptr);
  if (f->logging_dict == nullptr) return fail();
  f->level_to_name = PyObject_GetAttrString(logging_module, "_levelToName");
  f->get_level_name = PyObject_GetAttrString(logging_module, "getLevelName");
  PyObject* threading = PyImport_ImportModule("threading");
  f->current_thread = threading ? PyObject_GetAttrString(threading, "current_thread") : nullptr;
  f->active_threads = threading ? PyObject_GetAttrString(threading, "_active") : nullptr;
  PyObject* thread_class = threading ? PyObject_GetAttrString(threading, "Thread") : nullptr;
  f->name_property = thread_class ? PyObject_GetAttrString(thread_class, "name") : nullptr;
  Py_XDECREF(thread_class);
  if (f->active_threads != nullptr && !PyDict_Check(f->active_threads)) Py_CLEAR(f->active_threads);
  PyErr_Clear();
  f->s_name_attr = PyUnicode_InternFromString("_name");
  Py_XDECREF(threading);
  f->sys_modules = PyImport_GetModuleDict();
  Py_XINCREF(f->sys_modules);
  PyObject* start = PyObject_GetAttrString(logging_module, "_startTime");
  if (f->level_to_name == nullptr || f->get_level_name == nullptr || f->current_thread == nullptr ||
      f->sys_modules == nullptr || start == nullptr) {
    Py_XDECREF(start);
    return fail();
  }
  f->ns_mode = ns_mode != 0;
  f->int_msecs = int_msecs != 0;
  if (f->ns_mode) {
    f->start_time_ns = PyLong_AsLongLong(start);
  } else {
    f->start_time = PyFloat_AsDouble(start);
  }
  Py_DECREF(start);
  if (PyErr_Occurred()) return fail();
  for (int k = 0; k < kFieldCount; ++k) f->field_names[k] = PyUnicode_InternFromString(kFieldNames[k]);
  const Py_ssize_t n = PyTuple_GET_SIZE(order);
  if (n > kFieldCount) {
    PyErr_SetString(PyExc_ValueError, "field_order: too many fields");
    return fail();
  }
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* name = PyTuple_GET_ITEM(order, i);
    int found = -1;
    for (int k = 0; k < kFieldCount; ++k) {
      if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, kFieldNames[k]) == 0) found = k;
    }
    if (found < 0) {
      PyErr_Format(PyExc_ValueError, "field_order: unknown LogRecord field %R", name);
      return fail();
    }
    f->order[i] = static_cast<uint8_t>(found);
    f->present |= 1U << found;
  }
  f->nfields = static_cast<int>(n);
  f->s_logThreads = PyUnicode_InternFromString("logThreads");
  f->s_logMultiprocessing = PyUnicode_InternFromString("logMultiprocessing");
  f->s_logProcesses = PyUnicode_InternFromString("logProcesses");
  f->s_logAsyncioTasks = PyUnicode_InternFromString("logAsyncioTasks");
  f->s_getLevelName = PyUnicode_InternFromString("getLevelName");
  f->s_multiprocessing = PyUnicode_InternFromString("multiprocessing");
  f->s_asyncio = PyUnicode_InternFromString("asyncio");
  f->s_current_process = PyUnicode_InternFromString("current_process");
  f->s_get_running_loop = PyUnicode_InternFromString("_get_running_loop");
  f->s_current_task = PyUnicode_InternFromString("current_task");
  f->s_get_name = PyUnicode_InternFromString("get_name");
  f->main_process = PyUnicode_InternFromString("MainProcess");
  f->unknown_module = PyUnicode_InternFromString("Unknown module");
  if (PyErr_Occurred()) return fail();
  std::memset(f->mapping_memo, -1, sizeof f->mapping_memo);
  PyObject* abc = PyImport_ImportModule("_abc");
  f->get_cache_token = abc ? PyObject_GetAttrString(abc, "get_cache_token") : nullptr;
  Py_XDECREF(abc);
  PyErr_Clear();
  if (kRecordCaches) {
    f->path_cache = PyDict_New();
    if (f->path_cache == nullptr) return fail();
  }
  return reinterpret_cast<PyObject*>(f);
}

void factory_dealloc(PyObject* self) {
  FactoryObject* f = reinterpret_cast<FactoryObject*>(self);
  Py_XDECREF(f->record_type);
  Py_XDECREF(f->logging_dict);
  Py_XDECREF(f->level_to_name);
  Py_XDECREF(f->get_level_name);
  Py_XDECREF(f->current_thread);
  Py_XDECREF(f->active_threads);
  Py_XDECREF(f->name_property);
  Py_XDECREF(f->sys_modules);
  Py_XDECREF(f->get_cache_token);
  Py_XDECREF(f->path_cache);
  Py_XDECREF(f->ident);
  Py_XDECREF(f->pid_obj);
  Py_TYPE(self)->tp_free(self);  // interned names live for the process
}

}  // namespace

void bind_logs(nb::module_& m) {
  LoggerType.tp_name = "otlp_mmap._native.Logger";
  LoggerType.tp_basicsize = sizeof(LoggerObject);
  LoggerType.tp_flags = Py_TPFLAGS_DEFAULT;
  LoggerType.tp_doc = "A logger writing log records into an otlp-mmap file (opentelemetry._logs.Logger).";
  LoggerType.tp_new = logger_new;
  LoggerType.tp_dealloc = logger_dealloc;
  LoggerType.tp_methods = logger_methods;
  LoggerType.tp_getset = logger_getset;
  LoggerType.tp_repr = logger_repr;
  LoggerType.tp_weaklistoffset = offsetof(LoggerObject, weakreflist);
  if (PyType_Ready(&LoggerType) < 0) throw_current();
  m.attr("Logger") = nb::borrow(reinterpret_cast<PyObject*>(&LoggerType));

  BridgeType.tp_name = "otlp_mmap._native.LogBridge";
  BridgeType.tp_basicsize = sizeof(BridgeObject);
  BridgeType.tp_flags = Py_TPFLAGS_DEFAULT;
  BridgeType.tp_doc = "The native core of otlp_mmap.sdk.logs.LoggingHandler.";
  BridgeType.tp_new = bridge_new;
  BridgeType.tp_dealloc = bridge_dealloc;
  BridgeType.tp_methods = bridge_methods;
  if (PyType_Ready(&BridgeType) < 0) throw_current();
  m.attr("LogBridge") = nb::borrow(reinterpret_cast<PyObject*>(&BridgeType));

  FactoryType.tp_name = "otlp_mmap._native.LogRecordFactory";
  FactoryType.tp_basicsize = sizeof(FactoryObject);
  FactoryType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL;
  FactoryType.tp_doc = "A native logging.LogRecord factory (logging.setLogRecordFactory), same records, faster.";
  FactoryType.tp_new = factory_new;
  FactoryType.tp_dealloc = factory_dealloc;
  FactoryType.tp_call = PyVectorcall_Call;
  FactoryType.tp_vectorcall_offset = offsetof(FactoryObject, vectorcall);
  if (PyType_Ready(&FactoryType) < 0) throw_current();
  m.attr("LogRecordFactory") = nb::borrow(reinterpret_cast<PyObject*>(&FactoryType));
}

}  // namespace otlp_mmap::py::sdk

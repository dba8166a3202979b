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
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "sdk_core.hpp"

namespace otlp_mmap::py::sdk {

namespace {

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
  PyObject* hit = PyDict_GetItemWithError(b->scopes, logger_name);
  if (hit != nullptr) return PyLong_AsLongLong(hit);
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

void bridge_emit(BridgeObject* b, PyObject* record, PyObject* handler) {
  if (!b->enabled) return;
  PyObject* d = PyObject_GenericGetDict(record, nullptr);
  if (d == nullptr) PyErr_Clear();
  if (d != nullptr && !PyDict_Check(d)) Py_CLEAR(d);
  ScratchLease s;
  EventView e;

  PyObject* levelno = dict_get(d, record, g_sn.levelno);
  long level = levelno && PyLong_Check(levelno) ? PyLong_AsLong(levelno) : 0;
  Py_XDECREF(levelno);
  if (level == -1 && PyErr_Occurred()) PyErr_Clear();
  e.severity_number = severity_of_level(level);

  PyObject* levelname = dict_get(d, record, g_sn.levelname);
  if (levelname != nullptr) {
    s->owned.push_back(nb::steal(levelname));
    PyObject* text = levelname;
    if (PyUnicode_Check(levelname)) {
      if (levelname == g_sn.warning_str || PyUnicode_Compare(levelname, g_sn.warning_str) == 0) {
        text = g_sn.warn_str;
      } else if (levelname == g_sn.critical_str || PyUnicode_Compare(levelname, g_sn.critical_str) == 0) {
        text = g_sn.fatal_str;
      }
      Py_ssize_t n = 0;
      const char* p = PyUnicode_AsUTF8AndSize(text, &n);
      if (p != nullptr) e.severity_text = {p, static_cast<size_t>(n)};
    }
    PyErr_Clear();
  }

  // Times: the record's creation time, and now.
  PyObject* created = dict_get(d, record, g_sn.created);
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
  PyObject* formatter = handler ? PyObject_GetAttr(handler, g_sn.formatter) : nullptr;
  if (formatter == nullptr) PyErr_Clear();
  if (formatter != nullptr && formatter != Py_None) {
    body = PyObject_CallMethodOneArg(handler, g_sn.format, record);
  } else {
    PyObject* msg = dict_get(d, record, g_sn.msg);
    PyObject* args = dict_get(d, record, g_sn.args);
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
      // LogRecord.getMessage(): str(msg) % args.
      PyObject* text = PyUnicode_CheckExact(msg) ? (Py_INCREF(msg), msg) : PyObject_Str(msg);
      body = text ? PyUnicode_Format(text, args) : nullptr;
      Py_XDECREF(text);
    } else {
      body = PyObject_CallMethodNoArgs(record, g_sn.getMessage);
    }
    Py_XDECREF(msg);
    Py_XDECREF(args);
  }
  Py_XDECREF(formatter);
  if (body == nullptr) swallow_error("formatting a log message");
  AnyValueView body_view;
  if (body != nullptr) {
    s->owned.push_back(nb::steal(body));
    if (convert_body_lenient(body, *s, body_view, -1)) e.body = &body_view;
  }

  // Scope: the logger's name.
  PyObject* name = dict_get(d, record, g_sn.name);
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
  KeyValueView code_kvs[3];
  size_t ncode = 0;
  if (b->code_attributes) {
    if (b->code_refs[0] == 0) {
      b->code_refs[0] = intern_str(b->w, g_sn.code_file_path);
      b->code_refs[1] = intern_str(b->w, g_sn.code_function_name);
      b->code_refs[2] = intern_str(b->w, g_sn.code_line_number);
    }
    PyObject* path = dict_get(d, record, g_sn.pathname);
    PyObject* func = dict_get(d, record, g_sn.funcName);
    PyObject* line = dict_get(d, record, g_sn.lineno);
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
      code_kvs[ncode].key_ref = b->code_refs[i];
      code_kvs[ncode].value = AnyValueView::string({p, static_cast<size_t>(n)});
      ++ncode;
    };
    add_str(0, path);
    add_str(1, func);
    if (line != nullptr && PyLong_Check(line) && b->code_refs[2] != 0) {
      if (static_cast<int64_t>(ncode) >= room) {
        ++dropped;
      } else {
        code_kvs[ncode].key_ref = b->code_refs[2];
        code_kvs[ncode].value = AnyValueView::integer(PyLong_AsLongLong(line));
        ++ncode;
        PyErr_Clear();
      }
    }
  }
  std::span<const KeyValueView> code{code_kvs, ncode};
  std::span<const KeyValueView> exc;
  PyObject* exc_info = dict_get(d, record, g_sn.exc_info);
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
      Py_XDECREF(d);
      return;
    }
    e.attributes = concat(*s, extra, code, exc);
  } else {
    e.attributes = extra;
  }
  e.dropped_attributes_count = dropped;
  write_record(b->w, *s, e);
  Py_XDECREF(d);
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
  long cached_pid;
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
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
PyTypeObject FactoryType = {PyVarObject_HEAD_INIT(nullptr, 0)};
#pragma GCC diagnostic pop

bool module_flag(FactoryObject* f, PyObject* name, bool dflt) {
  PyObject* v = PyDict_GetItemWithError(f->logging_dict, name);
  if (v == nullptr) {
    PyErr_Clear();
    return dflt;
  }
  int t = PyObject_IsTrue(v);
  if (t < 0) {
    PyErr_Clear();
    return dflt;
  }
  return t != 0;
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
    int is_map = PyDict_Check(first) ? 1 : PyObject_IsInstance(first, g_mapping_abc);
    if (is_map < 0) return nullptr;
    if (is_map == 1) {
      int non_empty = PyObject_IsTrue(first);
      if (non_empty < 0) return nullptr;
      if (non_empty) record_args = first;
    }
  } else if (!PyTuple_Check(record_args)) {
    int truth = PyObject_IsTrue(record_args);
    if (truth < 0) return nullptr;
    if (truth) {
      Py_ssize_t n = PyObject_Length(record_args);
      if (n < 0) {
        PyErr_Clear();
      } else if (n == 1) {
        PyObject* first = PySequence_GetItem(record_args, 0);
        if (first == nullptr) return nullptr;
        int is_map = PyObject_IsInstance(first, g_mapping_abc);
        int non_empty = is_map == 1 ? PyObject_IsTrue(first) : 0;
        if (is_map < 0 || non_empty < 0) {
          Py_DECREF(first);
          return nullptr;
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
  PyObject* gln = PyDict_GetItemWithError(f->logging_dict, f->s_getLevelName);
  PyObject* levelname = nullptr;
  if (gln == f->get_level_name && PyLong_CheckExact(level)) {
    levelname = PyDict_GetItemWithError(f->level_to_name, level);
    Py_XINCREF(levelname);
  }
  if (levelname == nullptr) {
    PyErr_Clear();
    levelname = PyObject_CallOneArg(gln ? gln : f->get_level_name, level);
  }
  if (levelname == nullptr) goto error;
  set(kLevelname, levelname);
  set(kLevelno, ref(level));
  set(kPathname, ref(pathname));
  {
    PyObject *filename = nullptr, *module = nullptr;
    if (PyUnicode_CheckExact(pathname) && split_path(pathname, &filename, &module)) {
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
  if (module_flag(f, f->s_logThreads, true)) {
    PyObject* ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
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
  if (!module_flag(f, f->s_logMultiprocessing, true)) {
    set(kProcessName, ref(Py_None));
  } else {
    PyObject* name = ref(f->main_process);
    PyObject* mp = PyDict_GetItemWithError(f->sys_modules, f->s_multiprocessing);
    if (mp != nullptr && mp != Py_None) {
      PyObject* proc = call_name_of(mp, f->s_current_process);
      PyObject* pname = proc ? PyObject_GetAttr(proc, g_sn.name) : nullptr;
      if (pname != nullptr) Py_SETREF(name, pname);
      PyErr_Clear();
      Py_XDECREF(proc);
    }
    PyErr_Clear();
    set(kProcessName, name);
  }
  if (module_flag(f, f->s_logProcesses, true)) {
    const uint64_t gen = fork_generation();
    if (f->pid_generation != gen || f->cached_pid == 0) {
      f->cached_pid = static_cast<long>(::getpid());
      f->pid_generation = gen;
    }
    set(kProcess, PyLong_FromLong(f->cached_pid));
  } else {
    set(kProcess, ref(Py_None));
  }
  {
    PyObject* task_name = ref(Py_None);
    if (module_flag(f, f->s_logAsyncioTasks, true)) {
      PyObject* aio = PyDict_GetItemWithError(f->sys_modules, f->s_asyncio);
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

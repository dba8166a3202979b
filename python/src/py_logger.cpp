// otlp_mmap._native.Logger: opentelemetry._logs.Logger. emit() takes both call styles of the
// API: a LogRecord positionally, or keywords (timestamp, observed_timestamp, context,
// severity_number, severity_text, body, attributes, event_name, exception). The body is
// written as the body (never interned), the event name as an event name, the caller's
// attributes are never modified.
#include <cstring>

#include "log_internal.hpp"

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
using LoggerRefs = RefFields<LoggerObject, &LoggerObject::writer, &LoggerObject::name, &LoggerObject::version,
                             &LoggerObject::schema_url, &LoggerObject::attributes>;

PyTypeObject LoggerType{};

LoggerObject* as_logger(PyObject* o) { return reinterpret_cast<LoggerObject*>(o); }

int severity_arg(PyObject* v) {
  if (v == nullptr || v == Py_None) return 0;
  Ref n(PyLong_Check(v) ? new_ref(v) : PyObject_GetAttr(v, g_sn.value_attr));
  if (!n) {
    PyErr_Clear();
    return 0;
  }
  const long x = PyLong_Check(n.get()) ? PyLong_AsLong(n.get()) : 0;
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

// o.name, or empty when it is missing or None (no error set).
Ref getattr_or_empty(PyObject* o, PyObject* name) {
  Ref v(PyObject_GetAttr(o, name));
  if (!v) PyErr_Clear();
  if (v.get() == Py_None) v.reset();
  return v;
}

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

// The record's own ids (a LogRecord's trace_id, span_id, trace_flags) into `e`; false when it
// has none that are valid.
bool record_span_context(const EmitArgs& a, EventView& e, SpanContextStorage& storage) {
  if (a.trace_id == nullptr || a.span_id == nullptr) return false;
  Parent p;
  bool found = false;
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
      found = true;
    }
  }
  PyErr_Clear();
  return found;
}

OTLP_MMAP_HOT void logger_emit_impl(LoggerObject* lg, EmitArgs& a) {
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
  if (!record_span_context(a, e, storage)) current_span_context(a.context, e.span_context, storage, false);
  AnyValueView body;
  if (a.body != nullptr && a.body != Py_None && convert_body(a.body, *s, lenient_any(), body)) e.body = &body;
  if (a.event_name != nullptr && PyUnicode_Check(a.event_name) && PyUnicode_GET_LENGTH(a.event_name) > 0) {
    e.event_name_ref = intern_str(lg->w, a.event_name);
  }
  uint32_t dropped = 0;
  if (a.exception != nullptr) {
    // exception.* attributes first; the caller's attributes take precedence.
    Ref merged(PyObject_CallFunctionObjArgs(g_api.exception_attributes, a.exception, Py_None, nullptr));
    if (!merged) {
      swallow_error("exception attributes");
    } else {
      if (a.attributes != nullptr && PyDict_Check(merged.get()) && PyDict_Merge(merged.get(), a.attributes, 1) < 0) {
        swallow_error("log attributes");
      }
      a.attributes = merged.get();
      s->owned.push_back(nb::steal(merged.release()));
    }
  }
  e.attributes = convert_attributes(a.attributes, *s, lenient_any(lg->max_attributes, lg->max_length), &dropped);
  e.dropped_attributes_count = dropped;
  write_record(lg->w, *s, e);
  if (PyErr_Occurred()) swallow_error("Logger.emit");
}

// emit(record): every field from the LogRecord (getattr, so any record type works).
void emit_record(LoggerObject* lg, PyObject* record) {
  PyObject* const names[12] = {
      g_sn.timestamp, g_sn.observed_timestamp, g_sn.context,    g_sn.severity_number, g_sn.severity_text,
      g_sn.body,      g_sn.attributes,         g_sn.event_name, g_sn.exception,       g_sn.trace_id,
      g_sn.span_id,   g_sn.trace_flags};
  Ref owned[12];
  for (int i = 0; i < 12; ++i) owned[i] = getattr_or_empty(record, names[i]);
  EmitArgs a;
  PyObject** fields[12] = {&a.timestamp,     &a.observed, &a.context,    &a.severity_number,
                           &a.severity_text, &a.body,     &a.attributes, &a.event_name,
                           &a.exception,     &a.trace_id, &a.span_id,    &a.trace_flags};
  for (int i = 0; i < 12; ++i) *fields[i] = owned[i].get();
  logger_emit_impl(lg, a);
}

OTLP_MMAP_HOT PyObject* logger_emit(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* v[10];
  if (!parse_args("emit", args, nargs, kwnames,
                  {g_sn.record, g_sn.timestamp, g_sn.observed_timestamp, g_sn.context, g_sn.severity_number,
                   g_sn.severity_text, g_sn.body, g_sn.attributes, g_sn.event_name, g_sn.exception},
                  1, v)) {
    return nullptr;
  }
  LoggerObject* lg = as_logger(self);
  if (!lg->enabled) Py_RETURN_NONE;
  PyObject* record = v[0];
  if (record != nullptr && record != Py_None) {
    emit_record(lg, record);
    Py_RETURN_NONE;
  }
  auto opt = [](PyObject* o) { return o == Py_None ? nullptr : o; };
  EmitArgs a;
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
  return PyBool_FromLong(as_logger(self)->enabled);
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
  if (!ensure_ready()) return nullptr;
  Ref self(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  LoggerObject* lg = as_logger(self.get());
  if (!take_writer(writer, lg->writer, lg->w)) return nullptr;
  lg->scope_ref = ref;
  lg->max_attributes = max_attrs;
  lg->max_length = max_len;
  lg->enabled = true;
  assign(lg->name, name);
  assign(lg->version, version);
  assign(lg->schema_url, schema_url);
  assign(lg->attributes, attributes);
  return self.release();
}

PyObject* logger_get(PyObject* self, void* which) {
  LoggerObject* lg = as_logger(self);
  switch (reinterpret_cast<intptr_t>(which)) {
    case 0: return new_ref(lg->name);
    case 1: return new_ref(lg->version);
    case 2: return new_ref(lg->schema_url);
    case 3: return new_ref(lg->attributes);
    default: return PyLong_FromLongLong(lg->scope_ref);
  }
}

PyObject* logger_repr(PyObject* self) {
  return PyUnicode_FromFormat("otlp_mmap.Logger(name=%R)", as_logger(self)->name);
}

PyMethodDef logger_methods[] = {
    {"emit", fastcall(logger_emit), METH_FASTCALL | METH_KEYWORDS,
     "emit(record=None, *, timestamp=None, observed_timestamp=None, context=None, severity_number=None, "
     "severity_text=None, body=None, attributes=None, event_name=None, exception=None)"},
    {"enabled", fastcall(logger_enabled), METH_FASTCALL | METH_KEYWORDS,
     "enabled(*, context=None, severity_number=None, event_name=None)"},
    {"_set_scope_ref", set_ref<LoggerObject, &LoggerObject::scope_ref>, METH_O,
     "Writes later records under another scope (after fork)."},
    {"_set_enabled", set_enabled<LoggerObject>, METH_O, "False: records are dropped (shutdown)."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef logger_getset[] = {{"name", logger_get, nullptr, "Scope name.", reinterpret_cast<void*>(0)},
                               {"version", logger_get, nullptr, "Scope version.", reinterpret_cast<void*>(1)},
                               {"schema_url", logger_get, nullptr, "Scope schema URL.", reinterpret_cast<void*>(2)},
                               {"attributes", logger_get, nullptr, "Scope attributes.", reinterpret_cast<void*>(3)},
                               {"scope_ref", logger_get, nullptr, "Scope reference.", reinterpret_cast<void*>(4)},
                               {nullptr, nullptr, nullptr, nullptr, nullptr}};

}  // namespace

void bind_logger(nb::module_& m) {
  define_type<LoggerObject, LoggerRefs>(
      m, LoggerType,
      {.name = "otlp_mmap._native.Logger",
       .doc = "A logger writing log records into an otlp-mmap file (opentelemetry._logs.Logger).",
       .methods = logger_methods,
       .getset = logger_getset,
       .tp_new = logger_new,
       .repr = logger_repr});
}

}  // namespace otlp_mmap::py::sdk

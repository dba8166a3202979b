// otlp_mmap._native.Tracer: start_span and start_as_current_span (see span_internal.hpp),
// with the sampler, limits and scope its TracerProvider gave it.
#include "span_internal.hpp"

namespace otlp_mmap::py::sdk {

namespace {

PyTypeObject TracerType{};

TracerObject* as_tracer(PyObject* o) { return reinterpret_cast<TracerObject*>(o); }

OTLP_MMAP_HOT PyObject* tracer_start_span(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[9];
  if (!parse_args("start_span", args, nargs, kwnames, SPAN_ARG_NAMES, 8, a)) return nullptr;
  if (a[8] != nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_span() got an unexpected keyword argument 'end_on_exit'");
    return nullptr;
  }
  if (a[0] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_span() missing required argument 'name'");
    return nullptr;
  }
  int rec = truthy(a[6], true), st = truthy(a[7], true);
  if (rec < 0 || st < 0) return nullptr;
  return tracer_start(as_tracer(self), a[0], a[1], a[2], a[3], a[4], a[5], rec != 0, st != 0, nullptr);
}

PyObject* tracer_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {"writer",
                             "scope_ref",
                             "sampler",
                             "parent_based",
                             "ratio",
                             "custom_sampler",
                             "max_attributes",
                             "max_events",
                             "max_links",
                             "max_event_attributes",
                             "max_link_attributes",
                             "max_span_attribute_length",
                             "max_attribute_length",
                             "name",
                             "version",
                             "id_generator",
                             nullptr};
  PyObject* writer = nullptr;
  long long scope_ref = 0;
  int sampler = 0, parent_based = 1;
  double ratio = 1.0;
  PyObject* custom = Py_None;
  long long lim[7] = {128, 128, 128, 128, 128, -1, -1};
  PyObject* name = nullptr;
  PyObject* version = Py_None;
  PyObject* id_generator = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OL|ipdOLLLLLLLUOO", const_cast<char**>(kw), &writer, &scope_ref,
                                   &sampler, &parent_based, &ratio, &custom, &lim[0], &lim[1], &lim[2], &lim[3],
                                   &lim[4], &lim[5], &lim[6], &name, &version, &id_generator)) {
    return nullptr;
  }
  if (sampler < 0 || sampler > 2) {
    PyErr_SetString(PyExc_ValueError, "Tracer: sampler must be 0 (always_on), 1 (always_off) or 2 (traceidratio)");
    return nullptr;
  }
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    PyErr_SetString(PyExc_ValueError, "Tracer: ratio must be in [0, 1]");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  Ref self(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  TracerObject* t = as_tracer(self.get());
  if (!take_writer(writer, t->writer, t->w)) return nullptr;
  t->scope_ref = scope_ref;
  t->sampler_root = static_cast<uint8_t>(sampler);
  t->parent_based = parent_based != 0;
  t->enabled = true;
  // round(ratio * 2**64), as the official TraceIdRatioBased.
  const long double b = static_cast<long double>(ratio) * 18446744073709551616.0L + 0.5L;
  if (b >= 18446744073709551616.0L) {
    t->sample_all = true;
  } else {
    t->bound = static_cast<uint64_t>(b);
  }
  assign(t->py_sampler, custom == Py_None ? nullptr : custom);
  assign(t->id_generator, id_generator == Py_None ? nullptr : id_generator);
  t->max_attributes = lim[0];
  t->max_events = lim[1];
  t->max_links = lim[2];
  t->max_event_attributes = lim[3];
  t->max_link_attributes = lim[4];
  t->max_span_attribute_length = lim[5];
  t->max_attribute_length = lim[6];
  t->name = name != nullptr ? new_ref(name) : PyUnicode_FromString("");
  assign(t->version, version);
  return self.release();
}

// _set_processor(hub) and _set_info(info): None clears.
template <PyObject* TracerObject::*Field>
PyObject* tracer_set(PyObject* self, PyObject* arg) {
  assign(as_tracer(self)->*Field, arg == Py_None ? nullptr : arg);
  Py_RETURN_NONE;
}

PyObject* tracer_get(PyObject* self, void* which) {
  TracerObject* t = as_tracer(self);
  switch (reinterpret_cast<intptr_t>(which)) {
    case 0: return PyLong_FromLongLong(t->scope_ref);
    case 1: return new_ref(t->name);
    case 2: return new_ref(t->version);
    default: return PyBool_FromLong(t->enabled);
  }
}

PyObject* tracer_repr(PyObject* self) {
  TracerObject* t = as_tracer(self);
  return PyUnicode_FromFormat("otlp_mmap.Tracer(name=%R, version=%R)", t->name, t->version);
}

PyMethodDef tracer_methods[] = {
    {"start_span", fastcall(tracer_start_span), METH_FASTCALL | METH_KEYWORDS,
     "start_span(name, context=None, kind=SpanKind.INTERNAL, attributes=None, links=None, start_time=None, "
     "record_exception=True, set_status_on_exception=True)"},
    {"start_as_current_span", fastcall(tracer_start_as_current_span), METH_FASTCALL | METH_KEYWORDS,
     "start_as_current_span(name, context=None, kind=SpanKind.INTERNAL, attributes=None, links=None, "
     "start_time=None, record_exception=True, set_status_on_exception=True, end_on_exit=True): a context manager "
     "(also a decorator)"},
    {"_set_scope_ref", set_ref<TracerObject, &TracerObject::scope_ref>, METH_O,
     "Writes later spans under another scope (after fork)."},
    {"_set_enabled", set_enabled<TracerObject>, METH_O, "False: spans are no longer recorded (shutdown)."},
    {"_set_processor", tracer_set<&TracerObject::processor>, METH_O,
     "The span processor hub (on_start(span, context), on_end(span)) of later spans, or None."},
    {"_set_info", tracer_set<&TracerObject::info>, METH_O,
     "What spans' resource, instrumentation_scope, events and links come from (attributes resource, "
     "instrumentation_scope; methods events(raw), links(raw))."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef tracer_getset[] = {
    {"scope_ref", tracer_get, nullptr, "Dictionary reference of the instrumentation scope.",
     reinterpret_cast<void*>(0)},
    {"name", tracer_get, nullptr, "Instrumentation scope name.", reinterpret_cast<void*>(1)},
    {"version", tracer_get, nullptr, "Instrumentation scope version.", reinterpret_cast<void*>(2)},
    {"enabled", tracer_get, nullptr, "Whether spans are recorded.", reinterpret_cast<void*>(3)},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

}  // namespace

void bind_tracer(nb::module_& m) {
  define_type<TracerObject, TracerRefs>(
      m, TracerType,
      {.name = "otlp_mmap._native.Tracer",
       .doc = "A tracer writing spans into an otlp-mmap file (opentelemetry.trace.Tracer).",
       .methods = tracer_methods,
       .getset = tracer_getset,
       .tp_new = tracer_new,
       .repr = tracer_repr});
}

}  // namespace otlp_mmap::py::sdk

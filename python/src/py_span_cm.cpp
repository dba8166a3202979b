// otlp_mmap._native.CurrentSpanContextManager: what Tracer.start_as_current_span returns.
// Entering starts the span and attaches a context holding it; leaving detaches, records an
// exception and ends the span. Also a decorator (through otlp_mmap.sdk's decorate hook).
#include <cstring>

#include "span_internal.hpp"

namespace otlp_mmap::py::sdk {

namespace {

PyTypeObject CmType{};

CmObject* as_cm(PyObject* o) { return reinterpret_cast<CmObject*>(o); }

// A new, unentered context manager; a[0..5]: name, context, kind, attributes, links,
// start_time (borrowed, nullptr for missing ones).
OTLP_MMAP_HOT PyObject* new_span_cm(TracerObject* t, PyObject* const* a, bool record_exception,
                                    bool set_status_on_exception, bool end_on_exit) {
  CmObject* cm = PyObject_GC_New(CmObject, &CmType);
  if (cm == nullptr) return nullptr;
  std::memset(reinterpret_cast<char*>(cm) + sizeof(PyObject), 0, sizeof(CmObject) - sizeof(PyObject));
  // The fields start null: new references are stored directly.
  cm->tracer = reinterpret_cast<TracerObject*>(new_ref(reinterpret_cast<PyObject*>(t)));
  cm->name = xnew_ref(a[0]);
  cm->context = xnew_ref(a[1]);
  cm->kind = xnew_ref(a[2]);
  cm->attributes = xnew_ref(a[3]);
  cm->links = xnew_ref(a[4]);
  cm->start_time = xnew_ref(a[5]);
  cm->record_exception = record_exception;
  cm->set_status_on_exception = set_status_on_exception;
  cm->end_on_exit = end_on_exit;
  PyObject_GC_Track(cm);
  return reinterpret_cast<PyObject*>(cm);
}

OTLP_MMAP_HOT PyObject* cm_enter(PyObject* self, PyObject*) {
  CmObject* cm = as_cm(self);
  if (cm->span != nullptr) {
    // Entered again while active: hand out the same span (it ends at the outermost exit).
    ++cm->depth;
    return new_ref(cm->span);
  }
  PyObject* current_ref = nullptr;
  Ref span(tracer_start(cm->tracer, cm->name, cm->context, cm->kind, cm->attributes, cm->links, cm->start_time,
                        cm->record_exception, cm->set_status_on_exception, &current_ref));
  Ref current(current_ref);
  if (!span) return nullptr;
  if (!current) {
    current = Ref(context_current());
    if (!current) PyErr_Clear();
  }
  Ref ctx(context_with_span(current.get(), span.get()));
  Ref token(ctx ? context_attach(ctx.get()) : nullptr);
  if (!token) swallow_error("attaching the span's context");
  cm->span = span.new_ref();
  cm->token = token.release();
  cm->depth = 1;
  return span.release();
}

OTLP_MMAP_HOT PyObject* cm_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  CmObject* cm = as_cm(self);
  if (cm->span == nullptr) Py_RETURN_FALSE;
  if (--cm->depth > 0) Py_RETURN_FALSE;
  Ref span(std::exchange(cm->span, nullptr));
  Ref token(std::exchange(cm->token, nullptr));
  context_detach(token.get());
  token.reset();
  if (is_span(span.get())) {
    SpanObject* sp = as_span(span.get());
    PyObject* exc = nargs >= 2 ? args[1] : nullptr;
    // As opentelemetry.trace.use_span: only Exception (not BaseException) marks the span.
    if (exc != nullptr && exc != Py_None && PyObject_TypeCheck(exc, reinterpret_cast<PyTypeObject*>(PyExc_Exception))) {
      on_exception(sp, exc, false, cm->record_exception, cm->set_status_on_exception);
    }
    if (cm->end_on_exit) span_end(sp, now_ns());
  }
  Py_RETURN_FALSE;
}

PyObject* cm_recreate(PyObject* self, PyObject*) {
  CmObject* cm = as_cm(self);
  PyObject* a[6] = {cm->name, cm->context, cm->kind, cm->attributes, cm->links, cm->start_time};
  return new_span_cm(cm->tracer, a, cm->record_exception, cm->set_status_on_exception, cm->end_on_exit);
}

PyObject* cm_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  // Used as a decorator: @tracer.start_as_current_span("name").
  if (kwargs != nullptr || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) != 1) {
    PyErr_SetString(PyExc_TypeError, "start_as_current_span(...) decorates exactly one function");
    return nullptr;
  }
  return PyObject_CallFunctionObjArgs(g_api.decorate, self, PyTuple_GET_ITEM(args, 0), nullptr);
}

PyMethodDef cm_methods[] = {
    {"__enter__", cm_enter, METH_NOARGS, "Starts the span and makes it current."},
    {"__exit__", fastcall(cm_exit), METH_FASTCALL,
     "Restores the previous context; records an exception; ends the span."},
    {"_recreate", cm_recreate, METH_NOARGS, "A fresh, unentered context manager with the same arguments."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

// Tracer.start_as_current_span: here, with the context manager it makes.
OTLP_MMAP_HOT PyObject* tracer_start_as_current_span(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                                     PyObject* kwnames) {
  PyObject* a[9];
  if (!parse_args("start_as_current_span", args, nargs, kwnames, SPAN_ARG_NAMES, 9, a)) return nullptr;
  if (a[0] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_as_current_span() missing required argument 'name'");
    return nullptr;
  }
  int rec = truthy(a[6], true), st = truthy(a[7], true), end = truthy(a[8], true);
  if (rec < 0 || st < 0 || end < 0) return nullptr;
  return new_span_cm(reinterpret_cast<TracerObject*>(self), a, rec != 0, st != 0, end != 0);
}

void bind_span_cm(nb::module_& m) {
  define_type<CmObject, CmRefs, Gc::kYes>(
      m, CmType,
      {.name = "otlp_mmap._native.CurrentSpanContextManager",
       .doc = "What Tracer.start_as_current_span returns: a context manager and a decorator.",
       .methods = cm_methods,
       .call = cm_call});
}

}  // namespace otlp_mmap::py::sdk

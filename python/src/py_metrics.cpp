// Native synchronous instruments of otlp_mmap.sdk: Counter.add, UpDownCounter.add,
// Histogram.record and Gauge.set write one Measurement record each, with the attributes
// converted straight from the caller's dict, the time taken natively and the current span
// context attached for exemplars. MetricSink is what observable instruments write through.
//
// Values: an int stays an int (as_long), a float is a float (as_double); other numbers are
// converted with float(). Negative values of counters and histograms, non-finite values and
// non-numbers are dropped, counted, and warned about once per instrument.
#include <cmath>
#include <cstring>

#include "sdk_core.hpp"

namespace otlp_mmap::py::sdk {

namespace {

enum Kind : uint8_t { kCounter, kUpDownCounter, kHistogram, kGauge, kSink };

struct InstrumentObject {
  PyObject_HEAD PyObject* writer;
  WriterAccess w;
  int64_t metric_ref;
  PyObject* name;
  PyObject* unit;
  PyObject* description;
  uint8_t kind;
  bool enabled;
  bool warned_negative, warned_nonfinite, warned_type;
  PyObject* weakreflist;
};

// Static types, initialised field by field in bind_*().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
PyTypeObject InstrumentType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject CounterType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject UpDownCounterType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject HistogramType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject GaugeType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject SinkType = {PyVarObject_HEAD_INIT(nullptr, 0)};
#pragma GCC diagnostic pop

const char* kind_name(uint8_t k) {
  switch (k) {
    case kCounter: return "Counter";
    case kUpDownCounter: return "UpDownCounter";
    case kHistogram: return "Histogram";
    case kGauge: return "Gauge";
    default: return "observable instrument";
  }
}

void once(InstrumentObject* in, bool& flag, const char* what) {
  g_counters.invalid_measurements.fetch_add(1, std::memory_order_relaxed);
  if (flag) return;
  flag = true;
  warn("%s on %s %R: the measurement is dropped (further ones are dropped and counted silently)", what,
       kind_name(in->kind), in->name);
}

// Writes one measurement; never raises.
void measure(InstrumentObject* in, PyObject* amount, PyObject* attributes, PyObject* context, bool check_sign) {
  if (!in->enabled) return;
  MeasurementView m;
  if (PyLong_Check(amount)) {
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(amount, &overflow);
    if (overflow != 0) {
      double d = PyLong_AsDouble(amount);
      if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        once(in, in->warned_type, "An int that does not fit 64 bits nor a float");
        return;
      }
      m.is_double = true;
      m.as_double = d;
    } else if (x == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      once(in, in->warned_type, "A value that is not a number");
      return;
    } else {
      m.as_long = x;
    }
  } else {
    double d;
    if (PyFloat_Check(amount)) {
      d = PyFloat_AS_DOUBLE(amount);
    } else {
      d = PyFloat_AsDouble(amount);
      if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        once(in, in->warned_type, "A value that is not a number");
        return;
      }
    }
    if (!std::isfinite(d)) {
      once(in, in->warned_nonfinite, "A non-finite value");
      return;
    }
    m.is_double = true;
    m.as_double = d;
  }
  if (check_sign && (m.is_double ? m.as_double < 0 : m.as_long < 0)) {
    once(in, in->warned_negative, "A negative value (the amount must be non-negative)");
    return;
  }
  SpanContextStorage storage;
  if (g_api.exemplar_filter != 0) current_span_context(context, m.span_context, storage, g_api.exemplar_filter == 2);
  m.metric_ref = in->metric_ref;
  m.time_unix_nano = now_ns();
  ScratchLease s;
  uint32_t dropped = 0;
  m.attributes = convert_attrs(attributes, *s, AttrLimits{}, 0, dropped);
  write_record(in->w, *s, m);
  if (PyErr_Occurred()) swallow_error("recording a measurement");
}

PyObject* call(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, const char* fname,
               bool check_sign) {
  PyObject* a[3];
  if (!parse_args(fname, args, nargs, kwnames, {g_sn.amount, g_sn.attributes, g_sn.context}, 3, a)) return nullptr;
  if (a[0] == nullptr) {
    PyErr_Format(PyExc_TypeError, "%s() missing required argument 'amount'", fname);
    return nullptr;
  }
  measure(reinterpret_cast<InstrumentObject*>(self), a[0], a[1], a[2], check_sign);
  Py_RETURN_NONE;
}

PyObject* counter_add(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return call(self, args, nargs, kwnames, "add", true);
}
PyObject* updown_add(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return call(self, args, nargs, kwnames, "add", false);
}
PyObject* histogram_record(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return call(self, args, nargs, kwnames, "record", true);
}
PyObject* gauge_set(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return call(self, args, nargs, kwnames, "set", false);
}
PyObject* sink_record(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return call(self, args, nargs, kwnames, "_record", false);
}

PyObject* instrument_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {"writer", "metric_ref", "name", "unit", "description", nullptr};
  PyObject *writer, *name, *unit = nullptr, *description = nullptr;
  long long ref;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OLU|UU", const_cast<char**>(kw), &writer, &ref, &name, &unit,
                                   &description)) {
    return nullptr;
  }
  WriterAccess w;
  if (!writer_access(writer, w)) {
    PyErr_SetString(PyExc_TypeError, "writer must be an otlp_mmap._native.Writer");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  InstrumentObject* in = reinterpret_cast<InstrumentObject*>(type->tp_alloc(type, 0));
  if (in == nullptr) return nullptr;
  Py_INCREF(writer);
  in->writer = writer;
  in->w = w;
  in->metric_ref = ref;
  Py_INCREF(name);
  in->name = name;
  in->unit = unit ? (Py_INCREF(unit), unit) : PyUnicode_FromString("");
  in->description = description ? (Py_INCREF(description), description) : PyUnicode_FromString("");
  in->enabled = true;
  if (type == &CounterType) {
    in->kind = kCounter;
  } else if (type == &UpDownCounterType) {
    in->kind = kUpDownCounter;
  } else if (type == &HistogramType) {
    in->kind = kHistogram;
  } else if (type == &GaugeType) {
    in->kind = kGauge;
  } else {
    in->kind = kSink;
  }
  return reinterpret_cast<PyObject*>(in);
}

void instrument_dealloc(PyObject* self) {
  InstrumentObject* in = reinterpret_cast<InstrumentObject*>(self);
  if (in->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  Py_XDECREF(in->writer);
  Py_XDECREF(in->name);
  Py_XDECREF(in->unit);
  Py_XDECREF(in->description);
  Py_TYPE(self)->tp_free(self);
}

PyObject* set_metric_ref(PyObject* self, PyObject* arg) {
  long long ref = PyLong_AsLongLong(arg);
  if (ref == -1 && PyErr_Occurred()) return nullptr;
  reinterpret_cast<InstrumentObject*>(self)->metric_ref = ref;
  Py_RETURN_NONE;
}

PyObject* set_enabled(PyObject* self, PyObject* arg) {
  int on = PyObject_IsTrue(arg);
  if (on < 0) return nullptr;
  reinterpret_cast<InstrumentObject*>(self)->enabled = on != 0;
  Py_RETURN_NONE;
}

PyObject* get_field(PyObject* self, void* which) {
  InstrumentObject* in = reinterpret_cast<InstrumentObject*>(self);
  PyObject* v = nullptr;
  switch (reinterpret_cast<intptr_t>(which)) {
    case 0: v = in->name; break;
    case 1: v = in->unit; break;
    case 2: v = in->description; break;
    case 3: return PyLong_FromLongLong(in->metric_ref);
    default: return PyBool_FromLong(in->enabled);
  }
  Py_INCREF(v);
  return v;
}

PyObject* instrument_repr(PyObject* self) {
  InstrumentObject* in = reinterpret_cast<InstrumentObject*>(self);
  return PyUnicode_FromFormat("otlp_mmap.%s(name=%R, unit=%R)", kind_name(in->kind), in->name, in->unit);
}

PyMethodDef base_methods[] = {
    {"_set_metric_ref", set_metric_ref, METH_O, "Writes later measurements to another metric stream (after fork)."},
    {"_set_enabled", set_enabled, METH_O, "False: measurements are dropped (shutdown)."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef base_getset[] = {
    {"name", get_field, nullptr, "Instrument name.", reinterpret_cast<void*>(0)},
    {"unit", get_field, nullptr, "Instrument unit.", reinterpret_cast<void*>(1)},
    {"description", get_field, nullptr, "Instrument description.", reinterpret_cast<void*>(2)},
    {"metric_ref", get_field, nullptr, "Dictionary reference of the metric stream.", reinterpret_cast<void*>(3)},
    {"enabled", get_field, nullptr, "Whether measurements are recorded.", reinterpret_cast<void*>(4)},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

#define FASTCALL(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))

PyMethodDef counter_methods[] = {{"add", FASTCALL(counter_add), METH_FASTCALL | METH_KEYWORDS,
                                  "add(amount, attributes=None, context=None); amount >= 0"},
                                 {nullptr, nullptr, 0, nullptr}};
PyMethodDef updown_methods[] = {
    {"add", FASTCALL(updown_add), METH_FASTCALL | METH_KEYWORDS, "add(amount, attributes=None, context=None)"},
    {nullptr, nullptr, 0, nullptr}};
PyMethodDef histogram_methods[] = {{"record", FASTCALL(histogram_record), METH_FASTCALL | METH_KEYWORDS,
                                    "record(amount, attributes=None, context=None); amount >= 0"},
                                   {nullptr, nullptr, 0, nullptr}};
PyMethodDef gauge_methods[] = {
    {"set", FASTCALL(gauge_set), METH_FASTCALL | METH_KEYWORDS, "set(amount, attributes=None, context=None)"},
    {nullptr, nullptr, 0, nullptr}};
PyMethodDef sink_methods[] = {{"_record", FASTCALL(sink_record), METH_FASTCALL | METH_KEYWORDS,
                               "_record(amount, attributes=None, context=None): an observation, unchecked sign"},
                              {nullptr, nullptr, 0, nullptr}};

void ready_subtype(nb::module_& m, PyTypeObject& t, const char* name, const char* doc, PyMethodDef* methods) {
  t.tp_name = name;
  t.tp_basicsize = sizeof(InstrumentObject);
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = doc;
  t.tp_base = &InstrumentType;
  t.tp_new = instrument_new;
  t.tp_dealloc = instrument_dealloc;
  t.tp_methods = methods;
  t.tp_repr = instrument_repr;
  t.tp_weaklistoffset = offsetof(InstrumentObject, weakreflist);
  if (PyType_Ready(&t) < 0) throw_current();
  const char* dot = std::strrchr(name, '.');
  m.attr(dot ? dot + 1 : name) = nb::borrow(reinterpret_cast<PyObject*>(&t));
}

}  // namespace

void bind_metrics(nb::module_& m) {
  InstrumentType.tp_name = "otlp_mmap._native._Instrument";
  InstrumentType.tp_basicsize = sizeof(InstrumentObject);
  InstrumentType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
  InstrumentType.tp_doc = "Base of the native instruments.";
  InstrumentType.tp_dealloc = instrument_dealloc;
  InstrumentType.tp_methods = base_methods;
  InstrumentType.tp_getset = base_getset;
  InstrumentType.tp_weaklistoffset = offsetof(InstrumentObject, weakreflist);
  if (PyType_Ready(&InstrumentType) < 0) throw_current();
  ready_subtype(m, CounterType, "otlp_mmap._native.Counter", "A monotonic sum (opentelemetry.metrics.Counter).",
                counter_methods);
  ready_subtype(m, UpDownCounterType, "otlp_mmap._native.UpDownCounter",
                "A sum that goes up and down (opentelemetry.metrics.UpDownCounter).", updown_methods);
  ready_subtype(m, HistogramType, "otlp_mmap._native.Histogram",
                "A distribution of values (opentelemetry.metrics.Histogram).", histogram_methods);
  ready_subtype(m, GaugeType, "otlp_mmap._native.Gauge", "A synchronous gauge (opentelemetry.metrics.Gauge).",
                gauge_methods);
  ready_subtype(m, SinkType, "otlp_mmap._native.MetricSink", "Writes the observations of an observable instrument.",
                sink_methods);
}

}  // namespace otlp_mmap::py::sdk

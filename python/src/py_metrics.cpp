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

#include "native_type.hpp"
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
using InstrumentRefs = RefFields<InstrumentObject, &InstrumentObject::writer, &InstrumentObject::name,
                                 &InstrumentObject::unit, &InstrumentObject::description>;

// One struct, a type per instrument kind (with a common base type).
PyTypeObject InstrumentType{};
PyTypeObject CounterType{};
PyTypeObject UpDownCounterType{};
PyTypeObject HistogramType{};
PyTypeObject GaugeType{};
PyTypeObject SinkType{};

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
OTLP_MMAP_HOT void measure(InstrumentObject* in, PyObject* amount, PyObject* attributes, PyObject* context,
                           bool check_sign) {
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
  m.attributes = convert_attributes(attributes, *s, lenient_any());
  write_record(in->w, *s, m);
  if (PyErr_Occurred()) swallow_error("recording a measurement");
}

OTLP_MMAP_HOT PyObject* call(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                             const char* fname, bool check_sign) {
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
  if (!ensure_ready()) return nullptr;
  Ref self(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  InstrumentObject* in = reinterpret_cast<InstrumentObject*>(self.get());
  if (!take_writer(writer, in->writer, in->w)) return nullptr;
  in->metric_ref = ref;
  assign(in->name, name);
  in->unit = unit ? new_ref(unit) : PyUnicode_FromString("");
  in->description = description ? new_ref(description) : PyUnicode_FromString("");
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
  return self.release();
}

PyObject* get_field(PyObject* self, void* which) {
  InstrumentObject* in = reinterpret_cast<InstrumentObject*>(self);
  switch (reinterpret_cast<intptr_t>(which)) {
    case 0: return new_ref(in->name);
    case 1: return new_ref(in->unit);
    case 2: return new_ref(in->description);
    case 3: return PyLong_FromLongLong(in->metric_ref);
    default: return PyBool_FromLong(in->enabled);
  }
}

PyObject* instrument_repr(PyObject* self) {
  InstrumentObject* in = reinterpret_cast<InstrumentObject*>(self);
  return PyUnicode_FromFormat("otlp_mmap.%s(name=%R, unit=%R)", kind_name(in->kind), in->name, in->unit);
}

PyMethodDef base_methods[] = {
    {"_set_metric_ref", set_ref<InstrumentObject, &InstrumentObject::metric_ref>, METH_O,
     "Writes later measurements to another metric stream (after fork)."},
    {"_set_enabled", set_enabled<InstrumentObject>, METH_O, "False: measurements are dropped (shutdown)."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef base_getset[] = {
    {"name", get_field, nullptr, "Instrument name.", reinterpret_cast<void*>(0)},
    {"unit", get_field, nullptr, "Instrument unit.", reinterpret_cast<void*>(1)},
    {"description", get_field, nullptr, "Instrument description.", reinterpret_cast<void*>(2)},
    {"metric_ref", get_field, nullptr, "Dictionary reference of the metric stream.", reinterpret_cast<void*>(3)},
    {"enabled", get_field, nullptr, "Whether measurements are recorded.", reinterpret_cast<void*>(4)},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef counter_methods[] = {{"add", fastcall(counter_add), METH_FASTCALL | METH_KEYWORDS,
                                  "add(amount, attributes=None, context=None); amount >= 0"},
                                 {nullptr, nullptr, 0, nullptr}};
PyMethodDef updown_methods[] = {
    {"add", fastcall(updown_add), METH_FASTCALL | METH_KEYWORDS, "add(amount, attributes=None, context=None)"},
    {nullptr, nullptr, 0, nullptr}};
PyMethodDef histogram_methods[] = {{"record", fastcall(histogram_record), METH_FASTCALL | METH_KEYWORDS,
                                    "record(amount, attributes=None, context=None); amount >= 0"},
                                   {nullptr, nullptr, 0, nullptr}};
PyMethodDef gauge_methods[] = {
    {"set", fastcall(gauge_set), METH_FASTCALL | METH_KEYWORDS, "set(amount, attributes=None, context=None)"},
    {nullptr, nullptr, 0, nullptr}};
PyMethodDef sink_methods[] = {{"_record", fastcall(sink_record), METH_FASTCALL | METH_KEYWORDS,
                               "_record(amount, attributes=None, context=None): an observation, unchecked sign"},
                              {nullptr, nullptr, 0, nullptr}};

void define_instrument(nb::module_& m, PyTypeObject& t, const char* name, const char* doc, PyMethodDef* methods) {
  define_type<InstrumentObject, InstrumentRefs>(m, t,
                                                {.name = name,
                                                 .doc = doc,
                                                 .methods = methods,
                                                 .tp_new = instrument_new,
                                                 .repr = instrument_repr,
                                                 .base = &InstrumentType});
}

}  // namespace

void bind_metrics(nb::module_& m) {
  define_type<InstrumentObject, InstrumentRefs>(m, InstrumentType,
                                                {.name = "otlp_mmap._native._Instrument",
                                                 .doc = "Base of the native instruments.",
                                                 .methods = base_methods,
                                                 .getset = base_getset,
                                                 .extra_flags = Py_TPFLAGS_BASETYPE,
                                                 .in_module = false});
  define_instrument(m, CounterType, "otlp_mmap._native.Counter", "A monotonic sum (opentelemetry.metrics.Counter).",
                    counter_methods);
  define_instrument(m, UpDownCounterType, "otlp_mmap._native.UpDownCounter",
                    "A sum that goes up and down (opentelemetry.metrics.UpDownCounter).", updown_methods);
  define_instrument(m, HistogramType, "otlp_mmap._native.Histogram",
                    "A distribution of values (opentelemetry.metrics.Histogram).", histogram_methods);
  define_instrument(m, GaugeType, "otlp_mmap._native.Gauge", "A synchronous gauge (opentelemetry.metrics.Gauge).",
                    gauge_methods);
  define_instrument(m, SinkType, "otlp_mmap._native.MetricSink", "Writes the observations of an observable instrument.",
                    sink_methods);
}

}  // namespace otlp_mmap::py::sdk

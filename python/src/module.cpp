// otlp_mmap._native: the C++ core of otlp-mmap, for Python.
#include <nanobind/nanobind.h>

#include "common.hpp"
#include "sdk_core.hpp"

namespace otlp_mmap::py {
void bind_writer(nb::module_& m);
void bind_reader(nb::module_& m);
}  // namespace otlp_mmap::py

NB_MODULE(_native, m) {
  namespace py = otlp_mmap::py;
  m.doc() =
      "Native core of otlp-mmap: Writer (application side), Reader (collector side), and the native types of "
      "the OpenTelemetry SDK otlp_mmap.sdk (Tracer, Span, instruments, Logger, LogBridge).";
  // SDK objects (tracers, instruments) hold Writers in module globals of the application
  // until the interpreter exits; that is not a leak worth reporting.
  nanobind::set_leak_warnings(false);
  py::init_common(m);
  py::bind_writer(m);
  py::bind_reader(m);
  // The native half of the OpenTelemetry SDK (otlp_mmap.sdk).
  py::init_attr_convert();
  py::sdk::bind_sdk_core(m);
  py::sdk::bind_tracer(m);
  py::sdk::bind_span(m);
  py::sdk::bind_span_cm(m);
  py::sdk::bind_metrics(m);
  py::sdk::bind_logger(m);
  py::sdk::bind_log_bridge(m);
  py::sdk::bind_log_record_factory(m);
}

// otlp_mmap._native: the C++ core of otlp-mmap, for Python.
#include <nanobind/nanobind.h>

#include "common.hpp"

namespace otlp_mmap::py {
void bind_writer(nb::module_& m);
void bind_reader(nb::module_& m);
}  // namespace otlp_mmap::py

NB_MODULE(_native, m) {
  namespace py = otlp_mmap::py;
  m.doc() = "Native core of otlp-mmap: Writer (application side) and Reader (collector side).";
  py::init_common(m);
  py::bind_writer(m);
  py::bind_reader(m);
}

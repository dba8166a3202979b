#include "native_type.hpp"

namespace otlp_mmap::py::sdk {

const PyTypeObject& blank_type() {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
  static const PyTypeObject blank = {PyVarObject_HEAD_INIT(nullptr, 0)};
#pragma GCC diagnostic pop
  return blank;
}

bool take_writer(PyObject* writer, PyObject*& field, WriterAccess& w) {
  if (!writer_access(writer, w)) {
    PyErr_SetString(PyExc_TypeError, "writer must be an otlp_mmap._native.Writer");
    return false;
  }
  assign(field, writer);
  return true;
}

}  // namespace otlp_mmap::py::sdk

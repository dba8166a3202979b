#include "common.hpp"

#include <cstdarg>
#include <limits>

namespace otlp_mmap::py {

PyObject* g_format_error = nullptr;
PyObject* g_not_initialized_error = nullptr;
PyObject* g_mapping_abc = nullptr;
Names g_names{};

void throw_py(PyObject* type, const char* format, ...) {
  va_list args;
  va_start(args, format);
  PyErr_FormatV(type, format, args);
  va_end(args);
  throw nb::python_error();
}

void throw_current() { throw nb::python_error(); }

void throw_file_error(const FileError& e) {
  PyObject* type = PyExc_OSError;
  switch (e.code()) {
    case FileError::Code::kNotFound: type = PyExc_FileNotFoundError; break;
    case FileError::Code::kUntrusted: type = PyExc_PermissionError; break;
    case FileError::Code::kIo: type = PyExc_OSError; break;
    case FileError::Code::kCorrupt:
    case FileError::Code::kUnsupported: type = g_format_error; break;
    case FileError::Code::kNotInitialized: type = g_not_initialized_error; break;
  }
  throw_py(type, "%s", e.what());
}

std::string fs_path(nb::handle path) {
  PyObject* fs = PyOS_FSPath(path.ptr());  // str or bytes, or TypeError
  if (fs == nullptr) throw_current();
  nb::object owned = nb::steal(fs);
  if (PyUnicode_Check(fs)) {
    owned = nb::steal(PyUnicode_EncodeFSDefault(fs));
    if (!owned.is_valid()) throw_current();
  }
  return std::string(PyBytes_AS_STRING(owned.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(owned.ptr())));
}

nb::object path_to_py(const std::string& path) {
  PyObject* s = PyUnicode_DecodeFSDefaultAndSize(path.data(), static_cast<Py_ssize_t>(path.size()));
  if (s == nullptr) throw_current();
  return nb::steal(s);
}

std::string_view str_arg(nb::handle obj, const char* what) {
  if (!PyUnicode_Check(obj.ptr()))
    throw_py(PyExc_TypeError, "%s must be a str, not %.100s", what, Py_TYPE(obj.ptr())->tp_name);
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
  if (p == nullptr) {
    PyErr_Clear();
    throw_py(PyExc_ValueError, "%s cannot be encoded as UTF-8 (it holds a lone surrogate)", what);
  }
  return {p, static_cast<size_t>(n)};
}

std::string_view optional_str_arg(nb::handle obj, const char* what) {
  if (obj.is_none()) return {};
  return str_arg(obj, what);
}

std::string_view id_arg(nb::handle obj, size_t size, const char* what) {
  PyObject* o = obj.ptr();
  const char* p;
  Py_ssize_t n;
  if (PyBytes_Check(o)) {
    p = PyBytes_AS_STRING(o);
    n = PyBytes_GET_SIZE(o);
  } else if (PyByteArray_Check(o)) {
    p = PyByteArray_AS_STRING(o);
    n = PyByteArray_GET_SIZE(o);
  } else {
    throw_py(PyExc_ValueError, "%s must be %zu bytes (bytes or bytearray), not %.100s", what, size,
             Py_TYPE(o)->tp_name);
  }
  if (static_cast<size_t>(n) != size) {
    throw_py(PyExc_ValueError, "%s must be exactly %zu bytes, got %zd", what, size, n);
  }
  return {p, size};
}

int64_t int_arg(nb::handle obj, int64_t lo, int64_t hi, const char* what) {
  PyObject* o = obj.ptr();
  if (!PyLong_Check(o)) throw_py(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (v == -1 && PyErr_Occurred()) throw_current();
  if (overflow != 0 || v < lo || v > hi) {
    throw_py(PyExc_ValueError, "%s must be between %lld and %lld, got %R", what, static_cast<long long>(lo),
             static_cast<long long>(hi), o);
  }
  return v;
}

int64_t int64_arg(nb::handle obj, const char* what) {
  PyObject* o = obj.ptr();
  if (!PyLong_Check(o)) throw_py(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow != 0) throw_py(PyExc_ValueError, "%s must fit in a signed 64-bit integer, got %R", what, o);
  if (v == -1 && PyErr_Occurred()) throw_current();
  return v;
}

uint64_t uint64_arg(nb::handle obj, const char* what) {
  PyObject* o = obj.ptr();
  if (!PyLong_Check(o)) throw_py(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
  unsigned long long v = PyLong_AsUnsignedLongLong(o);
  if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();
    throw_py(PyExc_ValueError, "%s must be between 0 and 2**64-1, got %R", what, o);
  }
  return v;
}

uint32_t uint32_arg(nb::handle obj, const char* what) {
  return static_cast<uint32_t>(int_arg(obj, 0, std::numeric_limits<uint32_t>::max(), what));
}

nb::object text_to_py(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (o == nullptr) throw_current();
  return nb::steal(o);
}

nb::bytes bytes_to_py(std::string_view s) { return nb::bytes(s.data(), s.size()); }

nb::dict writer_counters_dict(const WriterCounters& c) {
  nb::dict d;
  d["dropped_full_events"] = c.dropped_full[0];
  d["dropped_full_spans"] = c.dropped_full[1];
  d["dropped_full_measurements"] = c.dropped_full[2];
  d["dropped_unencodable"] = c.dropped_unencodable;
  d["truncated_values"] = c.truncated_values;
  d["dropped_skipped"] = c.dropped_skipped;
  return d;
}

namespace {
PyObject* intern(const char* s) {
  PyObject* o = PyUnicode_InternFromString(s);
  if (o == nullptr) throw_current();
  return o;  // kept for the life of the process
}
}  // namespace

void init_common(nb::module_& m) {
  g_format_error = PyErr_NewExceptionWithDoc(
      "otlp_mmap._native.FormatError",
      "The file is not a usable otlp-mmap file: corrupt, of an unsupported version, or not initialised yet.",
      PyExc_ValueError, nullptr);
  if (g_format_error == nullptr) throw_current();
  g_not_initialized_error = PyErr_NewExceptionWithDoc(
      "otlp_mmap._native.NotInitializedError",
      "The file exists but no writer has finished initialising it yet; try again later.", g_format_error, nullptr);
  if (g_not_initialized_error == nullptr) throw_current();
  // The module keeps its own references; ours live for the life of the process.
  m.attr("FormatError") = nb::borrow(g_format_error);
  m.attr("NotInitializedError") = nb::borrow(g_not_initialized_error);

  nb::object mapping = nb::module_::import_("collections.abc").attr("Mapping");
  g_mapping_abc = mapping.release().ptr();

  g_names = Names{intern("trace_id"),     intern("span_id"),           intern("flags"),
                  intern("trace_state"),  intern("attributes"),        intern("dropped_attributes_count"),
                  intern("code"),         intern("message"),           intern("aggregation_temporality"),
                  intern("is_monotonic"), intern("bucket_boundaries"), intern("max_buckets"),
                  intern("max_scale")};
}

}  // namespace otlp_mmap::py

// Shared helpers of the native module: Python exceptions, argument checks that name the
// offending argument, and conversions that borrow memory from Python objects.
#pragma once

#include <nanobind/nanobind.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "otlp_mmap/file.hpp"

// Marks a function on the path of every span, measurement or log record: GCC puts these in
// .text.hot, together, so that the few cache lines they take are not scattered among the
// module's other code (the interpreter's own code competes for the instruction cache).
#define OTLP_MMAP_HOT [[gnu::hot, gnu::aligned(64)]]

namespace otlp_mmap::py {

namespace nb = nanobind;

// otlp_mmap._native.FormatError(ValueError) and NotInitializedError(FormatError), created
// when the module is imported.
extern PyObject* g_format_error;
extern PyObject* g_not_initialized_error;

// Raises a Python exception: sets it, then throws so nanobind hands it to the caller.
[[noreturn]] void throw_py(PyObject* type, const char* format, ...);
// Throws the Python exception that is already set.
[[noreturn]] void throw_current();
// FileError -> FileNotFoundError, PermissionError, OSError, FormatError, NotInitializedError.
[[noreturn]] void throw_file_error(const FileError& e);

// Runs `f`, turning the core's exceptions into the module's Python exceptions.
template <class F>
decltype(auto) translating_core_errors(F&& f) {
  try {
    return f();
  } catch (const FileError& e) {
    throw_file_error(e);
  } catch (const std::invalid_argument& e) {
    throw_py(PyExc_ValueError, "%s", e.what());
  }
}

// A str, bytes or os.PathLike as a file-system path.
std::string fs_path(nb::handle path);
// A file-system path as a Python str (undecodable bytes kept as surrogate escapes).
nb::object path_to_py(const std::string& path);

// The UTF-8 text of a str, borrowed from the str object (CPython caches it there).
// TypeError names `what` when `obj` is not a str; ValueError when it cannot be encoded.
std::string_view str_arg(nb::handle obj, const char* what);
// Like str_arg, but None gives the empty string.
std::string_view optional_str_arg(nb::handle obj, const char* what);
// The bytes of a bytes or bytearray of exactly `size` bytes (ValueError otherwise).
std::string_view id_arg(nb::handle obj, size_t size, const char* what);
// An int within [lo, hi] (TypeError for other types, ValueError out of range).
int64_t int_arg(nb::handle obj, int64_t lo, int64_t hi, const char* what);
uint32_t uint32_arg(nb::handle obj, const char* what);
// Any int64 (dictionary references).
int64_t int64_arg(nb::handle obj, const char* what);
// Any uint64 (times in unix nanoseconds).
uint64_t uint64_arg(nb::handle obj, const char* what);

// Text from the file as a str; invalid UTF-8 is replaced, never raised.
nb::object text_to_py(std::string_view s);
nb::bytes bytes_to_py(std::string_view s);

// The writer loss counters of a file, as Writer.counters() and Reader.writer_counters() give them.
nb::dict writer_counters_dict(const WriterCounters& c);

// Interned attribute names used to look up keys of mappings passed by callers.
struct Names {
  PyObject* trace_id;
  PyObject* span_id;
  PyObject* flags;
  PyObject* trace_state;
  PyObject* attributes;
  PyObject* dropped_attributes_count;
  PyObject* code;
  PyObject* message;
  PyObject* aggregation_temporality;
  PyObject* is_monotonic;
  PyObject* bucket_boundaries;
  PyObject* max_buckets;
  PyObject* max_scale;
};
extern Names g_names;
// collections.abc.Mapping, for accepting any mapping where a dict is expected.
extern PyObject* g_mapping_abc;

void init_common(nb::module_& m);

}  // namespace otlp_mmap::py

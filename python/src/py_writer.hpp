// Access to the core writer and key cache behind a Python otlp_mmap._native.Writer, for the
// SDK types (spans, instruments, loggers) that write through it.
#pragma once

#include <Python.h>

#include "key_cache.hpp"
#include "otlp_mmap/writer.hpp"

namespace otlp_mmap::py {

struct WriterAccess {
  Writer* core = nullptr;
  KeyCache* keys = nullptr;
};

// Fills `out` when `obj` is an otlp_mmap._native.Writer; false otherwise. The pointers stay
// valid while `obj` is alive.
bool writer_access(PyObject* obj, WriterAccess& out);

}  // namespace otlp_mmap::py

// The native half of the otlp_mmap OpenTelemetry SDK (otlp_mmap.sdk): what the span,
// instrument and logger types share.
//
//  * the objects of opentelemetry-api that the native code needs (the Context class and the
//    ContextVar behind the API's runtime context, SpanContext, SpanKind, StatusCode...),
//    handed over once by otlp_mmap.sdk._native_api through _sdk_init();
//  * ids (a per-thread xoshiro256** generator seeded from getrandom, reseeded after fork)
//    and the clock;
//  * the current context, attaching and detaching it, and the parent span in a context;
//  * one-time warnings and the SDK's loss counters.
//
// Everything here runs with the GIL held; the GIL is what makes the SDK objects thread-safe.
#pragma once

#include <Python.h>

#include <atomic>
#include <cstdint>
#include <span>

#include "attr_convert.hpp"
#include "common.hpp"
#include "py_ref.hpp"
#include "py_writer.hpp"
#include "to_views.hpp"

namespace otlp_mmap::py::sdk {

// ------------------------------------------------------------------ API objects

struct Api {
  bool ready = false;
  // Runtime context: the ContextVar of ContextVarsRuntimeContext, or the API's functions
  // when another runtime context is configured (OTEL_PYTHON_CONTEXT).
  PyObject* context_var = nullptr;
  PyObject* get_current = nullptr;
  PyObject* attach = nullptr;
  PyObject* detach = nullptr;
  PyObject* context_type = nullptr;  // opentelemetry.context.Context (a dict subclass)
  PyObject* span_key = nullptr;      // trace.propagation._SPAN_KEY
  PyObject* span_abc = nullptr;      // opentelemetry.trace.Span
  PyObject* span_context_type = nullptr;
  PyObject* trace_flags_type = nullptr;
  PyObject* default_trace_state = nullptr;
  PyObject* status_type = nullptr;
  PyObject* span_kinds[5] = {};    // SpanKind.INTERNAL .. CONSUMER (API values 0..4)
  PyObject* status_codes[3] = {};  // StatusCode.UNSET, OK, ERROR
  PyObject* trace_flags[4] = {};   // TraceFlags(0..3)
  // Hooks into otlp_mmap.sdk (Python): warn(message), exception_attributes(exc, escaped) -> dict,
  // decorate(cm, func) -> wrapper, log_exc_attributes(record) -> dict.
  PyObject* warn = nullptr;
  PyObject* exception_attributes = nullptr;
  PyObject* decorate = nullptr;
  PyObject* log_exc_attributes = nullptr;
  PyObject* empty_tuple = nullptr;
  // Exemplar filter of measurements: 0 always_off, 1 always_on, 2 trace_based (default).
  int exemplar_filter = 2;
};
extern Api g_api;

// Interned strings used as attribute or argument names.
struct SdkNames {
  PyObject *name, *context, *kind, *attributes, *links, *start_time, *record_exception, *set_status_on_exception,
      *end_on_exit, *end_time, *key, *value, *timestamp, *description, *status, *escaped, *exception, *amount,
      *get_span_context, *to_header, *status_code, *trace_id, *span_id, *trace_flags, *trace_state, *observed_timestamp,
      *severity_number, *severity_text, *body, *event_name, *value_attr, *record, *levelno, *levelname, *msg, *args,
      *created, *exc_info, *pathname, *funcName, *lineno, *getMessage, *dict, *filters, *filter, *format, *formatter,
      *code_file_path, *code_function_name, *code_line_number, *should_sample, *decision, *is_sampled, *is_recording,
      *exc_text, *stack_info, *warn_str, *critical_str, *fatal_str, *warning_str;
};
extern SdkNames g_sn;

// Raises RuntimeError unless _sdk_init() ran.
bool ensure_ready();

// ------------------------------------------------------------------ warnings and counters

// One flag per kind of problem: the first occurrence is logged, later ones only counted.
enum class Warn : int {
  kInvalidKey,
  kInvalidValue,
  kAttributeLimit,
  kEventLimit,
  kLinkLimit,
  kEndedSpan,
  kBadParent,
  kBadStatus,
  kBadName,
  kBadMeasurement,
  kNegative,
  kNonFinite,
  kBadBody,
  kDetach,
  kInternal,
  kSampler,
  kBadLink,
  kIdGenerator,
  kCount
};
// Logs `message` (printf format) through otlp_mmap.sdk's logger the first time `kind` occurs.
void warn_once(Warn kind, const char* format, ...);
// Logs every time (used with a caller's own once-flag).
void warn(const char* format, ...);

struct Counters {
  std::atomic<uint64_t> invalid_attributes{0};    // keys or values dropped as unsupported
  std::atomic<uint64_t> limited_attributes{0};    // attributes dropped by count limits
  std::atomic<uint64_t> dropped_events{0};        // span events beyond the limit
  std::atomic<uint64_t> dropped_links{0};         // links beyond the limit
  std::atomic<uint64_t> invalid_measurements{0};  // negative, non-finite or non-numeric
  std::atomic<uint64_t> not_written{0};           // records the writer did not write (full ring...)
  std::atomic<uint64_t> internal_errors{0};       // unexpected errors swallowed
};
extern Counters g_counters;

// The Python exception that is set is swallowed: counted, warned about once, cleared.
void swallow_error(const char* where);

// ------------------------------------------------------------------ ids and time

void new_trace_id(uint8_t out[16]);  // random, never all zero
void new_span_id(uint8_t out[8]);    // random, never zero
uint64_t now_ns();                   // wall clock, unix nanoseconds
// Makes every thread reseed its id generator (called in a forked child).
void reseed_ids_after_fork();
// Incremented in every forked child (pthread_atfork): caches of the pid compare it.
uint64_t fork_generation();

// Big-endian bytes of a Python int; false (error set) when it is not an int in range.
bool int_to_be(PyObject* v, uint8_t* out, int n);
// A Python int from big-endian bytes (new reference).
PyObject* be_to_int(const uint8_t* in, int n);

// ------------------------------------------------------------------ context

// New reference to the current Context; nullptr with an error set.
PyObject* context_current();
// A new Context: `ctx` plus the span under the API's span key. New reference.
PyObject* context_with_span(PyObject* ctx, PyObject* span);
// Attaches `ctx`; returns the token (new reference) or nullptr with an error set.
PyObject* context_attach(PyObject* ctx);
// Detaches; never leaves an error set (failures are logged, as the API does).
void context_detach(PyObject* token);

// What a child needs to know about its parent span.
struct Parent {
  bool valid = false;
  bool remote = false;
  uint8_t trace_id[16] = {};
  uint8_t span_id[8] = {};
  uint8_t flags = 0;  // W3C trace flags
  Ref trace_state;    // TraceState, empty: default
  Ref ts_header;      // str, empty: no trace state
};

// The span stored in `ctx` (borrowed), or nullptr. Never sets an error.
PyObject* span_in_context(PyObject* ctx);
// Fills `p` from the span stored in `ctx` (a Context or None). Never raises: a span whose
// context cannot be read counts as no parent (warned about once).
void parent_from_context(PyObject* ctx, Parent& p);
// Fills `p` from an API SpanContext object (links, foreign spans). False if invalid.
bool parent_from_span_context(PyObject* sc, Parent& p);
// The trace state header (new reference, or nullptr when empty); never raises.
PyObject* trace_state_header(PyObject* trace_state);

// Hook for py_span.cpp: fills `p` when `span` is one of our native spans.
bool native_span_parent(PyObject* span, Parent& p);
// The span context of the current span (or of the span in `ctx`) as a view into `storage`;
// false when there is none or it is invalid. `sampled_only`: only a sampled span counts.
struct SpanContextStorage {
  uint8_t trace_id[16];
  uint8_t span_id[8];
};
bool current_span_context(PyObject* ctx, SpanContextView& out, SpanContextStorage& storage, bool sampled_only);

// ------------------------------------------------------------------ records

// Writes a record through a writer: resolves keys, writes, remembers new keys. Counts a
// record that was not written.
template <class View>
bool write_record(WriterAccess& w, Scratch& s, const View& v) {
  if (!w.keys->resolve(*w.core, s)) {
    PyErr_Clear();
    g_counters.not_written.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  bool ok = written(w.core->write(v));
  w.keys->remember(s);
  if (!ok) g_counters.not_written.fetch_add(1, std::memory_order_relaxed);
  return ok;
}

// Dictionary reference of a string (0 if the dictionary is full); never raises.
int64_t intern_str(WriterAccess& w, PyObject* str);

// ------------------------------------------------------------------ argument parsing

// Parses vectorcall arguments against `names` (interned). `out` gets borrowed references
// (nullptr for missing ones). Raises TypeError like Python does for bad calls.
bool parse_args(const char* fname, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                std::initializer_list<PyObject*> names, Py_ssize_t max_positional, PyObject** out);

// Truthiness of an optional argument (nullptr: `dflt`); -1 with an error set.
int truthy(PyObject* v, bool dflt);

// Registration with the module.
void bind_sdk_core(nb::module_& m);
void bind_tracer(nb::module_& m);
void bind_span(nb::module_& m);
void bind_span_cm(nb::module_& m);
void bind_metrics(nb::module_& m);
void bind_logger(nb::module_& m);
void bind_log_bridge(nb::module_& m);
void bind_log_record_factory(nb::module_& m);

}  // namespace otlp_mmap::py::sdk

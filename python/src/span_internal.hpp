// Native tracing for otlp_mmap.sdk, shared by its files: the structs of Tracer
// (py_tracer.cpp), Span (py_span.cpp) and the context manager of start_as_current_span
// (py_span_cm.cpp), and the life of a span, from its start through its records to its end
// (span_lifecycle.cpp).
//
// Written in the CPython C API (not nanobind classes) because every nanosecond of these
// calls is paid per span: arguments are parsed from vectorcall arrays, the span is a plain
// C struct, the OpenTelemetry context is read and attached through the API's ContextVar
// (PyContextVar_Get/Set/Reset), ids come from a per-thread generator and records are
// encoded straight into the file. The types are registered as virtual subclasses of
// opentelemetry.trace.Tracer/Span by otlp_mmap.sdk.
//
// Records of a span: `start` when it starts (a sampled span only), `link` and `add_event`
// when they are added, then at end() one `name` (if renamed), one `attributes` (attributes
// set after the start, last value per key) and `end` with status and dropped counts.
//
// Span processors (TracerProvider.add_span_processor): a tracer that was given a processor
// hub (Tracer._set_processor) makes *keeping* spans: they retain their attributes (also those
// set later), events and links after encoding, and call hub.on_start(span, context) when
// they start and hub.on_end(span) when they end. Without a hub nothing is retained: the
// default path only tests one pointer.
#pragma once

#include <array>
#include <string_view>
#include <vector>

#include "native_type.hpp"
#include "sdk_core.hpp"

namespace otlp_mmap::py::sdk {

enum SamplerRoot : uint8_t { kAlwaysOn = 0, kAlwaysOff = 1, kRatio = 2 };

struct TracerObject {
  PyObject_HEAD PyObject* writer;  // the Python Writer
  WriterAccess w;
  int64_t scope_ref;
  uint8_t sampler_root;
  bool parent_based;
  bool enabled;
  bool sample_all;         // traceidratio with a bound of 2**64
  uint64_t bound;          // traceidratio: sampled when the low 64 bits of the trace id are below
  PyObject* py_sampler;    // a custom sampler (should_sample), or nullptr
  PyObject* id_generator;  // a custom id generator (generate_trace_id, generate_span_id), or nullptr
  int64_t max_attributes, max_events, max_links, max_event_attributes, max_link_attributes;
  int64_t max_span_attribute_length, max_attribute_length;
  PyObject* name;
  PyObject* version;
  PyObject* processor;  // the span processor hub (on_start, on_end), or nullptr
  PyObject* info;       // resource, scope, events(raw), links(raw) for span getters; or nullptr
  PyObject* weakreflist;
};
using TracerRefs =
    RefFields<TracerObject, &TracerObject::writer, &TracerObject::py_sampler, &TracerObject::id_generator,
              &TracerObject::name, &TracerObject::version, &TracerObject::processor, &TracerObject::info>;

struct SpanObject {
  PyObject_HEAD TracerObject* tracer;
  PyObject* name;
  PyObject* kind;           // SpanKind member
  PyObject* span_context;   // cached SpanContext
  PyObject* trace_state;    // TraceState or nullptr (default)
  PyObject* ts_header;      // str or nullptr
  PyObject* start_attrs;    // the start attributes (a dict), to know which keys exist
  PyObject* pending_attrs;  // attributes set after the start, written at end()
  PyObject* pending_name;   // update_name(), written at end()
  PyObject* status_desc;
  // Keeping spans: a tuple of two lists, events (name, attributes, timestamp) and links
  // (SpanContext, attributes). One pointer: the object stays in its allocator size class.
  PyObject* kept;
  PyObject* weakreflist;
  int64_t scope_ref;
  uint64_t start_time;
  uint64_t end_time;
  uint32_t attr_count, dropped_attrs, event_count, dropped_events, link_count, dropped_links;
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_span_id[8];
  uint8_t trace_flags;
  uint8_t parent_flags;
  uint8_t kind_proto;  // 1..5
  uint8_t status_code;
  bool has_parent, parent_remote, remote, recording, sampled, ended, record_exception, set_status_on_exception;
  bool keep;  // retains attributes, events and links for span processors
};
using SpanRefs =
    RefFields<SpanObject, &SpanObject::tracer, &SpanObject::name, &SpanObject::kind, &SpanObject::span_context,
              &SpanObject::trace_state, &SpanObject::ts_header, &SpanObject::start_attrs, &SpanObject::pending_attrs,
              &SpanObject::pending_name, &SpanObject::status_desc, &SpanObject::kept>;

// What start_as_current_span returns: the arguments, until it is entered; then the span and
// the token of the context it attached.
struct CmObject {
  PyObject_HEAD TracerObject* tracer;
  PyObject* name;
  PyObject* context;
  PyObject* kind;
  PyObject* attributes;
  PyObject* links;
  PyObject* start_time;
  PyObject* span;   // while entered
  PyObject* token;  // while entered
  int depth;
  bool record_exception, set_status_on_exception, end_on_exit;
};
using CmRefs =
    RefFields<CmObject, &CmObject::tracer, &CmObject::name, &CmObject::context, &CmObject::kind, &CmObject::attributes,
              &CmObject::links, &CmObject::start_time, &CmObject::span, &CmObject::token>;

extern PyTypeObject SpanType;

inline bool is_span(PyObject* o) { return Py_TYPE(o) == &SpanType; }
inline SpanObject* as_span(PyObject* o) { return reinterpret_cast<SpanObject*>(o); }

// start_span / start_as_current_span argument names, in positional order.
#define SPAN_ARG_NAMES                                                                                       \
  {                                                                                                          \
    g_sn.name, g_sn.context, g_sn.kind, g_sn.attributes, g_sn.links, g_sn.start_time, g_sn.record_exception, \
        g_sn.set_status_on_exception, g_sn.end_on_exit                                                       \
  }

// ------------------------------------------------------------------ arguments (span_lifecycle.cpp)

inline std::string_view bytes_view(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }
// The UTF-8 of a str, or empty (never sets an error).
std::string_view str_view_or_empty(PyObject* s);
// A span name as a str (new reference); never fails.
PyObject* name_arg(PyObject* name);
// SpanKind member -> API index 0..4 (INTERNAL..CONSUMER); INTERNAL for anything unknown.
int kind_index(PyObject* kind);
// A time argument in unix nanoseconds (None: now).
uint64_t time_arg(PyObject* t);

// ------------------------------------------------------------------ records (span_lifecycle.cpp)

// Owned storage for the links of one record.
struct LinkStore {
  std::vector<LinkView> views;
  std::vector<std::array<uint8_t, 24>> ids;
};

SpanEventView span_view(SpanObject* sp, SpanEventType type);
// Adds one link from an API SpanContext and attributes; false when the link is not valid
// (as the official SDK: invalid context without attributes or trace state).
bool add_link_view(TracerObject* t, PyObject* sc, PyObject* attrs, Scratch& s, LinkStore& store);
// Writes the links of `store` as one record (a sampled span).
void write_links(SpanObject* sp, Scratch& s, LinkStore& store);
// Links given at start: a sequence of opentelemetry.trace.Link. Writes one record.
void write_start_links(SpanObject* sp, PyObject* links);
void write_start(SpanObject* sp, PyObject* attributes);
void write_end(SpanObject* sp);

// ------------------------------------------------------------------ kept data (span_lifecycle.cpp)

// The kept events (0) or links (1) of a keeping span (borrowed), else nullptr.
inline PyObject* kept_list(const SpanObject* sp, int which) {
  return sp->kept == nullptr ? nullptr : PyTuple_GET_ITEM(sp->kept, which);
}
// A read-only mapping of the attributes as the file gets them (new reference), or nullptr on
// memory errors.
PyObject* cleaned_proxy(PyObject* attrs, int64_t max_count, int64_t max_len);
// Appends (a, b, c) - or (a, b) when c is nullptr - to `list`; never leaves an error set.
void keep_item(PyObject* list, PyObject* a, PyObject* b, PyObject* c);
void keep_link(SpanObject* sp, PyObject* sc, PyObject* attrs);
// Calls hub.on_start(span, context) or hub.on_end(span); a failure is swallowed (counted,
// warned about once).
void call_processor(SpanObject* sp, bool start, PyObject* context);

// ------------------------------------------------------------------ life of a span

// Starts a span. Returns a new reference (a native span; for a disabled
// tracer one that only carries the parent's context); nullptr only on memory errors.
// `current` receives the current context when it was read (new reference), for
// start_as_current_span to reuse.
PyObject* tracer_start(TracerObject* t, PyObject* name, PyObject* context, PyObject* kind, PyObject* attributes,
                       PyObject* links, PyObject* start_time, bool record_exception, bool set_status_on_exception,
                       PyObject** current);
// Ends a span (span_lifecycle.cpp); later calls only warn.
void span_end(SpanObject* sp, uint64_t end_time);
// The exit path of a span used as a context manager (escaped) or of start_as_current_span.
void on_exception(SpanObject* sp, PyObject* exc, bool escaped, bool record, bool set_status);
// Tracer.start_as_current_span (py_span_cm.cpp, with the context manager it returns).
PyObject* tracer_start_as_current_span(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames);

void bind_tracer(nb::module_& m);
void bind_span(nb::module_& m);
void bind_span_cm(nb::module_& m);

}  // namespace otlp_mmap::py::sdk

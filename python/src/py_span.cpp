// Native tracing for otlp_mmap.sdk: Tracer, Span and the context manager returned by
// Tracer.start_as_current_span.
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
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "sdk_core.hpp"

namespace otlp_mmap::py::sdk {

namespace {

constexpr uint32_t kHasIsRemote = 0x100;  // OTLP SpanFlags: bit 8, the is_remote bit (9) is meaningful
constexpr uint32_t kIsRemote = 0x200;

enum SamplerRoot : uint8_t { kAlwaysOn = 0, kAlwaysOff = 1, kRatio = 2 };

struct TracerObject {
  PyObject_HEAD PyObject* writer;  // the Python Writer
  WriterAccess w;
  int64_t scope_ref;
  uint8_t sampler_root;
  bool parent_based;
  bool enabled;
  bool sample_all;       // traceidratio with a bound of 2**64
  uint64_t bound;        // traceidratio: sampled when the low 64 bits of the trace id are below
  PyObject* py_sampler;  // a custom sampler (should_sample), or nullptr
  int64_t max_attributes, max_events, max_links, max_event_attributes, max_link_attributes;
  int64_t max_span_attribute_length, max_attribute_length;
  PyObject* name;
  PyObject* version;
  PyObject* processor;  // the span processor hub (on_start, on_end), or nullptr
  PyObject* info;       // resource, scope, events(raw), links(raw) for span getters; or nullptr
  PyObject* weakreflist;
};

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

// Static types, initialised field by field in bind_*().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
PyTypeObject TracerType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject SpanType = {PyVarObject_HEAD_INIT(nullptr, 0)};
PyTypeObject CmType = {PyVarObject_HEAD_INIT(nullptr, 0)};
#pragma GCC diagnostic pop

// The kept events (0) or links (1) of a keeping span (borrowed), else nullptr.
inline PyObject* kept_list(const SpanObject* sp, int which) {
  return sp->kept == nullptr ? nullptr : PyTuple_GET_ITEM(sp->kept, which);
}

inline bool is_span(PyObject* o) { return Py_TYPE(o) == &SpanType; }
inline SpanObject* as_span(PyObject* o) { return reinterpret_cast<SpanObject*>(o); }

std::string_view bytes_view(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

std::string_view str_view_or_empty(PyObject* s) {
  if (s == nullptr || !PyUnicode_Check(s)) return {};
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (p == nullptr) {
    PyErr_Clear();
    return {};
  }
  return {p, static_cast<size_t>(n)};
}

// A span name as a str (new reference); never fails.
PyObject* name_arg(PyObject* name) {
  if (name != nullptr && PyUnicode_Check(name)) {
    Py_INCREF(name);
    return name;
  }
  PyObject* s = name == nullptr ? nullptr : PyObject_Str(name);
  if (s == nullptr) {
    PyErr_Clear();
    s = PyUnicode_FromString("");
  }
  warn_once(Warn::kBadName, "span name must be a str, got %.100s", name ? Py_TYPE(name)->tp_name : "nothing");
  return s;
}

// SpanKind member -> API index 0..4 (INTERNAL..CONSUMER); INTERNAL for anything unknown.
int kind_index(PyObject* kind) {
  if (kind == nullptr || kind == Py_None) return 0;
  for (int i = 0; i < 5; ++i) {
    if (kind == g_api.span_kinds[i]) return i;
  }
  PyObject* v = PyLong_Check(kind) ? (Py_INCREF(kind), kind) : PyObject_GetAttr(kind, g_sn.value_attr);
  if (v == nullptr) {
    PyErr_Clear();
    return 0;
  }
  long x = PyLong_Check(v) ? PyLong_AsLong(v) : -1;
  Py_DECREF(v);
  if (x < 0 || x > 4) {
    PyErr_Clear();
    return 0;
  }
  return static_cast<int>(x);
}

uint64_t time_arg(PyObject* t) {
  if (t == nullptr || t == Py_None) return now_ns();
  if (PyLong_Check(t)) {
    unsigned long long v = PyLong_AsUnsignedLongLong(t);
    if (!(v == static_cast<unsigned long long>(-1) && PyErr_Occurred())) return v;
    PyErr_Clear();
  } else if (PyFloat_Check(t)) {
    double d = PyFloat_AS_DOUBLE(t);
    if (d >= 0 && d < 1.8e19) return static_cast<uint64_t>(d);
  }
  warn_once(Warn::kBadName, "a time must be an int of unix nanoseconds, got %R; using the current time", t);
  return now_ns();
}

// ------------------------------------------------------------------ kept data (span processors)

// `v` with strings cut to `max_len` characters (also the strings of a tuple); new reference.
PyObject* truncated(PyObject* v, int64_t max_len) {
  if (max_len >= 0 && PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) > max_len) {
    return PyUnicode_Substring(v, 0, static_cast<Py_ssize_t>(max_len));
  }
  if (max_len >= 0 && PyTuple_Check(v)) {
    const Py_ssize_t n = PyTuple_GET_SIZE(v);
    bool any = false;
    for (Py_ssize_t i = 0; i < n && !any; ++i) {
      PyObject* e = PyTuple_GET_ITEM(v, i);
      any = PyUnicode_Check(e) && PyUnicode_GET_LENGTH(e) > max_len;
    }
    if (any) {
      PyObject* t = PyTuple_New(n);
      if (t == nullptr) return nullptr;
      for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* e = truncated(PyTuple_GET_ITEM(v, i), max_len);
        if (e == nullptr) {
          Py_DECREF(t);
          return nullptr;
        }
        PyTuple_SET_ITEM(t, i, e);
      }
      return t;
    }
  }
  Py_INCREF(v);
  return v;
}

// Adds to the dict `out` the valid attributes of `attrs` (a mapping or None) as the file gets
// them: bad keys and values left out, values normalised (lists become tuples) and cut to
// `max_len`, no more than `max_count` keys in `out` (-1: no limit). Never leaves an error set.
void clean_into(PyObject* out, PyObject* attrs, int64_t max_count, int64_t max_len) {
  if (attrs == nullptr || attrs == Py_None) return;
  PyObject* items = PyDict_Check(attrs) ? PyDict_Items(attrs) : PyMapping_Items(attrs);
  if (items == nullptr) {
    PyErr_Clear();
    return;
  }
  const Py_ssize_t n = PyList_GET_SIZE(items);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* pair = PyList_GET_ITEM(items, i);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) continue;
    PyObject* key = PyTuple_GET_ITEM(pair, 0);
    if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) continue;
    int known = PyDict_Contains(out, key);
    if (known < 0) break;
    if (known == 0 && max_count >= 0 && PyDict_GET_SIZE(out) >= max_count) continue;
    PyObject* v = clean_value(PyTuple_GET_ITEM(pair, 1));
    if (v == nullptr) continue;
    PyObject* c = truncated(v, max_len);
    Py_DECREF(v);
    if (c == nullptr || PyDict_SetItem(out, key, c) < 0) {
      Py_XDECREF(c);
      break;
    }
    Py_DECREF(c);
  }
  Py_DECREF(items);
  PyErr_Clear();
}

// A read-only mapping of the cleaned attributes (new reference), or nullptr on memory errors.
PyObject* cleaned_proxy(PyObject* attrs, int64_t max_count, int64_t max_len) {
  PyObject* d = PyDict_New();
  if (d == nullptr) return nullptr;
  clean_into(d, attrs, max_count, max_len);
  PyObject* p = PyDictProxy_New(d);
  Py_DECREF(d);
  return p;
}

// Appends (a, b, c) - or (a, b) when c is nullptr - to `list`; never leaves an error set.
void keep_item(PyObject* list, PyObject* a, PyObject* b, PyObject* c) {
  if (list == nullptr || a == nullptr || b == nullptr) {
    PyErr_Clear();
    return;
  }
  PyObject* t = c ? PyTuple_Pack(3, a, b, c) : PyTuple_Pack(2, a, b);
  if (t == nullptr || PyList_Append(list, t) < 0) PyErr_Clear();
  Py_XDECREF(t);
}

void keep_link(SpanObject* sp, PyObject* sc, PyObject* attrs) {
  PyObject* p = cleaned_proxy(attrs, sp->tracer->max_link_attributes, sp->tracer->max_attribute_length);
  keep_item(kept_list(sp, 1), sc, p, nullptr);
  Py_XDECREF(p);
}

// Calls hub.<method>(span[, context]); a failure is swallowed (counted, warned about once).
void call_processor(SpanObject* sp, bool start, PyObject* context) {
  PyObject* hub = sp->tracer->processor;
  if (hub == nullptr) return;
  static PyObject* on_start = PyUnicode_InternFromString("on_start");
  static PyObject* on_end = PyUnicode_InternFromString("on_end");
  PyObject* self = reinterpret_cast<PyObject*>(sp);
  Py_INCREF(hub);
  PyObject* r = start ? PyObject_CallMethodObjArgs(hub, on_start, self, context ? context : Py_None, nullptr)
                      : PyObject_CallMethodObjArgs(hub, on_end, self, nullptr);
  Py_DECREF(hub);
  if (r == nullptr) {
    // Ctrl-C arriving while a processor runs is not lost: it is raised again at the next check.
    const bool interrupt = PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) != 0;
    swallow_error(start ? "a span processor's on_start" : "a span processor's on_end");
    if (interrupt) PyErr_SetInterrupt();
  } else {
    Py_DECREF(r);
  }
}

// ------------------------------------------------------------------ span records

SpanEventView span_view(SpanObject* sp, SpanEventType type) {
  SpanEventView v;
  v.type = type;
  v.scope_ref = sp->scope_ref;
  v.trace_id = bytes_view(sp->trace_id, 16);
  v.span_id = bytes_view(sp->span_id, 8);
  return v;
}

uint32_t span_flags(SpanObject* sp) {
  return static_cast<uint32_t>(sp->trace_flags) | kHasIsRemote | (sp->parent_remote ? kIsRemote : 0);
}

// Owned storage for the links of one record.
struct LinkStore {
  std::vector<LinkView> views;
  std::vector<std::array<uint8_t, 24>> ids;
};

// Adds one link from an API SpanContext and attributes; false when the link is not valid
// (as the official SDK: invalid context without attributes or trace state).
bool add_link_view(TracerObject* t, PyObject* sc, PyObject* attrs, Scratch& s, LinkStore& store) {
  Parent p;
  bool valid = parent_from_span_context(sc, p);
  const bool has_attrs = attrs != nullptr && attrs != Py_None && PyObject_IsTrue(attrs) == 1;
  PyErr_Clear();
  if (!valid && !has_attrs && p.ts_header == nullptr) return false;
  std::array<uint8_t, 24> id{};
  std::memcpy(id.data(), p.trace_id, 16);
  std::memcpy(id.data() + 16, p.span_id, 8);
  store.ids.push_back(id);
  LinkView l;
  l.flags = static_cast<uint32_t>(p.flags) | kHasIsRemote | (p.remote ? kIsRemote : 0);
  if (p.ts_header != nullptr) {
    s.owned.push_back(nb::borrow(p.ts_header));
    l.trace_state = str_view_or_empty(p.ts_header);
  }
  AttrLimits lim{t->max_link_attributes, t->max_attribute_length};
  uint32_t dropped = 0;
  l.attributes = convert_attrs(has_attrs ? attrs : nullptr, s, lim, 0, dropped);
  l.dropped_attributes_count = dropped;
  store.views.push_back(l);
  return true;
}

void finalize_link_ids(LinkStore& store) {
  for (size_t i = 0; i < store.views.size(); ++i) {
    store.views[i].trace_id = bytes_view(store.ids[i].data(), 16);
    store.views[i].span_id = bytes_view(store.ids[i].data() + 16, 8);
  }
}

// Links given at start: a sequence of opentelemetry.trace.Link. Writes one record.
void write_start_links(SpanObject* sp, PyObject* links) {
  if (links == nullptr || links == Py_None) return;
  PyObject* seq = PySequence_Fast(links, "links must be a sequence");
  if (seq == nullptr) {
    PyErr_Clear();
    warn_once(Warn::kBadLink, "links must be a sequence of opentelemetry.trace.Link, got %.100s",
              Py_TYPE(links)->tp_name);
    return;
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n == 0) {
    Py_DECREF(seq);
    return;
  }
  TracerObject* t = sp->tracer;
  ScratchLease s;
  LinkStore store;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* link = PySequence_Fast_GET_ITEM(seq, i);
    if (link == Py_None) continue;
    PyObject* sc = PyObject_GetAttr(link, g_sn.context);
    PyObject* attrs = sc ? PyObject_GetAttr(link, g_sn.attributes) : nullptr;
    if (sc == nullptr || attrs == nullptr) {
      PyErr_Clear();
      Py_XDECREF(sc);
      warn_once(Warn::kBadLink, "ignoring a link that is not an opentelemetry.trace.Link: %.100s",
                Py_TYPE(link)->tp_name);
      continue;
    }
    s->owned.push_back(nb::steal(sc));
    s->owned.push_back(nb::steal(attrs));
    if (t->max_links >= 0 && sp->link_count >= t->max_links) {
      // Only valid links count as dropped, as they would have been kept.
      ++sp->dropped_links;
      g_counters.dropped_links.fetch_add(1, std::memory_order_relaxed);
      warn_once(Warn::kLinkLimit, "Span link limit (%lld) reached: further links are dropped and counted",
                static_cast<long long>(t->max_links));
      continue;
    }
    if (add_link_view(t, sc, attrs, *s, store)) {
      ++sp->link_count;
      if (sp->keep) keep_link(sp, sc, attrs);
    }
  }
  Py_DECREF(seq);
  if (store.views.empty() || !sp->sampled) return;
  finalize_link_ids(store);
  SpanEventView v = span_view(sp, SpanEventType::kLink);
  v.links = store.views;
  write_record(t->w, *s, v);
}

void write_start(SpanObject* sp, PyObject* attributes) {
  TracerObject* t = sp->tracer;
  ScratchLease s;
  SpanEventView v = span_view(sp, SpanEventType::kStart);
  if (sp->has_parent) v.parent_span_id = bytes_view(sp->parent_span_id, 8);
  v.flags = span_flags(sp);
  v.name = str_view_or_empty(sp->name);
  v.kind = sp->kind_proto;
  v.start_time_unix_nano = sp->start_time;
  v.trace_state = str_view_or_empty(sp->ts_header);
  AttrLimits lim{t->max_attributes, t->max_span_attribute_length};
  uint32_t dropped = 0;
  v.attributes = convert_attrs(attributes, *s, lim, 0, dropped);
  sp->attr_count = static_cast<uint32_t>(v.attributes.size());
  sp->dropped_attrs += dropped;
  write_record(t->w, *s, v);
}

void write_end(SpanObject* sp) {
  TracerObject* t = sp->tracer;
  if (sp->pending_name != nullptr) {
    SpanEventView v = span_view(sp, SpanEventType::kName);
    v.name = str_view_or_empty(sp->pending_name);
    ScratchLease s;
    write_record(t->w, *s, v);
  }
  if (sp->pending_attrs != nullptr && PyDict_GET_SIZE(sp->pending_attrs) > 0) {
    ScratchLease s;
    SpanEventView v = span_view(sp, SpanEventType::kAttributes);
    AttrLimits lim{-1, t->max_span_attribute_length};  // the count was enforced by set_attribute
    uint32_t dropped = 0;
    v.attributes = convert_attrs(sp->pending_attrs, *s, lim, 0, dropped);
    sp->dropped_attrs += dropped;
    if (!v.attributes.empty()) write_record(t->w, *s, v);
  }
  ScratchLease s;
  SpanEventView v = span_view(sp, SpanEventType::kEnd);
  v.end_time_unix_nano = sp->end_time;
  if (sp->status_code != 0) {
    v.has_status = true;
    v.status_code = sp->status_code;
    if (sp->status_code == 2) v.status_message = str_view_or_empty(sp->status_desc);
  }
  v.dropped_attributes_count = sp->dropped_attrs;
  v.dropped_events_count = sp->dropped_events;
  v.dropped_links_count = sp->dropped_links;
  write_record(t->w, *s, v);
}

// ------------------------------------------------------------------ starting spans

bool builtin_decision(TracerObject* t, const Parent& p, const uint8_t trace_id[16]) {
  if (t->parent_based && p.valid) return (p.flags & 1) != 0;
  switch (t->sampler_root) {
    case kAlwaysOn: return true;
    case kAlwaysOff: return false;
    default: {
      uint64_t low = 0;
      for (int i = 8; i < 16; ++i) low = (low << 8) | trace_id[i];
      return t->sample_all || low < t->bound;
    }
  }
}

// A custom sampler's should_sample(); on any error the default (parent-based, always on).
void custom_decision(TracerObject* t, PyObject* ctx, const Parent& p, const uint8_t trace_id[16], PyObject* name,
                     int kind, PyObject* attributes, PyObject* links, bool& sampled, bool& recording,
                     PyObject** attrs_out, PyObject** ts_out) {
  sampled = recording = p.valid ? (p.flags & 1) != 0 : true;
  PyObject* tid = be_to_int(trace_id, 16);
  if (tid == nullptr) {
    swallow_error("sampler");
    return;
  }
  PyObject* args[] = {
      t->py_sampler,          ctx ? ctx : Py_None, tid, name, g_api.span_kinds[kind], attributes ? attributes : Py_None,
      links ? links : Py_None};
  PyObject* res = PyObject_VectorcallMethod(g_sn.should_sample, args, 7 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
  Py_DECREF(tid);
  if (res == nullptr) {
    warn_once(Warn::kSampler, "the sampler raised; sampling with parentbased_always_on instead");
    swallow_error("sampler.should_sample");
    return;
  }
  PyObject* decision = PyObject_GetAttr(res, g_sn.decision);
  PyObject* is_s = decision ? PyObject_CallMethodNoArgs(decision, g_sn.is_sampled) : nullptr;
  PyObject* is_r = decision ? PyObject_CallMethodNoArgs(decision, g_sn.is_recording) : nullptr;
  if (is_s != nullptr && is_r != nullptr) {
    sampled = PyObject_IsTrue(is_s) == 1;
    recording = PyObject_IsTrue(is_r) == 1;
    PyObject* a = PyObject_GetAttr(res, g_sn.attributes);
    if (a != nullptr && a != Py_None) {
      *attrs_out = a;
    } else {
      Py_XDECREF(a);
    }
    PyObject* ts = PyObject_GetAttr(res, g_sn.trace_state);
    if (ts != nullptr && ts != Py_None) {
      *ts_out = ts;
    } else {
      Py_XDECREF(ts);
    }
  }
  PyErr_Clear();
  Py_XDECREF(is_s);
  Py_XDECREF(is_r);
  Py_XDECREF(decision);
  Py_DECREF(res);
}

SpanObject* new_span() {
  SpanObject* sp = PyObject_GC_New(SpanObject, &SpanType);
  if (sp == nullptr) return nullptr;
  // Everything after the header starts zeroed.
  std::memset(reinterpret_cast<char*>(sp) + sizeof(PyObject), 0, sizeof(SpanObject) - sizeof(PyObject));
  return sp;
}

// Starts a span. Returns a new reference (a native span, or the API's INVALID-like span for a
// disabled tracer without parent); nullptr only on memory errors. `current` receives the
// current context when it was read (new reference), for start_as_current_span to reuse.
PyObject* tracer_start(TracerObject* t, PyObject* name, PyObject* context, PyObject* kind, PyObject* attributes,
                       PyObject* links, PyObject* start_time, bool record_exception, bool set_status_on_exception,
                       PyObject** current) {
  PyObject* ctx = context;
  if (ctx == nullptr || ctx == Py_None) {
    ctx = context_current();
    if (ctx == nullptr) {
      swallow_error("reading the current context");
      ctx = nullptr;
    }
    if (current != nullptr) {
      *current = ctx;
      Py_XINCREF(ctx);
    }
  } else {
    Py_INCREF(ctx);
  }
  Parent p;
  parent_from_context(ctx, p);

  SpanObject* sp = new_span();
  if (sp == nullptr) {
    Py_XDECREF(ctx);
    return nullptr;
  }
  Py_INCREF(t);
  sp->tracer = t;
  sp->scope_ref = t->scope_ref;
  sp->name = name_arg(name);
  const int ki = kind_index(kind);
  sp->kind = g_api.span_kinds[ki];
  Py_INCREF(sp->kind);
  sp->kind_proto = static_cast<uint8_t>(ki + 1);
  sp->record_exception = record_exception;
  sp->set_status_on_exception = set_status_on_exception;

  if (!t->enabled) {
    // A disabled or shut-down tracer: a span that only carries the parent's context.
    if (!p.valid) {
      // All-zero ids: an invalid span context, as the API's INVALID_SPAN has.
      Py_XDECREF(ctx);
      PyObject_GC_Track(sp);
      return reinterpret_cast<PyObject*>(sp);
    }
    std::memcpy(sp->trace_id, p.trace_id, 16);
    std::memcpy(sp->span_id, p.span_id, 8);
    sp->trace_flags = p.flags;
    sp->remote = p.remote;
    sp->trace_state = p.trace_state;
    p.trace_state = nullptr;
    sp->ts_header = p.ts_header;
    p.ts_header = nullptr;
    Py_XDECREF(ctx);
    PyObject_GC_Track(sp);
    return reinterpret_cast<PyObject*>(sp);
  }

  if (p.valid) {
    std::memcpy(sp->trace_id, p.trace_id, 16);
    std::memcpy(sp->parent_span_id, p.span_id, 8);
    sp->has_parent = true;
    sp->parent_remote = p.remote;
    sp->parent_flags = p.flags;
  } else {
    new_trace_id(sp->trace_id);
  }
  new_span_id(sp->span_id);

  bool sampled, recording;
  PyObject* sampler_attrs = nullptr;
  PyObject* sampler_ts = nullptr;
  if (t->py_sampler == nullptr) {
    sampled = recording = builtin_decision(t, p, sp->trace_id);
  } else {
    custom_decision(t, ctx, p, sp->trace_id, sp->name, ki, attributes, links, sampled, recording, &sampler_attrs,
                    &sampler_ts);
  }
  Py_XDECREF(ctx);
  sp->sampled = sampled;
  sp->recording = recording || sampled;
  // W3C level 2: the trace id is random when we made it; a child keeps its parent's bit.
  const uint8_t random_bit = p.valid ? (p.flags & 2) : 2;
  sp->trace_flags = static_cast<uint8_t>((sampled ? 1 : 0) | random_bit);
  if (sampler_ts != nullptr) {
    sp->trace_state = sampler_ts;
    sp->ts_header = trace_state_header(sampler_ts);
  } else {
    sp->trace_state = p.trace_state;
    p.trace_state = nullptr;
    sp->ts_header = p.ts_header;
    p.ts_header = nullptr;
  }
  if (sampler_attrs != nullptr) attributes = sampler_attrs;
  sp->start_time = time_arg(start_time);

  if (sp->recording) {
    if (t->processor != nullptr) {
      PyObject* kept_events = PyList_New(0);
      PyObject* kept_links = kept_events ? PyList_New(0) : nullptr;
      sp->kept = kept_links ? PyTuple_Pack(2, kept_events, kept_links) : nullptr;
      Py_XDECREF(kept_events);
      Py_XDECREF(kept_links);
      sp->keep = sp->kept != nullptr;
      PyErr_Clear();
    }
    if (attributes != nullptr && attributes != Py_None) {
      if (PyDict_Check(attributes) && !sp->keep) {
        Py_INCREF(attributes);
        sp->start_attrs = attributes;
      } else {
        PyObject* d = PyDict_New();
        if (d != nullptr && PyDict_Merge(d, attributes, 1) == 0) {
          sp->start_attrs = d;
        } else {
          Py_XDECREF(d);
          PyErr_Clear();
          ++sp->dropped_attrs;
          warn_once(Warn::kInvalidValue, "span attributes must be a mapping, got %.100s", Py_TYPE(attributes)->tp_name);
        }
      }
    }
    if (sp->sampled) {
      write_start(sp, sp->start_attrs);
    } else if (sp->start_attrs != nullptr) {
      sp->attr_count = static_cast<uint32_t>(PyDict_GET_SIZE(sp->start_attrs));
    }
    write_start_links(sp, links);
  }
  Py_XDECREF(sampler_attrs);
  if (PyErr_Occurred()) swallow_error("start_span");
  PyObject_GC_Track(sp);
  if (sp->keep) call_processor(sp, true, context == Py_None ? nullptr : context);
  return reinterpret_cast<PyObject*>(sp);
}

// ------------------------------------------------------------------ span operations

bool check_open(SpanObject* sp, const char* what) {
  if (!sp->recording) return false;
  if (sp->ended) {
    warn_once(Warn::kEndedSpan, "Tried calling %s on an ended span.", what);
    return false;
  }
  return true;
}

void span_end(SpanObject* sp, uint64_t end_time) {
  if (sp->ended) {
    if (sp->recording) warn_once(Warn::kEndedSpan, "Calling end() on an ended span.");
    return;
  }
  sp->ended = true;
  sp->end_time = end_time;
  if (sp->sampled) write_end(sp);
  if (PyErr_Occurred()) swallow_error("Span.end");
  if (sp->keep) {
    call_processor(sp, false, nullptr);  // the attributes stay for the processors' ReadableSpan
    return;
  }
  Py_CLEAR(sp->start_attrs);
  Py_CLEAR(sp->pending_attrs);
}

// One attribute after the start; the span is recording and open.
void set_one_attribute(SpanObject* sp, PyObject* key, PyObject* value) {
  TracerObject* t = sp->tracer;
  if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) {
    ++sp->dropped_attrs;
    g_counters.invalid_attributes.fetch_add(1, std::memory_order_relaxed);
    warn_once(Warn::kInvalidKey, "Invalid attribute key %R: keys must be non-empty strings; dropped", key);
    return;
  }
  PyObject* v = clean_value(value);
  if (v == nullptr) {
    ++sp->dropped_attrs;
    g_counters.invalid_attributes.fetch_add(1, std::memory_order_relaxed);
    warn_once(Warn::kInvalidValue,
              "Invalid value of type %.100s for attribute %R: expected str, bool, int, float, bytes, None, or a "
              "sequence or mapping of those; dropped (further invalid attributes are dropped and counted silently)",
              Py_TYPE(value)->tp_name, key);
    return;
  }
  int known = 0;
  if (sp->pending_attrs != nullptr) known = PyDict_Contains(sp->pending_attrs, key);
  if (known == 0 && sp->start_attrs != nullptr) known = PyDict_Contains(sp->start_attrs, key);
  if (known < 0) {
    PyErr_Clear();
    known = 0;
  }
  if (known == 0) {
    if (t->max_attributes >= 0 && sp->attr_count >= t->max_attributes) {
      ++sp->dropped_attrs;
      g_counters.limited_attributes.fetch_add(1, std::memory_order_relaxed);
      warn_once(Warn::kAttributeLimit,
                "Attribute count limit (%lld) reached: further attributes are dropped and counted "
                "(dropped_attributes_count)",
                static_cast<long long>(t->max_attributes));
      Py_DECREF(v);
      return;
    }
    ++sp->attr_count;
  }
  if (sp->pending_attrs == nullptr) {
    sp->pending_attrs = PyDict_New();
    if (sp->pending_attrs == nullptr) {
      Py_DECREF(v);
      swallow_error("set_attribute");
      return;
    }
  }
  if (PyDict_SetItem(sp->pending_attrs, key, v) < 0) swallow_error("set_attribute");
  Py_DECREF(v);
}

void add_event_impl(SpanObject* sp, PyObject* name, PyObject* attributes, PyObject* timestamp) {
  TracerObject* t = sp->tracer;
  if (t->max_events >= 0 && sp->event_count >= t->max_events) {
    ++sp->dropped_events;
    g_counters.dropped_events.fetch_add(1, std::memory_order_relaxed);
    warn_once(Warn::kEventLimit, "Span event limit (%lld) reached: further events are dropped and counted",
              static_cast<long long>(t->max_events));
    return;
  }
  ++sp->event_count;
  if (!sp->sampled && !sp->keep) return;
  PyObject* n = name_arg(name);
  const uint64_t when = time_arg(timestamp);
  if (sp->keep) {
    PyObject* p = cleaned_proxy(attributes, t->max_event_attributes, t->max_attribute_length);
    PyObject* ts = PyLong_FromUnsignedLongLong(when);
    keep_item(kept_list(sp, 0), n, p, ts);
    Py_XDECREF(p);
    Py_XDECREF(ts);
    if (!sp->sampled) {
      Py_DECREF(n);
      return;
    }
  }
  ScratchLease s;
  s->owned.push_back(nb::steal(n));
  SpanEventView v = span_view(sp, SpanEventType::kAddEvent);
  v.name = str_view_or_empty(n);
  v.event_time_unix_nano = when;
  AttrLimits lim{t->max_event_attributes, t->max_attribute_length};
  uint32_t dropped = 0;
  v.attributes = convert_attrs(attributes, *s, lim, 0, dropped);
  v.dropped_attributes_count = dropped;
  write_record(t->w, *s, v);
}

// The exception event; escaped as the official SDK records it.
void record_exception_impl(SpanObject* sp, PyObject* exc, PyObject* attributes, PyObject* timestamp, bool escaped) {
  PyObject* attrs =
      PyObject_CallFunctionObjArgs(g_api.exception_attributes, exc, escaped ? Py_True : Py_False, nullptr);
  if (attrs == nullptr) {
    swallow_error("record_exception");
    return;
  }
  if (attributes != nullptr && attributes != Py_None && PyDict_Check(attrs)) {
    if (PyDict_Merge(attrs, attributes, 1) < 0) swallow_error("record_exception attributes");
  }
  static PyObject* exception_name = PyUnicode_InternFromString("exception");
  add_event_impl(sp, exception_name, attrs, timestamp);
  Py_DECREF(attrs);
}

// f"{type(exc).__name__}: {exc}"
PyObject* exception_description(PyObject* exc) {
  PyObject* tname = PyObject_GetAttrString(reinterpret_cast<PyObject*>(Py_TYPE(exc)), "__name__");
  PyObject* text = tname ? PyObject_Str(exc) : nullptr;
  PyObject* d = text ? PyUnicode_FromFormat("%S: %S", tname, text) : nullptr;
  Py_XDECREF(tname);
  Py_XDECREF(text);
  if (d == nullptr) PyErr_Clear();
  return d;
}

void set_status_impl(SpanObject* sp, int code, PyObject* desc) {
  if (sp->status_code == 1 || code == 0) return;  // OK is final; UNSET is ignored
  sp->status_code = static_cast<uint8_t>(code);
  PyObject* d = (code == 2 && desc != nullptr && PyUnicode_Check(desc)) ? desc : nullptr;
  Py_XINCREF(d);
  Py_XSETREF(sp->status_desc, d);
}

int status_code_index(PyObject* code) {
  for (int i = 0; i < 3; ++i) {
    if (code == g_api.status_codes[i]) return i;
  }
  return -1;
}

// The exit path of a span used as a context manager (escaped) or of start_as_current_span.
void on_exception(SpanObject* sp, PyObject* exc, bool escaped, bool record, bool set_status) {
  if (!sp->recording || sp->ended) return;
  if (record) record_exception_impl(sp, exc, nullptr, nullptr, escaped);
  if (set_status) {
    PyObject* d = exception_description(exc);
    set_status_impl(sp, 2, d);
    Py_XDECREF(d);
  }
}

PyObject* build_span_context(SpanObject* sp) {
  if (sp->span_context != nullptr) {
    Py_INCREF(sp->span_context);
    return sp->span_context;
  }
  PyObject* tid = be_to_int(sp->trace_id, 16);
  PyObject* sid = tid ? be_to_int(sp->span_id, 8) : nullptr;
  PyObject* flags = nullptr;
  if (sid != nullptr) {
    if (sp->trace_flags < 4) {
      flags = g_api.trace_flags[sp->trace_flags];
      Py_INCREF(flags);
    } else {
      flags = PyObject_CallFunction(g_api.trace_flags_type, "i", static_cast<int>(sp->trace_flags));
    }
  }
  PyObject* valid = std::any_of(sp->span_id, sp->span_id + 8, [](uint8_t b) { return b != 0; }) ? Py_True : Py_False;
  PyObject* sc = nullptr;
  if (flags != nullptr) {
    PyObject* ts = sp->trace_state ? sp->trace_state : g_api.default_trace_state;
    PyObject* items = PyTuple_Pack(6, tid, sid, sp->remote ? Py_True : Py_False, flags, ts, valid);
    PyObject* args = items ? PyTuple_Pack(1, items) : nullptr;
    if (args != nullptr) {
      sc = PyTuple_Type.tp_new(reinterpret_cast<PyTypeObject*>(g_api.span_context_type), args, nullptr);
    }
    Py_XDECREF(args);
    Py_XDECREF(items);
  }
  Py_XDECREF(tid);
  Py_XDECREF(sid);
  Py_XDECREF(flags);
  if (sc == nullptr) return nullptr;
  Py_INCREF(sc);
  sp->span_context = sc;
  return sc;
}

// ------------------------------------------------------------------ Span methods

PyObject* span_get_span_context(PyObject* self, PyObject*) {
  PyObject* sc = build_span_context(as_span(self));
  if (sc == nullptr) {
    swallow_error("get_span_context");
    Py_RETURN_NONE;
  }
  return sc;
}

PyObject* span_is_recording(PyObject* self, PyObject*) {
  SpanObject* sp = as_span(self);
  return PyBool_FromLong(sp->recording && !sp->ended);
}

PyObject* span_set_attribute(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[2];
  if (!parse_args("set_attribute", args, nargs, kwnames, {g_sn.key, g_sn.value}, 2, a)) return nullptr;
  if (a[0] == nullptr || a[1] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "set_attribute() needs key and value");
    return nullptr;
  }
  SpanObject* sp = as_span(self);
  if (check_open(sp, "set_attribute")) set_one_attribute(sp, a[0], a[1]);
  Py_RETURN_NONE;
}

PyObject* span_set_attributes(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[1];
  if (!parse_args("set_attributes", args, nargs, kwnames, {g_sn.attributes}, 1, a)) return nullptr;
  SpanObject* sp = as_span(self);
  if (a[0] == nullptr || a[0] == Py_None || !check_open(sp, "set_attributes")) Py_RETURN_NONE;
  PyObject* items = PyDict_Check(a[0]) ? PyDict_Items(a[0]) : PyMapping_Items(a[0]);
  if (items == nullptr) {
    PyErr_Clear();
    ++sp->dropped_attrs;
    warn_once(Warn::kInvalidValue, "set_attributes() needs a mapping, got %.100s", Py_TYPE(a[0])->tp_name);
    Py_RETURN_NONE;
  }
  const Py_ssize_t n = PyList_GET_SIZE(items);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* pair = PyList_GET_ITEM(items, i);
    if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
      set_one_attribute(sp, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
    }
  }
  Py_DECREF(items);
  Py_RETURN_NONE;
}

PyObject* span_add_event(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[3];
  if (!parse_args("add_event", args, nargs, kwnames, {g_sn.name, g_sn.attributes, g_sn.timestamp}, 3, a)) {
    return nullptr;
  }
  SpanObject* sp = as_span(self);
  if (check_open(sp, "add_event")) {
    add_event_impl(sp, a[0], a[1], a[2]);
    if (PyErr_Occurred()) swallow_error("add_event");
  }
  Py_RETURN_NONE;
}

PyObject* span_add_link(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[2];
  if (!parse_args("add_link", args, nargs, kwnames, {g_sn.context, g_sn.attributes}, 2, a)) return nullptr;
  SpanObject* sp = as_span(self);
  if (a[0] == nullptr || !check_open(sp, "add_link")) Py_RETURN_NONE;
  TracerObject* t = sp->tracer;
  ScratchLease s;
  LinkStore store;
  if (!add_link_view(t, a[0], a[1], *s, store)) Py_RETURN_NONE;
  if (t->max_links >= 0 && sp->link_count >= t->max_links) {
    ++sp->dropped_links;
    g_counters.dropped_links.fetch_add(1, std::memory_order_relaxed);
    warn_once(Warn::kLinkLimit, "Span link limit (%lld) reached: further links are dropped and counted",
              static_cast<long long>(t->max_links));
    Py_RETURN_NONE;
  }
  ++sp->link_count;
  if (sp->keep) keep_link(sp, a[0], a[1]);
  if (sp->sampled) {
    finalize_link_ids(store);
    SpanEventView v = span_view(sp, SpanEventType::kLink);
    v.links = store.views;
    write_record(t->w, *s, v);
  }
  if (PyErr_Occurred()) swallow_error("add_link");
  Py_RETURN_NONE;
}

PyObject* span_update_name(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[1];
  if (!parse_args("update_name", args, nargs, kwnames, {g_sn.name}, 1, a)) return nullptr;
  SpanObject* sp = as_span(self);
  if (check_open(sp, "update_name")) {
    PyObject* n = name_arg(a[0]);
    Py_INCREF(n);
    Py_XSETREF(sp->name, n);
    Py_XSETREF(sp->pending_name, n);
  }
  Py_RETURN_NONE;
}

PyObject* span_set_status(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[2];
  if (!parse_args("set_status", args, nargs, kwnames, {g_sn.status, g_sn.description}, 2, a)) return nullptr;
  SpanObject* sp = as_span(self);
  if (a[0] == nullptr || !check_open(sp, "set_status")) Py_RETURN_NONE;
  PyObject* status = a[0];
  PyObject* description = a[1] == Py_None ? nullptr : a[1];
  int code = status_code_index(status);
  if (code >= 0) {
    if (description != nullptr && code != 2) {
      warn_once(Warn::kBadStatus, "description should only be set when status_code is set to StatusCode.ERROR");
      description = nullptr;
    }
    if (description != nullptr && !PyUnicode_Check(description)) {
      warn_once(Warn::kBadStatus, "Invalid status description type, expected str");
      description = nullptr;
    }
    set_status_impl(sp, code, description);
    Py_RETURN_NONE;
  }
  // A Status object (or anything with status_code and description).
  PyObject* code_obj = PyObject_GetAttr(status, g_sn.status_code);
  code = code_obj ? status_code_index(code_obj) : -1;
  Py_XDECREF(code_obj);
  if (code < 0) {
    PyErr_Clear();
    warn_once(Warn::kBadStatus, "set_status() needs a Status or a StatusCode, got %.100s", Py_TYPE(status)->tp_name);
    Py_RETURN_NONE;
  }
  if (description != nullptr) {
    warn_once(Warn::kBadStatus, "Description %R ignored. Use either `Status` or `(StatusCode, Description)`",
              description);
  }
  PyObject* desc = code == 2 ? PyObject_GetAttr(status, g_sn.description) : nullptr;
  if (desc == nullptr) PyErr_Clear();
  set_status_impl(sp, code, desc);
  Py_XDECREF(desc);
  Py_RETURN_NONE;
}

PyObject* span_record_exception(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[4];
  if (!parse_args("record_exception", args, nargs, kwnames,
                  {g_sn.exception, g_sn.attributes, g_sn.timestamp, g_sn.escaped}, 4, a)) {
    return nullptr;
  }
  SpanObject* sp = as_span(self);
  if (a[0] == nullptr || !check_open(sp, "record_exception")) Py_RETURN_NONE;
  int escaped = truthy(a[3], false);
  if (escaped < 0) {
    PyErr_Clear();
    escaped = 0;
  }
  record_exception_impl(sp, a[0], a[1], a[2], escaped != 0);
  Py_RETURN_NONE;
}

PyObject* span_end_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[1];
  if (!parse_args("end", args, nargs, kwnames, {g_sn.end_time}, 1, a)) return nullptr;
  SpanObject* sp = as_span(self);
  span_end(sp, sp->ended ? 0 : time_arg(a[0]));
  Py_RETURN_NONE;
}

PyObject* span_enter(PyObject* self, PyObject*) {
  Py_INCREF(self);
  return self;
}

PyObject* span_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  SpanObject* sp = as_span(self);
  PyObject* exc = nargs >= 2 ? args[1] : nullptr;
  if (exc != nullptr && exc != Py_None) {
    on_exception(sp, exc, true, sp->record_exception, sp->set_status_on_exception);
  }
  span_end(sp, now_ns());
  Py_RETURN_FALSE;
}

PyObject* span_repr(PyObject* self) {
  SpanObject* sp = as_span(self);
  char tid[33], sid[17];
  for (int i = 0; i < 16; ++i) std::snprintf(tid + 2 * i, 3, "%02x", sp->trace_id[i]);
  for (int i = 0; i < 8; ++i) std::snprintf(sid + 2 * i, 3, "%02x", sp->span_id[i]);
  return PyUnicode_FromFormat("otlp_mmap.Span(name=%R, trace_id=0x%s, span_id=0x%s, recording=%s)", sp->name, tid, sid,
                              sp->recording && !sp->ended ? "True" : "False");
}

PyObject* span_get_name(PyObject* self, void*) {
  PyObject* n = as_span(self)->name;
  Py_INCREF(n);
  return n;
}
PyObject* span_get_kind(PyObject* self, void*) {
  PyObject* k = as_span(self)->kind;
  Py_INCREF(k);
  return k;
}
PyObject* span_get_start_time(PyObject* self, void*) { return PyLong_FromUnsignedLongLong(as_span(self)->start_time); }
PyObject* span_get_end_time(PyObject* self, void*) {
  SpanObject* sp = as_span(self);
  if (!sp->ended) Py_RETURN_NONE;
  return PyLong_FromUnsignedLongLong(sp->end_time);
}
PyObject* span_get_status(PyObject* self, void*) {
  SpanObject* sp = as_span(self);
  return PyObject_CallFunctionObjArgs(g_api.status_type, g_api.status_codes[sp->status_code],
                                      sp->status_desc ? sp->status_desc : Py_None, nullptr);
}
PyObject* span_get_parent(PyObject* self, void*) {
  SpanObject* sp = as_span(self);
  if (!sp->has_parent) Py_RETURN_NONE;
  PyObject* tid = be_to_int(sp->trace_id, 16);
  PyObject* sid = tid ? be_to_int(sp->parent_span_id, 8) : nullptr;
  PyObject* flags =
      sid ? PyObject_CallFunction(g_api.trace_flags_type, "i", static_cast<int>(sp->parent_flags)) : nullptr;
  PyObject* items = flags ? PyTuple_Pack(6, tid, sid, sp->parent_remote ? Py_True : Py_False, flags,
                                         g_api.default_trace_state, Py_True)
                          : nullptr;
  PyObject* args = items ? PyTuple_Pack(1, items) : nullptr;
  PyObject* sc =
      args ? PyTuple_Type.tp_new(reinterpret_cast<PyTypeObject*>(g_api.span_context_type), args, nullptr) : nullptr;
  Py_XDECREF(args);
  Py_XDECREF(items);
  Py_XDECREF(flags);
  Py_XDECREF(sid);
  Py_XDECREF(tid);
  return sc;
}
PyObject* span_get_context(PyObject* self, void*) { return span_get_span_context(self, nullptr); }
PyObject* span_get_instrumentation_scope_name(PyObject* self, void*) {
  PyObject* n = as_span(self)->tracer->name;
  Py_INCREF(n);
  return n;
}
PyObject* span_get_dropped(PyObject* self, void* which) {
  SpanObject* sp = as_span(self);
  switch (reinterpret_cast<intptr_t>(which)) {
    case 0: return PyLong_FromUnsignedLong(sp->dropped_attrs);
    case 1: return PyLong_FromUnsignedLong(sp->dropped_events);
    default: return PyLong_FromUnsignedLong(sp->dropped_links);
  }
}

// The attributes as the file gets them: the start attributes (valid ones, within the count
// limit), then those set later. Without a span processor they are not retained after end().
PyObject* span_get_attributes(PyObject* self, void*) {
  SpanObject* sp = as_span(self);
  TracerObject* t = sp->tracer;
  PyObject* d = PyDict_New();
  if (d == nullptr) return nullptr;
  if (sp->start_attrs != nullptr) clean_into(d, sp->start_attrs, t->max_attributes, t->max_span_attribute_length);
  if (sp->pending_attrs != nullptr) clean_into(d, sp->pending_attrs, -1, t->max_span_attribute_length);
  PyObject* p = PyDictProxy_New(d);
  Py_DECREF(d);
  return p;
}

// info.<name>, or None without info.
PyObject* span_info_attr(SpanObject* sp, const char* name) {
  if (sp->tracer->info == nullptr) Py_RETURN_NONE;
  return PyObject_GetAttrString(sp->tracer->info, name);
}
PyObject* span_get_resource(PyObject* self, void*) { return span_info_attr(as_span(self), "resource"); }
PyObject* span_get_scope(PyObject* self, void*) { return span_info_attr(as_span(self), "instrumentation_scope"); }

// Events or links: info.events(raw) / info.links(raw) make the API objects of the kept tuples.
PyObject* span_get_kept(PyObject* self, void* which) {
  SpanObject* sp = as_span(self);
  const bool events = which == nullptr;
  PyObject* raw = kept_list(sp, events ? 0 : 1);
  if (raw == nullptr || PyList_GET_SIZE(raw) == 0) return PyTuple_New(0);
  PyObject* items = PyList_AsTuple(raw);
  if (items == nullptr || sp->tracer->info == nullptr) return items;
  static PyObject* events_str = PyUnicode_InternFromString("events");
  static PyObject* links_str = PyUnicode_InternFromString("links");
  PyObject* r = PyObject_CallMethodObjArgs(sp->tracer->info, events ? events_str : links_str, items, nullptr);
  Py_DECREF(items);
  return r;
}

int span_traverse(PyObject* self, visitproc visit, void* arg) {
  SpanObject* sp = as_span(self);
  Py_VISIT(sp->tracer);
  Py_VISIT(sp->name);
  Py_VISIT(sp->kind);
  Py_VISIT(sp->span_context);
  Py_VISIT(sp->trace_state);
  Py_VISIT(sp->ts_header);
  Py_VISIT(sp->start_attrs);
  Py_VISIT(sp->pending_attrs);
  Py_VISIT(sp->pending_name);
  Py_VISIT(sp->status_desc);
  Py_VISIT(sp->kept);
  return 0;
}

int span_clear(PyObject* self) {
  SpanObject* sp = as_span(self);
  Py_CLEAR(sp->tracer);
  Py_CLEAR(sp->name);
  Py_CLEAR(sp->kind);
  Py_CLEAR(sp->span_context);
  Py_CLEAR(sp->trace_state);
  Py_CLEAR(sp->ts_header);
  Py_CLEAR(sp->start_attrs);
  Py_CLEAR(sp->pending_attrs);
  Py_CLEAR(sp->pending_name);
  Py_CLEAR(sp->status_desc);
  Py_CLEAR(sp->kept);
  return 0;
}

void span_dealloc(PyObject* self) {
  PyObject_GC_UnTrack(self);
  if (as_span(self)->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  span_clear(self);
  PyObject_GC_Del(self);
}

PyMethodDef span_methods[] = {
    {"get_span_context", span_get_span_context, METH_NOARGS, "The span's SpanContext."},
    {"is_recording", span_is_recording, METH_NOARGS, "True while a sampled (or recorded) span has not ended."},
    {"set_attribute", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_set_attribute)),
     METH_FASTCALL | METH_KEYWORDS, "set_attribute(key, value)"},
    {"set_attributes", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_set_attributes)),
     METH_FASTCALL | METH_KEYWORDS, "set_attributes(attributes)"},
    {"add_event", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_add_event)),
     METH_FASTCALL | METH_KEYWORDS, "add_event(name, attributes=None, timestamp=None): an event on the span"},
    {"add_link", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_add_link)),
     METH_FASTCALL | METH_KEYWORDS, "add_link(context, attributes=None)"},
    {"update_name", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_update_name)),
     METH_FASTCALL | METH_KEYWORDS, "update_name(name)"},
    {"set_status", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_set_status)),
     METH_FASTCALL | METH_KEYWORDS, "set_status(status, description=None): OK is final; description with ERROR only"},
    {"record_exception", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_record_exception)),
     METH_FASTCALL | METH_KEYWORDS, "record_exception(exception, attributes=None, timestamp=None, escaped=False)"},
    {"end", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_end_method)), METH_FASTCALL | METH_KEYWORDS,
     "end(end_time=None); later calls do nothing"},
    {"__enter__", span_enter, METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(span_exit)), METH_FASTCALL, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef span_getset[] = {
    {"name", span_get_name, nullptr, "The span's current name.", nullptr},
    {"kind", span_get_kind, nullptr, "The SpanKind.", nullptr},
    {"start_time", span_get_start_time, nullptr, "Start time, unix nanoseconds.", nullptr},
    {"end_time", span_get_end_time, nullptr, "End time, unix nanoseconds (None before end()).", nullptr},
    {"status", span_get_status, nullptr, "The Status.", nullptr},
    {"parent", span_get_parent, nullptr, "The parent's SpanContext, or None for a root span.", nullptr},
    {"context", span_get_context, nullptr, "The span's SpanContext.", nullptr},
    {"instrumentation_scope_name", span_get_instrumentation_scope_name, nullptr, "The tracer's name.", nullptr},
    {"dropped_attributes", span_get_dropped, nullptr, "Attributes dropped so far.", reinterpret_cast<void*>(0)},
    {"dropped_events", span_get_dropped, nullptr, "Events dropped so far.", reinterpret_cast<void*>(1)},
    {"dropped_links", span_get_dropped, nullptr, "Links dropped so far.", reinterpret_cast<void*>(2)},
    {"attributes", span_get_attributes, nullptr,
     "The attributes (read-only mapping); retained after end() only while a span processor is registered.", nullptr},
    {"events", span_get_kept, nullptr, "The events (retained only while a span processor is registered).", nullptr},
    {"links", span_get_kept, nullptr, "The links (retained only while a span processor is registered).",
     reinterpret_cast<void*>(1)},
    {"resource", span_get_resource, nullptr, "The provider's Resource.", nullptr},
    {"instrumentation_scope", span_get_scope, nullptr, "The tracer's InstrumentationScope.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

// ------------------------------------------------------------------ start_as_current_span

CmObject* new_cm(TracerObject* t, PyObject** a) {
  CmObject* cm = PyObject_GC_New(CmObject, &CmType);
  if (cm == nullptr) return nullptr;
  std::memset(reinterpret_cast<char*>(cm) + sizeof(PyObject), 0, sizeof(CmObject) - sizeof(PyObject));
  Py_INCREF(t);
  cm->tracer = t;
  cm->name = a[0];
  cm->context = a[1];
  cm->kind = a[2];
  cm->attributes = a[3];
  cm->links = a[4];
  cm->start_time = a[5];
  Py_XINCREF(cm->name);
  Py_XINCREF(cm->context);
  Py_XINCREF(cm->kind);
  Py_XINCREF(cm->attributes);
  Py_XINCREF(cm->links);
  Py_XINCREF(cm->start_time);
  return cm;
}

PyObject* cm_enter(PyObject* self, PyObject*) {
  CmObject* cm = reinterpret_cast<CmObject*>(self);
  if (cm->span != nullptr) {
    // Entered again while active: hand out the same span (it ends at the outermost exit).
    ++cm->depth;
    Py_INCREF(cm->span);
    return cm->span;
  }
  PyObject* current = nullptr;
  PyObject* span = tracer_start(cm->tracer, cm->name, cm->context, cm->kind, cm->attributes, cm->links, cm->start_time,
                                cm->record_exception, cm->set_status_on_exception, &current);
  if (span == nullptr) {
    Py_XDECREF(current);
    return nullptr;
  }
  if (current == nullptr) {
    current = context_current();
    if (current == nullptr) PyErr_Clear();
  }
  PyObject* ctx = context_with_span(current, span);
  Py_XDECREF(current);
  PyObject* token = ctx ? context_attach(ctx) : nullptr;
  Py_XDECREF(ctx);
  if (token == nullptr) swallow_error("attaching the span's context");
  cm->span = span;  // owns the reference from tracer_start
  cm->token = token;
  cm->depth = 1;
  Py_INCREF(span);
  return span;
}

PyObject* cm_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  CmObject* cm = reinterpret_cast<CmObject*>(self);
  if (cm->span == nullptr) Py_RETURN_FALSE;
  if (--cm->depth > 0) Py_RETURN_FALSE;
  PyObject* span = cm->span;
  PyObject* token = cm->token;
  cm->span = nullptr;
  cm->token = nullptr;
  context_detach(token);
  Py_XDECREF(token);
  if (is_span(span)) {
    SpanObject* sp = as_span(span);
    PyObject* exc = nargs >= 2 ? args[1] : nullptr;
    // As opentelemetry.trace.use_span: only Exception (not BaseException) marks the span.
    if (exc != nullptr && exc != Py_None && PyObject_TypeCheck(exc, reinterpret_cast<PyTypeObject*>(PyExc_Exception))) {
      on_exception(sp, exc, false, cm->record_exception, cm->set_status_on_exception);
    }
    if (cm->end_on_exit) span_end(sp, now_ns());
  }
  Py_DECREF(span);
  Py_RETURN_FALSE;
}

PyObject* cm_recreate(PyObject* self, PyObject*) {
  CmObject* cm = reinterpret_cast<CmObject*>(self);
  PyObject* a[6] = {cm->name, cm->context, cm->kind, cm->attributes, cm->links, cm->start_time};
  CmObject* n = new_cm(cm->tracer, a);
  if (n == nullptr) return nullptr;
  n->record_exception = cm->record_exception;
  n->set_status_on_exception = cm->set_status_on_exception;
  n->end_on_exit = cm->end_on_exit;
  PyObject_GC_Track(n);
  return reinterpret_cast<PyObject*>(n);
}

PyObject* cm_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  // Used as a decorator: @tracer.start_as_current_span("name").
  if (kwargs != nullptr || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) != 1) {
    PyErr_SetString(PyExc_TypeError, "start_as_current_span(...) decorates exactly one function");
    return nullptr;
  }
  return PyObject_CallFunctionObjArgs(g_api.decorate, self, PyTuple_GET_ITEM(args, 0), nullptr);
}

int cm_traverse(PyObject* self, visitproc visit, void* arg) {
  CmObject* cm = reinterpret_cast<CmObject*>(self);
  Py_VISIT(cm->tracer);
  Py_VISIT(cm->name);
  Py_VISIT(cm->context);
  Py_VISIT(cm->kind);
  Py_VISIT(cm->attributes);
  Py_VISIT(cm->links);
  Py_VISIT(cm->start_time);
  Py_VISIT(cm->span);
  Py_VISIT(cm->token);
  return 0;
}

int cm_clear(PyObject* self) {
  CmObject* cm = reinterpret_cast<CmObject*>(self);
  Py_CLEAR(cm->tracer);
  Py_CLEAR(cm->name);
  Py_CLEAR(cm->context);
  Py_CLEAR(cm->kind);
  Py_CLEAR(cm->attributes);
  Py_CLEAR(cm->links);
  Py_CLEAR(cm->start_time);
  Py_CLEAR(cm->span);
  Py_CLEAR(cm->token);
  return 0;
}

void cm_dealloc(PyObject* self) {
  PyObject_GC_UnTrack(self);
  cm_clear(self);
  PyObject_GC_Del(self);
}

PyMethodDef cm_methods[] = {
    {"__enter__", cm_enter, METH_NOARGS, "Starts the span and makes it current."},
    {"__exit__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(cm_exit)), METH_FASTCALL,
     "Restores the previous context; records an exception; ends the span."},
    {"_recreate", cm_recreate, METH_NOARGS, "A fresh, unentered context manager with the same arguments."},
    {nullptr, nullptr, 0, nullptr}};

// ------------------------------------------------------------------ Tracer

// start_span / start_as_current_span argument names, in positional order.
#define SPAN_ARG_NAMES                                                                                       \
  {                                                                                                          \
    g_sn.name, g_sn.context, g_sn.kind, g_sn.attributes, g_sn.links, g_sn.start_time, g_sn.record_exception, \
        g_sn.set_status_on_exception, g_sn.end_on_exit                                                       \
  }

PyObject* tracer_start_span(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[9];
  if (!parse_args("start_span", args, nargs, kwnames, SPAN_ARG_NAMES, 8, a)) return nullptr;
  if (a[8] != nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_span() got an unexpected keyword argument 'end_on_exit'");
    return nullptr;
  }
  if (a[0] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_span() missing required argument 'name'");
    return nullptr;
  }
  int rec = truthy(a[6], true), st = truthy(a[7], true);
  if (rec < 0 || st < 0) return nullptr;
  return tracer_start(reinterpret_cast<TracerObject*>(self), a[0], a[1], a[2], a[3], a[4], a[5], rec != 0, st != 0,
                      nullptr);
}

PyObject* tracer_start_as_current_span(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[9];
  if (!parse_args("start_as_current_span", args, nargs, kwnames, SPAN_ARG_NAMES, 9, a)) return nullptr;
  if (a[0] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_as_current_span() missing required argument 'name'");
    return nullptr;
  }
  int rec = truthy(a[6], true), st = truthy(a[7], true), end = truthy(a[8], true);
  if (rec < 0 || st < 0 || end < 0) return nullptr;
  CmObject* cm = new_cm(reinterpret_cast<TracerObject*>(self), a);
  if (cm == nullptr) return nullptr;
  cm->record_exception = rec != 0;
  cm->set_status_on_exception = st != 0;
  cm->end_on_exit = end != 0;
  PyObject_GC_Track(cm);
  return reinterpret_cast<PyObject*>(cm);
}

PyObject* tracer_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {"writer",
                             "scope_ref",
                             "sampler",
                             "parent_based",
                             "ratio",
                             "custom_sampler",
                             "max_attributes",
                             "max_events",
                             "max_links",
                             "max_event_attributes",
                             "max_link_attributes",
                             "max_span_attribute_length",
                             "max_attribute_length",
                             "name",
                             "version",
                             nullptr};
  PyObject* writer = nullptr;
  long long scope_ref = 0;
  int sampler = 0, parent_based = 1;
  double ratio = 1.0;
  PyObject* custom = Py_None;
  long long lim[7] = {128, 128, 128, 128, 128, -1, -1};
  PyObject* name = nullptr;
  PyObject* version = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OL|ipdOLLLLLLLUO", const_cast<char**>(kw), &writer, &scope_ref,
                                   &sampler, &parent_based, &ratio, &custom, &lim[0], &lim[1], &lim[2], &lim[3],
                                   &lim[4], &lim[5], &lim[6], &name, &version)) {
    return nullptr;
  }
  WriterAccess w;
  if (!writer_access(writer, w)) {
    PyErr_SetString(PyExc_TypeError, "Tracer: writer must be an otlp_mmap._native.Writer");
    return nullptr;
  }
  if (sampler < 0 || sampler > 2) {
    PyErr_SetString(PyExc_ValueError, "Tracer: sampler must be 0 (always_on), 1 (always_off) or 2 (traceidratio)");
    return nullptr;
  }
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    PyErr_SetString(PyExc_ValueError, "Tracer: ratio must be in [0, 1]");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  TracerObject* t = reinterpret_cast<TracerObject*>(type->tp_alloc(type, 0));
  if (t == nullptr) return nullptr;
  Py_INCREF(writer);
  t->writer = writer;
  t->w = w;
  t->scope_ref = scope_ref;
  t->sampler_root = static_cast<uint8_t>(sampler);
  t->parent_based = parent_based != 0;
  t->enabled = true;
  // round(ratio * 2**64), as the official TraceIdRatioBased.
  const long double b = static_cast<long double>(ratio) * 18446744073709551616.0L + 0.5L;
  if (b >= 18446744073709551616.0L) {
    t->sample_all = true;
  } else {
    t->bound = static_cast<uint64_t>(b);
  }
  t->py_sampler = custom == Py_None ? nullptr : (Py_INCREF(custom), custom);
  t->max_attributes = lim[0];
  t->max_events = lim[1];
  t->max_links = lim[2];
  t->max_event_attributes = lim[3];
  t->max_link_attributes = lim[4];
  t->max_span_attribute_length = lim[5];
  t->max_attribute_length = lim[6];
  t->name = name ? name : PyUnicode_FromString("");
  if (name) Py_INCREF(name);
  Py_INCREF(version);
  t->version = version;
  return reinterpret_cast<PyObject*>(t);
}

void tracer_dealloc(PyObject* self) {
  TracerObject* t = reinterpret_cast<TracerObject*>(self);
  if (t->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  Py_XDECREF(t->writer);
  Py_XDECREF(t->py_sampler);
  Py_XDECREF(t->name);
  Py_XDECREF(t->version);
  Py_XDECREF(t->processor);
  Py_XDECREF(t->info);
  Py_TYPE(self)->tp_free(self);
}

PyObject* tracer_set_processor(PyObject* self, PyObject* arg) {
  TracerObject* t = reinterpret_cast<TracerObject*>(self);
  PyObject* hub = arg == Py_None ? nullptr : arg;
  Py_XINCREF(hub);
  Py_XSETREF(t->processor, hub);
  Py_RETURN_NONE;
}

PyObject* tracer_set_info(PyObject* self, PyObject* arg) {
  TracerObject* t = reinterpret_cast<TracerObject*>(self);
  PyObject* info = arg == Py_None ? nullptr : arg;
  Py_XINCREF(info);
  Py_XSETREF(t->info, info);
  Py_RETURN_NONE;
}

PyObject* tracer_set_scope(PyObject* self, PyObject* arg) {
  long long ref = PyLong_AsLongLong(arg);
  if (ref == -1 && PyErr_Occurred()) return nullptr;
  reinterpret_cast<TracerObject*>(self)->scope_ref = ref;
  Py_RETURN_NONE;
}

PyObject* tracer_set_enabled(PyObject* self, PyObject* arg) {
  int on = PyObject_IsTrue(arg);
  if (on < 0) return nullptr;
  reinterpret_cast<TracerObject*>(self)->enabled = on != 0;
  Py_RETURN_NONE;
}

PyObject* tracer_get_scope_ref(PyObject* self, void*) {
  return PyLong_FromLongLong(reinterpret_cast<TracerObject*>(self)->scope_ref);
}
PyObject* tracer_get_name(PyObject* self, void*) {
  PyObject* n = reinterpret_cast<TracerObject*>(self)->name;
  Py_INCREF(n);
  return n;
}
PyObject* tracer_get_version(PyObject* self, void*) {
  PyObject* n = reinterpret_cast<TracerObject*>(self)->version;
  Py_INCREF(n);
  return n;
}
PyObject* tracer_get_enabled(PyObject* self, void*) {
  return PyBool_FromLong(reinterpret_cast<TracerObject*>(self)->enabled);
}

PyObject* tracer_repr(PyObject* self) {
  TracerObject* t = reinterpret_cast<TracerObject*>(self);
  return PyUnicode_FromFormat("otlp_mmap.Tracer(name=%R, version=%R)", t->name, t->version);
}

PyMethodDef tracer_methods[] = {
    {"start_span", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(tracer_start_span)),
     METH_FASTCALL | METH_KEYWORDS,
     "start_span(name, context=None, kind=SpanKind.INTERNAL, attributes=None, links=None, start_time=None, "
     "record_exception=True, set_status_on_exception=True)"},
    {"start_as_current_span", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(tracer_start_as_current_span)),
     METH_FASTCALL | METH_KEYWORDS,
     "start_as_current_span(name, context=None, kind=SpanKind.INTERNAL, attributes=None, links=None, "
     "start_time=None, record_exception=True, set_status_on_exception=True, end_on_exit=True): a context manager "
     "(also a decorator)"},
    {"_set_scope_ref", tracer_set_scope, METH_O, "Writes later spans under another scope (after fork)."},
    {"_set_enabled", tracer_set_enabled, METH_O, "False: spans are no longer recorded (shutdown)."},
    {"_set_processor", tracer_set_processor, METH_O,
     "The span processor hub (on_start(span, context), on_end(span)) of later spans, or None."},
    {"_set_info", tracer_set_info, METH_O,
     "What spans' resource, instrumentation_scope, events and links come from (attributes resource, "
     "instrumentation_scope; methods events(raw), links(raw))."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef tracer_getset[] = {
    {"scope_ref", tracer_get_scope_ref, nullptr, "Dictionary reference of the instrumentation scope.", nullptr},
    {"name", tracer_get_name, nullptr, "Instrumentation scope name.", nullptr},
    {"version", tracer_get_version, nullptr, "Instrumentation scope version.", nullptr},
    {"enabled", tracer_get_enabled, nullptr, "Whether spans are recorded.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

void ready(PyTypeObject& t) {
  if (PyType_Ready(&t) < 0) throw_current();
}

}  // namespace

bool native_span_parent(PyObject* span, Parent& p) {
  if (!is_span(span)) return false;
  SpanObject* sp = as_span(span);
  // An all-zero span (from a disabled tracer) is not a valid parent.
  bool valid = false;
  for (uint8_t b : sp->span_id) valid = valid || b != 0;
  if (!valid) return true;
  p.valid = true;
  p.remote = sp->remote;
  std::memcpy(p.trace_id, sp->trace_id, 16);
  std::memcpy(p.span_id, sp->span_id, 8);
  p.flags = sp->trace_flags;
  if (sp->trace_state != nullptr) {
    Py_INCREF(sp->trace_state);
    Py_XSETREF(p.trace_state, sp->trace_state);
  }
  if (sp->ts_header != nullptr) {
    Py_INCREF(sp->ts_header);
    Py_XSETREF(p.ts_header, sp->ts_header);
  }
  return true;
}

void bind_spans(nb::module_& m) {
  TracerType.tp_name = "otlp_mmap._native.Tracer";
  TracerType.tp_basicsize = sizeof(TracerObject);
  TracerType.tp_flags = Py_TPFLAGS_DEFAULT;
  TracerType.tp_doc = "A tracer writing spans into an otlp-mmap file (opentelemetry.trace.Tracer).";
  TracerType.tp_new = tracer_new;
  TracerType.tp_dealloc = tracer_dealloc;
  TracerType.tp_methods = tracer_methods;
  TracerType.tp_getset = tracer_getset;
  TracerType.tp_repr = tracer_repr;
  TracerType.tp_weaklistoffset = offsetof(TracerObject, weakreflist);
  ready(TracerType);

  SpanType.tp_name = "otlp_mmap._native.Span";
  SpanType.tp_basicsize = sizeof(SpanObject);
  SpanType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
  SpanType.tp_doc = "A span of otlp_mmap.sdk (opentelemetry.trace.Span); made by Tracer.start_span.";
  SpanType.tp_dealloc = span_dealloc;
  SpanType.tp_traverse = span_traverse;
  SpanType.tp_clear = span_clear;
  SpanType.tp_methods = span_methods;
  SpanType.tp_getset = span_getset;
  SpanType.tp_repr = span_repr;
  SpanType.tp_weaklistoffset = offsetof(SpanObject, weakreflist);
  ready(SpanType);

  CmType.tp_name = "otlp_mmap._native.CurrentSpanContextManager";
  CmType.tp_basicsize = sizeof(CmObject);
  CmType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
  CmType.tp_doc = "What Tracer.start_as_current_span returns: a context manager and a decorator.";
  CmType.tp_dealloc = cm_dealloc;
  CmType.tp_traverse = cm_traverse;
  CmType.tp_clear = cm_clear;
  CmType.tp_methods = cm_methods;
  CmType.tp_call = cm_call;
  ready(CmType);

  m.attr("Tracer") = nb::borrow(reinterpret_cast<PyObject*>(&TracerType));
  m.attr("Span") = nb::borrow(reinterpret_cast<PyObject*>(&SpanType));
  m.attr("CurrentSpanContextManager") = nb::borrow(reinterpret_cast<PyObject*>(&CmType));
}

}  // namespace otlp_mmap::py::sdk

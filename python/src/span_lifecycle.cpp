// The life of a span, in one translation unit so that its steps inline into each other (every
// span goes through them): the arguments it takes, how it starts (its parent from the context,
// its ids, the sampling decision: built-in samplers natively, a custom sampler's should_sample
// otherwise), the records it writes, what a keeping span retains for span processors, and its
// end. See span_internal.hpp.
#include <algorithm>
#include <cstring>

#include "span_internal.hpp"

namespace otlp_mmap::py::sdk {

namespace {

constexpr uint32_t kHasIsRemote = 0x100;  // OTLP SpanFlags: bit 8, the is_remote bit (9) is meaningful
constexpr uint32_t kIsRemote = 0x200;

uint32_t span_flags(SpanObject* sp) {
  return static_cast<uint32_t>(sp->trace_flags) | kHasIsRemote | (sp->parent_remote ? kIsRemote : 0);
}

void finalize_link_ids(LinkStore& store) {
  for (size_t i = 0; i < store.views.size(); ++i) {
    store.views[i].trace_id = bytes_view(store.ids[i].data(), 16);
    store.views[i].span_id = bytes_view(store.ids[i].data() + 16, 8);
  }
}

}  // namespace

// ------------------------------------------------------------------ arguments

OTLP_MMAP_HOT std::string_view str_view_or_empty(PyObject* s) {
  if (s == nullptr || !PyUnicode_Check(s)) return {};
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (p == nullptr) {
    PyErr_Clear();
    return {};
  }
  return {p, static_cast<size_t>(n)};
}

OTLP_MMAP_HOT PyObject* name_arg(PyObject* name) {
  if (name != nullptr && PyUnicode_Check(name)) return new_ref(name);
  PyObject* s = name == nullptr ? nullptr : PyObject_Str(name);
  if (s == nullptr) {
    PyErr_Clear();
    s = PyUnicode_FromString("");
  }
  warn_once(Warn::kBadName, "span name must be a str, got %.100s", name ? Py_TYPE(name)->tp_name : "nothing");
  return s;
}

OTLP_MMAP_HOT int kind_index(PyObject* kind) {
  if (kind == nullptr || kind == Py_None) return 0;
  for (int i = 0; i < 5; ++i) {
    if (kind == g_api.span_kinds[i]) return i;
  }
  Ref v(PyLong_Check(kind) ? new_ref(kind) : PyObject_GetAttr(kind, g_sn.value_attr));
  if (!v) {
    PyErr_Clear();
    return 0;
  }
  const long x = PyLong_Check(v.get()) ? PyLong_AsLong(v.get()) : -1;
  if (x < 0 || x > 4) {
    PyErr_Clear();
    return 0;
  }
  return static_cast<int>(x);
}

OTLP_MMAP_HOT uint64_t time_arg(PyObject* t) {
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

PyObject* cleaned_proxy(PyObject* attrs, int64_t max_count, int64_t max_len) {
  Ref d(PyDict_New());
  if (!d) return nullptr;
  clean_attributes_into(d.get(), attrs, max_count, max_len);
  return PyDictProxy_New(d.get());
}

void keep_item(PyObject* list, PyObject* a, PyObject* b, PyObject* c) {
  if (list == nullptr || a == nullptr || b == nullptr) {
    PyErr_Clear();
    return;
  }
  Ref t(c ? PyTuple_Pack(3, a, b, c) : PyTuple_Pack(2, a, b));
  if (!t || PyList_Append(list, t.get()) < 0) PyErr_Clear();
}

void keep_link(SpanObject* sp, PyObject* sc, PyObject* attrs) {
  Ref p(cleaned_proxy(attrs, sp->tracer->max_link_attributes, sp->tracer->max_attribute_length));
  keep_item(kept_list(sp, 1), sc, p.get(), nullptr);
}

void call_processor(SpanObject* sp, bool start, PyObject* context) {
  if (sp->tracer->processor == nullptr) return;
  static PyObject* on_start = PyUnicode_InternFromString("on_start");
  static PyObject* on_end = PyUnicode_InternFromString("on_end");
  PyObject* self = reinterpret_cast<PyObject*>(sp);
  Ref hub = Ref::borrow(sp->tracer->processor);  // the processor may replace the tracer's hub
  Ref r(start ? PyObject_CallMethodObjArgs(hub.get(), on_start, self, context ? context : Py_None, nullptr)
              : PyObject_CallMethodObjArgs(hub.get(), on_end, self, nullptr));
  if (!r) {
    // Ctrl-C arriving while a processor runs is not lost: it is raised again at the next check.
    const bool interrupt = PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) != 0;
    swallow_error(start ? "a span processor's on_start" : "a span processor's on_end");
    if (interrupt) PyErr_SetInterrupt();
  }
}

// ------------------------------------------------------------------ span records

OTLP_MMAP_HOT SpanEventView span_view(SpanObject* sp, SpanEventType type) {
  SpanEventView v;
  v.type = type;
  v.scope_ref = sp->scope_ref;
  v.trace_id = bytes_view(sp->trace_id, 16);
  v.span_id = bytes_view(sp->span_id, 8);
  return v;
}

bool add_link_view(TracerObject* t, PyObject* sc, PyObject* attrs, Scratch& s, LinkStore& store) {
  Parent p;
  bool valid = parent_from_span_context(sc, p);
  const bool has_attrs = attrs != nullptr && attrs != Py_None && PyObject_IsTrue(attrs) == 1;
  PyErr_Clear();
  if (!valid && !has_attrs && !p.ts_header) return false;
  std::array<uint8_t, 24> id{};
  std::memcpy(id.data(), p.trace_id, 16);
  std::memcpy(id.data() + 16, p.span_id, 8);
  store.ids.push_back(id);
  LinkView l;
  l.flags = static_cast<uint32_t>(p.flags) | kHasIsRemote | (p.remote ? kIsRemote : 0);
  if (p.ts_header) {
    l.trace_state = str_view_or_empty(p.ts_header.get());
    s.owned.push_back(nb::steal(p.ts_header.release()));
  }
  uint32_t dropped = 0;
  l.attributes = convert_attributes(has_attrs ? attrs : nullptr, s,
                                    lenient_any(t->max_link_attributes, t->max_attribute_length), &dropped);
  l.dropped_attributes_count = dropped;
  store.views.push_back(l);
  return true;
}

void write_links(SpanObject* sp, Scratch& s, LinkStore& store) {
  finalize_link_ids(store);
  SpanEventView v = span_view(sp, SpanEventType::kLink);
  v.links = store.views;
  write_record(sp->tracer->w, s, v);
}

OTLP_MMAP_HOT void write_start_links(SpanObject* sp, PyObject* links) {
  if (links == nullptr || links == Py_None) return;
  Ref seq(PySequence_Fast(links, "links must be a sequence"));
  if (!seq) {
    PyErr_Clear();
    warn_once(Warn::kBadLink, "links must be a sequence of opentelemetry.trace.Link, got %.100s",
              Py_TYPE(links)->tp_name);
    return;
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.get());
  if (n == 0) return;
  TracerObject* t = sp->tracer;
  ScratchLease s;
  LinkStore store;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* link = PySequence_Fast_GET_ITEM(seq.get(), i);
    if (link == Py_None) continue;
    Ref sc(PyObject_GetAttr(link, g_sn.context));
    Ref attrs(sc ? PyObject_GetAttr(link, g_sn.attributes) : nullptr);
    if (!sc || !attrs) {
      PyErr_Clear();
      warn_once(Warn::kBadLink, "ignoring a link that is not an opentelemetry.trace.Link: %.100s",
                Py_TYPE(link)->tp_name);
      continue;
    }
    PyObject* sc_p = sc.get();
    PyObject* attrs_p = attrs.get();
    s->owned.push_back(nb::steal(sc.release()));  // the views borrow from them until the record is written
    s->owned.push_back(nb::steal(attrs.release()));
    if (t->max_links >= 0 && sp->link_count >= t->max_links) {
      // Only valid links count as dropped, as they would have been kept.
      ++sp->dropped_links;
      g_counters.dropped_links.fetch_add(1, std::memory_order_relaxed);
      warn_once(Warn::kLinkLimit, "Span link limit (%lld) reached: further links are dropped and counted",
                static_cast<long long>(t->max_links));
      continue;
    }
    if (add_link_view(t, sc_p, attrs_p, *s, store)) {
      ++sp->link_count;
      if (sp->keep) keep_link(sp, sc_p, attrs_p);
    }
  }
  if (store.views.empty() || !sp->sampled) return;
  write_links(sp, *s, store);
}

OTLP_MMAP_HOT void write_start(SpanObject* sp, PyObject* attributes) {
  TracerObject* t = sp->tracer;
  ScratchLease s;
  SpanEventView v = span_view(sp, SpanEventType::kStart);
  if (sp->has_parent) v.parent_span_id = bytes_view(sp->parent_span_id, 8);
  v.flags = span_flags(sp);
  v.name = str_view_or_empty(sp->name);
  v.kind = sp->kind_proto;
  v.start_time_unix_nano = sp->start_time;
  v.trace_state = str_view_or_empty(sp->ts_header);
  uint32_t dropped = 0;
  v.attributes =
      convert_attributes(attributes, *s, lenient_any(t->max_attributes, t->max_span_attribute_length), &dropped);
  sp->attr_count = static_cast<uint32_t>(v.attributes.size());
  sp->dropped_attrs += dropped;
  write_record(t->w, *s, v);
}

OTLP_MMAP_HOT void write_end(SpanObject* sp) {
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
    uint32_t dropped = 0;
    // The count was enforced by set_attribute.
    v.attributes = convert_attributes(sp->pending_attrs, *s, lenient_any(-1, t->max_span_attribute_length), &dropped);
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

// ------------------------------------------------------------------ start

namespace {

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

struct Decision {
  bool sampled = false;
  bool recording = false;
  Ref attributes;   // the sampler's attributes, instead of the span's; empty: the span's
  Ref trace_state;  // the sampler's trace state; empty: the parent's
};

// A custom sampler's should_sample(); on any error the default (parent-based, always on).
Decision custom_decision(TracerObject* t, PyObject* ctx, const Parent& p, const uint8_t trace_id[16], PyObject* name,
                         int kind, PyObject* attributes, PyObject* links) {
  Decision d;
  d.sampled = d.recording = p.valid ? (p.flags & 1) != 0 : true;
  Ref tid(be_to_int(trace_id, 16));
  if (!tid) {
    swallow_error("sampler");
    return d;
  }
  PyObject* args[] = {t->py_sampler,
                      ctx ? ctx : Py_None,
                      tid.get(),
                      name,
                      g_api.span_kinds[kind],
                      attributes ? attributes : Py_None,
                      links ? links : Py_None};
  Ref res(PyObject_VectorcallMethod(g_sn.should_sample, args, 7 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr));
  if (!res) {
    warn_once(Warn::kSampler, "the sampler raised; sampling with parentbased_always_on instead");
    swallow_error("sampler.should_sample");
    return d;
  }
  Ref decision(PyObject_GetAttr(res.get(), g_sn.decision));
  Ref is_s(decision ? PyObject_CallMethodNoArgs(decision.get(), g_sn.is_sampled) : nullptr);
  Ref is_r(decision ? PyObject_CallMethodNoArgs(decision.get(), g_sn.is_recording) : nullptr);
  if (is_s && is_r) {
    d.sampled = PyObject_IsTrue(is_s.get()) == 1;
    d.recording = PyObject_IsTrue(is_r.get()) == 1;
    Ref a(PyObject_GetAttr(res.get(), g_sn.attributes));
    if (a && a.get() != Py_None) d.attributes = std::move(a);
    Ref ts(PyObject_GetAttr(res.get(), g_sn.trace_state));
    if (ts && ts.get() != Py_None) d.trace_state = std::move(ts);
  }
  PyErr_Clear();
  return d;
}

// An id from a custom id generator (TracerProvider(id_generator=)): `method` gives an int.
// An exception, or anything but an int that is a valid id (non-zero, in range), gives a native
// random id instead (counted, warned about once): the application never sees the failure.
void generated_id(PyObject* generator, const char* method, uint8_t* out, int n, void (*random)(uint8_t*)) {
  Ref v(PyObject_CallMethod(generator, method, nullptr));
  if (v && int_to_be(v.get(), out, n) && std::any_of(out, out + n, [](uint8_t b) { return b != 0; })) return;
  if (!v) {
    swallow_error(method);
  } else {
    PyErr_Clear();
    g_counters.internal_errors.fetch_add(1, std::memory_order_relaxed);
    warn_once(Warn::kIdGenerator,
              "otlp_mmap: %s() of the id generator returned %R, not a valid id; a random id is used", method, v.get());
  }
  random(out);
}

// The span's ids: native random ones, or the custom generator's (the trace id only for a root).
void new_ids(TracerObject* t, SpanObject* sp, bool with_trace_id) {
  if (t->id_generator == nullptr) {
    if (with_trace_id) new_trace_id(sp->trace_id);
    new_span_id(sp->span_id);
    return;
  }
  // The official SDK's order: the trace id first.
  if (with_trace_id) generated_id(t->id_generator, "generate_trace_id", sp->trace_id, 16, new_trace_id);
  generated_id(t->id_generator, "generate_span_id", sp->span_id, 8, new_span_id);
}

SpanObject* new_span() {
  SpanObject* sp = PyObject_GC_New(SpanObject, &SpanType);
  if (sp == nullptr) return nullptr;
  // Everything after the header starts zeroed.
  std::memset(reinterpret_cast<char*>(sp) + sizeof(PyObject), 0, sizeof(SpanObject) - sizeof(PyObject));
  return sp;
}

// A span of a disabled or shut-down tracer: it only carries the parent's context (all-zero
// ids without a parent: an invalid span context, as the API's INVALID_SPAN has).
void carry_parent(SpanObject* sp, Parent& p) {
  if (!p.valid) return;
  std::memcpy(sp->trace_id, p.trace_id, 16);
  std::memcpy(sp->span_id, p.span_id, 8);
  sp->trace_flags = p.flags;
  sp->remote = p.remote;
  sp->trace_state = p.trace_state.release();
  sp->ts_header = p.ts_header.release();
}

// The start attributes a recording span keeps (to know later which keys exist, and for span
// processors); the caller's dict itself when nothing else needs a copy.
void keep_start_attributes(SpanObject* sp, PyObject* attributes) {
  if (attributes == nullptr || attributes == Py_None) return;
  if (PyDict_Check(attributes) && !sp->keep) {
    sp->start_attrs = new_ref(attributes);
    return;
  }
  Ref d(PyDict_New());
  if (d && PyDict_Merge(d.get(), attributes, 1) == 0) {
    sp->start_attrs = d.release();
    return;
  }
  PyErr_Clear();
  ++sp->dropped_attrs;
  warn_once(Warn::kInvalidValue, "span attributes must be a mapping, got %.100s", Py_TYPE(attributes)->tp_name);
}

// A keeping span's lists of events and links (span processors).
void make_kept(SpanObject* sp) {
  Ref events(PyList_New(0));
  Ref links(events ? PyList_New(0) : nullptr);
  sp->kept = links ? PyTuple_Pack(2, events.get(), links.get()) : nullptr;
  sp->keep = sp->kept != nullptr;
  PyErr_Clear();
}

}  // namespace

OTLP_MMAP_HOT PyObject* tracer_start(TracerObject* t, PyObject* name, PyObject* context, PyObject* kind,
                                     PyObject* attributes, PyObject* links, PyObject* start_time, bool record_exception,
                                     bool set_status_on_exception, PyObject** current) {
  Ref ctx;
  if (context == nullptr || context == Py_None) {
    ctx = Ref(context_current());
    if (!ctx) swallow_error("reading the current context");
    if (current != nullptr) *current = ctx.new_ref();
  } else {
    ctx = Ref::borrow(context);
  }
  Parent p;
  parent_from_context(ctx.get(), p);

  SpanObject* sp = new_span();
  if (sp == nullptr) return nullptr;
  sp->tracer = reinterpret_cast<TracerObject*>(new_ref(reinterpret_cast<PyObject*>(t)));
  sp->scope_ref = t->scope_ref;
  sp->name = name_arg(name);
  const int ki = kind_index(kind);
  sp->kind = new_ref(g_api.span_kinds[ki]);
  sp->kind_proto = static_cast<uint8_t>(ki + 1);
  sp->record_exception = record_exception;
  sp->set_status_on_exception = set_status_on_exception;

  if (!t->enabled) {
    carry_parent(sp, p);
    PyObject_GC_Track(sp);
    return reinterpret_cast<PyObject*>(sp);
  }

  if (p.valid) {
    std::memcpy(sp->trace_id, p.trace_id, 16);
    std::memcpy(sp->parent_span_id, p.span_id, 8);
    sp->has_parent = true;
    sp->parent_remote = p.remote;
    sp->parent_flags = p.flags;
  }
  new_ids(t, sp, !p.valid);

  Decision d;
  if (t->py_sampler == nullptr) {
    d.sampled = d.recording = builtin_decision(t, p, sp->trace_id);
  } else {
    d = custom_decision(t, ctx.get(), p, sp->trace_id, sp->name, ki, attributes, links);
  }
  ctx.reset();
  sp->sampled = d.sampled;
  sp->recording = d.recording || d.sampled;
  // W3C level 2: the trace id is random when we made it (not one of a custom generator, which
  // may not be); a child keeps its parent's bit.
  const uint8_t random_bit = p.valid ? (p.flags & 2) : t->id_generator == nullptr ? 2 : 0;
  sp->trace_flags = static_cast<uint8_t>((d.sampled ? 1 : 0) | random_bit);
  if (d.trace_state) {
    sp->ts_header = trace_state_header(d.trace_state.get());
    sp->trace_state = d.trace_state.release();
  } else {
    sp->trace_state = p.trace_state.release();
    sp->ts_header = p.ts_header.release();
  }
  if (d.attributes) attributes = d.attributes.get();
  sp->start_time = time_arg(start_time);

  if (sp->recording) {
    if (t->processor != nullptr) make_kept(sp);
    keep_start_attributes(sp, attributes);
    if (sp->sampled) {
      write_start(sp, sp->start_attrs);
    } else if (sp->start_attrs != nullptr) {
      sp->attr_count = static_cast<uint32_t>(PyDict_GET_SIZE(sp->start_attrs));
    }
    write_start_links(sp, links);
  }
  if (PyErr_Occurred()) swallow_error("start_span");
  PyObject_GC_Track(sp);
  if (sp->keep) call_processor(sp, true, context == Py_None ? nullptr : context);
  return reinterpret_cast<PyObject*>(sp);
}

// ------------------------------------------------------------------ end

OTLP_MMAP_HOT void span_end(SpanObject* sp, uint64_t end_time) {
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
  clear_ref(sp->start_attrs);
  clear_ref(sp->pending_attrs);
}

}  // namespace otlp_mmap::py::sdk

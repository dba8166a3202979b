// otlp_mmap._native.Span: what a span does after it started (attributes, events, links,
// status, exceptions, end) and what it shows (its context, and for span processors the
// fields of a ReadableSpan). See span_internal.hpp.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "span_internal.hpp"

namespace otlp_mmap::py::sdk {

PyTypeObject SpanType{};

namespace {

bool check_open(SpanObject* sp, const char* what) {
  if (!sp->recording) return false;
  if (sp->ended) {
    warn_once(Warn::kEndedSpan, "Tried calling %s on an ended span.", what);
    return false;
  }
  return true;
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
  Ref v(clean_value(value));
  if (!v) {
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
      return;
    }
    ++sp->attr_count;
  }
  if (sp->pending_attrs == nullptr) {
    sp->pending_attrs = PyDict_New();
    if (sp->pending_attrs == nullptr) {
      swallow_error("set_attribute");
      return;
    }
  }
  if (PyDict_SetItem(sp->pending_attrs, key, v.get()) < 0) swallow_error("set_attribute");
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
  Ref n(name_arg(name));
  const uint64_t when = time_arg(timestamp);
  if (sp->keep) {
    Ref p(cleaned_proxy(attributes, t->max_event_attributes, t->max_attribute_length));
    Ref ts(PyLong_FromUnsignedLongLong(when));
    keep_item(kept_list(sp, 0), n.get(), p.get(), ts.get());
    if (!sp->sampled) return;
  }
  ScratchLease s;
  SpanEventView v = span_view(sp, SpanEventType::kAddEvent);
  v.name = str_view_or_empty(n.get());
  s->owned.push_back(nb::steal(n.release()));  // the view borrows from it until the record is written
  v.event_time_unix_nano = when;
  uint32_t dropped = 0;
  v.attributes =
      convert_attributes(attributes, *s, lenient_any(t->max_event_attributes, t->max_attribute_length), &dropped);
  v.dropped_attributes_count = dropped;
  write_record(t->w, *s, v);
}

// The exception event; escaped as the official SDK records it.
void record_exception_impl(SpanObject* sp, PyObject* exc, PyObject* attributes, PyObject* timestamp, bool escaped) {
  Ref attrs(PyObject_CallFunctionObjArgs(g_api.exception_attributes, exc, escaped ? Py_True : Py_False, nullptr));
  if (!attrs) {
    swallow_error("record_exception");
    return;
  }
  if (attributes != nullptr && attributes != Py_None && PyDict_Check(attrs.get())) {
    if (PyDict_Merge(attrs.get(), attributes, 1) < 0) swallow_error("record_exception attributes");
  }
  static PyObject* exception_name = PyUnicode_InternFromString("exception");
  add_event_impl(sp, exception_name, attrs.get(), timestamp);
}

// f"{type(exc).__name__}: {exc}" (new reference), or nullptr (no error set).
PyObject* exception_description(PyObject* exc) {
  Ref tname(PyObject_GetAttrString(reinterpret_cast<PyObject*>(Py_TYPE(exc)), "__name__"));
  Ref text(tname ? PyObject_Str(exc) : nullptr);
  PyObject* d = text ? PyUnicode_FromFormat("%S: %S", tname.get(), text.get()) : nullptr;
  if (d == nullptr) PyErr_Clear();
  return d;
}

void set_status_impl(SpanObject* sp, int code, PyObject* desc) {
  if (sp->status_code == 1 || code == 0) return;  // OK is final; UNSET is ignored
  sp->status_code = static_cast<uint8_t>(code);
  assign(sp->status_desc, (code == 2 && desc != nullptr && PyUnicode_Check(desc)) ? desc : nullptr);
}

int status_code_index(PyObject* code) {
  for (int i = 0; i < 3; ++i) {
    if (code == g_api.status_codes[i]) return i;
  }
  return -1;
}

// An API SpanContext (a tuple subclass) made without running its __new__'s checks again.
PyObject* make_span_context(PyObject* tid, PyObject* sid, bool remote, PyObject* flags, PyObject* trace_state,
                            bool valid) {
  Ref items(PyTuple_Pack(6, tid, sid, remote ? Py_True : Py_False, flags, trace_state, valid ? Py_True : Py_False));
  Ref args(items ? PyTuple_Pack(1, items.get()) : nullptr);
  if (!args) return nullptr;
  return PyTuple_Type.tp_new(reinterpret_cast<PyTypeObject*>(g_api.span_context_type), args.get(), nullptr);
}

// The span's SpanContext (new reference), made once and cached.
PyObject* build_span_context(SpanObject* sp) {
  if (sp->span_context != nullptr) return new_ref(sp->span_context);
  Ref tid(be_to_int(sp->trace_id, 16));
  Ref sid(tid ? be_to_int(sp->span_id, 8) : nullptr);
  if (!sid) return nullptr;
  Ref flags(sp->trace_flags < 4
                ? new_ref(g_api.trace_flags[sp->trace_flags])
                : PyObject_CallFunction(g_api.trace_flags_type, "i", static_cast<int>(sp->trace_flags)));
  if (!flags) return nullptr;
  const bool valid = std::any_of(sp->span_id, sp->span_id + 8, [](uint8_t b) { return b != 0; });
  PyObject* ts = sp->trace_state ? sp->trace_state : g_api.default_trace_state;
  PyObject* sc = make_span_context(tid.get(), sid.get(), sp->remote, flags.get(), ts, valid);
  if (sc == nullptr) return nullptr;
  sp->span_context = new_ref(sc);
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
  Ref items(PyDict_Check(a[0]) ? PyDict_Items(a[0]) : PyMapping_Items(a[0]));
  if (!items) {
    PyErr_Clear();
    ++sp->dropped_attrs;
    warn_once(Warn::kInvalidValue, "set_attributes() needs a mapping, got %.100s", Py_TYPE(a[0])->tp_name);
    Py_RETURN_NONE;
  }
  const Py_ssize_t n = PyList_GET_SIZE(items.get());
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* pair = PyList_GET_ITEM(items.get(), i);
    if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
      set_one_attribute(sp, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
    }
  }
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
  if (sp->sampled) write_links(sp, *s, store);
  if (PyErr_Occurred()) swallow_error("add_link");
  Py_RETURN_NONE;
}

PyObject* span_update_name(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[1];
  if (!parse_args("update_name", args, nargs, kwnames, {g_sn.name}, 1, a)) return nullptr;
  SpanObject* sp = as_span(self);
  if (check_open(sp, "update_name")) {
    Ref n(name_arg(a[0]));
    assign(sp->name, n.get());
    assign(sp->pending_name, std::move(n));
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
  Ref code_obj(PyObject_GetAttr(status, g_sn.status_code));
  code = code_obj ? status_code_index(code_obj.get()) : -1;
  if (code < 0) {
    PyErr_Clear();
    warn_once(Warn::kBadStatus, "set_status() needs a Status or a StatusCode, got %.100s", Py_TYPE(status)->tp_name);
    Py_RETURN_NONE;
  }
  if (description != nullptr) {
    warn_once(Warn::kBadStatus, "Description %R ignored. Use either `Status` or `(StatusCode, Description)`",
              description);
  }
  Ref desc(code == 2 ? PyObject_GetAttr(status, g_sn.description) : nullptr);
  if (!desc) PyErr_Clear();
  set_status_impl(sp, code, desc.get());
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

PyObject* span_enter(PyObject* self, PyObject*) { return new_ref(self); }

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

// ------------------------------------------------------------------ Span getters

PyObject* span_get_name(PyObject* self, void*) { return new_ref(as_span(self)->name); }
PyObject* span_get_kind(PyObject* self, void*) { return new_ref(as_span(self)->kind); }
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
  Ref tid(be_to_int(sp->trace_id, 16));
  Ref sid(tid ? be_to_int(sp->parent_span_id, 8) : nullptr);
  Ref flags(sid ? PyObject_CallFunction(g_api.trace_flags_type, "i", static_cast<int>(sp->parent_flags)) : nullptr);
  if (!flags) return nullptr;
  return make_span_context(tid.get(), sid.get(), sp->parent_remote, flags.get(), g_api.default_trace_state, true);
}
PyObject* span_get_context(PyObject* self, void*) { return span_get_span_context(self, nullptr); }
PyObject* span_get_instrumentation_scope_name(PyObject* self, void*) { return new_ref(as_span(self)->tracer->name); }
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
  Ref d(PyDict_New());
  if (!d) return nullptr;
  if (sp->start_attrs != nullptr) {
    clean_attributes_into(d.get(), sp->start_attrs, t->max_attributes, t->max_span_attribute_length);
  }
  if (sp->pending_attrs != nullptr) clean_attributes_into(d.get(), sp->pending_attrs, -1, t->max_span_attribute_length);
  return PyDictProxy_New(d.get());
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
  Ref items(PyList_AsTuple(raw));
  if (!items || sp->tracer->info == nullptr) return items.release();
  static PyObject* events_str = PyUnicode_InternFromString("events");
  static PyObject* links_str = PyUnicode_InternFromString("links");
  return PyObject_CallMethodObjArgs(sp->tracer->info, events ? events_str : links_str, items.get(), nullptr);
}

PyMethodDef span_methods[] = {
    {"get_span_context", span_get_span_context, METH_NOARGS, "The span's SpanContext."},
    {"is_recording", span_is_recording, METH_NOARGS, "True while a sampled (or recorded) span has not ended."},
    {"set_attribute", fastcall(span_set_attribute), METH_FASTCALL | METH_KEYWORDS, "set_attribute(key, value)"},
    {"set_attributes", fastcall(span_set_attributes), METH_FASTCALL | METH_KEYWORDS, "set_attributes(attributes)"},
    {"add_event", fastcall(span_add_event), METH_FASTCALL | METH_KEYWORDS,
     "add_event(name, attributes=None, timestamp=None): an event on the span"},
    {"add_link", fastcall(span_add_link), METH_FASTCALL | METH_KEYWORDS, "add_link(context, attributes=None)"},
    {"update_name", fastcall(span_update_name), METH_FASTCALL | METH_KEYWORDS, "update_name(name)"},
    {"set_status", fastcall(span_set_status), METH_FASTCALL | METH_KEYWORDS,
     "set_status(status, description=None): OK is final; description with ERROR only"},
    {"record_exception", fastcall(span_record_exception), METH_FASTCALL | METH_KEYWORDS,
     "record_exception(exception, attributes=None, timestamp=None, escaped=False)"},
    {"end", fastcall(span_end_method), METH_FASTCALL | METH_KEYWORDS, "end(end_time=None); later calls do nothing"},
    {"__enter__", span_enter, METH_NOARGS, nullptr},
    {"__exit__", fastcall(span_exit), METH_FASTCALL, nullptr},
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

}  // namespace

void on_exception(SpanObject* sp, PyObject* exc, bool escaped, bool record, bool set_status) {
  if (!sp->recording || sp->ended) return;
  if (record) record_exception_impl(sp, exc, nullptr, nullptr, escaped);
  if (set_status) {
    Ref d(exception_description(exc));
    set_status_impl(sp, 2, d.get());
  }
}

OTLP_MMAP_HOT bool native_span_parent(PyObject* span, Parent& p) {
  if (!is_span(span)) return false;
  SpanObject* sp = as_span(span);
  // An all-zero span (from a disabled tracer) is not a valid parent.
  const bool valid = std::any_of(sp->span_id, sp->span_id + 8, [](uint8_t b) { return b != 0; });
  if (!valid) return true;
  p.valid = true;
  p.remote = sp->remote;
  std::memcpy(p.trace_id, sp->trace_id, 16);
  std::memcpy(p.span_id, sp->span_id, 8);
  p.flags = sp->trace_flags;
  if (sp->trace_state != nullptr) p.trace_state = Ref::borrow(sp->trace_state);
  if (sp->ts_header != nullptr) p.ts_header = Ref::borrow(sp->ts_header);
  return true;
}

void bind_span(nb::module_& m) {
  define_type<SpanObject, SpanRefs, Gc::kYes>(
      m, SpanType,
      {.name = "otlp_mmap._native.Span",
       .doc = "A span of otlp_mmap.sdk (opentelemetry.trace.Span); made by Tracer.start_span.",
       .methods = span_methods,
       .getset = span_getset,
       .repr = span_repr});
}

}  // namespace otlp_mmap::py::sdk

// otlp_mmap._native.LogBridge: the core of otlp_mmap.sdk.logs.LoggingHandler. handle(record)
// reads a logging.LogRecord's __dict__ directly and writes one Event: level -> severity number
// and text, message -> body, extra fields -> attributes, exc_info -> exception.* attributes,
// optionally code.* attributes, and the current span's context. One scope per logger name.
//
// The fast paths of a logging call (the handler's own cost is a few hundred nanoseconds):
// the usual message ("text %s", str and int arguments) is formatted straight into UTF-8
// without making the str; on Python <= 3.11 the bridge reads the fields of the record the
// factory has just made from a memo instead of its dict (only while that dict is unchanged,
// which its version tag tells).
#include <charconv>
#include <cstring>
#include <new>
#include <type_traits>

#include "log_internal.hpp"

namespace otlp_mmap::py::sdk {

namespace {

static_assert(std::is_trivially_destructible_v<KeyValueView>);

struct BridgeObject {
  PyObject_HEAD PyObject* writer;
  WriterAccess w;
  int64_t resource_ref;
  int64_t max_attributes, max_length;
  bool enabled;
  bool code_attributes;
  PyObject* scopes;       // {logger name: scope ref}
  PyObject* filters;      // the handler's filters list (shared), or nullptr
  PyObject* handler;      // weak reference to the handler
  PyObject* reserved;     // frozenset of LogRecord attributes that are not user attributes
  PyObject* record_type;  // logging.LogRecord: its getMessage() is done natively
  PtrSet reserved_fast;
  Py_ssize_t standard_fields;  // attributes of a LogRecord made by logging (no extra fields)
  int64_t code_refs[3];        // dictionary refs of code.file.path, code.function.name, code.line.number
  PyObject* last_name;         // the logger name of the last record, and its scope (a memo of `scopes`)
  int64_t last_scope;
};
using BridgeRefs =
    RefFields<BridgeObject, &BridgeObject::writer, &BridgeObject::scopes, &BridgeObject::last_name,
              &BridgeObject::handler, &BridgeObject::filters, &BridgeObject::reserved, &BridgeObject::record_type>;

PyTypeObject BridgeType{};

BridgeObject* as_bridge(PyObject* o) { return reinterpret_cast<BridgeObject*>(o); }

// SeverityNumber of a Python logging level, as the specification's mapping and the official
// SDK: DEBUG 5 (10..19 -> 5..8), INFO 9, WARN 13, ERROR 17, FATAL 21 (53+ -> 24).
int severity_of_level(long level) {
  if (level < 10) return 0;
  if (level > 53) return 24;
  const long decade = level / 10;
  const long offset = std::min<long>(level % 10, 3);
  return static_cast<int>(5 + (decade - 1) * 4 + offset);
}

// Copies key views whose refs are resolved (s.keys emptied), so arrays can be concatenated.
bool resolve_now(WriterAccess& w, Scratch& s) {
  if (!w.keys->resolve(*w.core, s)) {
    PyErr_Clear();
    return false;
  }
  s.keys.clear();
  return true;
}

std::span<const KeyValueView> concat(Scratch& s, std::span<const KeyValueView> a, std::span<const KeyValueView> b,
                                     std::span<const KeyValueView> c = {}) {
  if (b.empty() && c.empty()) return a;
  const size_t n = a.size() + b.size() + c.size();
  KeyValueView* out = s.kvs.alloc(n);
  std::copy(a.begin(), a.end(), out);
  std::copy(b.begin(), b.end(), out + a.size());
  std::copy(c.begin(), c.end(), out + a.size() + b.size());
  return {out, n};
}

// A field of a record: from its __dict__ `d`, else its attribute (new reference, or nullptr
// without an error set).
OTLP_MMAP_HOT PyObject* dict_get(PyObject* d, PyObject* record, PyObject* name) {
  PyObject* v = d ? PyDict_GetItemWithError(d, name) : nullptr;
  if (v != nullptr) return new_ref(v);
  PyErr_Clear();
  v = PyObject_GetAttr(record, name);
  if (v == nullptr) PyErr_Clear();
  return v;
}

OTLP_MMAP_HOT int64_t scope_for(BridgeObject* b, PyObject* logger_name) {
  if (logger_name == nullptr || !PyUnicode_Check(logger_name)) return 0;
  if (kRecordCaches && logger_name == b->last_name) return b->last_scope;
  PyObject* hit = PyDict_GetItemWithError(b->scopes, logger_name);
  if (hit != nullptr) {
    const int64_t ref = PyLong_AsLongLong(hit);
    if (kRecordCaches && ref > 0 && PyUnicode_CheckExact(logger_name)) {
      assign(b->last_name, logger_name);
      b->last_scope = ref;
    }
    return ref;
  }
  PyErr_Clear();
  int64_t name_ref = intern_str(b->w, logger_name);
  if (name_ref == 0) return 0;
  ScopeView v;
  v.name_ref = name_ref;
  v.resource_ref = b->resource_ref;
  int64_t ref = 0;
  try {
    ref = b->w.core->create_scope(v);
  } catch (const std::exception&) {
    ref = 0;
  }
  if (ref != 0) {
    Ref r(PyLong_FromLongLong(ref));
    if (!r || PyDict_SetItem(b->scopes, logger_name, r.get()) < 0) PyErr_Clear();
  }
  return ref;
}

bool is_exportable_body(PyObject* v) {
  return v == Py_None || PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v) || PyBytes_Check(v) ||
         PyList_Check(v) || PyTuple_Check(v) || PyDict_Check(v);
}

// LogRecord.getMessage(), str(msg) % args, for the usual case, written as UTF-8 into `out`
// without making the str: msg an exact str, args an exact tuple, and only %s (of an exact
// str or int), %d and %i (of an exact int) and %% in msg, one argument per conversion.
// Anything else returns false, nothing raised, for PyUnicode_Format to do (and to raise
// what it raises). '%' is ASCII, so it is found in the UTF-8 bytes as is.
OTLP_MMAP_HOT bool format_message_utf8(PyObject* msg, PyObject* args, char* out, size_t cap, size_t& len) {
  if (!PyUnicode_CheckExact(msg) || !PyTuple_CheckExact(args)) return false;
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(msg, &n);
  if (p == nullptr) {
    PyErr_Clear();
    return false;
  }
  const char* const end = p + n;
  const Py_ssize_t nargs = PyTuple_GET_SIZE(args);
  Py_ssize_t next = 0;
  size_t used = 0;
  auto put = [&](const char* s, size_t k) {
    if (k > cap - used) return false;
    std::memcpy(out + used, s, k);
    used += k;
    return true;
  };
  while (p < end) {
    const char* pct = static_cast<const char*>(std::memchr(p, '%', static_cast<size_t>(end - p)));
    if (!put(p, static_cast<size_t>((pct ? pct : end) - p))) return false;
    if (pct == nullptr) break;
    if (pct + 1 >= end) return false;  // "incomplete format"
    const char conv = pct[1];
    p = pct + 2;
    if (conv == '%') {
      if (!put("%", 1)) return false;
      continue;
    }
    if ((conv != 's' && conv != 'd' && conv != 'i') || next >= nargs) return false;
    PyObject* a = PyTuple_GET_ITEM(args, next++);
    if (conv == 's' && PyUnicode_CheckExact(a)) {
      Py_ssize_t k = 0;
      const char* q = PyUnicode_AsUTF8AndSize(a, &k);
      if (q == nullptr) {
        PyErr_Clear();
        return false;
      }
      if (!put(q, static_cast<size_t>(k))) return false;
    } else if (PyLong_CheckExact(a)) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(a, &overflow);
      if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return false;
      }
      char digits[24];
      const auto r = std::to_chars(digits, digits + sizeof digits, v);
      if (r.ec != std::errc() || !put(digits, static_cast<size_t>(r.ptr - digits))) return false;
    } else {
      return false;
    }
  }
  if (next != nargs) return false;  // "not all arguments converted"
  len = used;
  return true;
}

// severity_text of a level name: WARNING and CRITICAL as WARN and FATAL, as the official SDK.
PyObject* severity_text_of(PyObject* levelname) {
  const Py_ssize_t len = PyUnicode_GET_LENGTH(levelname);
  if (levelname == g_sn.warning_str || (len == 7 && PyUnicode_Compare(levelname, g_sn.warning_str) == 0)) {
    return g_sn.warn_str;
  }
  if (levelname == g_sn.critical_str || (len == 8 && PyUnicode_Compare(levelname, g_sn.critical_str) == 0)) {
    return g_sn.fatal_str;
  }
  return levelname;
}

// The record's creation time (float seconds, or int) in unix nanoseconds; 0 if unknown.
uint64_t created_ns(PyObject* created) {
  if (created != nullptr && PyFloat_Check(created)) return static_cast<uint64_t>(PyFloat_AS_DOUBLE(created) * 1e9);
  if (created != nullptr && PyLong_Check(created)) {
    const uint64_t t = static_cast<uint64_t>(PyLong_AsLongLong(created)) * 1000000000ULL;
    PyErr_Clear();
    return t;
  }
  return 0;
}

// The fields of one record: from the factory's memo when the record's dict is the memo's dict
// in the same state (a snapshot, new references), else looked up when needed.
class RecordFields {
 public:
  RecordFields(PyObject* record, bool formatted) : record_(record) {
    dict_ = Ref(PyObject_GenericGetDict(record, nullptr));
    if (!dict_) PyErr_Clear();
    if (dict_ && !PyDict_Check(dict_.get())) dict_.reset();
    PyObject* d = dict_.get();
    from_memo_ = kDictVersions && !formatted && d != nullptr && d == g_record_memo.dict &&
                 (version_ = dict_version(d)) == g_record_memo.version;
    if (from_memo_) {
      for (int i = 0; i < mCount; ++i) snap_[i] = Ref::borrow(g_record_memo.v[i]);
    }
  }
  PyObject* dict() const { return dict_.get(); }
  // Field `i` (each is asked for once); empty when the record has none.
  Ref take(MemoField i) {
    static PyObject* const* const names[mCount] = {&g_sn.name,      &g_sn.msg,      &g_sn.args,     &g_sn.levelno,
                                                   &g_sn.levelname, &g_sn.pathname, &g_sn.funcName, &g_sn.lineno,
                                                   &g_sn.exc_info,  &g_sn.created};
    if (!from_memo_) return Ref(dict_get(dict_.get(), record_, *names[i]));
    return std::move(snap_[i]);
  }
  // str() of a message or an argument may have run code that changed the record: the memo's
  // values are no longer the record's.
  void recheck() {
    if (from_memo_ && dict_version(dict_.get()) != version_) from_memo_ = false;
  }

 private:
  PyObject* record_;
  Ref dict_;
  Ref snap_[mCount];
  uint64_t version_ = 0;
  bool from_memo_ = false;
};

// The body: the formatted message (the handler's formatter when it has one). Either `body`
// gets an object to convert, or `out` is set directly from `buf` (the usual "text %s" case).
// False when formatting failed (the error is set).
bool format_body(BridgeObject* b, PyObject* record, PyObject* handler, bool formatted, RecordFields& fields, Ref& body,
                 std::span<char> buf, AnyValueView& out, bool& direct) {
  if (formatted) {
    body = Ref(PyObject_CallMethodOneArg(handler, g_sn.format, record));
    return bool(body);
  }
  Ref msg = fields.take(mMsg);
  Ref args = fields.take(mArgs);
  const int has_args = !args ? 0 : PyObject_IsTrue(args.get());
  if (has_args < 0) PyErr_Clear();
  if (has_args <= 0 && msg) {
    // No arguments: the message itself (an AnyValue may stay what it is, as the official
    // bridge does); anything else as its str().
    body = is_exportable_body(msg.get()) ? std::move(msg) : Ref(PyObject_Str(msg.get()));
  } else if (msg && Py_TYPE(record) == reinterpret_cast<PyTypeObject*>(b->record_type)) {
    // LogRecord.getMessage(): str(msg) % args, straight to UTF-8 when it can be.
    size_t len = 0;
    if (format_message_utf8(msg.get(), args.get(), buf.data(), buf.size(), len)) {
      out = AnyValueView::string({buf.data(), len});
      direct = true;
      return true;
    }
    Ref text(PyUnicode_CheckExact(msg.get()) ? new_ref(msg.get()) : PyObject_Str(msg.get()));
    body = Ref(text ? PyUnicode_Format(text.get(), args.get()) : nullptr);
  } else {
    body = Ref(PyObject_CallMethodNoArgs(record, g_sn.getMessage));
  }
  return bool(body);
}

// The code.* attributes (file path, function name, line number) into `out` (room for three),
// at most `room` of them; those beyond are counted in `dropped`.
size_t code_attributes(BridgeObject* b, RecordFields& fields, Scratch& s, int64_t room, KeyValueView* out,
                       uint32_t& dropped) {
  if (b->code_refs[0] == 0) {
    b->code_refs[0] = intern_str(b->w, g_sn.code_file_path);
    b->code_refs[1] = intern_str(b->w, g_sn.code_function_name);
    b->code_refs[2] = intern_str(b->w, g_sn.code_line_number);
  }
  Ref path = fields.take(mPathname);
  Ref func = fields.take(mFuncName);
  Ref line = fields.take(mLineno);
  size_t n = 0;
  auto add_str = [&](int i, PyObject* v) {
    if (v == nullptr || !PyUnicode_Check(v) || b->code_refs[i] == 0) return;
    if (static_cast<int64_t>(n) >= room) {
      ++dropped;
      return;
    }
    Py_ssize_t len = 0;
    const char* p = PyUnicode_AsUTF8AndSize(v, &len);
    if (p == nullptr) {
      PyErr_Clear();
      return;
    }
    new (&out[n]) KeyValueView{b->code_refs[i], AnyValueView::string({p, static_cast<size_t>(len)})};
    ++n;
  };
  add_str(0, path.get());
  add_str(1, func.get());
  if (line && PyLong_Check(line.get()) && b->code_refs[2] != 0) {
    if (static_cast<int64_t>(n) >= room) {
      ++dropped;
    } else {
      new (&out[n]) KeyValueView{b->code_refs[2], AnyValueView::integer(PyLong_AsLongLong(line.get()))};
      ++n;
      PyErr_Clear();
    }
  }
  // The views borrow from the strings until the record is written.
  for (Ref* o : {&path, &func, &line}) {
    if (*o) s.owned.push_back(nb::steal(o->release()));
  }
  return n;
}

OTLP_MMAP_HOT void bridge_emit(BridgeObject* b, PyObject* record, PyObject* handler) {
  if (!b->enabled) return;
  // The handler's formatter, if any: it runs Python code on the record, so the record's
  // fields are then all looked up as they are (no memo).
  Ref formatter(handler ? PyObject_GetAttr(handler, g_sn.formatter) : nullptr);
  if (!formatter) PyErr_Clear();
  const bool formatted = formatter && formatter.get() != Py_None;
  RecordFields fields(record, formatted);
  PyObject* const d = fields.dict();
  ScratchLease s;
  EventView e;

  Ref levelno = fields.take(mLevelno);
  long level = levelno && PyLong_Check(levelno.get()) ? PyLong_AsLong(levelno.get()) : 0;
  if (level == -1 && PyErr_Occurred()) PyErr_Clear();
  e.severity_number = severity_of_level(level);

  if (Ref levelname = fields.take(mLevelname)) {
    if (PyUnicode_Check(levelname.get())) {
      Py_ssize_t n = 0;
      const char* p = PyUnicode_AsUTF8AndSize(severity_text_of(levelname.get()), &n);
      if (p != nullptr) e.severity_text = {p, static_cast<size_t>(n)};
    }
    PyErr_Clear();
    s->owned.push_back(nb::steal(levelname.release()));
  }

  // Times: the record's creation time, and now.
  e.time_unix_nano = created_ns(fields.take(mCreated).get());
  e.observed_time_unix_nano = now_ns();

  Ref body;
  AnyValueView body_view;
  char text_buf[1024];
  bool direct = false;
  const bool ok = format_body(b, record, handler, formatted, fields, body, text_buf, body_view, direct);
  formatter.reset();
  fields.recheck();
  if (!ok) swallow_error("formatting a log message");
  if (direct) {
    e.body = &body_view;
  } else if (body) {
    PyObject* text = body.get();
    s->owned.push_back(nb::steal(body.release()));
    if (convert_body(text, *s, lenient_any(), body_view)) e.body = &body_view;
  }

  // Scope: the logger's name.
  e.scope_ref = scope_for(b, fields.take(mName).get());

  SpanContextStorage storage;
  current_span_context(nullptr, e.span_context, storage, false);

  // Attributes: extra fields of the record, code location, exception.
  uint32_t dropped = 0;
  std::span<const KeyValueView> extra;
  // A record with only the attributes logging gives every record has no extra fields: its
  // dict is not walked. (Formatters add "message"/"asctime"; extra= adds keys.)
  if (d != nullptr && PyDict_GET_SIZE(d) > b->standard_fields) {
    extra = convert_attributes(d, *s, lenient_any(b->max_attributes, b->max_length, &b->reserved_fast), &dropped);
  }
  // Filled in place (no zeroing of three views that are mostly not all used).
  alignas(KeyValueView) unsigned char code_mem[3 * sizeof(KeyValueView)];
  KeyValueView* const code_kvs = reinterpret_cast<KeyValueView*>(code_mem);
  size_t ncode = 0;
  if (b->code_attributes) {
    const int64_t room = b->max_attributes < 0 ? 3 : b->max_attributes - static_cast<int64_t>(extra.size());
    ncode = code_attributes(b, fields, *s, room, code_kvs, dropped);
  }
  std::span<const KeyValueView> code{code_kvs, ncode};
  std::span<const KeyValueView> exc;
  Ref exc_info = fields.take(mExcInfo);
  if (exc_info && exc_info.get() != Py_None && PyObject_IsTrue(exc_info.get()) == 1) {
    Ref ed(PyObject_CallOneArg(g_api.log_exc_attributes, record));
    if (!ed) {
      swallow_error("exception attributes of a log record");
    } else {
      PyObject* attrs = ed.get();
      s->owned.push_back(nb::steal(ed.release()));
      exc = convert_attributes(attrs, *s, lenient_any(b->max_attributes, b->max_length), &dropped,
                               static_cast<int64_t>(extra.size() + code.size()));
    }
  }
  PyErr_Clear();
  if (!code.empty() || !exc.empty()) {
    if (!resolve_now(b->w, *s)) {
      g_counters.not_written.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    e.attributes = extra.empty() && exc.empty() ? code : concat(*s, extra, code, exc);
  } else {
    e.attributes = extra;
  }
  e.dropped_attributes_count = dropped;
  write_record(b->w, *s, e);
  if (PyErr_Occurred()) swallow_error("logging handler");
}

// The handler, or empty once it is gone.
Ref handler_of(BridgeObject* b) {
  if (b->handler == nullptr) return Ref();
#if PY_VERSION_HEX >= 0x030D0000
  PyObject* h = nullptr;
  if (PyWeakref_GetRef(b->handler, &h) < 0) PyErr_Clear();
  return Ref(h);
#else
  PyObject* h = PyWeakref_GetObject(b->handler);  // borrowed
  if (h == nullptr || h == Py_None) return Ref();
  return Ref::borrow(h);
#endif
}

OTLP_MMAP_HOT PyObject* bridge_handle(PyObject* self, PyObject* record) {
  BridgeObject* b = as_bridge(self);
  Ref handler = handler_of(b);
  Ref rec = Ref::borrow(record);
  // The handler's filters (logging.Filterer.filter), only when it has any.
  if (handler && b->filters != nullptr && PyList_Check(b->filters) && PyList_GET_SIZE(b->filters) > 0) {
    Ref rv(PyObject_CallMethodOneArg(handler.get(), g_sn.filter, record));
    if (!rv) {
      swallow_error("logging filter");
      Py_RETURN_FALSE;
    }
    const int keep = PyObject_IsTrue(rv.get());
    if (keep <= 0) {
      PyErr_Clear();
      Py_RETURN_FALSE;
    }
    PyObject* r = rv.get();
    if (r != Py_True && !PyBool_Check(r) && !PyLong_Check(r)) {
      rec = std::move(rv);  // Python 3.12+: a filter may return a replacement record
    }
  }
  bridge_emit(b, rec.get(), handler.get());
  Py_RETURN_TRUE;
}

PyObject* bridge_emit_method(PyObject* self, PyObject* record) {
  BridgeObject* b = as_bridge(self);
  Ref handler = handler_of(b);
  bridge_emit(b, record, handler.get());
  Py_RETURN_NONE;
}

PyObject* bridge_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {
      "writer",         "resource_ref",         "handler",         "filters",     "reserved",
      "max_attributes", "max_attribute_length", "code_attributes", "record_type", "standard_fields",
      nullptr};
  PyObject *writer, *handler, *filters, *reserved, *record_type = Py_None;
  long long ref, max_attrs = 128, max_len = -1;
  Py_ssize_t standard = 0;
  int code = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OLOOO|LLpOn", const_cast<char**>(kw), &writer, &ref, &handler,
                                   &filters, &reserved, &max_attrs, &max_len, &code, &record_type, &standard)) {
    return nullptr;
  }
  if (!PyAnySet_Check(reserved)) {
    PyErr_SetString(PyExc_TypeError, "reserved must be a frozenset");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  Ref self(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  BridgeObject* b = as_bridge(self.get());
  if (!take_writer(writer, b->writer, b->w)) return nullptr;
  b->resource_ref = ref;
  b->max_attributes = max_attrs;
  b->max_length = max_len;
  b->enabled = true;
  b->code_attributes = code != 0;
  b->scopes = PyDict_New();
  if (b->scopes == nullptr) return nullptr;
  b->handler = handler == Py_None ? nullptr : PyWeakref_NewRef(handler, nullptr);
  if (b->handler == nullptr) PyErr_Clear();
  assign(b->filters, filters == Py_None ? nullptr : filters);
  assign(b->reserved, reserved);
  new (&b->reserved_fast) PtrSet();
  b->reserved_fast.assign(reserved);
  assign(b->record_type, record_type);
  b->standard_fields = standard;
  return self.release();
}

PyObject* bridge_reset(PyObject* self, PyObject* arg) {
  long long ref = PyLong_AsLongLong(arg);
  if (ref == -1 && PyErr_Occurred()) return nullptr;
  BridgeObject* b = as_bridge(self);
  b->resource_ref = ref;
  PyDict_Clear(b->scopes);
  clear_ref(b->last_name);
  Py_RETURN_NONE;
}

PyMethodDef bridge_methods[] = {
    {"handle", bridge_handle, METH_O, "logging.Handler.handle: filters, then writes the record."},
    {"emit", bridge_emit_method, METH_O, "logging.Handler.emit: writes the record."},
    {"_reset", bridge_reset, METH_O, "A new resource reference (after fork): scopes are created again."},
    {"_set_enabled", set_enabled<BridgeObject>, METH_O, "False: records are dropped (shutdown)."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

void bind_log_bridge(nb::module_& m) {
  define_type<BridgeObject, BridgeRefs>(m, BridgeType,
                                        {.name = "otlp_mmap._native.LogBridge",
                                         .doc = "The native core of otlp_mmap.sdk.logs.LoggingHandler.",
                                         .methods = bridge_methods,
                                         .tp_new = bridge_new});
}

}  // namespace otlp_mmap::py::sdk

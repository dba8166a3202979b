#include "sdk_core.hpp"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstring>

namespace otlp_mmap::py::sdk {

Api g_api;
SdkNames g_sn;
Counters g_counters;

namespace {

std::atomic<bool> g_warned[static_cast<int>(Warn::kCount)];

PyObject* intern(const char* s) {
  PyObject* o = PyUnicode_InternFromString(s);
  if (o == nullptr) throw_current();
  return o;  // kept for the life of the process
}

}  // namespace

bool ensure_ready() {
  if (g_api.ready) return true;
  PyErr_SetString(PyExc_RuntimeError, "otlp_mmap._native: _sdk_init() has not run (import otlp_mmap.sdk first)");
  return false;
}

// ------------------------------------------------------------------ warnings and counters

namespace {

void emit_warning(Ref message) {
  if (!message) {
    PyErr_Clear();
    return;
  }
  if (g_api.warn != nullptr) {
    Ref r(PyObject_CallOneArg(g_api.warn, message.get()));
    if (!r) PyErr_Clear();
  }
}

// Keeps the Python error that is set (if any) across a call that may set or clear one.
class ErrorKept {
 public:
  ErrorKept() { PyErr_Fetch(&type_, &value_, &tb_); }
  ~ErrorKept() { PyErr_Restore(type_, value_, tb_); }
  ErrorKept(const ErrorKept&) = delete;
  ErrorKept& operator=(const ErrorKept&) = delete;

 private:
  PyObject *type_, *value_, *tb_;
};

// The exception that is set, normalised and cleared (empty when none is set).
Ref take_error() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  Ref t(type), b(tb);
  return Ref(value);
}

}  // namespace

void warn_once(Warn kind, const char* format, ...) {
  if (g_warned[static_cast<int>(kind)].exchange(true, std::memory_order_relaxed)) return;
  ErrorKept kept;
  va_list args;
  va_start(args, format);
  Ref message(PyUnicode_FromFormatV(format, args));
  va_end(args);
  emit_warning(std::move(message));
}

void warn(const char* format, ...) {
  ErrorKept kept;
  va_list args;
  va_start(args, format);
  Ref message(PyUnicode_FromFormatV(format, args));
  va_end(args);
  emit_warning(std::move(message));
}

void swallow_error(const char* where) {
  g_counters.internal_errors.fetch_add(1, std::memory_order_relaxed);
  if (!PyErr_Occurred()) return;
  Ref value = take_error();
  if (!g_warned[static_cast<int>(Warn::kInternal)].exchange(true, std::memory_order_relaxed)) {
    emit_warning(Ref(PyUnicode_FromFormat("otlp_mmap: error ignored in %s: %R", where, value ? value.get() : Py_None)));
  }
}

// ------------------------------------------------------------------ ids and time

namespace {

struct IdState {
  uint64_t s[4];
  uint64_t generation;
  bool seeded;
};
thread_local IdState t_ids{};
std::atomic<uint64_t> g_generation{1};

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void seed(IdState& st) {
  uint64_t buf[4] = {};
  ssize_t n = ::getrandom(buf, sizeof buf, GRND_NONBLOCK);
  if (n != static_cast<ssize_t>(sizeof buf)) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = static_cast<uint64_t>(ts.tv_nsec) ^ (static_cast<uint64_t>(ts.tv_sec) << 32) ^
                 (static_cast<uint64_t>(::getpid()) << 16) ^ reinterpret_cast<uintptr_t>(&st);
    ::clock_gettime(CLOCK_REALTIME, &ts);
    x ^= static_cast<uint64_t>(ts.tv_nsec) * 0x2545F4914F6CDD1DULL;
    for (auto& b : buf) b ^= splitmix(x);
  }
  if ((buf[0] | buf[1] | buf[2] | buf[3]) == 0) buf[0] = 1;
  std::memcpy(st.s, buf, sizeof buf);
  st.generation = g_generation.load(std::memory_order_relaxed);
  st.seeded = true;
}

inline uint64_t next64() {
  IdState& st = t_ids;
  if (!st.seeded || st.generation != g_generation.load(std::memory_order_relaxed)) seed(st);
  uint64_t* s = st.s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

inline void store_be64(uint8_t* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

inline uint64_t load_be64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

void after_fork_child() { g_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

OTLP_MMAP_HOT void new_trace_id(uint8_t out[16]) {
  uint64_t hi, lo;
  do {
    hi = next64();
    lo = next64();
  } while ((hi | lo) == 0);
  store_be64(out, hi);
  store_be64(out + 8, lo);
}

OTLP_MMAP_HOT void new_span_id(uint8_t out[8]) {
  uint64_t v;
  do v = next64();
  while (v == 0);
  store_be64(out, v);
}

OTLP_MMAP_HOT uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

void reseed_ids_after_fork() { after_fork_child(); }

uint64_t fork_generation() { return g_generation.load(std::memory_order_relaxed); }

bool int_to_be(PyObject* v, uint8_t* out, int n) {
  if (!PyLong_Check(v)) {
    PyErr_Format(PyExc_TypeError, "an id must be an int, not %.100s", Py_TYPE(v)->tp_name);
    return false;
  }
  if (n == 8) {
    unsigned long long x = PyLong_AsUnsignedLongLong(v);
    if (x == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return false;
    store_be64(out, x);
    return true;
  }
  // 16 bytes: the high half first (checks the range), then the low half.
  static PyObject* sixty_four = PyLong_FromLong(64);
  if (sixty_four == nullptr) return false;
  Ref hi_obj(PyNumber_Rshift(v, sixty_four));
  if (!hi_obj) return false;
  unsigned long long hi = PyLong_AsUnsignedLongLong(hi_obj.get());
  if (hi == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return false;
  unsigned long long lo = PyLong_AsUnsignedLongLongMask(v);
  if (lo == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return false;
  store_be64(out, hi);
  store_be64(out + 8, lo);
  return true;
}

PyObject* be_to_int(const uint8_t* in, int n) {
  if (n == 8) return PyLong_FromUnsignedLongLong(load_be64(in));
  const uint64_t hi = load_be64(in), lo = load_be64(in + 8);
  if (hi == 0) return PyLong_FromUnsignedLongLong(lo);
  Ref h(PyLong_FromUnsignedLongLong(hi));
  if (!h) return nullptr;
  static PyObject* sixty_four = PyLong_FromLong(64);
  Ref shifted(PyNumber_Lshift(h.get(), sixty_four));
  if (!shifted) return nullptr;
  Ref l(PyLong_FromUnsignedLongLong(lo));
  if (!l) return nullptr;
  return PyNumber_Or(shifted.get(), l.get());
}

// ------------------------------------------------------------------ context

OTLP_MMAP_HOT PyObject* context_current() {
  if (g_api.context_var != nullptr) {
    PyObject* v = nullptr;
    if (PyContextVar_Get(g_api.context_var, nullptr, &v) < 0) return nullptr;
    if (v != nullptr) return v;
    return PyObject_CallNoArgs(g_api.context_type);
  }
  return PyObject_CallNoArgs(g_api.get_current);
}

OTLP_MMAP_HOT PyObject* context_with_span(PyObject* ctx, PyObject* span) {
  Ref c(PyDict_Type.tp_new(reinterpret_cast<PyTypeObject*>(g_api.context_type), g_api.empty_tuple, nullptr));
  if (!c) return nullptr;
  if (ctx != nullptr && PyDict_Check(ctx) && PyDict_GET_SIZE(ctx) > 0 && PyDict_Merge(c.get(), ctx, 1) < 0) {
    return nullptr;
  }
  if (PyDict_SetItem(c.get(), g_api.span_key, span) < 0) return nullptr;
  return c.release();
}

OTLP_MMAP_HOT PyObject* context_attach(PyObject* ctx) {
  if (g_api.context_var != nullptr) return PyContextVar_Set(g_api.context_var, ctx);
  return PyObject_CallOneArg(g_api.attach, ctx);
}

OTLP_MMAP_HOT void context_detach(PyObject* token) {
  if (token == nullptr) return;
  if (g_api.context_var != nullptr) {
    if (PyContextVar_Reset(g_api.context_var, token) < 0) {
      Ref value = take_error();
      warn_once(Warn::kDetach, "Failed to detach context: %R", value ? value.get() : Py_None);
    }
    return;
  }
  Ref r(PyObject_CallOneArg(g_api.detach, token));
  if (!r) swallow_error("context detach");
}

OTLP_MMAP_HOT PyObject* span_in_context(PyObject* ctx) {
  if (ctx == nullptr || ctx == Py_None) return nullptr;
  if (PyDict_Check(ctx)) {
    PyObject* span = PyDict_GetItemWithError(ctx, g_api.span_key);
    if (span == nullptr) PyErr_Clear();
    return span;
  }
  return nullptr;
}

PyObject* trace_state_header(PyObject* ts) {
  if (ts == nullptr || ts == Py_None || ts == g_api.default_trace_state) return nullptr;
  Py_ssize_t n = PyObject_Length(ts);
  if (n <= 0) {
    PyErr_Clear();
    return nullptr;
  }
  Ref h(PyObject_CallMethodNoArgs(ts, g_sn.to_header));
  if (!h) {
    swallow_error("TraceState.to_header");
    return nullptr;
  }
  if (!PyUnicode_Check(h.get()) || PyUnicode_GET_LENGTH(h.get()) == 0) return nullptr;
  return h.release();
}

bool parent_from_span_context(PyObject* sc, Parent& p) {
  if (sc == nullptr || !PyTuple_Check(sc) || PyTuple_GET_SIZE(sc) < 6) {
    warn_once(Warn::kBadParent, "ignoring a span context that is not an opentelemetry.trace.SpanContext: %R",
              sc ? sc : Py_None);
    return false;
  }
  int valid = PyObject_IsTrue(PyTuple_GET_ITEM(sc, 5));
  if (valid <= 0) {
    PyErr_Clear();
    return false;
  }
  if (!int_to_be(PyTuple_GET_ITEM(sc, 0), p.trace_id, 16) || !int_to_be(PyTuple_GET_ITEM(sc, 1), p.span_id, 8)) {
    PyErr_Clear();
    warn_once(Warn::kBadParent, "ignoring a span context with ids out of range: %R", sc);
    return false;
  }
  int remote = PyObject_IsTrue(PyTuple_GET_ITEM(sc, 2));
  if (remote < 0) {
    PyErr_Clear();
    remote = 0;
  }
  long flags = PyLong_Check(PyTuple_GET_ITEM(sc, 3)) ? PyLong_AsLong(PyTuple_GET_ITEM(sc, 3)) : 0;
  if (flags == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    flags = 0;
  }
  p.valid = true;
  p.remote = remote != 0;
  p.flags = static_cast<uint8_t>(flags & 0xff);
  PyObject* ts = PyTuple_GET_ITEM(sc, 4);
  if (ts != Py_None && ts != g_api.default_trace_state) {
    p.trace_state = Ref::borrow(ts);
    p.ts_header = Ref(trace_state_header(ts));
  }
  return true;
}

OTLP_MMAP_HOT void parent_from_context(PyObject* ctx, Parent& p) {
  PyObject* span = span_in_context(ctx);
  if (span == nullptr || span == Py_None) return;
  if (native_span_parent(span, p)) return;
  int is_span = PyObject_IsInstance(span, g_api.span_abc);
  if (is_span <= 0) {
    PyErr_Clear();
    return;
  }
  Ref sc(PyObject_CallMethodNoArgs(span, g_sn.get_span_context));
  if (!sc) {
    swallow_error("get_span_context of the parent span");
    return;
  }
  parent_from_span_context(sc.get(), p);
}

OTLP_MMAP_HOT bool current_span_context(PyObject* ctx, SpanContextView& out, SpanContextStorage& storage,
                                        bool sampled_only) {
  Ref owned;
  if (ctx == nullptr || ctx == Py_None) {
    owned = Ref(context_current());
    if (!owned) {
      PyErr_Clear();
      return false;
    }
    ctx = owned.get();
  }
  Parent p;
  parent_from_context(ctx, p);
  if (!p.valid || (sampled_only && (p.flags & 1) == 0)) return false;
  std::memcpy(storage.trace_id, p.trace_id, 16);
  std::memcpy(storage.span_id, p.span_id, 8);
  out.present = true;
  out.trace_id = {reinterpret_cast<const char*>(storage.trace_id), 16};
  out.span_id = {reinterpret_cast<const char*>(storage.span_id), 8};
  out.flags = p.flags;
  return true;
}

// ------------------------------------------------------------------ helpers

int64_t intern_str(WriterAccess& w, PyObject* str) {
  if (str == nullptr || !PyUnicode_Check(str)) return 0;
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(str, &n);
  if (p == nullptr) {
    PyErr_Clear();
    return 0;
  }
  try {
    return w.keys->get(*w.core, str, {p, static_cast<size_t>(n)}, nullptr);
  } catch (const nb::python_error&) {
    PyErr_Clear();
  } catch (const std::exception&) {
  }
  return 0;
}

OTLP_MMAP_HOT bool parse_args(const char* fname, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                              std::initializer_list<PyObject*> names, Py_ssize_t max_positional, PyObject** out) {
  const Py_ssize_t n = static_cast<Py_ssize_t>(names.size());
  for (Py_ssize_t i = 0; i < n; ++i) out[i] = nullptr;
  nargs = PyVectorcall_NARGS(nargs);
  if (nargs > max_positional) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %zd positional arguments (%zd given)", fname, max_positional,
                 nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  if (kwnames == nullptr) return true;
  const Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t j = 0; j < nk; ++j) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, j);
    Py_ssize_t idx = -1;
    Py_ssize_t i = 0;
    for (PyObject* name : names) {
      if (name == key) {
        idx = i;
        break;
      }
      ++i;
    }
    if (idx < 0) {
      i = 0;
      for (PyObject* name : names) {
        if (PyUnicode_Compare(name, key) == 0) {
          idx = i;
          break;
        }
        ++i;
      }
      if (PyErr_Occurred()) return false;
    }
    if (idx < 0) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%S'", fname, key);
      return false;
    }
    if (out[idx] != nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%S'", fname, key);
      return false;
    }
    out[idx] = args[nargs + j];
  }
  return true;
}

int truthy(PyObject* v, bool dflt) {
  if (v == nullptr) return dflt ? 1 : 0;
  if (v == Py_True) return 1;
  if (v == Py_False || v == Py_None) return 0;
  return PyObject_IsTrue(v);
}

// ------------------------------------------------------------------ module functions

namespace {

PyObject* own(nb::handle h) { return new_ref(h.ptr()); }

PyObject* required(nb::kwargs& kw, const char* name) {
  if (!kw.contains(name)) throw_py(PyExc_ValueError, "_sdk_init: missing %s", name);
  return own(kw[name]);
}

PyObject* optional(nb::kwargs& kw, const char* name) {
  if (!kw.contains(name)) return nullptr;
  nb::handle h = kw[name];
  if (h.is_none()) return nullptr;
  return own(h);
}

void sdk_init(nb::kwargs kw) {
  Api a;
  a.context_var = optional(kw, "context_var");
  a.get_current = required(kw, "get_current");
  a.attach = required(kw, "attach");
  a.detach = required(kw, "detach");
  a.context_type = required(kw, "context_type");
  if (!PyType_Check(a.context_type) ||
      !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(a.context_type), &PyDict_Type)) {
    throw_py(PyExc_TypeError, "_sdk_init: context_type must be a dict subclass");
  }
  a.span_key = required(kw, "span_key");
  a.span_abc = required(kw, "span_abc");
  a.span_context_type = required(kw, "span_context_type");
  if (!PyType_Check(a.span_context_type) ||
      !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(a.span_context_type), &PyTuple_Type)) {
    throw_py(PyExc_TypeError, "_sdk_init: span_context_type must be a tuple subclass");
  }
  a.trace_flags_type = required(kw, "trace_flags_type");
  a.default_trace_state = required(kw, "default_trace_state");
  a.status_type = required(kw, "status_type");
  nb::handle kinds = kw["span_kinds"];
  for (int i = 0; i < 5; ++i) a.span_kinds[i] = own(kinds[i]);
  nb::handle codes = kw["status_codes"];
  for (int i = 0; i < 3; ++i) a.status_codes[i] = own(codes[i]);
  nb::handle flags = kw["trace_flags"];
  for (int i = 0; i < 4; ++i) a.trace_flags[i] = own(flags[i]);
  a.warn = required(kw, "warn");
  a.exception_attributes = required(kw, "exception_attributes");
  a.decorate = required(kw, "decorate");
  a.log_exc_attributes = required(kw, "log_exc_attributes");
  a.empty_tuple = PyTuple_New(0);
  if (a.empty_tuple == nullptr) throw_current();
  a.exemplar_filter = g_api.exemplar_filter;
  a.ready = true;
  g_api = a;  // references held for the life of the process
}

nb::dict sdk_counters() {
  nb::dict d;
  d["invalid_attributes"] = g_counters.invalid_attributes.load();
  d["limited_attributes"] = g_counters.limited_attributes.load();
  d["dropped_events"] = g_counters.dropped_events.load();
  d["dropped_links"] = g_counters.dropped_links.load();
  d["invalid_measurements"] = g_counters.invalid_measurements.load();
  d["not_written"] = g_counters.not_written.load();
  d["internal_errors"] = g_counters.internal_errors.load();
  return d;
}

void reset_warnings() {
  for (auto& w : g_warned) w.store(false);
}

}  // namespace

void bind_sdk_core(nb::module_& m) {
  g_sn = SdkNames{intern("name"),
                  intern("context"),
                  intern("kind"),
                  intern("attributes"),
                  intern("links"),
                  intern("start_time"),
                  intern("record_exception"),
                  intern("set_status_on_exception"),
                  intern("end_on_exit"),
                  intern("end_time"),
                  intern("key"),
                  intern("value"),
                  intern("timestamp"),
                  intern("description"),
                  intern("status"),
                  intern("escaped"),
                  intern("exception"),
                  intern("amount"),
                  intern("get_span_context"),
                  intern("to_header"),
                  intern("status_code"),
                  intern("trace_id"),
                  intern("span_id"),
                  intern("trace_flags"),
                  intern("trace_state"),
                  intern("observed_timestamp"),
                  intern("severity_number"),
                  intern("severity_text"),
                  intern("body"),
                  intern("event_name"),
                  intern("value"),
                  intern("record"),
                  intern("levelno"),
                  intern("levelname"),
                  intern("msg"),
                  intern("args"),
                  intern("created"),
                  intern("exc_info"),
                  intern("pathname"),
                  intern("funcName"),
                  intern("lineno"),
                  intern("getMessage"),
                  intern("__dict__"),
                  intern("filters"),
                  intern("filter"),
                  intern("format"),
                  intern("formatter"),
                  intern("code.file.path"),
                  intern("code.function.name"),
                  intern("code.line.number"),
                  intern("should_sample"),
                  intern("decision"),
                  intern("is_sampled"),
                  intern("is_recording"),
                  intern("exc_text"),
                  intern("stack_info"),
                  intern("WARN"),
                  intern("CRITICAL"),
                  intern("FATAL"),
                  intern("WARNING")};
  static bool atfork_registered = false;
  if (!atfork_registered) {
    ::pthread_atfork(nullptr, nullptr, after_fork_child);
    atfork_registered = true;
  }
  m.def("_sdk_init", &sdk_init, "Hands the opentelemetry-api objects and SDK hooks to the native SDK (once).");
  m.def("_sdk_counters", &sdk_counters, "The SDK's loss counters (attributes, events, links, measurements...).");
  m.def("_sdk_reset_warnings", &reset_warnings, "Lets every one-time warning be logged again (tests).");
  m.def(
      "_sdk_set_exemplar_filter", [](int f) { g_api.exemplar_filter = f; },
      "0 always_off, 1 always_on, 2 trace_based: which measurements carry the current span context.");
  m.def(
      "_sdk_new_ids",
      []() {
        uint8_t t[16], s[8];
        new_trace_id(t);
        new_span_id(s);
        return nb::make_tuple(nb::bytes(reinterpret_cast<const char*>(t), 16),
                              nb::bytes(reinterpret_cast<const char*>(s), 8));
      },
      "A fresh (trace_id, span_id) pair of bytes from the native generator (tests).");
  m.def("_sdk_time_ns", &now_ns, "The native clock: unix nanoseconds.");
}

}  // namespace otlp_mmap::py::sdk

// otlp_mmap._native.LogRecordFactory: logging.LogRecord made natively, with the same
// attributes, in the same order and with the same values, as LogRecord.__init__ of the
// running Python computes them (the Python side probes the stdlib before installing it and
// checks the result against a stdlib record).
//
// It remembers what does not change from a call to the next: logging's switches while
// logging's globals are unchanged, whether a builtin type is a Mapping while abc's cache token
// is unchanged, the filename and module of a pathname, the thread ident and pid objects. And
// it leaves the bridge a memo of the record it made (log_internal.hpp).
#include <unistd.h>

#include <cstring>
#include <utility>

#include "log_internal.hpp"

namespace otlp_mmap::py::sdk {

RecordMemo g_record_memo;

namespace {

// logging.LogRecord made natively: the same attributes, in the same order and with the same
// values, as LogRecord.__init__ of the running Python computes them (the Python side probes
// the stdlib before installing it and checks the result against a stdlib record).
enum Field : uint8_t {
  kName,
  kMsg,
  kArgs,
  kLevelname,
  kLevelno,
  kPathname,
  kFilename,
  kModule,
  kExcInfo,
  kExcText,
  kStackInfo,
  kLineno,
  kFuncName,
  kCreated,
  kMsecs,
  kRelativeCreated,
  kThread,
  kThreadName,
  kProcessName,
  kProcess,
  kTaskName,
  kFieldCount
};
const char* const kFieldNames[kFieldCount] = {
    "name",     "msg",        "args",        "levelname", "levelno",  "pathname", "filename", "module",
    "exc_info", "exc_text",   "stack_info",  "lineno",    "funcName", "created",  "msecs",    "relativeCreated",
    "thread",   "threadName", "processName", "process",   "taskName"};

struct FactoryObject {
  PyObject_HEAD vectorcallfunc vectorcall;
  PyObject* record_type;
  PyObject* logging_dict;             // logging.__dict__ (logThreads... read at each call, as the stdlib does)
  PyObject* level_to_name;            // logging._levelToName
  PyObject* get_level_name;           // logging.getLevelName as installed
  PyObject* current_thread;           // threading.current_thread
  PyObject* active_threads;           // threading._active {ident: Thread}
  PyObject* name_property;            // threading.Thread.name
  PyObject* s_name_attr;              // "_name"
  PyTypeObject* plain_thread_type;    // a thread class whose `name` is Thread's property...
  unsigned int plain_thread_version;  // ...as long as its tp_version_tag is unchanged
  uint64_t pid_generation;
  PyObject* sys_modules;
  PyObject* field_names[kFieldCount];  // interned
  uint8_t order[kFieldCount];
  int nfields;
  bool ns_mode;    // Python 3.13+: time_ns based
  bool int_msecs;  // msecs = int(...) + 0.0 (gh-89047)
  double start_time;
  long long start_time_ns;
  PyObject* s_logThreads;
  PyObject* s_logMultiprocessing;
  PyObject* s_logProcesses;
  PyObject* s_logAsyncioTasks;
  PyObject* s_getLevelName;
  PyObject* s_multiprocessing;
  PyObject* s_asyncio;
  PyObject* s_current_process;
  PyObject* s_get_running_loop;
  PyObject* s_current_task;
  PyObject* s_get_name;
  PyObject* main_process;  // "MainProcess"
  PyObject* unknown_module;
  uint32_t present;  // bit k: field k is one of this Python's LogRecord attributes
  // isinstance(x, collections.abc.Mapping) of a few builtin types, remembered while abc's
  // cache token (abc.get_cache_token(), changed by every ABC.register) stays the same.
  PyObject* get_cache_token;  // _abc.get_cache_token, or nullptr: no memo
  unsigned long long abc_token;
  int8_t mapping_memo[8];  // -1 unknown, else the answer for kMemoTypes[i]
  // Values that many records share (immutable, so sharing them is invisible): the
  // filename and module of a pathname, the current thread's ident, the pid.
  PyObject* path_cache;      // {pathname str: (filename, module)}
  uint64_t logging_version;  // logging_flags() memo (Python <= 3.11)
  uint8_t flags;
  bool flags_valid;
  uint64_t modules_version;  // multiprocessing known to be absent from sys.modules (Python <= 3.11)
  bool no_multiprocessing;
  unsigned long ident_value;
  PyObject* ident;
  PyObject* pid_obj;
};
// Interned names (s_*, field_names, main_process, unknown_module) live for the process.
using FactoryRefs =
    RefFields<FactoryObject, &FactoryObject::record_type, &FactoryObject::logging_dict, &FactoryObject::level_to_name,
              &FactoryObject::get_level_name, &FactoryObject::current_thread, &FactoryObject::active_threads,
              &FactoryObject::name_property, &FactoryObject::sys_modules, &FactoryObject::get_cache_token,
              &FactoryObject::path_cache, &FactoryObject::ident, &FactoryObject::pid_obj>;

PyTypeObject FactoryType{};

enum LoggingFlag : uint8_t {
  kLogThreads = 1,
  kLogMultiprocessing = 2,
  kLogProcesses = 4,
  kLogAsyncioTasks = 8,
  kOriginalGetLevelName = 16,  // logging.getLevelName is the function the factory was made with
};

// logging's switches (a missing one counts as on) and whether getLevelName is the original,
// as LogRecord.__init__ reads them from logging's globals at each call; remembered while the
// globals are unchanged and the switches plain bools or ints (whose truth cannot change).
OTLP_MMAP_HOT uint8_t logging_flags(FactoryObject* f) {
  if (kDictVersions && f->flags_valid && f->logging_version == dict_version(f->logging_dict)) return f->flags;
  const std::pair<PyObject*, uint8_t> switches[] = {{f->s_logThreads, kLogThreads},
                                                    {f->s_logMultiprocessing, kLogMultiprocessing},
                                                    {f->s_logProcesses, kLogProcesses},
                                                    {f->s_logAsyncioTasks, kLogAsyncioTasks}};
  uint8_t flags = 0;
  bool plain = true;
  for (const auto& [name, bit] : switches) {
    PyObject* v = PyDict_GetItemWithError(f->logging_dict, name);
    if (v == nullptr) {
      PyErr_Clear();
      flags |= bit;
      continue;
    }
    plain = plain && (PyBool_Check(v) || PyLong_CheckExact(v));
    const int t = PyObject_IsTrue(v);
    if (t < 0) PyErr_Clear();
    if (t != 0) flags |= bit;
  }
  PyObject* gln = PyDict_GetItemWithError(f->logging_dict, f->s_getLevelName);
  if (gln == nullptr) PyErr_Clear();
  if (gln == f->get_level_name) flags |= kOriginalGetLevelName;
  if (kDictVersions) {
    f->flags = flags;
    f->flags_valid = plain;
    f->logging_version = dict_version(f->logging_dict);
  }
  return flags;
}

// sys.modules.get(name) (a new reference), or nullptr (no error). Without multiprocessing
// (which LogRecord asks for the process name), that answer is remembered while sys.modules
// is unchanged.
PyObject* loaded_module(FactoryObject* f, PyObject* name) {
  const bool memo = kDictVersions && name == f->s_multiprocessing;
  if (memo && f->no_multiprocessing && f->modules_version == dict_version(f->sys_modules)) return nullptr;
  PyObject* m = PyDict_GetItemWithError(f->sys_modules, name);
  if (m == nullptr) PyErr_Clear();
  if (memo) {
    f->no_multiprocessing = m == nullptr;
    f->modules_version = dict_version(f->sys_modules);
  }
  return Ref::borrow(m).release();
}

// os.path.basename and os.path.splitext(...)[0] of a POSIX path (posixpath semantics).
bool split_path(PyObject* path, Ref& filename, Ref& module) {
  const Py_ssize_t n = PyUnicode_GET_LENGTH(path);
  const Py_ssize_t slash = PyUnicode_FindChar(path, '/', 0, n, -1);
  if (slash == -2) return false;
  const Py_ssize_t start = slash + 1;
  Ref name(PyUnicode_Substring(path, start, n));
  if (!name) return false;
  // splitext: the last dot after the last separator, unless the name is only leading dots.
  const Py_ssize_t fn = n - start;
  const Py_ssize_t dot = PyUnicode_FindChar(name.get(), '.', 0, fn, -1);
  Py_ssize_t cut = fn;
  if (dot > 0) {
    for (Py_ssize_t i = 0; i < dot; ++i) {
      if (PyUnicode_READ_CHAR(name.get(), i) != '.') {
        cut = dot;
        break;
      }
    }
  }
  Ref mod(PyUnicode_Substring(name.get(), 0, cut));
  if (!mod) return false;
  filename = std::move(name);
  module = std::move(mod);
  return true;
}

PyObject* call_name_of(PyObject* obj, PyObject* method) {
  // obj.method().name / get_name(); nullptr (no error) on failure.
  PyObject* r = PyObject_CallMethodNoArgs(obj, method);
  if (r == nullptr) PyErr_Clear();
  return r;
}

// isinstance(o, collections.abc.Mapping), as LogRecord.__init__ asks it of a lone argument.
// The ABC's answer for an exact builtin type only changes when some ABC's registry does,
// which changes abc's cache token (CPython's own negative cache relies on the same), so for
// these types it is asked once per token instead of going through ABCMeta.__instancecheck__.
OTLP_MMAP_HOT int is_mapping(FactoryObject* f, PyObject* o) {
  if (PyDict_Check(o)) return 1;
  static PyTypeObject* const kMemoTypes[8] = {&PyUnicode_Type, &PyLong_Type,  &PyFloat_Type, &PyBool_Type,
                                              &PyBytes_Type,   &PyTuple_Type, &PyList_Type,  Py_TYPE(Py_None)};
  int slot = -1;
  for (int i = 0; i < 8; ++i) {
    if (Py_TYPE(o) == kMemoTypes[i]) slot = i;
  }
  if (!kRecordCaches || slot < 0 || f->get_cache_token == nullptr) return PyObject_IsInstance(o, g_mapping_abc);
  Ref token(PyObject_CallNoArgs(f->get_cache_token));
  const unsigned long long t = token && PyLong_Check(token.get()) ? PyLong_AsUnsignedLongLong(token.get()) : ~0ULL;
  if (t == ~0ULL) {
    PyErr_Clear();
    return PyObject_IsInstance(o, g_mapping_abc);
  }
  if (t != f->abc_token) {
    f->abc_token = t;
    std::memset(f->mapping_memo, -1, sizeof f->mapping_memo);
  }
  if (f->mapping_memo[slot] >= 0) return f->mapping_memo[slot];
  const int r = PyObject_IsInstance(o, g_mapping_abc);
  if (r >= 0) f->mapping_memo[slot] = static_cast<int8_t>(r);
  return r;
}

// filename and module of a str pathname, remembered per pathname.
OTLP_MMAP_HOT bool path_parts(FactoryObject* f, PyObject* pathname, Ref& filename, Ref& module) {
  if (kRecordCaches && f->path_cache != nullptr) {
    PyObject* hit = PyDict_GetItemWithError(f->path_cache, pathname);
    if (hit != nullptr) {
      filename = Ref::borrow(PyTuple_GET_ITEM(hit, 0));
      module = Ref::borrow(PyTuple_GET_ITEM(hit, 1));
      return true;
    }
    PyErr_Clear();
  }
  if (!split_path(pathname, filename, module)) return false;
  if (kRecordCaches && f->path_cache != nullptr) {
    if (PyDict_GET_SIZE(f->path_cache) >= 512) PyDict_Clear(f->path_cache);
    Ref entry(PyTuple_Pack(2, filename.get(), module.get()));
    if (!entry || PyDict_SetItem(f->path_cache, pathname, entry.get()) < 0) PyErr_Clear();
  }
  return true;
}

// threading.get_ident() as an int (a new reference).
OTLP_MMAP_HOT PyObject* thread_ident(FactoryObject* f) {
  const unsigned long id = PyThread_get_thread_ident();
  if (!kRecordCaches) return PyLong_FromUnsignedLong(id);
  if (f->ident == nullptr || f->ident_value != id) {
    Ref o(PyLong_FromUnsignedLong(id));
    if (!o) return nullptr;
    assign(f->ident, std::move(o));
    f->ident_value = id;
  }
  return new_ref(f->ident);
}

// The values of a record's attributes, by Field: owned references, null while unset, all
// released together in one loop (the factory runs on every logging call).
class Values {
 public:
  Values() = default;
  Values(const Values&) = delete;
  Values& operator=(const Values&) = delete;
  ~Values() {
    for (PyObject* o : v_) Py_XDECREF(o);
  }
  // Takes over a new reference (nullptr: the call that made it failed, see failed()) for a
  // field that is not set yet.
  void set(Field k, PyObject* new_ref) { v_[k] = new_ref; }
  // Takes over a new reference for a field that may be set already.
  void replace(Field k, PyObject* new_ref) {
    PyObject* old = std::exchange(v_[k], new_ref);
    Py_XDECREF(old);
  }
  PyObject* operator[](int k) const { return v_[k]; }
  // A value that could not be made (its error is set).
  bool failed() const {
    for (PyObject* o : v_) {
      if (o == nullptr && PyErr_Occurred()) return true;
    }
    return false;
  }

 private:
  PyObject* v_[kFieldCount] = {};
};

bool wanted(const FactoryObject* f, Field k) { return ((f->present >> k) & 1U) != 0; }

// record.args: a single non-empty mapping in a sequence of one is used directly. False with
// an error set when asking the arguments raised.
OTLP_MMAP_HOT bool record_args(FactoryObject* f, PyObject* args, Values& v) {
  if (PyTuple_Check(args) && PyTuple_GET_SIZE(args) == 1) {
    PyObject* first = PyTuple_GET_ITEM(args, 0);
    const int is_map = is_mapping(f, first);
    if (is_map < 0) return false;
    if (is_map == 1) {
      const int non_empty = PyObject_IsTrue(first);
      if (non_empty < 0) return false;
      if (non_empty) args = first;
    }
  } else if (!PyTuple_Check(args)) {
    const int truth = PyObject_IsTrue(args);
    if (truth < 0) return false;
    if (truth) {
      const Py_ssize_t n = PyObject_Length(args);
      if (n < 0) {
        PyErr_Clear();
      } else if (n == 1) {
        Ref first(PySequence_GetItem(args, 0));
        if (!first) return false;
        const int is_map = PyObject_IsInstance(first.get(), g_mapping_abc);
        const int non_empty = is_map == 1 ? PyObject_IsTrue(first.get()) : 0;
        if (is_map < 0 || non_empty < 0) return false;
        if (non_empty) {
          v.set(kArgs, first.release());
          return true;
        }
      }
    }
  }
  v.set(kArgs, new_ref(args));
  return true;
}

// getLevelName(level) (new reference); `flags` are read again when it ran Python code.
OTLP_MMAP_HOT PyObject* level_name(FactoryObject* f, PyObject* level, uint8_t& flags) {
  if ((flags & kOriginalGetLevelName) != 0 && PyLong_CheckExact(level)) {
    if (PyObject* name = PyDict_GetItemWithError(f->level_to_name, level)) return new_ref(name);
  }
  PyErr_Clear();
  PyObject* gln = PyDict_GetItemWithError(f->logging_dict, f->s_getLevelName);
  if (gln == nullptr) PyErr_Clear();
  PyObject* name = PyObject_CallOneArg(gln ? gln : f->get_level_name, level);
  flags = logging_flags(f);  // that ran Python code: logging's switches are read after it, as LogRecord does
  return name;
}

// filename and module of the pathname.
OTLP_MMAP_HOT void file_and_module(FactoryObject* f, PyObject* pathname, Values& v) {
  Ref filename, module;
  if (PyUnicode_CheckExact(pathname) && path_parts(f, pathname, filename, module)) {
    v.set(kFilename, filename.release());
    v.set(kModule, module.release());
    return;
  }
  PyErr_Clear();
  v.set(kFilename, new_ref(pathname));
  v.set(kModule, new_ref(f->unknown_module));
  if (PyUnicode_CheckExact(pathname)) return;
  // Not a str: the stdlib's os.path functions decide (bytes, PathLike...).
  Ref os_path(PyImport_ImportModule("os.path"));
  Ref fn(os_path ? PyObject_CallMethod(os_path.get(), "basename", "O", pathname) : nullptr);
  Ref sp(fn ? PyObject_CallMethod(os_path.get(), "splitext", "O", fn.get()) : nullptr);
  if (sp && PyTuple_Check(sp.get()) && PyTuple_GET_SIZE(sp.get()) == 2) {
    v.replace(kFilename, fn.release());
    v.replace(kModule, new_ref(PyTuple_GET_ITEM(sp.get(), 0)));
  }
  PyErr_Clear();
}

// created, msecs and relativeCreated of a record made at `ns`, as LogRecord computes them.
OTLP_MMAP_HOT void times(FactoryObject* f, uint64_t ns, Values& v) {
  if (f->ns_mode) {
    const double created = static_cast<double>(ns) / 1e9;
    double msecs = static_cast<double>((ns % 1000000000ULL) / 1000000ULL);
    if (msecs == 999.0 && static_cast<long long>(created) != static_cast<long long>(ns / 1000000000ULL)) msecs = 0.0;
    v.set(kCreated, PyFloat_FromDouble(created));
    v.set(kMsecs, PyFloat_FromDouble(msecs));
    v.set(kRelativeCreated,
          PyFloat_FromDouble(static_cast<double>(static_cast<long long>(ns) - f->start_time_ns) / 1e6));
    return;
  }
  // time.time(): whole seconds exactly, else nanoseconds / 1e9.
  const double ct = ns % 1000000000ULL == 0 ? static_cast<double>(ns / 1000000000ULL) : static_cast<double>(ns) / 1e9;
  const double frac = ct - static_cast<double>(static_cast<long long>(ct));
  const double msecs = f->int_msecs ? static_cast<double>(static_cast<long long>(frac * 1000)) + 0.0 : frac * 1000;
  v.set(kCreated, PyFloat_FromDouble(ct));
  v.set(kMsecs, PyFloat_FromDouble(msecs));
  v.set(kRelativeCreated, PyFloat_FromDouble((ct - f->start_time) * 1000));
}

// threading.current_thread().name (new reference), without running Python code in the usual
// case: the thread registered under this ident, whose `name` is Thread's own property (_name).
OTLP_MMAP_HOT PyObject* thread_name(FactoryObject* f, PyObject* ident) {
  PyObject* t = f->active_threads ? PyDict_GetItemWithError(f->active_threads, ident) : nullptr;
  if (t == nullptr) {
    PyErr_Clear();
    Ref cur(PyObject_CallNoArgs(f->current_thread));
    return cur ? PyObject_GetAttr(cur.get(), g_sn.name) : nullptr;
  }
  PyTypeObject* tt = Py_TYPE(t);
  bool plain = tt == f->plain_thread_type && tt->tp_version_tag != 0 && tt->tp_version_tag == f->plain_thread_version;
  if (!plain) {
    Ref prop(PyObject_GetAttr(reinterpret_cast<PyObject*>(tt), g_sn.name));
    plain = prop && prop.get() == f->name_property;
    PyErr_Clear();
    if (plain && tt->tp_version_tag != 0) {
      f->plain_thread_type = tt;
      f->plain_thread_version = tt->tp_version_tag;
    }
  }
  return PyObject_GetAttr(t, plain ? f->s_name_attr : g_sn.name);
}

// multiprocessing.current_process().name when multiprocessing is loaded, else "MainProcess".
PyObject* process_name(FactoryObject* f) {
  Ref name = Ref::borrow(f->main_process);
  Ref mp(loaded_module(f, f->s_multiprocessing));
  if (mp && mp.get() != Py_None) {
    Ref proc(call_name_of(mp.get(), f->s_current_process));
    Ref pname(proc ? PyObject_GetAttr(proc.get(), g_sn.name) : nullptr);
    if (pname) name = std::move(pname);
  }
  PyErr_Clear();
  return name.release();
}

// The current asyncio task's name, or None.
PyObject* task_name(FactoryObject* f) {
  Ref name = Ref::borrow(Py_None);
  Ref aio(loaded_module(f, f->s_asyncio));
  if (aio && PyObject_IsTrue(aio.get()) == 1) {
    // asyncio.current_task() raises without a running loop (name stays None); asking for
    // the running loop first gives the same result without the exception.
    Ref loop(call_name_of(aio.get(), f->s_get_running_loop));
    if (loop && loop.get() != Py_None) {
      Ref task(call_name_of(aio.get(), f->s_current_task));
      Ref tname(task && task.get() != Py_None ? call_name_of(task.get(), f->s_get_name) : nullptr);
      if (tname) name = std::move(tname);
    }
  }
  PyErr_Clear();
  return name.release();
}

// thread, threadName, processName, process and taskName. False with an error set.
OTLP_MMAP_HOT bool runtime_fields(FactoryObject* f, uint8_t flags, Values& v) {
  if ((flags & kLogThreads) != 0) {
    v.set(kThread, thread_ident(f));
    if (v[kThread] == nullptr) return false;
    v.set(kThreadName, thread_name(f, v[kThread]));
    if (v[kThreadName] == nullptr) return false;
  } else {
    v.set(kThread, new_ref(Py_None));
    v.set(kThreadName, new_ref(Py_None));
  }
  if (wanted(f, kProcessName)) {
    v.set(kProcessName, (flags & kLogMultiprocessing) == 0 ? new_ref(Py_None) : process_name(f));
  }
  if ((flags & kLogProcesses) == 0) {
    v.set(kProcess, new_ref(Py_None));
  } else if (!kRecordCaches) {
    v.set(kProcess, PyLong_FromLong(static_cast<long>(::getpid())));
  } else {
    const uint64_t gen = fork_generation();
    if (f->pid_generation != gen || f->pid_obj == nullptr) {
      Ref pid(PyLong_FromLong(static_cast<long>(::getpid())));
      if (!pid) return false;
      assign(f->pid_obj, std::move(pid));
      f->pid_generation = gen;
    }
    v.set(kProcess, new_ref(f->pid_obj));
  }
  if (wanted(f, kTaskName)) v.set(kTaskName, (flags & kLogAsyncioTasks) != 0 ? task_name(f) : new_ref(Py_None));
  return true;
}

// The record: a new LogRecord (its __init__ not run) with the values set in this Python's
// order; leaves the bridge its memo.
OTLP_MMAP_HOT PyObject* make_record(FactoryObject* f, Values& v) {
  PyTypeObject* type = reinterpret_cast<PyTypeObject*>(f->record_type);
  Ref rec(type->tp_new(type, g_api.empty_tuple, nullptr));
  if (!rec) return nullptr;
  Ref d(PyObject_GenericGetDict(rec.get(), nullptr));
  if (!d) return nullptr;
  for (int i = 0; i < f->nfields; ++i) {
    const uint8_t k = f->order[i];
    if (v[k] == nullptr || PyDict_SetItem(d.get(), f->field_names[k], v[k]) < 0) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "LogRecordFactory: missing field");
      return nullptr;
    }
  }
  if (kDictVersions) {
    static constexpr Field of[mCount] = {kName,     kMsg,      kArgs,   kLevelno, kLevelname,
                                         kPathname, kFuncName, kLineno, kExcInfo, kCreated};
    bool all = true;
    for (Field k : of) all = all && wanted(f, k);
    RecordMemo& m = g_record_memo;
    m.dict = all ? d.get() : nullptr;
    m.version = dict_version(d.get());
    for (int i = 0; i < mCount; ++i) m.v[i] = v[of[i]];  // borrowed: the dict holds them
  }
  return rec.release();
}

OTLP_MMAP_HOT PyObject* factory_vectorcall(PyObject* self, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  FactoryObject* f = reinterpret_cast<FactoryObject*>(self);
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  // (name, level, pathname, lineno, msg, args, exc_info, func=None, sinfo=None, **kwargs)
  PyObject* a[9] = {};
  for (Py_ssize_t i = 0; i < nargs && i < 9; ++i) a[i] = args[i];
  if (kwnames != nullptr) {
    static const char* names[9] = {"name", "level", "pathname", "lineno", "msg", "args", "exc_info", "func", "sinfo"};
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(kwnames); ++j) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, j);
      for (int k = 0; k < 9; ++k) {
        if (PyUnicode_CompareWithASCIIString(key, names[k]) == 0) a[k] = args[nargs + j];
      }
    }
  }
  for (int k = 0; k < 7; ++k) {
    if (a[k] == nullptr) {
      PyErr_SetString(PyExc_TypeError, "LogRecord() missing required arguments");
      return nullptr;
    }
  }
  const uint64_t ns = now_ns();
  Values v;
  PyObject* level = a[1];
  PyObject* pathname = a[2];
  v.set(kName, new_ref(a[0]));
  v.set(kMsg, new_ref(a[4]));
  if (!record_args(f, a[5], v)) return nullptr;
  uint8_t flags = logging_flags(f);
  v.set(kLevelname, level_name(f, level, flags));
  if (v[kLevelname] == nullptr) return nullptr;
  v.set(kLevelno, new_ref(level));
  v.set(kPathname, new_ref(pathname));
  file_and_module(f, pathname, v);
  v.set(kExcInfo, new_ref(a[6]));
  v.set(kExcText, new_ref(Py_None));
  v.set(kStackInfo, new_ref(a[8] ? a[8] : Py_None));
  v.set(kLineno, new_ref(a[3]));
  v.set(kFuncName, new_ref(a[7] ? a[7] : Py_None));
  times(f, ns, v);
  if (!runtime_fields(f, flags, v)) return nullptr;
  if (v.failed()) return nullptr;
  return make_record(f, v);
}

PyObject* factory_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* kw[] = {"record_type", "logging_module", "field_order", "ns_mode", "int_msecs", nullptr};
  PyObject *record_type, *logging_module, *order;
  int ns_mode = 0, int_msecs = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!pp", const_cast<char**>(kw), &record_type, &logging_module,
                                   &PyTuple_Type, &order, &ns_mode, &int_msecs)) {
    return nullptr;
  }
  if (!PyType_Check(record_type)) {
    PyErr_SetString(PyExc_TypeError, "record_type must be a class");
    return nullptr;
  }
  if (!ensure_ready()) return nullptr;
  Ref self(type->tp_alloc(type, 0));  // on a failure below, releases what was set
  if (!self) return nullptr;
  FactoryObject* f = reinterpret_cast<FactoryObject*>(self.get());
  f->vectorcall = factory_vectorcall;
  assign(f->record_type, record_type);
  f->logging_dict = PyObject_GenericGetDict(logging_module, nullptr);
  if (f->logging_dict == nullptr) return nullptr;
  f->level_to_name = PyObject_GetAttrString(logging_module, "_levelToName");
  f->get_level_name = PyObject_GetAttrString(logging_module, "getLevelName");
  Ref threading(PyImport_ImportModule("threading"));
  f->current_thread = threading ? PyObject_GetAttrString(threading.get(), "current_thread") : nullptr;
  f->active_threads = threading ? PyObject_GetAttrString(threading.get(), "_active") : nullptr;
  Ref thread_class(threading ? PyObject_GetAttrString(threading.get(), "Thread") : nullptr);
  f->name_property = thread_class ? PyObject_GetAttrString(thread_class.get(), "name") : nullptr;
  if (f->active_threads != nullptr && !PyDict_Check(f->active_threads)) clear_ref(f->active_threads);
  PyErr_Clear();
  f->s_name_attr = PyUnicode_InternFromString("_name");
  assign(f->sys_modules, PyImport_GetModuleDict());
  Ref start(PyObject_GetAttrString(logging_module, "_startTime"));
  if (f->level_to_name == nullptr || f->get_level_name == nullptr || f->current_thread == nullptr ||
      f->sys_modules == nullptr || !start) {
    return nullptr;
  }
  f->ns_mode = ns_mode != 0;
  f->int_msecs = int_msecs != 0;
  if (f->ns_mode) {
    f->start_time_ns = PyLong_AsLongLong(start.get());
  } else {
    f->start_time = PyFloat_AsDouble(start.get());
  }
  if (PyErr_Occurred()) return nullptr;
  for (int k = 0; k < kFieldCount; ++k) f->field_names[k] = PyUnicode_InternFromString(kFieldNames[k]);
  const Py_ssize_t n = PyTuple_GET_SIZE(order);
  if (n > kFieldCount) {
    PyErr_SetString(PyExc_ValueError, "field_order: too many fields");
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* name = PyTuple_GET_ITEM(order, i);
    int found = -1;
    for (int k = 0; k < kFieldCount; ++k) {
      if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, kFieldNames[k]) == 0) found = k;
    }
    if (found < 0) {
      PyErr_Format(PyExc_ValueError, "field_order: unknown LogRecord field %R", name);
      return nullptr;
    }
    f->order[i] = static_cast<uint8_t>(found);
    f->present |= 1U << found;
  }
  f->nfields = static_cast<int>(n);
  f->s_logThreads = PyUnicode_InternFromString("logThreads");
  f->s_logMultiprocessing = PyUnicode_InternFromString("logMultiprocessing");
  f->s_logProcesses = PyUnicode_InternFromString("logProcesses");
  f->s_logAsyncioTasks = PyUnicode_InternFromString("logAsyncioTasks");
  f->s_getLevelName = PyUnicode_InternFromString("getLevelName");
  f->s_multiprocessing = PyUnicode_InternFromString("multiprocessing");
  f->s_asyncio = PyUnicode_InternFromString("asyncio");
  f->s_current_process = PyUnicode_InternFromString("current_process");
  f->s_get_running_loop = PyUnicode_InternFromString("_get_running_loop");
  f->s_current_task = PyUnicode_InternFromString("current_task");
  f->s_get_name = PyUnicode_InternFromString("get_name");
  f->main_process = PyUnicode_InternFromString("MainProcess");
  f->unknown_module = PyUnicode_InternFromString("Unknown module");
  if (PyErr_Occurred()) return nullptr;
  std::memset(f->mapping_memo, -1, sizeof f->mapping_memo);
  Ref abc(PyImport_ImportModule("_abc"));
  f->get_cache_token = abc ? PyObject_GetAttrString(abc.get(), "get_cache_token") : nullptr;
  PyErr_Clear();
  if (kRecordCaches) {
    f->path_cache = PyDict_New();
    if (f->path_cache == nullptr) return nullptr;
  }
  return self.release();
}

}  // namespace

void bind_log_record_factory(nb::module_& m) {
  define_type<FactoryObject, FactoryRefs>(
      m, FactoryType,
      {.name = "otlp_mmap._native.LogRecordFactory",
       .doc = "A native logging.LogRecord factory (logging.setLogRecordFactory), same records, faster.",
       .tp_new = factory_new,
       .call = PyVectorcall_Call,
       .extra_flags = Py_TPFLAGS_HAVE_VECTORCALL,
       .vectorcall_offset = offsetof(FactoryObject, vectorcall)});
}

}  // namespace otlp_mmap::py::sdk

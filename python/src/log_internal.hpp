// What the native logging types share (py_logger.cpp, py_log_bridge.cpp,
// py_log_record_factory.cpp): the small caches of the logging fast paths and the memo through
// which the bridge reads the record the factory has just made.
#pragma once

#include "native_type.hpp"
#include "sdk_core.hpp"

namespace otlp_mmap::py::sdk {

// Small caches kept in plain fields of the bridge and the record factory: safe because the
// GIL serialises the calls; a free-threaded build does without them.
#ifdef Py_GIL_DISABLED
inline constexpr bool kRecordCaches = false;
#else
inline constexpr bool kRecordCaches = true;
#endif

// Python 3.11 and older: a dict's ma_version_tag changes whenever the dict does (PEP 509;
// 3.12 deprecates it), and no two states of any dicts share a tag, so (address, tag) names
// one state of one dict.
#if PY_VERSION_HEX < 0x030C0000 && !defined(Py_GIL_DISABLED)
inline constexpr bool kDictVersions = true;
inline uint64_t dict_version(PyObject* d) { return reinterpret_cast<PyDictObject*>(d)->ma_version_tag; }
#else
inline constexpr bool kDictVersions = false;
inline uint64_t dict_version(PyObject*) { return 0; }
#endif

// The fields of the last record the native factory made, as the bridge reads them: when the
// bridge gets a record whose __dict__ is still that dict in that state (nothing set or
// changed since, by extra=, a filter or anyone), the values are these (borrowed: the
// unchanged dict holds them) and it does not look them up. Python <= 3.11 only.
enum MemoField : uint8_t {
  mName,
  mMsg,
  mArgs,
  mLevelno,
  mLevelname,
  mPathname,
  mFuncName,
  mLineno,
  mExcInfo,
  mCreated,
  mCount
};
struct RecordMemo {
  PyObject* dict = nullptr;
  uint64_t version = 0;
  PyObject* v[mCount] = {};
};
extern RecordMemo g_record_memo;

}  // namespace otlp_mmap::py::sdk

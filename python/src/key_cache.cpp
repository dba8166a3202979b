#include "key_cache.hpp"

namespace otlp_mmap::py {

KeyCache::KeyCache() = default;

KeyCache::~KeyCache() {
  for (Recent& r : recent_) Py_XDECREF(r.key);
}

size_t KeyCache::size() const { return map_.size(); }

OTLP_MMAP_HOT int64_t KeyCache::get(Writer& w, PyObject* key, std::string_view utf8, Scratch* s) {
  // Only exact str objects go into the cache: a subclass could run Python code in its
  // __hash__/__eq__ during a lookup.
  // Long keys are not cached: they are rare, and caching them would let a few huge keys
  // hold most of the cache's memory (the Writer's own cache still dedups their entries).
  Recent& recent = recent_[recent_slot(key)];
  if (recent.key == key) return recent.ref;
  const bool cacheable = PyUnicode_CheckExact(key) && utf8.size() <= kMaxKeyBytes;
  if (cacheable) {
    if (PyObject* hit = PyDict_GetItemWithError(map_.ptr(), key)) {
      const int64_t ref = PyLong_AsLongLong(hit);
      remember_object(key, ref);
      return ref;
    }
    if (PyErr_Occurred()) throw_current();
  }
  int64_t ref = w.intern_string(utf8);
  if (ref != 0 && cacheable) {
    if (s != nullptr) {
      s->new_keys.emplace_back(key, ref);
    } else {
      insert(key, ref);
    }
  }
  return ref;
}

// Only for exact str keys (a subclass's object could change what it holds); replacing an
// entry releases its key, and releasing a str runs no Python code.
void KeyCache::remember_object(PyObject* key, int64_t ref) {
  Recent& r = recent_[recent_slot(key)];
  Py_INCREF(key);
  Py_XSETREF(r.key, key);
  r.ref = ref;
}

void KeyCache::insert(PyObject* key, int64_t ref) {
  remember_object(key, ref);
  // Bounded by entries and by characters held: the cache keeps its keys alive.
  const size_t chars = static_cast<size_t>(PyUnicode_GET_LENGTH(key));
  if (PyDict_GET_SIZE(map_.ptr()) >= kMaxEntries || chars_ + chars > kMaxChars) return;
  nb::object v = nb::steal(PyLong_FromLongLong(ref));
  if (!v.is_valid() || PyDict_SetItem(map_.ptr(), key, v.ptr()) != 0) {
    PyErr_Clear();  // only a cache
    return;
  }
  chars_ += chars;
}

OTLP_MMAP_HOT bool KeyCache::resolve(Writer& w, Scratch& s) {
  for (const PendingKey& k : s.keys) {
    *k.target = get(w, k.key, k.utf8, &s);
    if (*k.target == 0) return false;
  }
  return true;
}

OTLP_MMAP_HOT void KeyCache::remember(Scratch& s) {
  for (auto& [key, ref] : s.new_keys) insert(key, ref);
  s.new_keys.clear();
}

}  // namespace otlp_mmap::py

// Python values -> the core's *View structs, for the writer.
//
// Every record_* call runs in the same order, so that a rejected call writes nothing:
//   1. normalise: anything that may run Python code (a non-dict Mapping, a span context
//      given as a custom mapping, a body with nested containers) is turned into objects
//      the call owns, kept alive in the Scratch;
//   2. convert (no Python code runs): validate every value and build views that borrow
//      the bytes of str/bytes objects; keys are only collected;
//   3. resolve keys: dictionary references through the writer's key cache or intern();
//   4. write the record; 5. remember newly interned keys in the cache.
// Views borrow from Python objects that the caller's arguments (or the Scratch) keep
// alive for the whole call, and step 2 runs no Python code that could free them.
#pragma once

#include <nanobind/nanobind.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/writer.hpp"

namespace otlp_mmap::py {

// Bump allocator whose blocks never move, so views can point into it while it grows.
// reset() keeps the blocks for the next call: no heap allocation in the steady state.
template <class T>
class Arena {
 public:
  T* alloc(size_t n) {
    if (n == 0) return nullptr;
    while (block_ < blocks_.size()) {
      Block& b = blocks_[block_];
      if (b.size - used_ >= n) {
        T* p = b.data.get() + used_;
        used_ += n;
        std::fill(p, p + n, T{});
        return p;
      }
      ++block_;
      used_ = 0;
    }
    size_t size = std::max(n, kBlockElements);
    blocks_.push_back(Block{std::make_unique<T[]>(size), size});
    block_ = blocks_.size() - 1;
    used_ = n;
    return blocks_.back().data.get();
  }
  void reset() {
    // A rare huge call should not pin its memory for the life of the thread.
    size_t total = 0;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      total += blocks_[i].size;
      if (total > kKeepElements) {
        blocks_.resize(i == 0 ? 0 : i);
        break;
      }
    }
    block_ = 0;
    used_ = 0;
  }

 private:
  static constexpr size_t kBlockElements = 64;
  static constexpr size_t kKeepElements = 4096;
  struct Block {
    std::unique_ptr<T[]> data;
    size_t size;
  };
  std::vector<Block> blocks_;
  size_t block_ = 0;
  size_t used_ = 0;
};

// A key whose dictionary reference is filled in after validation (step 3).
struct PendingKey {
  int64_t* target;
  PyObject* key;          // borrowed; the str object
  std::string_view utf8;  // borrowed from `key`
};

// Per-call working memory, reused across calls on a thread.
struct Scratch {
  Arena<KeyValueView> kvs;
  Arena<AnyValueView> values;
  std::vector<PendingKey> keys;
  std::vector<std::pair<PyObject*, int64_t>> new_keys;  // interned this call, for the cache
  std::vector<nb::object> owned;                        // objects made by step 1
  std::vector<LinkView> links;
  bool busy = false;

  void reset() {
    kvs.reset();
    values.reset();
    keys.clear();
    new_keys.clear();
    owned.clear();
    links.clear();
  }
};

// The thread's Scratch, or a fresh one if a call re-enters (a __del__ run by the garbage
// collector may call record_* from inside another record_* call).
class ScratchLease {
 public:
  ScratchLease();
  ~ScratchLease();
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  Scratch& operator*() const { return *s_; }
  Scratch* operator->() const { return s_; }

 private:
  Scratch* s_;
  std::unique_ptr<Scratch> own_;
};

// ------------------------------------------------------------------ step 1: normalise

// None -> nullptr; a dict -> itself; another Mapping -> a dict copy owned by `s`.
// TypeError naming `what` for anything else.
PyObject* as_dict(PyObject* attributes, Scratch& s, const char* what);

// A span context mapping {"trace_id", "span_id", "flags"} or None.
SpanContextView span_context_arg(PyObject* obj, Scratch& s);

// A log body (OpenTelemetry's AnyValue: scalars, bytes, nested sequences and mappings,
// None) copied into tuples and dicts owned by `s`, so step 2 can walk it without running
// Python code. Returns a borrowed reference: `body` itself or an object owned by `s`.
PyObject* normalise_body(PyObject* body, Scratch& s);

// A sequence of link mappings, normalised: returns a tuple of dicts owned by `s`.
PyObject* normalise_links(PyObject* links, Scratch& s);

// ------------------------------------------------------------------ step 2: convert

// The attributes of a dict from as_dict(). Values: str, bool, int (int64), float, bytes,
// or a homogeneous list/tuple of one of those. TypeError/ValueError name the key.
std::span<const KeyValueView> convert_attributes(PyObject* dict, Scratch& s);

// A body from normalise_body().
AnyValueView convert_body(PyObject* body, Scratch& s);

// Links from normalise_links().
std::span<const LinkView> convert_links(PyObject* links, Scratch& s);

// ------------------------------------------------------------------ steps 3 and 5

// Per-writer cache {key str: dictionary reference} in front of Writer::intern(), which
// takes a mutex and hashes the bytes again; a str caches its own hash.
class KeyCache {
 public:
  KeyCache();
  // The reference of `key` (a str), interning it on a miss. 0 when the dictionary is full.
  int64_t get(Writer& w, PyObject* key, std::string_view utf8, Scratch* s);
  // Fills every pending key of `s`. False when the dictionary is full (the record is then
  // dropped; the core has counted it).
  bool resolve(Writer& w, Scratch& s);
  // Step 5: remembers the keys interned during the call.
  void remember(Scratch& s);
  size_t size() const;

 private:
  void insert(PyObject* key, int64_t ref);

  // At most 65,536 keys of at most 1 KiB, holding at most 4 Mi characters in all, so a
  // stream of distinct keys cannot grow the application's memory without bound.
  static constexpr Py_ssize_t kMaxEntries = 1 << 16;
  static constexpr size_t kMaxKeyBytes = 1024;
  static constexpr size_t kMaxChars = size_t{4} << 20;
  nb::dict map_;
  size_t chars_ = 0;
};

}  // namespace otlp_mmap::py

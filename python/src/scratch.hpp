// Per-call working memory of the conversions from Python values to the core's *View
// structs (see attr_convert.hpp and to_views.hpp): views, the keys still to resolve, and the
// objects a call made and must keep alive until the record is written.
#pragma once

#include <nanobind/nanobind.h>

#include <algorithm>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "common.hpp"
#include "otlp_mmap/messages.hpp"

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

}  // namespace otlp_mmap::py

#include "scratch.hpp"

namespace otlp_mmap::py {

namespace {
thread_local Scratch t_scratch;
}  // namespace

OTLP_MMAP_HOT ScratchLease::ScratchLease() {
  if (!t_scratch.busy) {
    s_ = &t_scratch;
    s_->busy = true;
  } else {
    own_ = std::make_unique<Scratch>();
    s_ = own_.get();
  }
}

OTLP_MMAP_HOT ScratchLease::~ScratchLease() {
  // Releasing owned objects may run a __del__ that calls the writer again: the scratch is
  // still busy then, so that call takes a fresh one.
  s_->owned.clear();
  s_->reset();
  if (!own_) s_->busy = false;
}

}  // namespace otlp_mmap::py

// Reads of a mapped file that survive the file shrinking or having holes under the reader.
//
// A load from a shared mapping raises SIGBUS when the page it touches cannot be provided:
// the file was truncated below it (another process shrank or replaced the file's content),
// or the page is a hole of a sparse file that the filesystem cannot back any more (tmpfs
// allocates a page even to read a hole, and fails when it is full). Without a handler the
// process dies. `guarded(f)` runs `f` with a per-thread recovery point: a SIGBUS raised by
// this thread while `f` runs jumps back out of `f`, and `guarded` returns false.
//
// Why jumping out of `f` is safe: the guarded code only loads from the mapping and stores
// into memory that was allocated before the guard was entered (a pre-sized buffer, locals of
// trivial types). It allocates nothing, takes no lock, calls nothing that is not
// async-signal-safe, and holds no object whose destructor would be skipped: siglongjmp
// abandons the frames of `f` without running destructors, which is harmless only when there
// are none that matter. Strings and other objects are built from the copy after `guarded`
// returned. Callers must keep to that rule (see Reader, RingConsumer).
//
// The handler is installed once per process (SA_SIGINFO | SA_ONSTACK | SA_NODEFER, so the
// signal mask is left as it was and the recovery point needs not save it: sigsetjmp(env, 0)
// costs no system call). A SIGBUS that does not come from a guarded region of the faulting
// thread (a bug elsewhere, or another library's mapping) is passed to the handler that was
// installed before ours, or gets the default action (the process dies with SIGBUS, as it
// would have without us). A runtime that installs its own SIGBUS handler after ours (a
// sanitizer, Python's faulthandler) must chain to the previous handler for the recovery to
// keep working; ASan and faulthandler do.
#pragma once

#include <setjmp.h>

#include <cstdint>
#include <utility>

namespace otlp_mmap::mapping_guard {

namespace detail {
struct Frame {
  sigjmp_buf env;
  Frame* prev;
};
// The innermost recovery point of this thread (nullptr outside guarded regions).
Frame*& current() noexcept;
// Installs the process-wide handler if it is not (or no longer) installed.
void ensure_installed() noexcept;
void note_fault() noexcept;
}  // namespace detail

// Runs `f()`; false if a SIGBUS interrupted it (what `f` stored before is left as it was).
template <class F>
bool guarded(F&& f) {
  detail::ensure_installed();
  detail::Frame*& cur = detail::current();
  detail::Frame frame;
  frame.prev = cur;
  if (sigsetjmp(frame.env, 0) != 0) {
    detail::current() = frame.prev;
    detail::note_fault();
    return false;
  }
  cur = &frame;
  std::forward<F>(f)();
  detail::current() = frame.prev;
  return true;
}

// SIGBUS faults recovered so far in this process (all threads).
uint64_t faults() noexcept;

}  // namespace otlp_mmap::mapping_guard

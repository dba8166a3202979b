#include "otlp_mmap/mapping_guard.hpp"

#include <signal.h>

#include <atomic>
#include <mutex>

namespace otlp_mmap::mapping_guard {

namespace {

std::atomic<bool> g_installed{false};
std::atomic<uint64_t> g_faults{0};
std::mutex g_install_mu;
struct sigaction g_previous {};

// Returns to the innermost recovery point of the faulting thread, or hands the signal on.
extern "C" void on_sigbus(int sig, siginfo_t* info, void* context) {
  detail::Frame* f = detail::current();
  if (f != nullptr) siglongjmp(f->env, 1);  // NOLINT: the documented way out of a guarded region
  const struct sigaction& prev = g_previous;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, context);
    return;
  }
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
    prev.sa_handler(sig);
    return;
  }
  // Not ours and nobody else's: the default action. A fault re-executes the faulting load
  // on return and now dies of it; a SIGBUS sent by kill() is raised again.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0) ::raise(sig);
}

}  // namespace

namespace detail {

Frame*& current() noexcept {
  static thread_local Frame* frame = nullptr;
  return frame;
}

void ensure_installed() noexcept {
  if (g_installed.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(g_install_mu);
  if (g_installed.load(std::memory_order_relaxed)) return;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sigemptyset(&sa.sa_mask);
  // SA_NODEFER: SIGBUS stays unblocked in the handler, so leaving it by siglongjmp leaves the
  // signal mask exactly as it was and the recovery point needs not save it. SA_ONSTACK: a
  // thread with an alternate signal stack uses it.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  ::sigaction(SIGBUS, &sa, &g_previous);
  g_installed.store(true, std::memory_order_release);
}

void note_fault() noexcept { g_faults.fetch_add(1, std::memory_order_relaxed); }

}  // namespace detail

uint64_t faults() noexcept { return g_faults.load(std::memory_order_relaxed); }

}  // namespace otlp_mmap::mapping_guard

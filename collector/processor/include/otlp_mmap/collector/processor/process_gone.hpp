// Whether a process of this host has exited: kill(pid, 0) answers ESRCH, or /proc says it
// is a zombie (exited, not yet reaped by its parent). False when it cannot tell.
#pragma once

#include <cstdint>

namespace otlp_mmap::collector {

bool process_gone(int64_t pid);

}  // namespace otlp_mmap::collector

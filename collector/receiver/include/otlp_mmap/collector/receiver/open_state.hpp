// What an attempt to open the file at the path gave, as one value the follower can act on
// (wait, stand by, report once, give up) instead of an exception to interpret.
#pragma once

#include <cstdint>

namespace otlp_mmap::collector {

enum class OpenState : uint8_t {
  kOpened,
  kAwaitFile,            // nothing at the path (yet)
  kAwaitInitialisation,  // a file no writer has initialised yet
  kLocked,               // another collector reads it: wait as a hot standby
  kUnsupported,          // another protocol version
  kCorrupt,              // not a valid layout: a writer may still fix it or move it aside
  kUntrusted,            // not a regular file, a symbolic link, shared-writable or another user's
  kUnreadable,           // a system call failed
  kReplaced,             // the path named another file by the time it was open: try again
};

// The states a follower simply waits out, saying so once.
constexpr bool awaiting(OpenState s) { return s == OpenState::kAwaitFile || s == OpenState::kAwaitInitialisation; }

}  // namespace otlp_mmap::collector

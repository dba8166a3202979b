// Opening the file at the path for the receiver: the reader, or why there is none.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "otlp_mmap/collector/receiver/open_state.hpp"
#include "otlp_mmap/reader.hpp"

namespace otlp_mmap::collector {

struct OpenResult {
  OpenState state = OpenState::kAwaitFile;
  std::unique_ptr<Reader> reader;  // kOpened
  dev_t dev = 0;                   // kOpened: identity of the file read (the path names it)
  ino_t ino = 0;
  std::string message;     // the reader's error, for every state but kOpened and kReplaced
  int64_t holder_pid = 0;  // kLocked: the other collector's pid when the kernel tells it, else 0
};

// Identity of what the path names now; false when nothing is there.
bool path_identity(const std::string& path, dev_t& dev, ino_t& ino);

// Reader::open, and then the check that the path still names the file that was opened.
OpenResult open_file(const std::string& path, const ReaderOptions& options);

}  // namespace otlp_mmap::collector

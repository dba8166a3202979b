#include "otlp_mmap/collector/receiver/open_file.hpp"

#include <sys/stat.h>

namespace otlp_mmap::collector {

namespace {

OpenState state_of(FileError::Code code) {
  switch (code) {
    case FileError::Code::kNotFound: return OpenState::kAwaitFile;
    case FileError::Code::kNotInitialized: return OpenState::kAwaitInitialisation;
    case FileError::Code::kUnsupported: return OpenState::kUnsupported;
    case FileError::Code::kCorrupt: return OpenState::kCorrupt;
    case FileError::Code::kUntrusted: return OpenState::kUntrusted;
    case FileError::Code::kIo: return OpenState::kUnreadable;
  }
  return OpenState::kUnreadable;
}

}  // namespace

bool path_identity(const std::string& path, dev_t& dev, ino_t& ino) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  dev = st.st_dev;
  ino = st.st_ino;
  return true;
}

OpenResult open_file(const std::string& path, const ReaderOptions& options) {
  OpenResult r;
  try {
    r.reader = Reader::open(path, options);
  } catch (const FileLockedError& e) {
    r.state = OpenState::kLocked;
    r.message = e.what();
    r.holder_pid = e.holder_pid();
    return r;
  } catch (const FileError& e) {
    r.state = state_of(e.code());
    r.message = e.what();
    return r;
  }
  // The path may have been replaced while it was opened: the identity must be the one read.
  if (!path_identity(path, r.dev, r.ino) || r.dev != r.reader->device() || r.ino != r.reader->inode()) {
    r.reader.reset();
    r.state = OpenState::kReplaced;
    return r;
  }
  r.state = OpenState::kOpened;
  return r;
}

}  // namespace otlp_mmap::collector

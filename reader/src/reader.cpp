#include "otlp_mmap/reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace otlp_mmap {

using layout::RingKind;
namespace dh = layout::dictionary_header;
namespace fh = layout::file_header;

std::unique_ptr<Reader> Reader::open(const std::string& path, const ReaderOptions& options) {
  // O_NONBLOCK: opening a FIFO read-only would otherwise wait for a writer to appear (it is
  // refused below); for a regular file it changes nothing.
  int fd = ::open(path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == EISDIR) {
      throw FileError(FileError::Code::kUntrusted, path + ": refusing to read: not a regular file (a directory)");
    }
    throw FileError(err == ENOENT ? FileError::Code::kNotFound : FileError::Code::kIo,
                    path + ": open: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileError(FileError::Code::kUntrusted, path + ": refusing to read: not a regular file");
  }
  if (!options.trust_any_owner && st.st_uid != ::geteuid()) {
    ::close(fd);
    throw FileError(FileError::Code::kUntrusted, path + ": refusing to read: owned by uid " +
                                                     std::to_string(st.st_uid) + ", not by this user (uid " +
                                                     std::to_string(::geteuid()) + "); allow it explicitly to proceed");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > options.max_file_bytes) {
    ::close(fd);
    throw FileError(FileError::Code::kCorrupt, path + ": file of " + std::to_string(size) +
                                                   " bytes is larger than the reader's limit of " +
                                                   std::to_string(options.max_file_bytes));
  }
  if (size < fh::kSize) {
    ::close(fd);
    throw FileError(FileError::Code::kNotInitialized,
                    path + ": file is " + std::to_string(size) + " bytes, shorter than the 64-byte header");
  }
  std::unique_ptr<MappedFile> file;
  try {
    file = std::make_unique<MappedFile>(fd, path, options.max_file_bytes, !options.read_only);
  } catch (...) {
    ::close(fd);
    throw;
  }
  FileLayout lay = validate_layout(file->base(), size, path);
  return std::unique_ptr<Reader>(new Reader(std::move(file), lay, options));
}

Reader::Reader(std::unique_ptr<MappedFile> file, FileLayout lay, ReaderOptions options)
    : file_(std::move(file)), layout_(lay), options_(options) {
  for (auto k : layout::kRingKinds) {
    consumers_[static_cast<size_t>(k)] =
        RingConsumer(Ring(file_->base() + layout_.ring_offset(k), layout_.geometry.ring(k),
                          file_->identity() + layout_.ring_offset(k)),
                     options_.torn_grace);
  }
}

uint64_t Reader::start_time_unix_nano() const {
  return file_->atomic_at<uint64_t>(fh::kStartTime).load(std::memory_order_acquire);
}

void Reader::note_corrupt(RingKind ring) {
  ++counters_.corrupt[static_cast<size_t>(ring)];
  if (file_->writable()) file_->atomic_at<uint64_t>(fh::kReaderSkippedCorrupt).fetch_add(1, std::memory_order_relaxed);
}

bool Reader::next_payload(RingKind ring, std::string& payload) {
  if (!file_->writable()) return false;
  auto& c = consumers_[static_cast<size_t>(ring)];
  for (;;) {
    switch (c.next(payload)) {
      case RingConsumer::Result::kRecord: return true;
      case RingConsumer::Result::kEmpty:
      case RingConsumer::Result::kPending: return false;
      case RingConsumer::Result::kSkippedTorn:
        ++counters_.torn[static_cast<size_t>(ring)];
        file_->atomic_at<uint64_t>(fh::kReaderSkippedTorn).fetch_add(1, std::memory_order_relaxed);
        continue;
      case RingConsumer::Result::kCorrupt: note_corrupt(ring); continue;
    }
  }
}

void Reader::peek(RingKind ring, size_t max, const std::function<void(int64_t, std::string_view)>& f) {
  const Ring& r = consumers_[static_cast<size_t>(ring)].ring();
  int64_t next = seq_add(r.reader_index().load(std::memory_order_acquire), 1);
  int64_t last = r.writer_index().load(std::memory_order_acquire);
  const uint64_t b = r.buffer_size();
  for (size_t n = 0; n < max && seq_sub(last, next) >= 0; ++n, next = seq_add(next, 1)) {
    if (!r.is_published(next, r.availability(next).load(std::memory_order_acquire))) break;
    const uint8_t* s = r.slot(next);
    wire::Decoder d(s, s + b);
    uint64_t len;
    if (!d.varint(len) || len > d.remaining()) {
      f(next, std::string_view());
      continue;
    }
    f(next, std::string_view(reinterpret_cast<const char*>(d.pos()), len));
  }
}

bool Reader::entry(int64_t ref, std::string& out) {
  if (ref < static_cast<int64_t>(layout_.first_entry_offset())) return false;
  uint64_t off = static_cast<uint64_t>(ref);
  uint64_t size = file_->known_size();
  // The file may have grown since we last looked: re-check before giving up.
  if (off + 1 > size) size = file_->refresh_size();
  if (off + 1 > size || off >= file_->window()) return false;
  const uint64_t limit = std::min(size, file_->window());
  wire::Decoder d(file_->base() + off, file_->base() + limit);
  uint64_t len;
  if (!d.varint(len)) return false;
  if (len > options_.max_entry_bytes) return false;
  if (len > d.remaining()) {
    size = std::min(file_->refresh_size(), file_->window());
    const uint64_t at = static_cast<uint64_t>(d.pos() - file_->base());
    if (at > size || len > size - at) return false;
  }
  out.assign(reinterpret_cast<const char*>(d.pos()), len);
  return true;
}

bool Reader::read_string(int64_t ref, std::string& out) {
  if (ref == 0) {
    out.clear();
    return true;
  }
  return entry(ref, out);
}

template <class Msg>
bool Reader::read_message(int64_t ref, Msg& out) {
  return entry(ref, entry_scratch_) && decode(entry_scratch_, out);
}

bool Reader::read(int64_t ref, Resource& out) { return read_message(ref, out); }
bool Reader::read(int64_t ref, InstrumentationScope& out) { return read_message(ref, out); }
bool Reader::read(int64_t ref, MetricRef& out) { return read_message(ref, out); }
bool Reader::read(int64_t ref, AnyValue& out) { return read_message(ref, out); }

int64_t Reader::dictionary_end() const {
  return file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kEnd).load(std::memory_order_acquire);
}
int64_t Reader::dictionary_entries() const {
  return file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kNumEntries).load(std::memory_order_acquire);
}

void Reader::for_each_entry(size_t max, const std::function<void(int64_t, std::string_view)>& f) {
  int64_t ref = static_cast<int64_t>(layout_.first_entry_offset());
  const int64_t end = std::min<int64_t>(dictionary_end(), static_cast<int64_t>(file_->refresh_size()));
  std::string buf;
  for (size_t n = 0; n < max && ref < end; ++n) {
    if (!entry(ref, buf)) break;
    f(ref, buf);
    ref += static_cast<int64_t>(wire::varint_size(buf.size()) + buf.size());
  }
}

RingState Reader::ring_state(RingKind ring) const {
  const Ring& r = consumers_[static_cast<size_t>(ring)].ring();
  return RingState{r.num_buffers(), r.buffer_size(), r.reader_index().load(std::memory_order_acquire),
                   r.writer_index().load(std::memory_order_acquire)};
}

WriterCounters Reader::writer_counters() const { return read_writer_counters(*file_, layout_.dictionary_offset); }

std::pair<uint64_t, uint64_t> Reader::file_skip_totals() const {
  return {file_->atomic_at<uint64_t>(fh::kReaderSkippedTorn).load(std::memory_order_relaxed),
          file_->atomic_at<uint64_t>(fh::kReaderSkippedCorrupt).load(std::memory_order_relaxed)};
}

}  // namespace otlp_mmap

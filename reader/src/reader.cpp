#include "otlp_mmap/reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "otlp_mmap/mapping_guard.hpp"

namespace otlp_mmap {

using layout::RingKind;
namespace dh = layout::dictionary_header;
namespace fh = layout::file_header;

namespace {

// The reader lock: an open-file-description (OFD) write lock on the file's first byte.
//
// OFD locks belong to the open file description, not to the process: they are released when
// the reader's descriptor is closed (including by the process exiting or dying), they are
// not lost when the same process closes another descriptor of the file (a classic POSIX
// fcntl lock would be), and two readers in one process conflict as two processes do. On
// Linux they are independent of flock() locks, which is what writers use to serialise
// initialisation and growth: the reader lock never blocks or is blocked by a writer. Only
// readers that ask for it (the collector, the Python Reader when not read-only) take it;
// inspect and stats read without it.
struct flock lock_request(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 1;
  fl.l_pid = 0;  // must be 0 for OFD locks
  return fl;
}

void take_reader_lock(int fd, const std::string& path) {
  struct flock fl = lock_request(F_WRLCK);
  if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return;
  const int err = errno;
  if (err != EAGAIN && err != EACCES) {
    throw FileError(FileError::Code::kIo, path + ": cannot lock the file for reading: " + std::strerror(err));
  }
  struct flock probe = lock_request(F_WRLCK);
  int64_t pid = 0;
  // The kernel reports -1 as the holder of an OFD lock; a classic lock's pid is shown.
  if (::fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK && probe.l_pid > 0) pid = probe.l_pid;
  throw FileLockedError(path + ": another reader" + (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                            " holds the file's reader lock; a file has one consuming reader at a time",
                        pid);
}

}  // namespace

std::unique_ptr<Reader> Reader::open(const std::string& path, const ReaderOptions& options) {
  // O_NONBLOCK: opening a FIFO read-only would otherwise wait for a writer to appear (it is
  // refused below); for a regular file it changes nothing. O_NOFOLLOW unless the policy
  // follows symbolic links.
  int fd = ::open(path.c_str(),
                  (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | options.trust.open_flags());
  if (fd < 0) {
    int err = errno;
    if (err == EISDIR) {
      throw FileError(FileError::Code::kUntrusted, path + ": refusing to read: not a regular file (a directory)");
    }
    if (err == ELOOP && !options.trust.follow_symlinks) {
      throw FileError(FileError::Code::kUntrusted, symlink_refused_message(path));
    }
    throw FileError(err == ENOENT ? FileError::Code::kNotFound : FileError::Code::kIo,
                    path + ": open: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileError(FileError::Code::kUntrusted, path + ": refusing to read: not a regular file");
  }
  if (auto why = untrusted_reason(st, path, options.trust)) {
    ::close(fd);
    throw FileError(FileError::Code::kUntrusted, *why);
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
  if (options.exclusive) {
    try {
      take_reader_lock(fd, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  std::unique_ptr<MappedFile> file;
  try {
    file = std::make_unique<MappedFile>(fd, path, options.max_file_bytes, !options.read_only);
  } catch (...) {
    ::close(fd);
    throw;
  }
  // The header is read under the guard too: the file may shrink between fstat and here.
  FileLayout lay;
  std::optional<FileError> error;
  const uint8_t* base = file->base();
  const bool ok = mapping_guard::guarded([&] {
    // validate_layout throws on a bad layout: the exception is caught here, never crosses the
    // guard. It builds strings (names, messages) between its loads; a fault there would skip
    // their destructors, leaking a few bytes once for a file that shrank within this window
    // (between fstat above and these loads). A leak, never corruption: no lock or allocator
    // state is held across a load from the mapping.
    try {
      lay = validate_layout(base, size, path);
    } catch (const FileError& e) {
      error.emplace(e);
    }
  });
  if (!ok) {
    throw FileError(FileError::Code::kCorrupt,
                    path + ": the file shrank or has a hole under the reader (SIGBUS reading its header)");
  }
  if (error) throw *error;
  return std::unique_ptr<Reader>(new Reader(std::move(file), lay, options, st));
}

Reader::Reader(std::unique_ptr<MappedFile> file, FileLayout lay, ReaderOptions options, const struct stat& st)
    : file_(std::move(file)), layout_(lay), options_(options) {
  size_ = static_cast<uint64_t>(st.st_size);
  min_size_ = layout_.dictionary_offset + dh::kSize;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  for (auto k : layout::kRingKinds) {
    consumers_[static_cast<size_t>(k)] =
        RingConsumer(Ring(file_->base() + layout_.ring_offset(k), layout_.geometry.ring(k),
                          file_->identity() + layout_.ring_offset(k)),
                     options_.torn_grace);
    assemblers_[static_cast<size_t>(k)] = RecordAssembler(
        options_.max_record_bytes, layout_.geometry.ring(k).num_buffers, layout_.geometry.ring(k).buffer_size);
  }
}

template <class F>
bool Reader::guard(F&& f) {
  if (failed_) return false;
  if (mapping_guard::guarded(std::forward<F>(f))) return true;
  ++faults_;
  fail("the file shrank or has a hole under the reader (SIGBUS reading the mapping)");
  return false;
}

void Reader::fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  failure_ = file_->path() + ": " + why;
}

bool Reader::refresh() {
  if (failed_) return false;
  struct stat st {};
  if (::fstat(file_->fd(), &st) != 0) return true;  // keep the last size
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ < min_size_) {
    fail("the file shrank to " + std::to_string(size_) + " bytes, below the " + std::to_string(min_size_) +
         " its header, rings and dictionary header need");
  }
  return !failed_;
}

bool Reader::covered(uint64_t off, uint64_t len) const {
  const uint64_t limit = std::min(size_, file_->window());
  return off <= limit && len <= limit - off;
}

uint64_t Reader::start_time_unix_nano() const {
  uint64_t v = 0;
  const_cast<Reader*>(this)->guard(
      [&] { v = file_->atomic_at<uint64_t>(fh::kStartTime).load(std::memory_order_acquire); });
  return v;
}

void Reader::note_corrupt(RingKind ring) {
  ++counters_.corrupt[static_cast<size_t>(ring)];
  if (file_->writable()) {
    guard([&] { file_->atomic_at<uint64_t>(fh::kReaderSkippedCorrupt).fetch_add(1, std::memory_order_relaxed); });
  }
}

void Reader::note_torn(RingKind ring) {
  ++counters_.torn[static_cast<size_t>(ring)];
  guard([&] { file_->atomic_at<uint64_t>(fh::kReaderSkippedTorn).fetch_add(1, std::memory_order_relaxed); });
}

void Reader::note_fault(RingKind ring) {
  ++faults_;
  fail("the file shrank or has a hole under the reader (SIGBUS reading the " + std::string(layout::ring_name(ring)) +
       " ring)");
}

bool Reader::accept(RingKind ring, const SlotBatch::Entry& e, std::string_view& record) {
  RecordAssembler& a = assemblers_[static_cast<size_t>(ring)];
  // A slot that is not the next part of a record in progress ends that record: it is lost,
  // counted as corrupt.
  if (e.kind != SlotBatch::Kind::kFragment && a.interrupt()) note_corrupt(ring);
  switch (e.kind) {
    case SlotBatch::Kind::kRecord: record = batch_.bytes(e); return true;
    case SlotBatch::Kind::kTorn: note_torn(ring); return false;
    case SlotBatch::Kind::kCorrupt: note_corrupt(ring); return false;
    case SlotBatch::Kind::kFragment: break;
  }
  const RecordAssembler::Fed fed = a.feed(e.slot, e.seq, batch_.bytes(e));
  if (fed.lost_partial) note_corrupt(ring);
  switch (fed.step) {
    case RecordAssembler::Step::kComplete: record = a.record(); return true;
    case RecordAssembler::Step::kIncomplete: return false;
    case RecordAssembler::Step::kOrphan: note_torn(ring); return false;
    case RecordAssembler::Step::kInvalid: note_corrupt(ring); return false;
  }
  return false;
}

bool Reader::next_payload(RingKind ring, std::string& payload) {
  return drain(ring, 1, [&](std::string_view p) { payload.assign(p); }) == 1;
}

void Reader::peek(RingKind ring, size_t max, const std::function<void(int64_t, std::string_view)>& f) {
  scan_slots(ring, max, [&](int64_t seq, SlotState state, std::string_view payload) {
    if (state == SlotState::kPending) return false;
    f(seq, payload);
    return true;
  });
}

void Reader::scan(RingKind ring, size_t max, const std::function<void(int64_t, SlotState, std::string_view)>& f) {
  scan_slots(ring, max, [&](int64_t seq, SlotState state, std::string_view payload) {
    f(seq, state, payload);
    return true;
  });
}

template <class F>
void Reader::scan_slots(RingKind ring, size_t max, F&& f) {
  const Ring& r = consumers_[static_cast<size_t>(ring)].ring();
  int64_t rd = 0, wr = 0;
  if (!guard([&] {
        rd = r.reader_index().load(std::memory_order_acquire);
        wr = r.writer_index().load(std::memory_order_acquire);
      })) {
    return;
  }
  const int64_t unread = seq_sub(wr, rd);
  if (unread < 0 || static_cast<uint64_t>(unread) > r.num_buffers()) return;  // inconsistent: nothing safe
  const uint64_t b = r.buffer_size();
  std::string buf(b, '\0');  // sized before the guard: the copy allocates nothing
  char* out = buf.data();
  // Multi-slot records are put together as the consumer does, in a separate assembler (a
  // scan consumes nothing).
  RecordAssembler a(options_.max_record_bytes, r.num_buffers(), b);
  size_t calls = 0;
  const auto report = [&](int64_t seq, SlotState state, std::string_view payload) {
    return calls++ < max && f(seq, state, payload);
  };
  // The last unpublished slot seen: continuations naming it belong to a record still being
  // written (its head is published last), not to a lost one.
  std::optional<int64_t> pending;
  int64_t next = seq_add(rd, 1);
  for (; calls < max && seq_sub(wr, next) >= 0; next = seq_add(next, 1)) {
    bool published = false;
    slot_record::Slot slot;
    if (!guard([&] {
          if (!r.is_published(next, r.availability(next).load(std::memory_order_acquire))) return;
          published = true;
          slot = slot_record::parse(r.slot(next), b);
          if (!slot.bytes.empty()) std::memcpy(out, slot.bytes.data(), slot.bytes.size());
        })) {
      return;
    }
    const std::string_view copied(out, slot.bytes.size());
    using K = slot_record::Slot::Kind;
    if (published && (slot.kind == K::kHead || slot.kind == K::kContinuation)) {
      const int64_t head = a.head();
      const RecordAssembler::Fed fed = a.feed(slot, next, copied);
      if (fed.lost_partial && !report(head, SlotState::kInvalid, {})) return;
      switch (fed.step) {
        case RecordAssembler::Step::kComplete:
          if (!report(a.head(), SlotState::kPublished, a.record())) return;
          break;
        case RecordAssembler::Step::kIncomplete: break;
        case RecordAssembler::Step::kOrphan:
          if (pending && slot_record::names_head(slot.head, *pending)) {
            if (!report(next, SlotState::kPending, {})) return;
            break;
          }
          [[fallthrough]];
        case RecordAssembler::Step::kInvalid:
          if (!report(next, SlotState::kInvalid, {})) return;
          break;
      }
      continue;
    }
    if (!published) pending = next;
    if (a.in_progress()) {
      a.interrupt();
      if (!report(a.head(), SlotState::kInvalid, {})) return;
    }
    const SlotState state = !published                 ? SlotState::kPending
                            : slot.kind == K::kInvalid ? SlotState::kInvalid
                                                       : SlotState::kPublished;
    if (!report(next, state, state == SlotState::kPublished ? copied : std::string_view{})) return;
  }
}

bool Reader::entry(int64_t ref, std::string& out) {
  if (failed_) return false;
  if (ref < static_cast<int64_t>(layout_.first_entry_offset())) return false;
  const uint64_t off = static_cast<uint64_t>(ref);
  // The file may have grown since we last looked: re-check before giving up.
  if (!covered(off, 1) && !(refresh() && covered(off, 1))) return false;
  // The length prefix: at most 10 bytes, and never beyond the end of the file.
  const uint64_t limit = std::min(size_, file_->window());
  const uint64_t prefix_room = std::min<uint64_t>(limit - off, slot_record::kMaxPrefixBytes);
  uint64_t len = 0;
  uint64_t prefix = 0;
  bool prefix_ok = false;
  const uint8_t* p = file_->base() + off;
  if (!guard([&] {
        uint64_t v = 0;
        for (uint64_t i = 0; i < prefix_room; ++i) {
          const uint8_t byte = p[i];
          v |= uint64_t{byte & 0x7fu} << (7 * i);
          if ((byte & 0x80) == 0) {
            len = v;
            prefix = i + 1;
            prefix_ok = true;
            return;
          }
        }
      })) {
    return false;
  }
  if (!prefix_ok || len > options_.max_entry_bytes) return false;
  const uint64_t at = off + prefix;
  if (!covered(at, len) && !(refresh() && covered(at, len))) return false;
  out.resize(len);  // outside the guard: may allocate
  char* dst = out.data();
  if (!guard([&] { std::memcpy(dst, p + prefix, len); })) {
    out.clear();
    return false;
  }
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
  int64_t v = 0;
  const_cast<Reader*>(this)->guard(
      [&] { v = file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kEnd).load(std::memory_order_acquire); });
  return v;
}
int64_t Reader::dictionary_entries() const {
  int64_t v = 0;
  const_cast<Reader*>(this)->guard([&] {
    v = file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kNumEntries).load(std::memory_order_acquire);
  });
  return v;
}

void Reader::for_each_entry(size_t max, const std::function<void(int64_t, std::string_view)>& f) {
  if (!refresh()) return;
  int64_t ref = static_cast<int64_t>(layout_.first_entry_offset());
  const int64_t end = std::min<int64_t>(dictionary_end(), static_cast<int64_t>(size_));
  std::string buf;
  for (size_t n = 0; n < max && ref < end; ++n) {
    if (!entry(ref, buf)) break;
    f(ref, buf);
    ref += static_cast<int64_t>(wire::varint_size(buf.size()) + buf.size());
  }
}

RingState Reader::ring_state(RingKind ring) const {
  const Ring& r = consumers_[static_cast<size_t>(ring)].ring();
  RingState s{r.num_buffers(), r.buffer_size(), -1, -1};
  const_cast<Reader*>(this)->guard([&] {
    s.reader_index = r.reader_index().load(std::memory_order_acquire);
    s.writer_index = r.writer_index().load(std::memory_order_acquire);
  });
  return s;
}

WriterCounters Reader::writer_counters() const {
  WriterCounters c;
  const_cast<Reader*>(this)->guard([&] { c = read_writer_counters(*file_, layout_.dictionary_offset); });
  return c;
}

std::pair<uint64_t, uint64_t> Reader::file_skip_totals() const {
  std::pair<uint64_t, uint64_t> v{0, 0};
  const_cast<Reader*>(this)->guard([&] {
    v = {file_->atomic_at<uint64_t>(fh::kReaderSkippedTorn).load(std::memory_order_relaxed),
         file_->atomic_at<uint64_t>(fh::kReaderSkippedCorrupt).load(std::memory_order_relaxed)};
  });
  return v;
}

}  // namespace otlp_mmap

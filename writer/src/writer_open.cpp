// Opening a file: create it out of sight and publish it complete, adopt a valid one, move a
// broken one of ours aside, refuse anything else, and replace a file whose dictionary is
// full (FORMAT.md §9.2, §9.3, "Full dictionary"). The path only ever holds a complete file,
// and no byte of a file we did not create is ever written.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "otlp_mmap/slot_record.hpp"
#include "otlp_mmap/writer.hpp"
#include "writer_internal.hpp"

namespace otlp_mmap {

using layout::RingKind;
namespace dh = layout::dictionary_header;
namespace fh = layout::file_header;
using namespace writer_detail;

struct Writer::Opened {
  std::unique_ptr<MappedFile> file;
  FileLayout layout;
  WriterConfig config;
  bool created = false;
  bool rolled_over = false;
  std::string moved_aside;
  std::string moved_aside_reason;
  std::string full_aside;
};

namespace {

std::mutex g_registry_mu;
std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Writer>>& registry() {
  static auto* r = new std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Writer>>();
  return *r;
}

// How long an invalid file is watched for another implementation finishing its
// initialisation before it is judged (5 looks, 20 ms apart).
constexpr int kSettleLooks = 5;
constexpr auto kSettlePause = std::chrono::milliseconds(20);
// Opening starts over when the path changes under us (another process created, moved or
// replaced it); more changes than this in one open means something is wrong.
constexpr int kOpenAttempts = 8;

// ------------------------------------------------------------------ building a new file

void initialise(MappedFile& file, const layout::Geometry& g) {
  uint8_t* base = file.base();
  for (auto k : layout::kRingKinds) Ring(base + g.ring_offset(k), g.ring(k)).initialize();
  const uint64_t dict = g.dictionary_offset();
  for (uint64_t off = dh::kNumEntries; off < dh::kSize; off += 8) file.atomic_at<int64_t>(dict + off).store(0);
  file.atomic_at<int64_t>(dict + dh::kEnd).store(static_cast<int64_t>(g.first_entry_offset()));
  for (auto k : layout::kRingKinds) {
    file.atomic_at<int64_t>(layout::header_offset_field(k)).store(static_cast<int64_t>(g.ring_offset(k)));
  }
  file.atomic_at<int64_t>(fh::kDictionaryOffset).store(static_cast<int64_t>(dict));
  file.atomic_at<uint64_t>(fh::kStartTime).store(now_unix_nanos());
  file.atomic_at<uint64_t>(fh::kReaderSkippedTorn).store(0);
  file.atomic_at<uint64_t>(fh::kReaderSkippedCorrupt).store(0);
  // Last: a reader that sees version 1 sees everything above.
  file.atomic_at<int64_t>(fh::kVersion).store(layout::kVersion, std::memory_order_release);
}

// A complete, initialised file that nobody can see yet.
struct Built {
  TempFile temp;
  std::unique_ptr<MappedFile> file;
  FileLayout layout;
};

Built build_fresh(const std::string& path, const WriterConfig& config) {
  remove_abandoned_temps(path);
  const auto& g = config.geometry;
  TempFile temp = TempFile::create(path, config.file_mode);
  // Real blocks for every byte we are about to store: a full file system fails here, with
  // a clear error, instead of killing the application with SIGBUS on a later store.
  reserve_new(temp.fd(), g.initial_file_size(), path);
  const uint64_t window =
      page_round(g.first_entry_offset() + std::max(config.dictionary_max_bytes, g.dictionary_initial_bytes));
  auto file = std::make_unique<MappedFile>(temp.fd(), path, window);  // throws: temp still owns the fd
  temp.release_fd();
  file->set_reserved(g.initial_file_size());
  initialise(*file, g);
  FileLayout lay = validate_layout(file->base(), file->known_size(), path);
  return Built{std::move(temp), std::move(file), lay};
}

// ------------------------------------------------------------------ judging an existing file

// The fields of a file that classification looks at (file header, ring headers, dictionary
// header), read with pread into a zero-filled image as large as the file, at their own
// offsets, so validate_layout can check them in place. Not a mapping of the file: on tmpfs
// a read fault on a hole allocates a page, which raises SIGBUS when the file system is full.
class HeaderImage {
 public:
  HeaderImage(int fd, uint64_t size) : size_(size) {
    if (size_ == 0) return;
    // Anonymous memory: pages never touched cost nothing.
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<uint8_t*>(p);
    copy(fd, 0, fh::kSize);
    for (auto k : layout::kRingKinds) copy(fd, at(layout::header_offset_field(k)), layout::ring_header::kSize);
    copy(fd, at(fh::kDictionaryOffset), dh::kSize);
  }
  ~HeaderImage() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  HeaderImage(const HeaderImage&) = delete;
  HeaderImage& operator=(const HeaderImage&) = delete;
  const uint8_t* base() const { return base_; }
  int64_t i64(uint64_t off) const {
    int64_t v = 0;
    if (off <= size_ && size_ - off >= 8) std::memcpy(&v, base_ + off, 8);
    return v;
  }

 private:
  uint64_t at(uint64_t field) const { return static_cast<uint64_t>(i64(field)); }
  void copy(int fd, uint64_t off, uint64_t len) {
    if (off >= size_) return;
    len = std::min(len, size_ - off);
    if (::pread(fd, base_ + off, len, static_cast<off_t>(off)) < 0) std::memset(base_ + off, 0, len);
  }
  uint8_t* base_ = nullptr;
  uint64_t size_;
};

enum class Kind {
  kValid,     // a version-1 file that validates: adopt it
  kLeftover,  // recognisably ours but broken (any version but 1), or all zero: move aside
  kForeign,   // anything else: refuse, untouched
};

struct Verdict {
  Kind kind = Kind::kForeign;
  std::string why;
  FileLayout layout;
  bool unread = false;   // some ring holds records the reader has not consumed
  int64_t dict_end = 0;  // the dictionary's `end`
};

// The header shape our writers produce: rings back to back from offset 64, in order, the
// dictionary after them, everything 8-aligned.
bool header_is_ours(const HeaderImage& m, uint64_t size) {
  if (size < fh::kSize) return false;
  const int64_t ev = m.i64(fh::kEventsOffset), sp = m.i64(fh::kSpansOffset), me = m.i64(fh::kMeasurementsOffset),
                di = m.i64(fh::kDictionaryOffset);
  return ev == static_cast<int64_t>(fh::kSize) && sp > ev && me > sp && di > me && sp % 8 == 0 && me % 8 == 0 &&
         di % 8 == 0;
}

// Why the ring indices cannot be adopted, or nullopt when they can.
std::optional<std::string> bad_indices(const HeaderImage& m, const FileLayout& lay, bool& unread) {
  unread = false;
  for (auto k : layout::kRingKinds) {
    const uint64_t off = lay.ring_offset(k);
    const int64_t rd = m.i64(off + layout::ring_header::kReaderIndex);
    const int64_t wr = m.i64(off + layout::ring_header::kWriterIndex);
    if (rd < -1 || wr < rd || seq_sub(wr, rd) > static_cast<int64_t>(lay.geometry.ring(k).num_buffers)) {
      return std::string(layout::ring_name(k)) + " ring indices are inconsistent (reader " + std::to_string(rd) +
             ", writer " + std::to_string(wr) + ")";
    }
    unread = unread || wr != rd;
  }
  return std::nullopt;
}

Verdict classify_once(int fd, uint64_t size, const std::string& path) {
  Verdict v;
  if (size == 0) {
    v.why = "empty";
    return v;
  }
  HeaderImage m(fd, size);
  if (m.base() == nullptr) io_error(path, "mmap", errno);
  try {
    v.layout = validate_layout(m.base(), size, path);
    if (auto bad = bad_indices(m, v.layout, v.unread)) {
      v.kind = Kind::kLeftover;
      v.why = *bad;
    } else {
      v.kind = Kind::kValid;
      v.dict_end = m.i64(v.layout.dictionary_offset + dh::kEnd);
    }
    return v;
  } catch (const FileError& e) {
    // The reason without the path the message starts with (the caller names the file).
    const std::string_view what = e.what();
    v.why = what.starts_with(path + ": ") ? std::string(what.substr(path.size() + 2)) : std::string(what);
  }
  if (header_is_ours(m, size)) {
    // Our shape, but not adoptable: a bad version, a truncation, broken geometry. It may
    // hold the only copy of unread telemetry, so it is kept (moved aside), never rewritten.
    v.kind = Kind::kLeftover;
    return v;
  }
  if (all_zero(fd, size)) {
    // An initialisation that never finished (an older writer built files in place) or
    // what a power loss left: nothing in it to lose, but its bytes are kept anyway.
    v.kind = Kind::kLeftover;
    v.why = "every byte is zero";
  }
  return v;
}

// Another implementation may be initialising the file in place right now (it does not
// take our lock): give it a moment to become valid before judging.
Verdict classify(int fd, const std::string& path) {
  Verdict v;
  for (int look = 0; look < kSettleLooks; ++look) {
    if (look > 0) std::this_thread::sleep_for(kSettlePause);
    struct stat st {};
    if (::fstat(fd, &st) != 0) io_error(path, "fstat", errno);
    v = classify_once(fd, static_cast<uint64_t>(st.st_size), path);
    if (v.kind == Kind::kValid) return v;
  }
  return v;
}

// A dictionary that this process could add little or nothing to: `end` within a sixteenth
// of this process's maximum of the end of its window (or beyond it after failed appends).
bool dictionary_nearly_full(const Verdict& v, uint64_t max_bytes) {
  const auto first = static_cast<int64_t>(v.layout.first_entry_offset());
  const uint64_t used = v.dict_end > first ? static_cast<uint64_t>(v.dict_end - first) : 0;
  return used >= max_bytes - max_bytes / 16;
}

// ------------------------------------------------------------------ adopting

Writer::Opened adopt(UniqueFd& fd, const Verdict& v, const WriterConfig& config, const std::string& path) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) io_error(path, "fstat", errno);
  const auto size = static_cast<uint64_t>(st.st_size);
  // A sparse file (an older writer, another implementation) gets its blocks now, so that
  // no store of ours can land in a hole the file system then cannot fill.
  reserve_existing(fd.get(), size, path);
  const uint64_t window = page_round(std::max(size, v.layout.first_entry_offset() + config.dictionary_max_bytes));
  Writer::Opened o;
  o.file = std::make_unique<MappedFile>(fd.get(), path, window);  // throws: fd still ours
  fd.release();
  o.file->set_reserved(size);
  o.layout = v.layout;
  o.config = config;
  auto end = o.file->atomic_at<int64_t>(v.layout.dictionary_offset + dh::kEnd);
  if (end.load() < static_cast<int64_t>(v.layout.first_entry_offset())) {
    end.store(static_cast<int64_t>(v.layout.first_entry_offset()));
  }
  ::flock(o.file->fd(), LOCK_UN);
  return o;
}

Writer::Opened from_built(Built&& b, const WriterConfig& config) {
  Writer::Opened o;
  o.file = std::move(b.file);
  o.layout = b.layout;
  o.config = config;
  o.created = true;
  return o;
}

}  // namespace

// ------------------------------------------------------------------ Writer::open

std::shared_ptr<Writer> Writer::open(const std::string& path, const WriterConfig& config) {
  config.validate();
  std::lock_guard<std::mutex> registry_lock(g_registry_mu);
  const bool follow = config.trust.follow_symlinks;
  std::string moved_aside;  // survive a restart of the loop below
  std::string moved_aside_reason;

  auto finish = [&](Opened&& o) {
    o.moved_aside = moved_aside;
    o.moved_aside_reason = moved_aside_reason;
    struct stat st {};
    if (::fstat(o.file->fd(), &st) != 0) io_error(path, "fstat", errno);
    std::shared_ptr<Writer> w(new Writer(std::move(o)));
    registry()[{st.st_dev, st.st_ino}] = w;
    return w;
  };

  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | config.trust.open_flags()));
    if (fd.get() < 0) {
      const int err = errno;
      if (err == ELOOP && !follow) throw FileError(FileError::Code::kUntrusted, symlink_refused_message(path));
      if (err != ENOENT) io_error(path, "open", err);
      Built b = build_fresh(path, config);
      if (b.temp.publish_new(path)) return finish(from_built(std::move(b), config));
      continue;  // another process published first: adopt its file
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) io_error(path, "fstat", errno);
    // Telemetry must not flow into a file someone else controls (e.g. planted in /tmp).
    if (auto why = untrusted_reason(st, path, config.trust)) throw FileError(FileError::Code::kUntrusted, *why);
    if (auto it = registry().find({st.st_dev, st.st_ino}); it != registry().end()) {
      if (auto w = it->second.lock()) return w;
    }
    // Our writers judge a file under an exclusive lock, so two of them never move aside or
    // replace the same file twice. Readers never lock.
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) io_error(path, "flock", errno);
    }
    if (!still_names(path, st, follow)) continue;  // moved or replaced while we waited
    const Verdict v = classify(fd.get(), path);
    switch (v.kind) {
      case Kind::kValid: {
        if (!dictionary_nearly_full(v, config.dictionary_max_bytes)) return finish(adopt(fd, v, config, path));
        // Full: a fresh file takes the path in one atomic rename. One with unread records
        // keeps a name of its own first, so nothing is lost even when no collector runs.
        Built b = build_fresh(path, config);
        std::string kept = v.unread ? link_aside(fd.get(), path, "full") : std::string();
        b.temp.publish_replacing(path);
        Opened o = from_built(std::move(b), config);
        o.rolled_over = true;
        o.full_aside = std::move(kept);
        return finish(std::move(o));
      }
      case Kind::kLeftover: {
        // Ours and broken: never rewritten, only renamed, so nothing in it is lost.
        std::string aside = move_aside(path, st, "corrupt", follow);
        if (aside.empty()) continue;  // the path changed meanwhile: look again
        moved_aside = std::move(aside);
        moved_aside_reason = v.why;
        try {
          Built b = build_fresh(path, config);
          if (b.temp.publish_new(path)) return finish(from_built(std::move(b), config));
        } catch (const FileError& e) {
          throw FileError(e.code(),
                          std::string(e.what()) + " (the broken file found there was kept as " + moved_aside + ")");
        }
        continue;
      }
      case Kind::kForeign:
        throw FileError(FileError::Code::kCorrupt,
                        path +
                            ": exists and is not an otlp-mmap file; refusing to overwrite it (remove it or choose "
                            "another path)");
    }
  }
  throw FileError(FileError::Code::kIo, path + ": kept changing while being opened; gave up after " +
                                            std::to_string(kOpenAttempts) + " attempts");
}

Writer::Writer(Opened&& o)
    : file_(std::move(o.file)),
      layout_(o.layout),
      config_(std::move(o.config)),
      created_(o.created),
      rolled_over_(o.rolled_over),
      moved_aside_(std::move(o.moved_aside)),
      moved_aside_reason_(std::move(o.moved_aside_reason)),
      full_aside_(std::move(o.full_aside)) {
  for (auto k : layout::kRingKinds) {
    const size_t i = static_cast<size_t>(k);
    const layout::RingGeometry g = layout_.geometry.ring(k);
    rings_[i] = Ring(file_->base() + layout_.ring_offset(k), g, file_->identity() + layout_.ring_offset(k));
    // A record may take up to half of its ring (FORMAT.md §9.17): a larger one could only be
    // claimed while the ring is nearly empty.
    const uint64_t one_slot = slot_record::max_payload(g.buffer_size);
    const uint64_t spread =
        std::min(config_.max_record_bytes, slot_record::max_payload_in(g.num_buffers / 2, g.buffer_size));
    fast_limit_[i] = std::min(one_slot, config_.max_value_bytes);
    record_limit_[i] = config_.extensions ? std::max(one_slot, spread) : one_slot;
  }
}

Writer::~Writer() = default;

void Writer::after_fork_in_child() {
  // A thread of the parent may have held these at fork time; the child has only one
  // thread, so starting them afresh is safe. The cache contents stay valid (the
  // dictionary is shared and append-only).
  new (&intern_mu_) std::mutex();
}

}  // namespace otlp_mmap

#include "otlp_mmap/writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

namespace otlp_mmap {

using layout::RingKind;
namespace dh = layout::dictionary_header;
namespace fh = layout::file_header;

// ------------------------------------------------------------------------ configuration

namespace {

uint64_t parse_size(const char* name, const char* text) {
  std::string s(text);
  if (s.empty()) throw std::invalid_argument(std::string(name) + " is empty");
  uint64_t mult = 1;
  char last = static_cast<char>(std::tolower(static_cast<unsigned char>(s.back())));
  if (last == 'k' || last == 'm' || last == 'g') {
    mult = last == 'k' ? 1024 : last == 'm' ? 1024 * 1024 : uint64_t{1024} * 1024 * 1024;
    s.pop_back();
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || end == nullptr || *end != '\0' || s[0] == '-') {
    throw std::invalid_argument(std::string(name) + "=" + text + " is not a whole number (suffixes k, m, g allowed)");
  }
  if (static_cast<uint64_t>(v) > UINT64_MAX / mult)
    throw std::invalid_argument(std::string(name) + "=" + text + " is too large");
  return static_cast<uint64_t>(v) * mult;
}

void env_size(const char* name, uint64_t& target) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') target = parse_size(name, v);
}

}  // namespace

WriterConfig WriterConfig::from_env() {
  WriterConfig c;
  static constexpr const char* kSlots[] = {"OTLP_MMAP_EVENTS_SLOTS", "OTLP_MMAP_SPANS_SLOTS",
                                           "OTLP_MMAP_MEASUREMENTS_SLOTS"};
  static constexpr const char* kSlotSize[] = {"OTLP_MMAP_EVENTS_SLOT_SIZE", "OTLP_MMAP_SPANS_SLOT_SIZE",
                                              "OTLP_MMAP_MEASUREMENTS_SLOT_SIZE"};
  for (size_t i = 0; i < 3; ++i) {
    env_size(kSlots[i], c.geometry.rings[i].num_buffers);
    env_size(kSlotSize[i], c.geometry.rings[i].buffer_size);
  }
  env_size("OTLP_MMAP_DICTIONARY_INITIAL_BYTES", c.geometry.dictionary_initial_bytes);
  env_size("OTLP_MMAP_DICTIONARY_MAX_BYTES", c.dictionary_max_bytes);
  if (const char* v = std::getenv("OTLP_MMAP_EXTENSIONS"); v != nullptr && *v != '\0') {
    const std::string s(v);
    if (s == "none" || s == "0" || s == "false") {
      c.extensions = false;
    } else if (s == "all" || s == "1" || s == "true") {
      c.extensions = true;
    } else {
      throw std::invalid_argument("OTLP_MMAP_EXTENSIONS=" + s + " must be 'all' (default) or 'none'");
    }
  }
  if (const char* v = std::getenv("OTLP_MMAP_FILE_MODE"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    unsigned long m = std::strtoul(v, &end, 8);
    if (*end != '\0' || m > 0777) {
      throw std::invalid_argument(std::string("OTLP_MMAP_FILE_MODE=") + v + " is not an octal file mode like 0600");
    }
    c.file_mode = static_cast<mode_t>(m);
  }
  c.validate();
  return c;
}

void WriterConfig::validate() const {
  for (auto k : layout::kRingKinds) {
    if (auto err = layout::check_ring_geometry(geometry.ring(k))) {
      throw std::invalid_argument(std::string(layout::ring_name(k)) + " ring: " + std::string(*err) + " (got " +
                                  std::to_string(geometry.ring(k).num_buffers) + " slots of " +
                                  std::to_string(geometry.ring(k).buffer_size) + " bytes)");
    }
  }
  if (geometry.dictionary_initial_bytes < 1024 || geometry.dictionary_initial_bytes % 8 != 0) {
    throw std::invalid_argument("dictionary initial size must be at least 1024 bytes and a multiple of 8");
  }
  if (dictionary_max_bytes < geometry.dictionary_initial_bytes || dictionary_max_bytes > (uint64_t{64} << 30)) {
    throw std::invalid_argument("dictionary maximum size must be between its initial size and 64 GiB");
  }
}

// ------------------------------------------------------------------------ open / create

namespace {

std::mutex g_registry_mu;
std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Writer>>& registry() {
  static auto* r = new std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Writer>>();
  return *r;
}

[[noreturn]] void io_error(const std::string& path, const char* what) {
  int err = errno;
  throw FileError(err == ENOENT ? FileError::Code::kNotFound : FileError::Code::kIo,
                  path + ": " + what + ": " + std::strerror(err));
}

uint64_t page_round(uint64_t n) { return (n + 4095) & ~uint64_t{4095}; }

// Owns the descriptor until a MappedFile takes it over. The initialisation lock needs no
// unlocking on error paths: closing the descriptor releases it.
struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

// A header left by an initialisation that died before publishing version 1: all zero, or
// offsets written in our order (rings start right after the header) but no version.
bool abandoned_initialisation(const uint8_t (&header)[fh::kSize]) {
  int64_t version = 0, events = 0;
  std::memcpy(&version, header + fh::kVersion, 8);
  std::memcpy(&events, header + fh::kEventsOffset, 8);
  if (version != 0) return false;
  return events == 0 || events == static_cast<int64_t>(fh::kSize);
}

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

void check_adoptable(MappedFile& file, const FileLayout& lay, const std::string& path) {
  for (auto k : layout::kRingKinds) {
    Ring r(file.base() + lay.ring_offset(k), lay.geometry.ring(k));
    const int64_t rd = r.reader_index().load(), wr = r.writer_index().load();
    if (rd < -1 || wr < rd || seq_sub(wr, rd) > static_cast<int64_t>(r.num_buffers())) {
      throw FileError(FileError::Code::kCorrupt, path + ": " + std::string(layout::ring_name(k)) +
                                                     " ring indices are inconsistent (reader " + std::to_string(rd) +
                                                     ", writer " + std::to_string(wr) + ")");
    }
  }
  auto end = file.atomic_at<int64_t>(lay.dictionary_offset + dh::kEnd);
  if (end.load() < static_cast<int64_t>(lay.first_entry_offset())) {
    end.store(static_cast<int64_t>(lay.first_entry_offset()));
  }
}

}  // namespace

std::shared_ptr<Writer> Writer::open(const std::string& path, const WriterConfig& config) {
  config.validate();
  std::lock_guard<std::mutex> registry_lock(g_registry_mu);
  std::unique_ptr<MappedFile> file;  // declared first: it outlives the guard below
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    auto it = registry().find({st.st_dev, st.st_ino});
    if (it != registry().end()) {
      if (auto w = it->second.lock()) return w;
    }
  }

  FdGuard guard;
  guard.fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, config.file_mode);
  if (guard.fd >= 0) {
    // The mode is exact, whatever the umask.
    if (::fchmod(guard.fd, config.file_mode) != 0) io_error(path, "fchmod");
  } else {
    if (errno != EEXIST) io_error(path, "create");
    guard.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (guard.fd < 0) io_error(path, "open");
  }
  if (::fstat(guard.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw FileError(FileError::Code::kUntrusted, path + ": not a regular file");
  }
  // Telemetry must not flow into a file someone else controls (e.g. planted in /tmp).
  if (st.st_uid != ::geteuid() && !config.trust_any_owner) {
    throw FileError(FileError::Code::kUntrusted, path + ": owned by uid " + std::to_string(st.st_uid) +
                                                     ", not by this user (uid " + std::to_string(::geteuid()) +
                                                     "); refusing to write telemetry into it");
  }

  // Our writers initialise under an exclusive lock, so whoever gets it first builds the
  // file and everyone after adopts it. Readers never lock; they wait for version 1.
  if (::flock(guard.fd, LOCK_EX) != 0) io_error(path, "flock");
  ::fstat(guard.fd, &st);
  const uint64_t size = static_cast<uint64_t>(st.st_size);

  uint8_t header[fh::kSize] = {};
  if (size > 0 && ::pread(guard.fd, header, std::min<uint64_t>(size, fh::kSize), 0) < 0) io_error(path, "read header");
  const bool needs_init = size == 0 || (size >= fh::kSize && abandoned_initialisation(header));
  if (!needs_init && size < fh::kSize) {
    throw FileError(FileError::Code::kCorrupt, path + ": existing file of " + std::to_string(size) +
                                                   " bytes is not an otlp-mmap file (shorter than its header)");
  }

  FileLayout lay;
  if (needs_init) {
    const auto& g = config.geometry;
    const uint64_t window =
        page_round(g.first_entry_offset() + std::max(config.dictionary_max_bytes, g.dictionary_initial_bytes));
    if (size < g.initial_file_size() && ::ftruncate(guard.fd, static_cast<off_t>(g.initial_file_size())) != 0) {
      io_error(path, "ftruncate");
    }
    file = std::make_unique<MappedFile>(guard.fd, path, window);
    guard.fd = -1;
    initialise(*file, g);
    lay = validate_layout(file->base(), file->known_size(), path);
  } else {
    int64_t dict_off = 0;
    std::memcpy(&dict_off, header + fh::kDictionaryOffset, 8);
    const uint64_t dict = std::min<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(dict_off, 0)), size);
    const uint64_t window = page_round(std::max(size, dict + dh::kSize + config.dictionary_max_bytes));
    file = std::make_unique<MappedFile>(guard.fd, path, window);
    guard.fd = -1;
    lay = validate_layout(file->base(), size, path);
    check_adoptable(*file, lay, path);
  }
  ::flock(file->fd(), LOCK_UN);
  std::shared_ptr<Writer> w(new Writer(std::move(file), lay, config, needs_init));
  registry()[{st.st_dev, st.st_ino}] = w;
  return w;
}

Writer::Writer(std::unique_ptr<MappedFile> file, FileLayout lay, WriterConfig config, bool created)
    : file_(std::move(file)), layout_(lay), config_(config), created_(created) {
  for (auto k : layout::kRingKinds) {
    rings_[static_cast<size_t>(k)] = Ring(file_->base() + layout_.ring_offset(k), layout_.geometry.ring(k),
                                          file_->identity() + layout_.ring_offset(k));
  }
}

Writer::~Writer() = default;

void Writer::after_fork_in_child() {
  // A thread of the parent may have held these at fork time; the child has only one
  // thread, so starting them afresh is safe. The cache contents stay valid (the
  // dictionary is shared and append-only).
  new (&intern_mu_) std::mutex();
}

// ------------------------------------------------------------------------ dictionary

void Writer::count(uint64_t field, uint64_t n) {
  file_->atomic_at<uint64_t>(layout_.dictionary_offset + field).fetch_add(n, std::memory_order_relaxed);
}

WriterCounters Writer::counters() const { return read_writer_counters(*file_, layout_.dictionary_offset); }

int64_t Writer::append_entry(std::string_view payload) {
  const uint64_t total = wire::varint_size(payload.size()) + payload.size();
  auto end = file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kEnd);
  // Lock-free bump allocation, shared by every process writing the file.
  const int64_t start = end.fetch_add(static_cast<int64_t>(total), std::memory_order_acq_rel);
  if (start < static_cast<int64_t>(layout_.first_entry_offset()) ||
      static_cast<uint64_t>(start) + total > file_->window()) {
    return 0;
  }
  const uint64_t need = static_cast<uint64_t>(start) + total;
  // Grow by at least the current dictionary size (doubling), in 1 MiB steps.
  const uint64_t chunk = std::max<uint64_t>(uint64_t{1} << 20, file_->known_size() - layout_.dictionary_offset);
  if (!file_->ensure_size(need, chunk)) return 0;
  wire::Encoder e(file_->base() + start);
  e.varint(payload.size());
  e.raw(payload);
  file_->atomic_at<int64_t>(layout_.dictionary_offset + dh::kNumEntries).fetch_add(1, std::memory_order_release);
  return start;
}

int64_t Writer::intern(std::string_view payload) {
  std::lock_guard<std::mutex> lock(intern_mu_);
  if (auto it = interned_.find(payload); it != interned_.end()) return it->second;
  int64_t ref = append_entry(payload);
  if (ref == 0) {
    count(dh::kDroppedUnencodable);
    return 0;
  }
  interned_.emplace(std::string(payload), ref);
  return ref;
}

namespace {
std::vector<KeyValueView> sorted_by_key(std::span<const KeyValueView> attrs) {
  std::vector<KeyValueView> v(attrs.begin(), attrs.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const KeyValueView& a, const KeyValueView& b) { return a.key_ref < b.key_ref; });
  return v;
}
}  // namespace

int64_t Writer::create_resource(ResourceView r) {
  auto attrs = sorted_by_key(r.attributes);
  r.attributes = attrs;
  return intern(encode_to_string(r));
}

int64_t Writer::create_scope(ScopeView s) {
  auto attrs = sorted_by_key(s.attributes);
  s.attributes = attrs;
  return intern(encode_to_string(s));
}

int64_t Writer::create_metric_stream(const MetricRefView& m) { return intern(encode_to_string(m)); }

// ------------------------------------------------------------------------ records

namespace {

template <class View>
bool fits(const View& v, uint64_t slot) {
  uint64_t n = encoded_size(v);
  return n + wire::varint_size(n) <= slot;
}

// Cuts at a UTF-8 character boundary so a truncated string stays valid text.
std::string_view utf8_prefix(std::string_view s, uint64_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Shortens a value to `limit`: strings and bytes to `limit` bytes, arrays and kvlists to
// limit/8 elements. Returns whether anything changed.
bool shorten(AnyValueView& v, uint64_t limit) {
  using K = AnyValueView::Kind;
  switch (v.kind) {
    case K::kString: {
      auto p = utf8_prefix(v.bytes, limit);
      bool changed = p.size() != v.bytes.size();
      v.bytes = p;
      return changed;
    }
    case K::kBytes: {
      bool changed = v.bytes.size() > limit;
      v.bytes = v.bytes.substr(0, std::min<uint64_t>(limit, v.bytes.size()));
      return changed;
    }
    case K::kArray: {
      bool changed = v.array.size() > limit / 8;
      v.array = v.array.first(std::min<uint64_t>(limit / 8, v.array.size()));
      return changed;
    }
    case K::kKvList: {
      bool changed = v.kvlist.size() > limit / 8;
      v.kvlist = v.kvlist.first(std::min<uint64_t>(limit / 8, v.kvlist.size()));
      return changed;
    }
    default: return false;
  }
}

uint64_t longest(const AnyValueView& v) {
  using K = AnyValueView::Kind;
  switch (v.kind) {
    case K::kString:
    case K::kBytes: return v.bytes.size();
    case K::kArray: return 8 * v.array.size();
    case K::kKvList: return 8 * v.kvlist.size();
    default: return 0;
  }
}

// Largest limit in [0, hi] for which fits(limit) holds, or -1 if none does.
template <class F>
int64_t largest_fitting(uint64_t hi, F&& fits_with) {
  if (!fits_with(0)) return -1;
  uint64_t lo = 0;  // fits
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (fits_with(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return static_cast<int64_t>(lo);
}

// Largest prefix length k in [0, n] for which fits(k) holds (fits(0) is assumed true).
template <class F>
size_t largest_prefix(size_t n, F&& fits_with) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo + 1) / 2;
    if (fits_with(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

struct Shortened {
  std::vector<KeyValueView> attrs;
  uint64_t changed = 0;
};

Shortened shorten_all(std::span<const KeyValueView> in, uint64_t limit) {
  Shortened s{std::vector<KeyValueView>(in.begin(), in.end()), 0};
  for (auto& kv : s.attrs) s.changed += shorten(kv.value, limit) ? 1 : 0;
  return s;
}

uint64_t longest_of(std::span<const KeyValueView> attrs) {
  uint64_t m = 0;
  for (const auto& kv : attrs) m = std::max(m, longest(kv.value));
  return m;
}

}  // namespace

WriteStatus Writer::note(WriteStatus s) {
  if (s == WriteStatus::kDroppedUnencodable) count(dh::kDroppedUnencodable);
  return s;
}

template <class View>
WriteStatus Writer::write_one(RingKind kind, const View& v, uint64_t n) {
  const Ring& ring = rings_[static_cast<size_t>(kind)];
  // Never claim a slot for a record that does not fit: an unpublished slot stalls the
  // reader, which is exactly how the protocol's first implementation jams its rings.
  if (n + wire::varint_size(n) > ring.buffer_size()) return WriteStatus::kDroppedUnencodable;
  int64_t idx = -1;
  if (ring.claim(idx, config_.full_ring_retries) != Ring::Claim::kOk) {
    count(layout::dropped_full_field(kind));
    return WriteStatus::kDroppedFull;
  }
  wire::Encoder e(ring.slot(idx));
  e.varint(n);
  encode(v, e);
  if (!ring.publish(idx)) {
    count(dh::kDroppedSkipped);
    return WriteStatus::kDroppedSkipped;
  }
  return WriteStatus::kWritten;
}

WriteStatus Writer::write(const MeasurementView& m) {
  const uint64_t slot = rings_[2].buffer_size();
  // The common case: the record fits as it is (its size is computed once).
  if (const uint64_t n = encoded_size(m); n + wire::varint_size(n) <= slot)
    return write_one(RingKind::kMeasurements, m, n);
  // Shorten every long value to the same limit: deterministic, so one oversized series
  // stays one series.
  MeasurementView t = m;
  int64_t limit = largest_fitting(longest_of(m.attributes), [&](uint64_t l) {
    auto s = shorten_all(m.attributes, l);
    t.attributes = s.attrs;
    return fits(t, slot);
  });
  if (limit < 0) return note(WriteStatus::kDroppedUnencodable);
  auto s = shorten_all(m.attributes, static_cast<uint64_t>(limit));
  t.attributes = s.attrs;
  count(dh::kTruncatedValues, s.changed);
  WriteStatus st = write_one(RingKind::kMeasurements, t);
  return st == WriteStatus::kWritten ? WriteStatus::kWrittenTruncated : st;
}

WriteStatus Writer::write(const EventView& ev) {
  const uint64_t slot = rings_[0].buffer_size();
  // The common case: the record fits as it is (its size is computed once).
  if (const uint64_t n = encoded_size(ev); n + wire::varint_size(n) <= slot) return write_one(RingKind::kEvents, ev, n);
  EventView t = ev;
  const AnyValueView body = ev.body != nullptr ? *ev.body : AnyValueView{};
  AnyValueView b;
  t.body = ev.body != nullptr ? &b : nullptr;
  Shortened s;
  uint64_t changed = 0;
  // 1. Every attribute kept: shorten all long values (and the body) to one limit.
  auto with_limit = [&](uint64_t l) {
    s = shorten_all(ev.attributes, l);
    b = body;
    changed = s.changed + ((ev.body != nullptr && shorten(b, l)) ? 1 : 0);
    t.attributes = s.attrs;
    return fits(t, slot);
  };
  int64_t limit = largest_fitting(std::max(longest_of(ev.attributes), longest(body)), with_limit);
  if (limit >= 0) {
    with_limit(static_cast<uint64_t>(limit));
  } else {
    // 2. Too many attributes to fit even empty: keep the leading ones whole, count the
    // rest as dropped, and give the body whatever room is left.
    t.severity_text = utf8_prefix(ev.severity_text, 64);
    b = body;
    shorten(b, 0);
    size_t k = largest_prefix(ev.attributes.size(), [&](size_t n) {
      t.attributes = ev.attributes.first(n);
      return fits(t, slot);
    });
    t.attributes = ev.attributes.first(k);
    t.dropped_attributes_count = ev.dropped_attributes_count + static_cast<uint32_t>(ev.attributes.size() - k);
    int64_t body_limit = largest_fitting(longest(body), [&](uint64_t l) {
      b = body;
      shorten(b, l);
      return fits(t, slot);
    });
    if (body_limit < 0) return note(WriteStatus::kDroppedUnencodable);
    b = body;
    changed = shorten(b, static_cast<uint64_t>(body_limit)) ? 1 : 0;
  }
  count(dh::kTruncatedValues, changed);
  WriteStatus st = write_one(RingKind::kEvents, t);
  return st == WriteStatus::kWritten ? WriteStatus::kWrittenTruncated : st;
}

// Writes `attrs` as UpdateAttributes records of the span in `base`, as many per record
// as fit; a single attribute too large for a record of its own is shortened.
WriteStatus Writer::write_span_attributes(const SpanEventView& base, std::span<const KeyValueView> attrs,
                                          bool& truncated) {
  const uint64_t slot = rings_[1].buffer_size();
  SpanEventView u;
  u.type = SpanEventType::kAttributes;
  u.trace_id = base.trace_id;
  u.span_id = base.span_id;
  u.scope_ref = base.scope_ref;
  WriteStatus worst = WriteStatus::kWritten;
  while (!attrs.empty()) {
    size_t k = largest_prefix(attrs.size(), [&](size_t n) {
      u.attributes = attrs.first(n);
      return fits(u, slot);
    });
    WriteStatus st;
    if (k > 0) {
      u.attributes = attrs.first(k);
      st = write_one(RingKind::kSpans, u);
    } else {
      k = 1;
      KeyValueView one = attrs[0];
      int64_t limit = largest_fitting(longest(one.value), [&](uint64_t l) {
        KeyValueView c = attrs[0];
        shorten(c.value, l);
        one = c;
        u.attributes = std::span<const KeyValueView>(&one, 1);
        return fits(u, slot);
      });
      if (limit < 0) {
        st = note(WriteStatus::kDroppedUnencodable);
      } else {
        one = attrs[0];
        shorten(one.value, static_cast<uint64_t>(limit));
        u.attributes = std::span<const KeyValueView>(&one, 1);
        count(dh::kTruncatedValues);
        truncated = true;
        st = write_one(RingKind::kSpans, u);
      }
    }
    if (!written(st)) worst = st;
    attrs = attrs.subspan(k);
  }
  return worst;
}

WriteStatus Writer::write(const SpanEventView& s) {
  if (s.type == SpanEventType::kAddEvent && !config_.extensions) {
    // Plain-protocol form of a span event: a log record carrying the span's context.
    EventView e;
    e.scope_ref = s.scope_ref;
    e.time_unix_nano = s.event_time_unix_nano;
    e.event_name_ref = intern(s.name);
    e.span_context = {true, s.trace_id, s.span_id, 1};
    e.attributes = s.attributes;
    return write(e);
  }
  const uint64_t slot = rings_[1].buffer_size();
  // The common case: the record fits as it is (its size is computed once).
  if (const uint64_t n = encoded_size(s); n + wire::varint_size(n) <= slot) return write_one(RingKind::kSpans, s, n);
  SpanEventView t = s;
  bool truncated = false;
  auto finish = [&](WriteStatus st) {
    if (st == WriteStatus::kWritten && truncated) return WriteStatus::kWrittenTruncated;
    return st;
  };
  // Shortens a text field of `t` to fit, or reports that nothing fits.
  auto fit_text = [&](std::string_view original, std::string_view& field) {
    int64_t l = largest_fitting(original.size(), [&](uint64_t n) {
      field = utf8_prefix(original, n);
      return fits(t, slot);
    });
    if (l < 0) return false;
    field = utf8_prefix(original, static_cast<uint64_t>(l));
    if (field.size() != original.size()) {
      count(dh::kTruncatedValues);
      truncated = true;
    }
    return true;
  };

  switch (s.type) {
    case SpanEventType::kStart: {
      // A start that is too large becomes a start with the attributes that fit, followed
      // by attribute updates for the rest; the reader merges them into one span.
      t.attributes = {};
      t.trace_state = utf8_prefix(s.trace_state, 1024);
      if (!fits(t, slot) && !fit_text(s.name, t.name)) return note(WriteStatus::kDroppedUnencodable);
      size_t k = largest_prefix(s.attributes.size(), [&](size_t n) {
        t.attributes = s.attributes.first(n);
        return fits(t, slot);
      });
      t.attributes = s.attributes.first(k);
      WriteStatus st = write_one(RingKind::kSpans, t);
      if (!written(st)) return st;
      WriteStatus rest = write_span_attributes(s, s.attributes.subspan(k), truncated);
      return finish(written(rest) ? st : rest);
    }
    case SpanEventType::kAttributes: return finish(write_span_attributes(s, s.attributes, truncated));
    case SpanEventType::kName:
      if (!fit_text(s.name, t.name)) return note(WriteStatus::kDroppedUnencodable);
      return finish(write_one(RingKind::kSpans, t));
    case SpanEventType::kEnd:
      if (!fit_text(s.status_message, t.status_message)) return note(WriteStatus::kDroppedUnencodable);
      return finish(write_one(RingKind::kSpans, t));
    case SpanEventType::kAddEvent: {
      t.attributes = {};
      if (!fits(t, slot) && !fit_text(s.name, t.name)) return note(WriteStatus::kDroppedUnencodable);
      size_t k = largest_prefix(s.attributes.size(), [&](size_t n) {
        t.attributes = s.attributes.first(n);
        return fits(t, slot);
      });
      t.attributes = s.attributes.first(k);
      t.dropped_attributes_count = s.dropped_attributes_count + static_cast<uint32_t>(s.attributes.size() - k);
      truncated = truncated || k < s.attributes.size();
      return finish(write_one(RingKind::kSpans, t));
    }
    case SpanEventType::kLink: {
      WriteStatus worst = WriteStatus::kWritten;
      std::span<const LinkView> links = s.links;
      while (!links.empty()) {
        size_t k = largest_prefix(links.size(), [&](size_t n) {
          t.links = links.first(n);
          return fits(t, slot);
        });
        LinkView cut;
        if (k == 0) {
          // One link with too many attributes: keep those that fit, count the rest.
          k = 1;
          cut = links[0];
          t.links = std::span<const LinkView>(&cut, 1);
          size_t a = largest_prefix(links[0].attributes.size(), [&](size_t n) {
            cut.attributes = links[0].attributes.first(n);
            return fits(t, slot);
          });
          cut.attributes = links[0].attributes.first(a);
          cut.dropped_attributes_count += static_cast<uint32_t>(links[0].attributes.size() - a);
          truncated = true;
          if (!fits(t, slot)) {
            worst = note(WriteStatus::kDroppedUnencodable);
            links = links.subspan(1);
            continue;
          }
        } else {
          t.links = links.first(k);
        }
        WriteStatus st = write_one(RingKind::kSpans, t);
        if (!written(st)) worst = st;
        links = links.subspan(k);
      }
      return finish(worst);
    }
    case SpanEventType::kNone: break;
  }
  return note(WriteStatus::kDroppedUnencodable);
}

}  // namespace otlp_mmap

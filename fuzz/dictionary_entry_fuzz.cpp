// libFuzzer target: arbitrary bytes as the dictionary of an otherwise valid file, resolved
// through the Reader the way the collector resolves it.
//
// A template file is made once with the Writer (small rings, no dictionary entries): its rings
// hold records of every kind (span start / attributes / link / add_event / end, a log event, a
// measurement) whose every reference — scope, metric, event name, attribute keys, value_ref
// attribute values and body — points at the first entry R or at R+1, R+8, R+64 (inside the
// fuzz input, so that the fuzzer also controls entries that start mid-input). Each input is
// copied to R (it starts with the first entry's length varint; what follows may form more
// entries), the dictionary's `end` is set after it and the file grown to hold it; then the
// Reader drains every ring resolving every reference, reads each ref as every entry type, walks
// the entries and peeks the rings. Opening may fail only with FileError.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz_common.hpp"
#include "otlp_mmap/writer.hpp"

using namespace otlp_mmap;

namespace {

std::string g_template;
uint64_t g_dictionary = 0;
int64_t g_first = 0;
constexpr int64_t kDeltas[] = {0, 1, 8, 64};

void build_template() {
  char path[] = "/tmp/otlp-mmap-entry-fuzz-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) std::abort();
  ::close(fd);
  ::unlink(path);  // the Writer creates the file itself (O_EXCL)
  {
    WriterConfig c;
    c.geometry = layout::Geometry{
        {layout::RingGeometry{8, 256}, layout::RingGeometry{16, 256}, layout::RingGeometry{8, 128}}, 1024};
    auto w = Writer::open(path, c);
    g_dictionary = w->file_layout().dictionary_offset;
    g_first = static_cast<int64_t>(g_dictionary + layout::dictionary_header::kSize);
    const int64_t r[] = {g_first + kDeltas[0], g_first + kDeltas[1], g_first + kDeltas[2], g_first + kDeltas[3]};
    AnyValueView by_ref;
    by_ref.kind = AnyValueView::Kind::kValueRef;
    by_ref.int_value = r[0];
    AnyValueView by_ref2 = by_ref;
    by_ref2.int_value = r[2];
    const KeyValueView attrs[] = {
        {r[0], by_ref}, {r[1], AnyValueView::string("v")}, {r[2], by_ref2}, {r[3], AnyValueView::integer(7)}};
    const std::string trace(16, '\x11'), span(8, '\x22'), open_span(8, '\x33');
    SpanEventView s;
    s.trace_id = trace;
    s.span_id = span;
    s.scope_ref = r[0];
    s.type = SpanEventType::kStart;
    s.name = "span";
    s.kind = 2;
    s.start_time_unix_nano = 1;
    s.attributes = attrs;
    (void)w->write(s);
    s.type = SpanEventType::kAttributes;
    s.scope_ref = r[1];
    (void)w->write(s);
    const LinkView links[] = {{trace, span, "", attrs, 0, 1}};
    s.type = SpanEventType::kLink;
    s.links = links;
    (void)w->write(s);
    s.type = SpanEventType::kAddEvent;
    s.event_time_unix_nano = 2;
    (void)w->write(s);
    s.type = SpanEventType::kEnd;
    s.scope_ref = r[2];
    s.end_time_unix_nano = 3;
    (void)w->write(s);
    s.type = SpanEventType::kStart;  // a second span under another scope ref, left open
    s.span_id = open_span;
    s.scope_ref = r[3];
    (void)w->write(s);
    EventView e;
    e.scope_ref = r[0];
    e.event_name_ref = r[1];
    e.body = &by_ref;
    e.attributes = attrs;
    (void)w->write(e);
    e.scope_ref = r[3];
    e.body = &by_ref2;
    (void)w->write(e);
    MeasurementView m;
    m.metric_ref = r[0];
    m.attributes = attrs;
    m.as_long = 1;
    (void)w->write(m);
    m.metric_ref = r[2];
    m.is_double = true;
    m.as_double = 0.5;
    (void)w->write(m);
  }
  std::ifstream f(path, std::ios::binary);
  g_template.assign(std::istreambuf_iterator<char>(f), {});
  ::unlink(path);
  if (g_template.size() < static_cast<size_t>(g_first)) std::abort();
}

void put64(std::string& buf, uint64_t at, int64_t v) { std::memcpy(buf.data() + at, &v, sizeof v); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  build_template();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string file = g_template;
  const size_t end = static_cast<size_t>(g_first) + size;
  if (file.size() < end) file.resize(end, '\0');
  if (size > 0) std::memcpy(file.data() + g_first, data, size);
  put64(file, g_dictionary + layout::dictionary_header::kEnd, static_cast<int64_t>(end));
  put64(file, g_dictionary + layout::dictionary_header::kNumEntries, 1);

  const int fd = ::memfd_create("otlp-mmap-entry-fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (::write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) {
    ::close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    ReaderOptions o;
    o.torn_grace = std::chrono::nanoseconds(0);
    o.max_file_bytes = uint64_t{1} << 30;
    // The input is a memfd (mode 0777) opened through the /proc/self/fd magic link.
    o.trust.follow_symlinks = true;
    o.trust.shared_writable = true;
    auto r = Reader::open(path, o);
    std::string s;
    Resource res;
    InstrumentationScope sc;
    MetricRef mr;
    AnyValue av;
    for (int64_t d : kDeltas) {
      const int64_t ref = g_first + d;
      (void)r->read_string(ref, s);
      (void)r->read(ref, res);
      (void)r->read(ref, sc);
      (void)r->read(ref, mr);
      (void)r->read(ref, av);
    }
    fuzz::drain(*r);
  } catch (const FileError&) {
  }
  ::close(fd);
  return 0;
}

// Writes the seed corpora of the fuzz targets: small valid files with every record kind
// (some with unread records, some drained), single records of each message type, and
// (with a third directory) dictionary areas for dictionary_entry_fuzz: each entry of the
// files with its length prefix, and every entry of a file back to back.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "otlp_mmap/reader.hpp"
#include "otlp_mmap/writer.hpp"

using namespace otlp_mmap;

namespace {

void save(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: make_seeds FILE_CORPUS_DIR RECORD_CORPUS_DIR [ENTRY_CORPUS_DIR]\n";
    return 2;
  }
  const std::filesystem::path files = argv[1], records = argv[2];
  const std::filesystem::path entries = argc == 4 ? argv[3] : "";
  if (!entries.empty()) std::filesystem::create_directories(entries);
  std::filesystem::create_directories(files);
  std::filesystem::create_directories(records);
  const std::string trace(16, '\x11'), span(8, '\x22'), parent(8, '\x33');
  for (int variant = 0; variant < 3; ++variant) {
    const auto tmp = std::filesystem::temp_directory_path() / ("otlp-mmap-seed-" + std::to_string(variant));
    std::filesystem::remove(tmp);
    WriterConfig c;
    c.geometry = layout::Geometry{
        {layout::RingGeometry{4, 128}, layout::RingGeometry{8, 128}, layout::RingGeometry{4, 64}}, 1024};
    auto w = Writer::open(tmp.string(), c);
    KeyValueView attrs[] = {{w->intern("service.name"), AnyValueView::string("seed")},
                            {w->intern("count"), AnyValueView::integer(3)}};
    const int64_t res = w->create_resource({attrs, 0, "https://opentelemetry.io/schemas/1.26.0"});
    const int64_t scope = w->create_scope({w->intern("lib"), w->intern("1.0"), {}, 0, res, ""});
    const double bounds[] = {1, 10, 100};
    const int64_t metric = w->create_metric_stream(
        {"latency", "request latency", "ms", scope, AggregationKind::kHistogram, kDelta, false, bounds, 0, 0});
    SpanEventView s;
    s.trace_id = trace;
    s.span_id = span;
    s.scope_ref = scope;
    s.type = SpanEventType::kStart;
    s.parent_span_id = parent;
    s.name = "GET /";
    s.kind = 2;
    s.start_time_unix_nano = 1;
    s.attributes = attrs;
    save(records / ("span_start_" + std::to_string(variant)), encode_to_string(s));
    (void)w->write(s);
    s.type = SpanEventType::kEnd;
    s.end_time_unix_nano = 2;
    s.has_status = true;
    s.status_code = 2;
    s.status_message = "failed";
    save(records / "span_end", encode_to_string(s));
    if (variant != 1) (void)w->write(s);
    AnyValueView body = AnyValueView::string("a log line");
    EventView e;
    e.scope_ref = scope;
    e.body = &body;
    e.severity_number = 9;
    e.attributes = attrs;
    e.span_context = {true, trace, span, 1};
    save(records / "event", encode_to_string(e));
    (void)w->write(e);
    MeasurementView m;
    m.metric_ref = metric;
    m.attributes = attrs;
    m.is_double = true;
    m.as_double = 12.5;
    save(records / "measurement", encode_to_string(m));
    (void)w->write(m);
    if (variant == 2) {
      auto r = Reader::open(tmp.string());
      Event ev;
      while (r->next(ev)) {
      }
    }
    if (!entries.empty() && variant == 0) {
      auto r = Reader::open(tmp.string());
      std::string all;
      int n = 0;
      r->for_each_entry(64, [&](int64_t, std::string_view payload) {
        std::string entry;
        for (uint64_t len = payload.size();; len >>= 7) {
          entry.push_back(static_cast<char>((len & 0x7f) | (len >= 0x80 ? 0x80 : 0)));
          if (len < 0x80) break;
        }
        entry.append(payload);
        save(entries / ("entry_" + std::to_string(n++)), entry);
        all += entry;
      });
      save(entries / "all_entries", all);
    }
    w.reset();
    save(files / ("file_" + std::to_string(variant)), slurp(tmp));
    std::filesystem::remove(tmp);
  }
  std::cout << "seeds written to " << files << ", " << records << (entries.empty() ? "" : " and ") << entries.string()
            << "\n";
  return 0;
}

#include "otlp_mmap/collector/receiver/read_totals.hpp"

namespace otlp_mmap::collector {

namespace {

void add_file(const FileSource& file, ReceiverStats& s) {
  const ReaderCounters& c = file.reader->counters();
  for (size_t i = 0; i < 3; ++i) {
    s.records[i] += c.records[i];
    s.torn[i] += c.torn[i];
    s.corrupt[i] += c.corrupt[i];
  }
  add_to(s.dictionary, file.resolver.stats());
}

}  // namespace

void add_to(ResolverStats& total, const ResolverStats& s) {
  total.string_failures += s.string_failures;
  total.scope_failures += s.scope_failures;
  total.resource_failures += s.resource_failures;
  total.value_failures += s.value_failures;
  total.metric_failures += s.metric_failures;
  total.repaired_utf8 += s.repaired_utf8;
  total.cache_hits += s.cache_hits;
  total.cache_misses += s.cache_misses;
  total.cache_evictions += s.cache_evictions;
}

void ReadTotals::close(const FileSource& file) { add_file(file, closed_); }

void ReadTotals::totals(std::initializer_list<const FileSource*> open, ReceiverStats& out) const {
  out.records = closed_.records;
  out.torn = closed_.torn;
  out.corrupt = closed_.corrupt;
  out.dictionary = closed_.dictionary;
  for (const FileSource* f : open) {
    if (f != nullptr) add_file(*f, out);
  }
}

}  // namespace otlp_mmap::collector

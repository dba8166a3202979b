#include "otlp_mmap/collector/processor/metric_stream_cache.hpp"

#include <algorithm>

namespace otlp_mmap::collector {

int64_t MetricStreamCache::stream(FileSource& file, int64_t metric_ref, MetricsBackend& backend) {
  FileStreams& f = streams_of(file.id);
  auto it = f.streams.find(metric_ref);
  if (it != f.streams.end()) return it->second;
  const int64_t id = resolve(file, metric_ref, backend);
  if (f.streams.size() >= kMaxEntries) f.streams.clear();
  f.streams.emplace(metric_ref, id);
  return id;
}

MetricStreamCache::FileStreams& MetricStreamCache::streams_of(uint64_t file_id) {
  ++uses_;
  for (FileStreams& f : files_) {
    if (f.file_id == file_id) {
      f.last_use = uses_;
      return f;
    }
  }
  // A file not seen yet takes the place of the one used least recently.
  FileStreams& f = *std::min_element(
      files_.begin(), files_.end(), [](const FileStreams& a, const FileStreams& b) { return a.last_use < b.last_use; });
  f.file_id = file_id;
  f.last_use = uses_;
  f.streams.clear();
  return f;
}

int64_t MetricStreamCache::resolve(FileSource& file, int64_t metric_ref, MetricsBackend& backend) {
  MetricStreamDefinition def;
  if (!file.resolver.metric(metric_ref, def.metric)) return -1;
  auto scope = file.resolver.scope(def.metric.scope_ref);
  def.resource = scope->resource->resource;
  def.resource_schema_url = scope->resource->schema_url;
  def.scope = scope->scope;
  def.scope_schema_url = scope->schema_url;
  return backend.stream(def);
}

}  // namespace otlp_mmap::collector

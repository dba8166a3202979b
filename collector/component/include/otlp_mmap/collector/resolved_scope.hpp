// Resources and scopes as the collector exports them, resolved from a file's dictionary: they
// carry their content, never a ref, so what they identify is the same whatever file, process
// or restart wrote it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "otlp_mmap/collector/otlp.hpp"

namespace otlp_mmap::collector {

// A resource as the collector exports it. `key` identifies its content (two resources with
// the same key are the same resource, whatever their refs): its encoding, a NUL, its schema URL.
// Requests group by these keys; nothing is serialised again to compare.
struct ResolvedResource {
  otlp::Resource resource;
  std::string schema_url;
  std::string encoded;  // the Resource message's bytes, as requests carry them
  std::string key;
  int64_t pid = 0;  // the process.pid attribute, 0 when absent
};

struct ResolvedScope {
  std::shared_ptr<const ResolvedResource> resource;
  otlp::InstrumentationScope scope;
  std::string schema_url;
  std::string encoded;  // the InstrumentationScope message's bytes
  std::string key;      // content of the scope alone (group within a resource by it)
};

}  // namespace otlp_mmap::collector

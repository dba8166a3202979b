// A span or log record with the scope (and resource) it belongs to: what the processors hand
// the exporter, which groups items by their scope's content.
#pragma once

#include <memory>

#include "otlp_mmap/collector/resolved_scope.hpp"

namespace otlp_mmap::collector {

template <class Item>
struct Scoped {
  std::shared_ptr<const ResolvedScope> scope;
  std::unique_ptr<Item> item;
};

}  // namespace otlp_mmap::collector

// A span or log record as the processors hand it to the exporter: its message's bytes
// (written straight from the records, otlp_wire.hpp) and the scope (and resource) it belongs
// to, by which the exporter groups items by content.
#pragma once

#include <memory>
#include <string_view>

#include "otlp_mmap/collector/resolved_scope.hpp"

namespace otlp_mmap::collector {

struct EncodedItem {
  std::shared_ptr<const ResolvedScope> scope;
  std::string_view bytes;  // a Span or LogRecord message; valid during the call it is passed to
};

}  // namespace otlp_mmap::collector

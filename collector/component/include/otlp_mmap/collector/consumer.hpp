// The one interface between the collector's stages, as in the OpenTelemetry Collector: the
// receiver hands each record it reads to a processor, and a processor hands what it makes
// (spans, log records, metric collections) to the exporter.
//
// Backpressure: room() is how many more items the consumer takes now within its bounds. The
// receiver reads no more records than its consumers have room for, so what does not fit stays
// in the file, where it is safe. What a stage makes by itself (the incomplete spans of a
// writer that died, or at shutdown) is handed on whatever room() says: the consumer holds it
// until there is room, rather than dropping it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace otlp_mmap::collector {

inline constexpr size_t kUnbounded = SIZE_MAX;

template <class Item>
class Consumer {
 public:
  virtual ~Consumer() = default;
  virtual size_t room() const { return kUnbounded; }
  virtual void consume(Item item) = 0;
};

}  // namespace otlp_mmap::collector

// libFuzzer target: arbitrary bytes as one ring record or dictionary entry, decoded as
// every message type of the protocol, and as the zero-copy views the collector reads, which
// must accept exactly what the owned decoders accept.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/record_view.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  otlp_mmap::Event e;
  otlp_mmap::EventRecordView ev;
  if (otlp_mmap::decode(bytes, e) != otlp_mmap::decode(bytes, ev)) std::abort();
  otlp_mmap::SpanEvent s;
  otlp_mmap::SpanRecordView sv;
  if (otlp_mmap::decode(bytes, s) != otlp_mmap::decode(bytes, sv)) std::abort();
  otlp_mmap::Measurement m;
  (void)otlp_mmap::decode(bytes, m);
  otlp_mmap::Resource r;
  (void)otlp_mmap::decode(bytes, r);
  otlp_mmap::InstrumentationScope sc;
  (void)otlp_mmap::decode(bytes, sc);
  otlp_mmap::MetricRef mr;
  (void)otlp_mmap::decode(bytes, mr);
  otlp_mmap::AnyValue av;
  if (otlp_mmap::decode(bytes, av) != otlp_mmap::valid_any_value(bytes)) std::abort();
  return 0;
}

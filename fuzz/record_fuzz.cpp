// libFuzzer target: arbitrary bytes as one ring record or dictionary entry, decoded as
// every message type of the protocol.
#include <cstdint>
#include <string_view>

#include "otlp_mmap/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  otlp_mmap::Event e;
  (void)otlp_mmap::decode(bytes, e);
  otlp_mmap::SpanEvent s;
  (void)otlp_mmap::decode(bytes, s);
  otlp_mmap::Measurement m;
  (void)otlp_mmap::decode(bytes, m);
  otlp_mmap::Resource r;
  (void)otlp_mmap::decode(bytes, r);
  otlp_mmap::InstrumentationScope sc;
  (void)otlp_mmap::decode(bytes, sc);
  otlp_mmap::MetricRef mr;
  (void)otlp_mmap::decode(bytes, mr);
  otlp_mmap::AnyValue av;
  (void)otlp_mmap::decode(bytes, av);
  return 0;
}

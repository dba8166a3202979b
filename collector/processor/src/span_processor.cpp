#include "otlp_mmap/collector/processor/span_processor.hpp"

namespace otlp_mmap::collector {

SpanProcessor::SpanProcessor(SpanAssemblerOptions options, Consumer<ScopedSpan>& next, const Now& now,
                             Diagnostics& diagnostics)
    : next_(next),
      now_(now),
      diagnostics_(diagnostics),
      assembler_(options, [this](std::shared_ptr<const ResolvedScope> scope, std::unique_ptr<otlp::Span> span) {
        next_.consume(ScopedSpan{std::move(scope), std::move(span)});
      }) {}

void SpanProcessor::consume(const ReceivedSpan& received) {
  try {
    assembler_.handle(received.record, received.file.resolver, now_);
  } catch (const std::exception& e) {
    diagnostics_.error("span assembly", e);
  }
}

}  // namespace otlp_mmap::collector

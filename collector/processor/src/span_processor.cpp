#include "otlp_mmap/collector/processor/span_processor.hpp"

namespace otlp_mmap::collector {

SpanProcessor::SpanProcessor(SpanAssemblerOptions options, Consumer<const EncodedItem&>& next, const Now& now,
                             Diagnostics& diagnostics)
    : next_(next),
      now_(now),
      diagnostics_(diagnostics),
      assembler_(options, [this](std::shared_ptr<const ResolvedScope> scope, const SpanDraft& span) {
        emit(std::move(scope), span);
      }) {}

void SpanProcessor::emit(std::shared_ptr<const ResolvedScope> scope, const SpanDraft& span) {
  encoded_.clear();
  otlp_wire::Out out(encoded_);
  span.encode(out);
  next_.consume(EncodedItem{std::move(scope), encoded_});
}

void SpanProcessor::consume(const ReceivedSpan& received) {
  try {
    assembler_.handle(received.record, received.file.resolver, now_);
  } catch (const std::exception& e) {
    diagnostics_.error("span assembly", e);
  }
}

}  // namespace otlp_mmap::collector

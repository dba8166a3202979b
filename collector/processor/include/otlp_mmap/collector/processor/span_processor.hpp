// Traces: span records become spans (SpanAssembler), handed on encoded, with their scope.
#pragma once

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/encoded_item.hpp"
#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/processor/span_assembler.hpp"
#include "otlp_mmap/collector/receiver/received.hpp"

namespace otlp_mmap::collector {

class SpanProcessor final : public Consumer<const ReceivedSpan&> {
 public:
  SpanProcessor(SpanAssemblerOptions options, Consumer<const EncodedItem&>& next, const Now& now,
                Diagnostics& diagnostics);

  // A span record finishes at most one span: as many records as the next stage has room for.
  size_t room() const override { return next_.room(); }
  void consume(const ReceivedSpan& received) override;

  // Open spans: ended by age, by their writer's exit or at shutdown (see SpanAssembler).
  SpanAssembler& spans() { return assembler_; }
  const SpanAssembler& spans() const { return assembler_; }

 private:
  void emit(std::shared_ptr<const ResolvedScope> scope, const SpanDraft& span);

  Consumer<const EncodedItem&>& next_;
  const Now& now_;
  Diagnostics& diagnostics_;
  SpanAssembler assembler_;
  std::string encoded_;  // the span being handed on (reused)
};

}  // namespace otlp_mmap::collector

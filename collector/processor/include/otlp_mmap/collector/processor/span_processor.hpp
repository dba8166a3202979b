// Traces: span records become spans (SpanAssembler), handed on with their scope.
#pragma once

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/processor/span_assembler.hpp"
#include "otlp_mmap/collector/receiver/received.hpp"
#include "otlp_mmap/collector/scoped.hpp"

namespace otlp_mmap::collector {

using ScopedSpan = Scoped<otlp::Span>;

class SpanProcessor final : public Consumer<const ReceivedSpan&> {
 public:
  SpanProcessor(SpanAssemblerOptions options, Consumer<ScopedSpan>& next, const Now& now, Diagnostics& diagnostics);

  // A span record finishes at most one span: as many records as the next stage has room for.
  size_t room() const override { return next_.room(); }
  void consume(const ReceivedSpan& received) override;

  // Open spans: ended by age, by their writer's exit or at shutdown (see SpanAssembler).
  SpanAssembler& spans() { return assembler_; }
  const SpanAssembler& spans() const { return assembler_; }

 private:
  Consumer<ScopedSpan>& next_;
  const Now& now_;
  Diagnostics& diagnostics_;
  SpanAssembler assembler_;
};

}  // namespace otlp_mmap::collector

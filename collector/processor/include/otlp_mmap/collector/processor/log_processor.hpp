// Logs: each log record of the file (an Event of the events ring) becomes an OTLP LogRecord
// (LogMapper), handed on with its scope.
#pragma once

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/processor/log_mapper.hpp"
#include "otlp_mmap/collector/receiver/received.hpp"
#include "otlp_mmap/collector/scoped.hpp"

namespace otlp_mmap::collector {

using ScopedLog = Scoped<otlp::LogRecord>;

class LogProcessor final : public Consumer<const ReceivedLog&> {
 public:
  LogProcessor(Consumer<ScopedLog>& next, const Now& now, Diagnostics& diagnostics)
      : next_(next), now_(now), diagnostics_(diagnostics) {}

  // One log record per record read.
  size_t room() const override { return next_.room(); }
  void consume(const ReceivedLog& received) override;

  const LogStats& stats() const { return mapper_.stats(); }

 private:
  Consumer<ScopedLog>& next_;
  const Now& now_;
  Diagnostics& diagnostics_;
  LogMapper mapper_;
};

}  // namespace otlp_mmap::collector

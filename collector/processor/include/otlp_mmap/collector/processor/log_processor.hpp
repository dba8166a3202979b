// Logs: each log record of the file (an Event of the events ring) becomes an OTLP LogRecord
// (LogMapper), handed on encoded, with its scope.
#pragma once

#include "otlp_mmap/collector/consumer.hpp"
#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/encoded_item.hpp"
#include "otlp_mmap/collector/now.hpp"
#include "otlp_mmap/collector/processor/log_mapper.hpp"
#include "otlp_mmap/collector/receiver/received.hpp"

namespace otlp_mmap::collector {

class LogProcessor final : public Consumer<const ReceivedLog&> {
 public:
  LogProcessor(Consumer<const EncodedItem&>& next, const Now& now, Diagnostics& diagnostics)
      : next_(next), now_(now), diagnostics_(diagnostics) {}

  // One log record per record read.
  size_t room() const override { return next_.room(); }
  void consume(const ReceivedLog& received) override;

  const LogStats& stats() const { return mapper_.stats(); }

 private:
  Consumer<const EncodedItem&>& next_;
  const Now& now_;
  Diagnostics& diagnostics_;
  LogMapper mapper_;
  std::string encoded_;  // the log record being handed on (reused)
};

}  // namespace otlp_mmap::collector

// Writer liveness: the writer processes (process.pid of the resources of open spans) that
// have exited have their open spans exported as incomplete.
//
// A pid found gone is first a suspect: the records it wrote before it went may still be in
// the ring, so the rings are read to their end, and a slot it claimed but never published
// holds back the records behind it for the torn-slot grace period. Only after that grace are
// its records counted; a suspect that still writes is not what it looks like (another pid
// namespace, say) and is left alone from then on. The others, still gone, are declared dead
// and their spans ended. Nothing is decided while records wait in the file for room
// downstream: the ends of a dead writer's spans may be among them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <unordered_set>

#include "otlp_mmap/collector/diagnostics.hpp"
#include "otlp_mmap/collector/processor/span_assembler.hpp"

namespace otlp_mmap::collector {

class WriterLiveness {
 public:
  using Clock = std::chrono::steady_clock;
  using GoneCheck = std::function<bool(int64_t pid)>;

  // `torn_grace`: the reader's grace for claimed but unpublished slots.
  WriterLiveness(std::chrono::nanoseconds torn_grace, Diagnostics& diagnostics, GoneCheck gone);

  // One check. `read_to_end` reads the rings to their end and returns false when records had
  // to stay there for lack of room downstream.
  void check(SpanAssembler& spans, const std::function<bool()>& read_to_end);

  uint64_t exited() const { return exited_; }              // writer pids found gone
  uint64_t unverifiable() const { return unverifiable_; }  // pids that looked gone while records kept coming

 private:
  void suspect(SpanAssembler& spans, const std::function<bool()>& read_to_end);
  void verify(SpanAssembler& spans);
  void finish(SpanAssembler& spans, const std::unordered_set<int64_t>& dead);

  const std::chrono::nanoseconds torn_grace_;
  Diagnostics& diagnostics_;
  GoneCheck gone_;
  std::unordered_set<int64_t> suspects_;
  Clock::time_point suspected_at_{};
  bool watching_ = false;  // records of the suspects are being counted
  std::unordered_set<int64_t> unverifiable_pids_;
  uint64_t exited_ = 0;
  uint64_t unverifiable_ = 0;
};

}  // namespace otlp_mmap::collector

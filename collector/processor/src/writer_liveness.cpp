#include "otlp_mmap/collector/processor/writer_liveness.hpp"

#include <string>

namespace otlp_mmap::collector {

WriterLiveness::WriterLiveness(std::chrono::nanoseconds torn_grace, Diagnostics& diagnostics, GoneCheck gone)
    : torn_grace_(torn_grace), diagnostics_(diagnostics), gone_(std::move(gone)) {}

void WriterLiveness::check(SpanAssembler& spans, const std::function<bool()>& read_to_end) {
  if (suspects_.empty()) {
    suspect(spans, read_to_end);
  } else if (!watching_) {
    // Everything a suspect wrote is surely read once the grace has passed; only records read
    // after that prove it alive.
    if (Clock::now() - suspected_at_ >= torn_grace_) {
      spans.watch(suspects_);
      watching_ = true;
    }
  } else {
    verify(spans);
  }
}

void WriterLiveness::suspect(SpanAssembler& spans, const std::function<bool()>& read_to_end) {
  std::unordered_set<int64_t> gone;
  for (int64_t pid : spans.writer_pids()) {
    if (unverifiable_pids_.count(pid) == 0 && gone_(pid)) gone.insert(pid);
  }
  if (gone.empty()) return;
  // Records the process wrote before it went may still be in the ring: read them first.
  if (!read_to_end()) return;
  suspects_ = std::move(gone);
  suspected_at_ = Clock::now();
  watching_ = false;
}

void WriterLiveness::verify(SpanAssembler& spans) {
  std::unordered_set<int64_t> dead;
  for (int64_t pid : suspects_) {
    if (spans.watched_records(pid) > 0) {
      if (unverifiable_pids_.size() >= 4096) unverifiable_pids_.clear();
      unverifiable_pids_.insert(pid);
      ++unverifiable_;
      diagnostics_.log("writer pid " + std::to_string(pid) +
                       " looks gone but is still writing; not checking it any more");
    } else if (gone_(pid)) {
      dead.insert(pid);
    }
  }
  suspects_.clear();
  watching_ = false;
  spans.watch(suspects_);
  if (!dead.empty()) finish(spans, dead);
}

void WriterLiveness::finish(SpanAssembler& spans, const std::unordered_set<int64_t>& dead) {
  exited_ += dead.size();
  const size_t n = spans.finish_writers(dead);
  if (n == 0) return;
  std::string pids;
  for (int64_t p : dead) pids += (pids.empty() ? "" : ",") + std::to_string(p);
  diagnostics_.log("writer process(es) " + pids + " exited: " + std::to_string(n) +
                   " open span(s) exported as incomplete");
}

}  // namespace otlp_mmap::collector

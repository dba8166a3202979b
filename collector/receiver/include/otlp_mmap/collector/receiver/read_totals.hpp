// The counters of the files the receiver has closed, so that its totals outlive them.
#pragma once

#include <initializer_list>

#include "otlp_mmap/collector/receiver/file_source.hpp"
#include "otlp_mmap/collector/receiver/receiver_stats.hpp"

namespace otlp_mmap::collector {

class ReadTotals {
 public:
  // Adds what `file` read and resolved; call once, when it is closed.
  void close(const FileSource& file);
  // The closed files' counters plus those of the files still open (null ones skipped), into
  // the per-ring and dictionary counters of `out`.
  void totals(std::initializer_list<const FileSource*> open, ReceiverStats& out) const;

 private:
  ReceiverStats closed_;
};

}  // namespace otlp_mmap::collector

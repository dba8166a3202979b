// The collector's own messages ("otlp-mmap: ..." lines on its log stream) and its count of
// unexpected errors. Every stage reports through it; nothing read from the file can stop the
// pipeline, so an exception a stage catches is counted and logged here, never rethrown.
#pragma once

#include <cstdint>
#include <exception>
#include <ostream>
#include <string>

namespace otlp_mmap::collector {

class Diagnostics {
 public:
  explicit Diagnostics(std::ostream& out) : out_(out) {}

  void log(const std::string& line) const { out_ << "otlp-mmap: " << line << std::endl; }

  // An exception caught in `where`. The first ten are logged, then one in a thousand, so a
  // flood cannot fill a disk.
  void error(const char* where, const std::exception& e) {
    ++errors_;
    if (errors_ <= 10 || errors_ % 1000 == 0) {
      log(std::string("error in ") + where + ": " + e.what() + " (" + std::to_string(errors_) + " so far)");
    }
  }

  uint64_t errors() const { return errors_; }

 private:
  std::ostream& out_;
  uint64_t errors_ = 0;
};

}  // namespace otlp_mmap::collector

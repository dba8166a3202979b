// The `otlp-mmap` command line: collect, inspect, stats.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace otlp_mmap::collector {

// Runs the command; returns the process exit code (0 ok, 1 runtime failure of a tool,
// 2 bad configuration or usage).
int cli_main(int argc, char** argv);

// "500ms", "10s", "5m", "1h", "2d", or a plain number of seconds (fractions allowed).
// nullopt when malformed or negative.
std::optional<std::chrono::nanoseconds> parse_duration(const std::string& text);

}  // namespace otlp_mmap::collector

// The exporter's diagnostics: "otlp-mmap export: <message>" on stderr, rate-limited per kind,
// so an endpoint that stays down cannot fill a disk.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace otlp_mmap::collector::detail {

// Writes the message at most once per `interval` for each key (interval zero: once per key
// for the process's lifetime); the number of suppressed messages is appended to the next one
// written.
void log_limited(const std::string& key, std::chrono::steady_clock::duration interval, const std::string& message);
// Replaces the sink of log_limited (tests); nullptr restores stderr.
void set_log_sink(std::function<void(const std::string&)> sink);

}  // namespace otlp_mmap::collector::detail

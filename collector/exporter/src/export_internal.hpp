// Private parts of the exporters (collector/src/export_*.cpp), visible to the unit tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "otlp_mmap/collector/exporter/exporter.hpp"

namespace google::protobuf {
class Message;
}

namespace otlp_mmap::collector::detail {

// ---- one attempt to send ------------------------------------------------------------------

struct SendOutcome {
  enum class Kind { kOk, kRetryable, kPermanent };
  Kind kind = Kind::kOk;
  // kOk: items the endpoint rejected (partial success); message = its error_message.
  uint64_t rejected = 0;
  // kRetryable: how long the endpoint asked us to wait (Retry-After, RetryInfo).
  std::optional<std::chrono::milliseconds> retry_after;
  // Short, stable description of the kind of failure ("HTTP 503", "gRPC UNAVAILABLE",
  // "connection"): the key of log rate limiting.
  std::string kind_text;
  std::string message;  // details for the log

  static SendOutcome ok(uint64_t rejected = 0, std::string message = {}) {
    SendOutcome o;
    o.rejected = rejected;
    o.message = std::move(message);
    return o;
  }
  static SendOutcome retryable(std::string kind_text, std::string message,
                               std::optional<std::chrono::milliseconds> retry_after = std::nullopt) {
    SendOutcome o;
    o.kind = Kind::kRetryable;
    o.kind_text = std::move(kind_text);
    o.message = std::move(message);
    o.retry_after = retry_after;
    return o;
  }
  static SendOutcome permanent(std::string kind_text, std::string message) {
    SendOutcome o;
    o.kind = Kind::kPermanent;
    o.kind_text = std::move(kind_text);
    o.message = std::move(message);
    return o;
  }
};

// How one signal's requests leave the process. `send` is called by one sender thread at a
// time; `cancel` may be called from any thread to abort an attempt in progress (it then
// returns promptly, with any outcome).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual SendOutcome send(const google::protobuf::Message& request) = 0;
  virtual void cancel() {}
};

using TransportFactory = std::function<std::unique_ptr<Transport>(Signal, const SignalExportConfig&)>;

// The exporter with transports of the caller's choosing (tests use fakes).
std::unique_ptr<Exporter> make_exporter_with(const ExportConfig& config, TransportFactory factory);

std::unique_ptr<Transport> make_console_transport(Signal signal, const SignalExportConfig& config);
std::unique_ptr<Transport> make_http_transport(Signal signal, const SignalExportConfig& config);
std::unique_ptr<Transport> make_grpc_transport(Signal signal, const SignalExportConfig& config);

// ---- retries -------------------------------------------------------------------------------

// Exponential backoff with jitter: attempt n (0-based) waits a duration drawn uniformly from
// [d/2, d] with d = min(initial * 2^n, max).
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);
  std::chrono::milliseconds ceiling(unsigned attempt) const;  // d
  std::chrono::milliseconds next(unsigned attempt);           // drawn from [d/2, d]

 private:
  std::chrono::milliseconds initial_, max_;
  std::mt19937_64 rng_;
};

// HTTP Retry-After (RFC 9110): delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 or asctime).
// Returns the delay from `now` (zero for a date in the past), or nullopt when unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

// The delay of a google.rpc.RetryInfo in serialized google.rpc.Status bytes (the gRPC
// grpc-status-details-bin trailer), or nullopt when there is none.
std::optional<std::chrono::milliseconds> parse_grpc_retry_info(std::string_view status_details);

// The message of a serialized google.rpc.Status (HTTP error bodies), or empty.
std::string parse_rpc_status_message(std::string_view status_bytes);

// ---- encoding ------------------------------------------------------------------------------

// OTLP/JSON (the OTLP specification's JSON mapping of protobuf): lowerCamelCase keys,
// trace and span ids as hex strings, enums as integers, 64-bit integers as strings, other
// bytes base64, non-finite doubles as "NaN"/"Infinity"/"-Infinity". No whitespace, no newline.
std::string to_otlp_json(const google::protobuf::Message& message);
void append_otlp_json(const google::protobuf::Message& message, std::string& out);

// Human-readable text: one block per span, log record or metric data point.
std::string to_console_text(const TraceRequest& request);
std::string to_console_text(const LogsRequest& request);
std::string to_console_text(const MetricsRequest& request);

// gzip (RFC 1952) of `data`.
std::string gzip_compress(std::string_view data);

std::string hex_encode(std::string_view bytes);

// ---- batching ------------------------------------------------------------------------------

// Moves the first `n` items (spans / log records) of `from` into the returned request;
// `from` keeps the rest. Resource and scope entries are copied where they are split.
TraceRequest take_items(TraceRequest& from, size_t n);
LogsRequest take_items(LogsRequest& from, size_t n);
// Moves every item of `from` into `to` (leaving `from` empty), each into the entry of its
// resource and scope when `to` already has one: one send names each resource once.
void append_request(TraceRequest& to, TraceRequest&& from);
void append_request(LogsRequest& to, LogsRequest&& from);
void append_request(MetricsRequest& to, MetricsRequest&& from);

// ---- diagnostics ---------------------------------------------------------------------------

// Writes "otlp-mmap export: <message>" to stderr, at most once per `interval` for each key
// (interval zero: once per key for the process's lifetime); the number of suppressed
// messages is appended to the next one written.
void log_limited(const std::string& key, std::chrono::steady_clock::duration interval, const std::string& message);
// Replaces the sink of log_limited (tests); nullptr restores stderr.
void set_log_sink(std::function<void(const std::string&)> sink);

}  // namespace otlp_mmap::collector::detail

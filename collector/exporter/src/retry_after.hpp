// What an endpoint says about when to come back, and why it failed.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace otlp_mmap::collector::detail {

// HTTP Retry-After (RFC 9110): delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 or asctime).
// Returns the delay from `now` (zero for a date in the past), or nullopt when unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

// The delay of a google.rpc.RetryInfo in serialized google.rpc.Status bytes (the gRPC
// grpc-status-details-bin trailer), or nullopt when there is none.
std::optional<std::chrono::milliseconds> parse_grpc_retry_info(std::string_view status_details);

// The message of a serialized google.rpc.Status (HTTP error bodies), or empty.
std::string parse_rpc_status_message(std::string_view status_bytes);

}  // namespace otlp_mmap::collector::detail

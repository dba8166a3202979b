// The exporter's encodings of requests (export_encode.cpp): OTLP/JSON for the HTTP/JSON
// transport and the console's json format, readable text for the console.
#pragma once

#include <string>
#include <string_view>

#include "otlp_mmap/collector/requests.hpp"

namespace google::protobuf {
class Message;
}

namespace otlp_mmap::collector::detail {

// OTLP/JSON (the OTLP specification's JSON mapping of protobuf): lowerCamelCase keys,
// trace and span ids as hex strings, enums as integers, 64-bit integers as strings, other
// bytes base64, non-finite doubles as "NaN"/"Infinity"/"-Infinity". No whitespace, no newline.
std::string to_otlp_json(const google::protobuf::Message& message);
void append_otlp_json(const google::protobuf::Message& message, std::string& out);

// Human-readable text: one block per span, log record or metric data point.
std::string to_console_text(const TraceRequest& request);
std::string to_console_text(const LogsRequest& request);
std::string to_console_text(const MetricsRequest& request);

std::string hex_encode(std::string_view bytes);

}  // namespace otlp_mmap::collector::detail

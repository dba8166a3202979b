// A request of spans or log records, already encoded: what the batcher makes and the exporter
// sends, without protobuf message objects.
//
// Items (Span or LogRecord messages) are kept as bytes, grouped by their resource and scope.
// Groups are identified by content, through the resolver's keys (ResolvedResource::key,
// ResolvedScope::key), so nothing is serialised again to compare. Groups of one resource are
// adjacent, so a request names each resource once; encode() writes the
// ExportTraceServiceRequest / ExportLogsServiceRequest bytes (the two share their layout:
// resources = 1; resource = 1, scopes = 2, schema_url = 3; scope = 1, items = 2, schema_url = 3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "otlp_mmap/collector/requests.hpp"
#include "otlp_mmap/collector/resolved_scope.hpp"

namespace otlp_mmap::collector {

struct EncodedGroup {
  std::shared_ptr<const ResolvedScope> scope;  // with its resource
  std::string items;                           // each item: field 2 of the scope message (tag, length, bytes)
  std::vector<uint32_t> ends;                  // where each item ends in `items`

  size_t size() const { return ends.size(); }
  // Appends one item given as its message bytes.
  void add(std::string_view item);
  // Appends one item given as its whole field (tag, length, message).
  void add_field(std::string_view field);
  // Appends the items of `other` (of the same scope content), leaving it empty.
  void append(EncodedGroup&& other);
};

// The first `n` items of `from` (at most all of them), moved into the returned group.
EncodedGroup take_items(EncodedGroup& from, size_t n);

struct EncodedRequest {
  std::vector<EncodedGroup> groups;

  size_t items() const;
  bool empty() const { return groups.empty(); }
  // The group of `scope`'s content, created (next to its resource's other groups) if needed.
  EncodedGroup& group(const std::shared_ptr<const ResolvedScope>& scope);
};

size_t count_items(const EncodedRequest& request);

// Export{Trace,Logs}ServiceRequest bytes into `out` (replaced; its capacity is reused).
void encode(const EncodedRequest& request, std::string& out);
// The size encode() writes.
size_t encoded_size(const EncodedRequest& request);

// Between the encoded form and messages (encoded_request_messages.cpp): for exporters and
// tests that work on messages, and for requests made as messages (each item serialised once).
bool to_message(const EncodedRequest& request, TraceRequest& out);
bool to_message(const EncodedRequest& request, LogsRequest& out);
EncodedRequest from_message(const TraceRequest& request);
EncodedRequest from_message(const LogsRequest& request);

}  // namespace otlp_mmap::collector

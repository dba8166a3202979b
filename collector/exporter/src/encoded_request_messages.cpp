// Encoded requests to and from messages: the message side of exporters and tests, and the
// requests that arrive as messages (export_probe, Exporter::submit of a message).

#include "otlp_mmap/collector/exporter/encoded_request.hpp"

namespace otlp_mmap::collector {

namespace {

std::shared_ptr<const ResolvedResource> resolved(const otlp::Resource& resource, const std::string& schema_url) {
  auto r = std::make_shared<ResolvedResource>();
  r->resource = resource;
  r->schema_url = schema_url;
  resource.SerializeToString(&r->encoded);
  r->key = r->encoded + '\0' + r->schema_url;
  return r;
}

template <class ScopeItems, class Items>
void add_scope(EncodedRequest& out, const std::shared_ptr<const ResolvedResource>& resource, const ScopeItems& s,
               const Items& items, std::string& scratch) {
  auto scope = std::make_shared<ResolvedScope>();
  scope->resource = resource;
  scope->scope = s.scope();
  scope->schema_url = s.schema_url();
  s.scope().SerializeToString(&scope->encoded);
  scope->key = scope->encoded + '\0' + scope->schema_url;
  EncodedGroup& g = out.group(scope);
  for (const auto& item : items) {
    item.SerializeToString(&scratch);
    g.add(scratch);
  }
}

template <class Request>
bool parse(const EncodedRequest& request, Request& out) {
  std::string bytes;
  encode(request, bytes);
  return out.ParseFromString(bytes);
}

}  // namespace

bool to_message(const EncodedRequest& request, TraceRequest& out) { return parse(request, out); }
bool to_message(const EncodedRequest& request, LogsRequest& out) { return parse(request, out); }

EncodedRequest from_message(const TraceRequest& request) {
  EncodedRequest out;
  std::string scratch;
  for (const auto& r : request.resource_spans()) {
    const auto resource = resolved(r.resource(), r.schema_url());
    for (const auto& s : r.scope_spans()) add_scope(out, resource, s, s.spans(), scratch);
  }
  return out;
}

EncodedRequest from_message(const LogsRequest& request) {
  EncodedRequest out;
  std::string scratch;
  for (const auto& r : request.resource_logs()) {
    const auto resource = resolved(r.resource(), r.schema_url());
    for (const auto& s : r.scope_logs()) add_scope(out, resource, s, s.log_records(), scratch);
  }
  return out;
}

}  // namespace otlp_mmap::collector

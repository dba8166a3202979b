#include "otlp_mmap/collector/exporter/encoded_request.hpp"

#include "otlp_mmap/collector/otlp_wire.hpp"

namespace otlp_mmap::collector {

namespace {

namespace rq = otlp_wire::request;
using otlp_wire::len_field_size;

bool same_resource(const ResolvedScope& a, const ResolvedScope& b) {
  return a.resource == b.resource || a.resource->key == b.resource->key;
}
bool same_content(const ResolvedScope& a, const ResolvedScope& b) {
  return &a == &b || (same_resource(a, b) && a.key == b.key);
}

size_t scope_message_size(const EncodedGroup& g) {
  const ResolvedScope& s = *g.scope;
  return len_field_size(rq::kScope, s.encoded.size()) + g.items.size() +
         (s.schema_url.empty() ? 0 : len_field_size(rq::kScopeSchemaUrl, s.schema_url.size()));
}

// The groups [i, end) of the resource of group i.
size_t resource_end(const EncodedRequest& request, size_t i) {
  size_t j = i;
  while (j < request.groups.size() && same_resource(*request.groups[j].scope, *request.groups[i].scope)) ++j;
  return j;
}

size_t resource_message_size(const EncodedRequest& request, size_t i, size_t end) {
  const ResolvedResource& r = *request.groups[i].scope->resource;
  size_t n = len_field_size(rq::kResource, r.encoded.size()) +
             (r.schema_url.empty() ? 0 : len_field_size(rq::kSchemaUrl, r.schema_url.size()));
  for (size_t j = i; j < end; ++j) n += len_field_size(rq::kScopes, scope_message_size(request.groups[j]));
  return n;
}

}  // namespace

void EncodedGroup::add(std::string_view item) {
  otlp_wire::Out out(items);
  out.bytes_field(rq::kItems, item);
  ends.push_back(static_cast<uint32_t>(items.size()));
}

void EncodedGroup::add_field(std::string_view field) {
  items.append(field);
  ends.push_back(static_cast<uint32_t>(items.size()));
}

void EncodedGroup::append(EncodedGroup&& other) {
  if (ends.empty()) {
    items = std::move(other.items);
    ends = std::move(other.ends);
  } else {
    const auto base = static_cast<uint32_t>(items.size());
    items += other.items;
    for (uint32_t e : other.ends) ends.push_back(base + e);
  }
  other.items.clear();
  other.ends.clear();
}

EncodedGroup take_items(EncodedGroup& from, size_t n) {
  EncodedGroup head;
  head.scope = from.scope;
  if (n >= from.size()) {
    head.append(std::move(from));
    return head;
  }
  if (n == 0) return head;
  const uint32_t cut = from.ends[n - 1];
  head.items.assign(from.items, 0, cut);
  head.ends.assign(from.ends.begin(), from.ends.begin() + static_cast<std::ptrdiff_t>(n));
  from.items.erase(0, cut);
  from.ends.erase(from.ends.begin(), from.ends.begin() + static_cast<std::ptrdiff_t>(n));
  for (uint32_t& e : from.ends) e -= cut;
  return head;
}

size_t EncodedRequest::items() const {
  size_t n = 0;
  for (const auto& g : groups) n += g.size();
  return n;
}

EncodedGroup& EncodedRequest::group(const std::shared_ptr<const ResolvedScope>& scope) {
  size_t after = groups.size();  // insert after the last group of the same resource, if any
  for (size_t i = 0; i < groups.size(); ++i) {
    if (same_content(*groups[i].scope, *scope)) return groups[i];
    if (same_resource(*groups[i].scope, *scope)) after = i + 1;
  }
  auto it = groups.insert(groups.begin() + static_cast<std::ptrdiff_t>(after), EncodedGroup{});
  it->scope = scope;
  return *it;
}

size_t count_items(const EncodedRequest& request) { return request.items(); }

size_t encoded_size(const EncodedRequest& request) {
  size_t n = 0;
  for (size_t i = 0; i < request.groups.size();) {
    const size_t end = resource_end(request, i);
    n += len_field_size(rq::kResources, resource_message_size(request, i, end));
    i = end;
  }
  return n;
}

void encode(const EncodedRequest& request, std::string& out) {
  out.clear();
  out.reserve(encoded_size(request));  // one allocation, not a growing copy of a request of 4 MiB
  otlp_wire::Out w(out);
  // Every size is known: each length is written before its content, in one pass.
  for (size_t i = 0; i < request.groups.size();) {
    const size_t end = resource_end(request, i);
    const ResolvedResource& r = *request.groups[i].scope->resource;
    w.tag(rq::kResources, wire::kLen);
    w.varint(resource_message_size(request, i, end));
    w.bytes_field(rq::kResource, r.encoded);
    for (size_t j = i; j < end; ++j) {
      const EncodedGroup& g = request.groups[j];
      w.tag(rq::kScopes, wire::kLen);
      w.varint(scope_message_size(g));
      w.bytes_field(rq::kScope, g.scope->encoded);
      w.raw(g.items);
      w.opt_bytes(rq::kScopeSchemaUrl, g.scope->schema_url);
    }
    w.opt_bytes(rq::kSchemaUrl, r.schema_url);
    i = end;
  }
}

}  // namespace otlp_mmap::collector

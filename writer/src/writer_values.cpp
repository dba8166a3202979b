#include "writer_values.hpp"

#include "writer_internal.hpp"

namespace otlp_mmap::writer_detail {

using K = AnyValueView::Kind;

std::string_view ValueCap::text(std::string_view s) {
  if (s.size() <= limit_) return s;
  ++cut_;
  return utf8_prefix(s, limit_);
}

bool ValueCap::too_long(const AnyValueView& v) const {
  switch (v.kind) {
    case K::kString:
    case K::kBytes: return v.bytes.size() > limit_;
    case K::kArray:
      for (const auto& e : v.array)
        if (too_long(e)) return true;
      return false;
    case K::kKvList: return too_long(v.kvlist);
    default: return false;
  }
}

bool ValueCap::too_long(std::span<const KeyValueView> kvs) const {
  for (const auto& kv : kvs)
    if (too_long(kv.value)) return true;
  return false;
}

AnyValueView ValueCap::capped(const AnyValueView& v) {
  AnyValueView c = v;
  switch (v.kind) {
    case K::kString: c.bytes = text(v.bytes); break;
    case K::kBytes:
      if (v.bytes.size() > limit_) {
        ++cut_;
        c.bytes = v.bytes.substr(0, limit_);
      }
      break;
    case K::kArray:
      if (too_long(v)) {
        auto& elems = keep<AnyValueView>();
        for (const auto& e : v.array) elems.push_back(capped(e));
        c.array = elems;
      }
      break;
    case K::kKvList: c.kvlist = attributes(v.kvlist); break;
    default: break;
  }
  return c;
}

const AnyValueView* ValueCap::value(const AnyValueView* v) {
  if (v == nullptr || !too_long(*v)) return v;
  auto& one = keep<AnyValueView>();
  one.push_back(capped(*v));
  return one.data();
}

std::span<const KeyValueView> ValueCap::attributes(std::span<const KeyValueView> in) {
  if (!too_long(in)) return in;
  auto& out = keep<KeyValueView>();
  for (const auto& kv : in) out.push_back({kv.key_ref, too_long(kv.value) ? capped(kv.value) : kv.value});
  return out;
}

std::span<const LinkView> ValueCap::links(std::span<const LinkView> in) {
  bool any = false;
  for (const auto& l : in) any = any || l.trace_state.size() > limit_ || too_long(l.attributes);
  if (!any) return in;
  auto& out = keep<LinkView>();
  for (const auto& l : in) {
    LinkView c = l;
    c.trace_state = text(l.trace_state);
    c.attributes = attributes(l.attributes);
    out.push_back(c);
  }
  return out;
}

void ValueCap::apply(EventView& e) {
  e.severity_text = text(e.severity_text);
  e.body = value(e.body);
  e.attributes = attributes(e.attributes);
}

void ValueCap::apply(MeasurementView& m) { m.attributes = attributes(m.attributes); }

void ValueCap::apply(SpanEventView& s) {
  s.name = text(s.name);
  s.trace_state = text(s.trace_state);
  s.status_message = text(s.status_message);
  s.attributes = attributes(s.attributes);
  s.links = links(s.links);
}

}  // namespace otlp_mmap::writer_detail

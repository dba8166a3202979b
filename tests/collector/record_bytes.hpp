// Records built as structs (SpanEvent, Event) back to their bytes, and decoded as the views
// the collector reads: tests build records the readable way; the collector reads them as
// views of bytes, as it reads the ring.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <span>
#include <string>
#include <vector>

#include "otlp_mmap/messages.hpp"
#include "otlp_mmap/record_view.hpp"

namespace otlp_mmap::collector::pipeline_test {

class RecordBytes {
 public:
  std::string operator()(const SpanEvent& r) {
    SpanEventView v;
    v.type = r.type;
    v.trace_id = r.trace_id;
    v.span_id = r.span_id;
    v.scope_ref = r.scope_ref;
    v.parent_span_id = r.parent_span_id;
    v.kind = r.kind;
    v.start_time_unix_nano = r.start_time_unix_nano;
    v.flags = r.flags;
    v.trace_state = r.trace_state;
    v.name = r.name;
    v.attributes = views(r.attributes);
    v.end_time_unix_nano = r.end_time_unix_nano;
    v.has_status = r.has_status;
    v.status_message = r.status_message;
    v.status_code = r.status_code;
    v.dropped_attributes_count = r.dropped_attributes_count;
    v.dropped_events_count = r.dropped_events_count;
    v.dropped_links_count = r.dropped_links_count;
    std::vector<LinkView>& links = links_.emplace_back();
    for (const Link& l : r.links) {
      LinkView lv;
      lv.trace_id = l.trace_id;
      lv.span_id = l.span_id;
      lv.trace_state = l.trace_state;
      lv.attributes = views(l.attributes);
      lv.dropped_attributes_count = l.dropped_attributes_count;
      lv.flags = l.flags;
      links.push_back(lv);
    }
    v.links = links;
    v.event_time_unix_nano = r.event_time_unix_nano;
    return encode_to_string(v);
  }

  std::string operator()(const Event& e) {
    EventView v;
    v.scope_ref = e.scope_ref;
    v.time_unix_nano = e.time_unix_nano;
    v.severity_number = e.severity_number;
    v.severity_text = e.severity_text;
    AnyValueView body;
    if (e.body) {
      body = view(*e.body);
      v.body = &body;
    }
    v.event_name_ref = e.event_name_ref;
    if (e.span_context) {
      v.span_context.present = true;
      v.span_context.trace_id = e.span_context->trace_id;
      v.span_context.span_id = e.span_context->span_id;
      v.span_context.flags = e.span_context->flags;
    }
    v.attributes = views(e.attributes);
    v.observed_time_unix_nano = e.observed_time_unix_nano;
    v.dropped_attributes_count = e.dropped_attributes_count;
    return encode_to_string(v);
  }

 private:
  AnyValueView view(const AnyValue& a) {
    AnyValueView v;
    v.kind = a.kind;
    v.bool_value = a.bool_value;
    v.int_value = a.int_value;
    v.double_value = a.double_value;
    v.bytes = a.bytes;
    if (a.kind == AnyValue::Kind::kArray) {
      std::vector<AnyValueView>& arr = arrays_.emplace_back();
      for (const AnyValue& x : a.array) arr.push_back(view(x));
      v.array = arr;
    }
    if (a.kind == AnyValue::Kind::kKvList) v.kvlist = views(a.kvlist);
    return v;
  }
  std::span<const KeyValueView> views(const std::vector<KeyValueRef>& kvs) {
    std::vector<KeyValueView>& out = lists_.emplace_back();
    for (const KeyValueRef& kv : kvs) out.push_back(KeyValueView{kv.key_ref, view(kv.value)});
    return out;
  }

  // Storage of the nested views (deques: what was handed out stays where it is).
  std::deque<std::vector<AnyValueView>> arrays_;
  std::deque<std::vector<KeyValueView>> lists_;
  std::deque<std::vector<LinkView>> links_;
};

// A struct record as the collector sees it: a view of its bytes, valid until the next call.
class RecordViews {
 public:
  const SpanRecordView& operator()(const SpanEvent& r) {
    bytes_ = RecordBytes()(r);
    EXPECT_TRUE(decode(bytes_, span_));
    return span_;
  }
  const EventRecordView& operator()(const Event& e) {
    bytes_ = RecordBytes()(e);
    EXPECT_TRUE(decode(bytes_, event_));
    return event_;
  }

 private:
  std::string bytes_;
  SpanRecordView span_;
  EventRecordView event_;
};

}  // namespace otlp_mmap::collector::pipeline_test

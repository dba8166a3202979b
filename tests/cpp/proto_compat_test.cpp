// Our hand-written encoder must produce exactly the bytes libprotobuf produces for the
// same message, and libprotobuf must parse ours back to the same message.
#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "mmap.pb.h"
#include "otlp_mmap/messages.hpp"

namespace otlp_mmap {
namespace {

namespace pb = opentelemetry::proto::mmap::v1;

// Random content built twice: as our views (with stable storage) and as protobuf objects.
class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  std::string_view text(size_t max_len = 20) {
    size_t n = rng_() % (max_len + 1);
    std::string s;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>('a' + rng_() % 26);
    return strings_.emplace_back(std::move(s));
  }
  std::string_view blob(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>(rng_());
    return strings_.emplace_back(std::move(s));
  }
  int64_t i64() {
    switch (rng_() % 4) {
      case 0: return 0;
      case 1: return static_cast<int64_t>(rng_() % 300);
      case 2: return -static_cast<int64_t>(rng_() % 300);
      default: return static_cast<int64_t>(rng_());
    }
  }
  uint64_t u64() { return rng_() % 3 == 0 ? 0 : rng_(); }
  uint32_t u32() { return rng_() % 3 == 0 ? 0 : static_cast<uint32_t>(rng_()); }
  bool coin() { return rng_() % 2 == 0; }

  AnyValueView any(pb::AnyValue* out, int depth) {
    int kind = static_cast<int>(rng_() % (depth < 2 ? 9 : 6));
    switch (kind) {
      case 0: return AnyValueView{};
      case 1: {
        auto s = text();
        out->set_string_value(std::string(s));
        return AnyValueView::string(s);
      }
      case 2: {
        bool b = coin();
        out->set_bool_value(b);
        return AnyValueView::boolean(b);
      }
      case 3: {
        int64_t v = i64();
        out->set_int_value(v);
        return AnyValueView::integer(v);
      }
      case 4: {
        double d = static_cast<double>(i64()) / 7.0;
        out->set_double_value(d);
        return AnyValueView::real(d);
      }
      case 5: {
        auto s = blob(rng_() % 10);
        out->set_bytes_value(std::string(s));
        return AnyValueView::blob(s);
      }
      case 6: {
        auto& vec = arrays_.emplace_back();
        auto* arr = out->mutable_array_value();
        size_t n = rng_() % 4;
        for (size_t i = 0; i < n; ++i) vec.push_back(any(arr->add_values(), depth + 1));
        AnyValueView v;
        v.kind = AnyValueView::Kind::kArray;
        v.array = vec;
        return v;
      }
      case 7: {
        AnyValueView v;
        v.kind = AnyValueView::Kind::kKvList;
        v.kvlist = attributes(out->mutable_kvlist_value()->mutable_values(), depth + 1);
        return v;
      }
      default: {
        int64_t ref = i64();
        out->set_value_ref(ref);
        AnyValueView v;
        v.kind = AnyValueView::Kind::kValueRef;
        v.int_value = ref;
        return v;
      }
    }
  }

  std::span<const KeyValueView> attributes(google::protobuf::RepeatedPtrField<pb::KeyValueRef>* out, int depth = 0) {
    auto& vec = kvs_.emplace_back();
    size_t n = rng_() % 4;
    for (size_t i = 0; i < n; ++i) {
      auto* kv = out->Add();
      int64_t key = i64();
      kv->set_key_ref(key);
      vec.push_back({key, any(kv->mutable_value(), depth)});
    }
    return vec;
  }

  SpanContextView span_context(pb::SpanContext* out) {
    auto t = blob(coin() ? 16 : 0), s = blob(coin() ? 8 : 0);
    uint32_t flags = u32();
    out->set_trace_id(std::string(t));
    out->set_span_id(std::string(s));
    out->set_flags(flags);
    return {true, t, s, flags};
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::deque<std::string> strings_;
  std::deque<std::vector<AnyValueView>> arrays_;
  std::deque<std::vector<KeyValueView>> kvs_;
};

constexpr int kIterations = 3000;

TEST(ProtoCompat, EventBytesMatchLibprotobuf) {
  for (int i = 0; i < kIterations; ++i) {
    Gen g(static_cast<uint64_t>(i));
    pb::Event p;
    EventView e;
    e.scope_ref = g.i64();
    p.set_scope_ref(e.scope_ref);
    e.time_unix_nano = g.u64();
    p.set_time_unix_nano(e.time_unix_nano);
    e.severity_number = static_cast<int32_t>(g.rng()() % 25);
    p.set_severity_number(static_cast<pb::SeverityNumber>(e.severity_number));
    e.severity_text = g.text();
    p.set_severity_text(std::string(e.severity_text));
    AnyValueView body;
    if (g.coin()) {
      body = g.any(p.mutable_body(), 0);
      e.body = &body;
    }
    e.event_name_ref = g.i64();
    p.set_event_name_ref(e.event_name_ref);
    if (g.coin()) e.span_context = g.span_context(p.mutable_span_context());
    e.attributes = g.attributes(p.mutable_attributes());
    e.observed_time_unix_nano = g.u64();
    p.set_observed_time_unix_nano(e.observed_time_unix_nano);
    e.dropped_attributes_count = g.u32();
    p.set_dropped_attributes_count(e.dropped_attributes_count);
    const std::string ours = encode_to_string(e);
    ASSERT_EQ(ours, p.SerializeAsString()) << "seed " << i;
    pb::Event back;
    ASSERT_TRUE(back.ParseFromString(ours));
    Event decoded;
    ASSERT_TRUE(decode(p.SerializeAsString(), decoded));
  }
}

TEST(ProtoCompat, MeasurementBytesMatchLibprotobuf) {
  for (int i = 0; i < kIterations; ++i) {
    Gen g(static_cast<uint64_t>(i) + 100000);
    pb::Measurement p;
    MeasurementView m;
    m.metric_ref = g.i64();
    p.set_metric_ref(m.metric_ref);
    m.attributes = g.attributes(p.mutable_attributes());
    m.time_unix_nano = g.u64();
    p.set_time_unix_nano(m.time_unix_nano);
    m.is_double = g.coin();
    if (m.is_double) {
      m.as_double = static_cast<double>(g.i64()) / 3;
      p.set_as_double(m.as_double);
    } else {
      m.as_long = g.i64();
      p.set_as_long(m.as_long);
    }
    if (g.coin()) m.span_context = g.span_context(p.mutable_span_context());
    ASSERT_EQ(encode_to_string(m), p.SerializeAsString()) << "seed " << i;
  }
}

TEST(ProtoCompat, SpanEventBytesMatchLibprotobuf) {
  for (int i = 0; i < kIterations; ++i) {
    Gen g(static_cast<uint64_t>(i) + 200000);
    pb::SpanEvent p;
    SpanEventView s;
    s.trace_id = g.blob(16);
    s.span_id = g.blob(8);
    p.set_trace_id(std::string(s.trace_id));
    p.set_span_id(std::string(s.span_id));
    s.scope_ref = g.i64();
    p.set_scope_ref(s.scope_ref);
    std::vector<LinkView> links;
    switch (i % 6) {
      case 0: {
        s.type = SpanEventType::kStart;
        auto* st = p.mutable_start();
        s.parent_span_id = g.blob(g.coin() ? 8 : 0);
        st->set_parent_span_id(std::string(s.parent_span_id));
        s.name = g.text();
        st->set_name(std::string(s.name));
        s.kind = static_cast<int32_t>(g.rng()() % 6);
        st->set_kind(static_cast<pb::SpanEvent::SpanKind>(s.kind));
        s.start_time_unix_nano = g.u64();
        st->set_start_time_unix_nano(s.start_time_unix_nano);
        s.attributes = g.attributes(st->mutable_attributes());
        s.flags = g.u32();
        st->set_flags(s.flags);
        s.trace_state = g.text();
        st->set_trace_state(std::string(s.trace_state));
        break;
      }
      case 1: {
        s.type = SpanEventType::kEnd;
        auto* en = p.mutable_end();
        s.end_time_unix_nano = g.u64();
        en->set_end_time_unix_nano(s.end_time_unix_nano);
        s.has_status = g.coin();
        if (s.has_status) {
          s.status_message = g.text();
          s.status_code = static_cast<int32_t>(g.rng()() % 3);
          en->mutable_status()->set_message(std::string(s.status_message));
          en->mutable_status()->set_code(static_cast<pb::Status::StatusCode>(s.status_code));
        }
        s.dropped_attributes_count = g.u32();
        s.dropped_events_count = g.u32();
        s.dropped_links_count = g.u32();
        en->set_dropped_attributes_count(s.dropped_attributes_count);
        en->set_dropped_events_count(s.dropped_events_count);
        en->set_dropped_links_count(s.dropped_links_count);
        break;
      }
      case 2:
        s.type = SpanEventType::kName;
        s.name = g.text();
        p.mutable_name()->set_name(std::string(s.name));
        break;
      case 3:
        s.type = SpanEventType::kAttributes;
        s.attributes = g.attributes(p.mutable_attributes()->mutable_attributes());
        break;
      case 4: {
        s.type = SpanEventType::kLink;
        auto* l = p.mutable_link();
        size_t n = g.rng()() % 3;
        for (size_t k = 0; k < n; ++k) {
          auto* pl = l->add_links();
          LinkView lv;
          lv.trace_id = g.blob(16);
          lv.span_id = g.blob(8);
          lv.trace_state = g.text();
          lv.attributes = g.attributes(pl->mutable_attributes());
          lv.dropped_attributes_count = g.u32();
          lv.flags = g.u32();
          pl->set_trace_id(std::string(lv.trace_id));
          pl->set_span_id(std::string(lv.span_id));
          pl->set_trace_state(std::string(lv.trace_state));
          pl->set_dropped_attributes_count(lv.dropped_attributes_count);
          pl->set_flags(lv.flags);
          links.push_back(lv);
        }
        s.links = links;
        break;
      }
      default: {
        s.type = SpanEventType::kAddEvent;
        auto* ev = p.mutable_add_event();
        s.event_time_unix_nano = g.u64();
        s.name = g.text();
        s.attributes = g.attributes(ev->mutable_attributes());
        s.dropped_attributes_count = g.u32();
        ev->set_time_unix_nano(s.event_time_unix_nano);
        ev->set_name(std::string(s.name));
        ev->set_dropped_attributes_count(s.dropped_attributes_count);
        break;
      }
    }
    ASSERT_EQ(encode_to_string(s), p.SerializeAsString()) << "seed " << i << " type " << i % 6;
  }
}

TEST(ProtoCompat, DictionaryMessagesMatchLibprotobuf) {
  for (int i = 0; i < kIterations; ++i) {
    Gen g(static_cast<uint64_t>(i) + 300000);
    pb::Resource pr;
    ResourceView r;
    r.attributes = g.attributes(pr.mutable_attributes());
    r.dropped_attributes_count = g.u32();
    r.schema_url = g.text();
    pr.set_dropped_attributes_count(r.dropped_attributes_count);
    pr.set_schema_url(std::string(r.schema_url));
    ASSERT_EQ(encode_to_string(r), pr.SerializeAsString());

    pb::InstrumentationScope ps;
    ScopeView s{g.i64(), g.i64(), {}, g.u32(), g.i64(), g.text()};
    s.attributes = g.attributes(ps.mutable_attributes());
    ps.set_name_ref(s.name_ref);
    ps.set_version_ref(s.version_ref);
    ps.set_dropped_attributes_count(s.dropped_attributes_count);
    ps.set_resource_ref(s.resource_ref);
    ps.set_schema_url(std::string(s.schema_url));
    ASSERT_EQ(encode_to_string(s), ps.SerializeAsString());

    pb::MetricRef pm;
    std::vector<double> bounds;
    for (size_t k = 0; k < g.rng()() % 5; ++k) bounds.push_back(static_cast<double>(g.i64()));
    MetricRefView m{g.text(),
                    g.text(),
                    g.text(),
                    g.i64(),
                    static_cast<AggregationKind>(1 + i % 4),
                    static_cast<int32_t>(g.rng()() % 3),
                    g.coin(),
                    bounds,
                    g.i64(),
                    g.i64()};
    pm.set_name(std::string(m.name));
    pm.set_description(std::string(m.description));
    pm.set_unit(std::string(m.unit));
    pm.set_instrumentation_scope_ref(m.scope_ref);
    auto temporality = static_cast<pb::AggregationTemporality>(m.temporality);
    switch (m.aggregation) {
      case AggregationKind::kGauge: pm.mutable_gauge(); break;
      case AggregationKind::kSum:
        pm.mutable_sum()->set_aggregation_temporality(temporality);
        pm.mutable_sum()->set_is_monotonic(m.is_monotonic);
        break;
      case AggregationKind::kHistogram:
        pm.mutable_histogram()->set_aggregation_temporality(temporality);
        for (double d : bounds) pm.mutable_histogram()->add_bucket_boundaries(d);
        break;
      default:
        pm.mutable_exp_hist()->set_aggregation_temporality(temporality);
        pm.mutable_exp_hist()->set_max_buckets(m.max_buckets);
        pm.mutable_exp_hist()->set_max_scale(m.max_scale);
        break;
    }
    ASSERT_EQ(encode_to_string(m), pm.SerializeAsString()) << "seed " << i;
    MetricRef back;
    ASSERT_TRUE(decode(pm.SerializeAsString(), back));
    EXPECT_EQ(back.bucket_boundaries.size(), m.aggregation == AggregationKind::kHistogram ? bounds.size() : 0);
  }
}

}  // namespace
}  // namespace otlp_mmap

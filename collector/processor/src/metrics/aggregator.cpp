// The metric aggregation behind otlp_mmap/collector/metrics.hpp.
//
// Choices where the specification leaves room (each one tested in tests/collector/):
//  - A stream is identified by its content: canonical resource (attributes sorted by key, last
//    duplicate wins) and resource schema URL, canonical scope and its schema URL, the metric's
//    exact name (not case-folded), description, unit, aggregation kind and parameters after
//    defaults are applied, and, for sums, monotonicity and the measurements' temporality.
//  - Sums: DELTA measurements (and UNSPECIFIED, taken as DELTA) are increments and are added;
//    CUMULATIVE measurements are totals and the latest (by time) replaces the previous one
//    (docs/FORMAT.md §9.10). Integers stay integers until a double is seen for the series (or
//    an integer total would overflow). Monotonic sums refuse negative values; sums and
//    histograms refuse NaN and infinities.
//  - Gauges keep the latest value by measurement time (equal times: the later record wins).
//  - Export temporality follows the OTLP exporter's temporality preference table; gauges are
//    exported like cumulative streams (every series, start = the series' first measurement).
//  - Exemplars (filter trace_based: sampled span contexts only): the latest per point, and for
//    explicit-bucket histograms the latest per bucket. Every point, delta or cumulative, reports
//    the exemplars of its own collection interval only (as the official SDKs' reservoirs, which
//    reset at each collection): a series not measured since the last export has none.
//  - A delta-exported series with no measurement during an interval is not exported and is
//    forgotten (freeing its cardinality slot), except async counters exported as deltas, whose
//    last total is needed for the next delta.
//  - Bounded memory: besides the per-stream cardinality limit, a global cap (max_series) on the
//    regular series of all streams; beyond either, a new attribute set goes to the stream's
//    overflow series, and the stream's first overflow is logged once. std::bad_alloc is caught
//    where one series is added (that measurement is lost and counted) and where one stream is
//    collected (that stream is left out of this collection and keeps its state for the next):
//    the other series and streams are unaffected. end_interval allocates nothing, so a stream
//    that was exported is always reset.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <unordered_map>

#include "attributes.hpp"
#include "exponential_histogram.hpp"
#include "otlp_mmap/collector/processor/metrics_aggregator.hpp"
#include "series_index.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace metrics_detail;
namespace pm = opentelemetry::proto::metrics::v1;
using google::protobuf::RepeatedPtrField;

constexpr size_t kMaxBoundaries = 4096;
constexpr std::array<double, 15> kDefaultBoundaries = {0,   5,   10,   25,   50,   75,   100,  250,
                                                       500, 750, 1000, 2500, 5000, 7500, 10000};
constexpr const char* kOverflowKey = "otel.metric.overflow";

enum class Kind : uint8_t { kGauge, kSum, kHistogram, kExpHistogram };

struct Number {
  bool is_double = false;
  int64_t i = 0;
  double d = 0;
  double as_double() const { return is_double ? d : static_cast<double>(i); }
};

struct Exemplar {
  bool set = false;
  Number value;
  uint64_t time = 0;
  std::array<char, 16> trace_id{};
  std::array<char, 8> span_id{};
};

struct Series {
  std::vector<KeyValue> attributes;  // canonical
  std::string sort_key;
  uint64_t hash = 0;
  bool overflow = false;
  bool touched = false;     // measured since the last collection
  uint64_t start_time = 0;  // first measurement; fixed at the first export
  uint64_t last_time = 0;   // time of `value` (gauges, cumulative measurements)
  Number value;             // sum, latest total, or gauge value
  Number exported;          // cumulative measurements exported as delta: the total last exported
  // Explicit-bucket histogram.
  uint64_t count = 0;
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  std::vector<uint64_t> buckets;
  std::unique_ptr<ExpHistogram> exp;
  Exemplar exemplar;                       // all but explicit-bucket histograms
  std::vector<Exemplar> bucket_exemplars;  // explicit-bucket histograms, one per bucket
};

struct ResourceGroup {
  std::string key;
  otlp::Resource resource;
  std::string schema_url;
};

struct ScopeGroup {
  std::string key;
  otlp::InstrumentationScope scope;
  std::string schema_url;
};

struct Stream {
  const ResourceGroup* resource = nullptr;
  const ScopeGroup* scope = nullptr;
  std::string key;
  std::string name, description, unit;
  Kind kind = Kind::kGauge;
  bool monotonic = false;
  bool cumulative_input = false;  // measurements are totals
  bool delta_export = false;
  std::vector<double> boundaries;
  int max_size = 0;
  int max_scale = 0;
  uint64_t last_collect = 0;
  std::vector<Series> series;
  SeriesIndex index;
  uint32_t overflow = SeriesIndex::kNone;
  bool logged_limit = false;  // cardinality-limit overflow logged
  bool logged_cap = false;    // max_series overflow logged
};

void put(std::string& key, std::string_view bytes) {
  auto n = static_cast<uint32_t>(bytes.size());
  key.append(reinterpret_cast<const char*>(&n), sizeof n);
  key.append(bytes);
}
template <class T>
void put_pod(std::string& key, T v) {
  key.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Applies defaults and checks; false when the stream cannot have this aggregation.
bool configure(const MetricRef& m, TemporalityPreference preference, Stream& s) {
  switch (m.aggregation) {
    case AggregationKind::kGauge: s.kind = Kind::kGauge; break;
    case AggregationKind::kSum:
      s.kind = Kind::kSum;
      s.monotonic = m.is_monotonic;
      if (m.temporality == kCumulative) {
        s.cumulative_input = true;
      } else if (m.temporality != kDelta && m.temporality != kTemporalityUnspecified) {
        return false;
      }
      break;
    case AggregationKind::kHistogram:
      s.kind = Kind::kHistogram;
      if (m.bucket_boundaries.empty()) {
        s.boundaries.assign(kDefaultBoundaries.begin(), kDefaultBoundaries.end());
      } else {
        for (double b : m.bucket_boundaries)
          if (std::isfinite(b)) s.boundaries.push_back(b);
        std::sort(s.boundaries.begin(), s.boundaries.end());
        s.boundaries.erase(std::unique(s.boundaries.begin(), s.boundaries.end()), s.boundaries.end());
        if (s.boundaries.size() > kMaxBoundaries) return false;
      }
      break;
    case AggregationKind::kExpHistogram:
      if (m.max_buckets < 0) return false;
      s.kind = Kind::kExpHistogram;
      s.max_size = m.max_buckets == 0 ? kExpDefaultMaxSize
                                      : static_cast<int>(std::clamp<int64_t>(m.max_buckets, 2, kExpMaxMaxSize));
      s.max_scale = m.max_scale == 0 ? kExpMaxScale
                                     : static_cast<int>(std::clamp<int64_t>(m.max_scale, kExpMinScale, kExpMaxScale));
      break;
    default: return false;
  }
  // OTLP exporter temporality preference, by instrument kind:
  //                  counter  async counter  up-down (sync/async)  histogram
  //   cumulative     C        C              C                     C
  //   delta          D        D              C                     D
  //   lowmemory      D        C              C                     D
  switch (s.kind) {
    case Kind::kGauge: s.delta_export = false; break;
    case Kind::kSum:
      s.delta_export = s.monotonic && (preference == TemporalityPreference::kDelta ||
                                       (preference == TemporalityPreference::kLowMemory && !s.cumulative_input));
      break;
    case Kind::kHistogram:
    case Kind::kExpHistogram: s.delta_export = preference != TemporalityPreference::kCumulative; break;
  }
  return true;
}

std::string stream_key(const ResourceGroup& r, const ScopeGroup& sc, const Stream& s) {
  std::string key;
  put(key, r.key);
  put(key, sc.key);
  put(key, s.name);
  put(key, s.description);
  put(key, s.unit);
  put_pod(key, static_cast<uint8_t>(s.kind));
  put_pod(key, static_cast<uint8_t>(s.monotonic));
  put_pod(key, static_cast<uint8_t>(s.cumulative_input));
  put_pod(key, static_cast<uint32_t>(s.boundaries.size()));
  for (double b : s.boundaries) put_pod(key, b);
  put_pod(key, s.max_size);
  put_pod(key, s.max_scale);
  return key;
}

void add(Number& acc, const Number& v) {
  if (!acc.is_double && !v.is_double) {
    int64_t t = 0;
    if (!__builtin_add_overflow(acc.i, v.i, &t)) {
      acc.i = t;
      return;
    }
  }
  if (!acc.is_double) {
    acc.d = static_cast<double>(acc.i);
    acc.is_double = true;
  }
  acc.d += v.as_double();
}

// Delta between two successive totals; a smaller total on a monotonic sum is a restart.
Number difference(const Number& current, const Number& previous, bool monotonic) {
  Number d;
  if (!current.is_double && !previous.is_double) {
    if (monotonic && current.i < previous.i) {
      d.i = current.i;
      return d;
    }
    if (!__builtin_sub_overflow(current.i, previous.i, &d.i)) return d;
  }
  const double c = current.as_double();
  const double p = previous.as_double();
  d.is_double = true;
  d.d = monotonic && c < p ? c : c - p;
  return d;
}

bool sampled(const SpanContext* c) {
  if (c == nullptr || (c->flags & 1u) == 0 || c->trace_id.size() != 16 || c->span_id.size() != 8) return false;
  auto nonzero = [](const std::string& s) { return s.find_first_not_of('\0') != std::string::npos; };
  return nonzero(c->trace_id) && nonzero(c->span_id);
}

void keep(Exemplar& e, const Number& v, uint64_t time, const SpanContext& c) {
  e.set = true;
  e.value = v;
  e.time = time;
  std::memcpy(e.trace_id.data(), c.trace_id.data(), e.trace_id.size());
  std::memcpy(e.span_id.data(), c.span_id.data(), e.span_id.size());
}

void clear_exemplars(Series& r) {
  r.exemplar.set = false;
  for (Exemplar& e : r.bucket_exemplars) e.set = false;
}

void reset_interval(Stream& s, Series& r) {
  clear_exemplars(r);
  switch (s.kind) {
    case Kind::kGauge: break;
    case Kind::kSum:
      if (s.cumulative_input) {
        r.exported = r.value;
      } else {
        r.value.i = 0;
        r.value.d = 0;
      }
      break;
    case Kind::kHistogram:
      r.count = 0;
      r.sum = 0;
      r.min = std::numeric_limits<double>::infinity();
      r.max = -std::numeric_limits<double>::infinity();
      std::fill(r.buckets.begin(), r.buckets.end(), 0);
      break;
    case Kind::kExpHistogram: r.exp->reset(); break;
  }
}

template <class Point>
void set_value(Point* p, const Number& n) {
  if (n.is_double) {
    p->set_as_double(n.d);
  } else {
    p->set_as_int(n.i);
  }
}

void add_exemplar(const Exemplar& e, uint64_t now, RepeatedPtrField<pm::Exemplar>* out) {
  if (!e.set) return;
  pm::Exemplar* x = out->Add();
  x->set_time_unix_nano(e.time != 0 ? e.time : now);
  set_value(x, e.value);
  x->set_span_id(e.span_id.data(), e.span_id.size());
  x->set_trace_id(e.trace_id.data(), e.trace_id.size());
}

template <class Point>
void set_common(const Series& r, uint64_t start, uint64_t now, Point* p) {
  p->mutable_attributes()->Reserve(static_cast<int>(r.attributes.size()));
  for (const KeyValue& kv : r.attributes) *p->add_attributes() = kv;
  p->set_start_time_unix_nano(start);
  p->set_time_unix_nano(now);
}

}  // namespace

struct MetricsAggregator::Impl {
  MetricsOptions options;
  MetricsStats stats;
  std::vector<std::unique_ptr<Stream>> streams;
  std::unordered_map<std::string, int64_t> stream_ids;
  std::unordered_map<std::string, std::unique_ptr<ResourceGroup>> resources;
  std::unordered_map<std::string, std::unique_ptr<ScopeGroup>> scopes;
  std::vector<size_t> collect_order;  // streams in output order
  bool order_dirty = false;
  std::vector<uint32_t> attr_order;  // scratch of record()
  std::vector<uint64_t> scratch;     // scratch of exponential histograms
  std::vector<uint32_t> points;      // scratch of collect()
  uint64_t regular_series = 0;       // all streams, overflow series excluded

  // Canonical resource and scope of a definition, and their identity bytes.
  static ResourceGroup resource_of(const MetricStreamDefinition& d) {
    ResourceGroup g{{}, d.resource, d.resource_schema_url};
    canonicalize(*g.resource.mutable_attributes());
    put(g.key, g.resource.SerializeAsString());
    put(g.key, g.schema_url);
    return g;
  }

  static ScopeGroup scope_of(const MetricStreamDefinition& d) {
    ScopeGroup g{{}, d.scope, d.scope_schema_url};
    canonicalize(*g.scope.mutable_attributes());
    put(g.key, g.scope.SerializeAsString());
    put(g.key, g.schema_url);
    return g;
  }

  template <class Group>
  static const Group* intern(std::unordered_map<std::string, std::unique_ptr<Group>>& groups, Group&& g) {
    auto& slot = groups[g.key];
    if (!slot) slot = std::make_unique<Group>(std::move(g));
    return slot.get();
  }

  // A new series of `s`, not yet in it (nothing changes if this throws).
  Series make_series(const Stream& s, int64_t id, uint64_t time) {
    if (options.allocation_hook) options.allocation_hook(id);
    Series r;
    r.start_time = time;
    if (s.kind == Kind::kHistogram) r.buckets.assign(s.boundaries.size() + 1, 0);
    if (s.kind == Kind::kExpHistogram) r.exp = std::make_unique<ExpHistogram>(s.max_scale, s.max_size);
    return r;
  }

  void log_once(Stream& s, bool cap) {
    bool& logged = cap ? s.logged_cap : s.logged_limit;
    if (logged) return;
    logged = true;
    std::string m = "otlp-mmap: metric \"" + s.name + "\": ";
    if (cap) {
      m += std::to_string(options.max_series) + " series in all streams (--max-metric-series)";
    } else {
      m += std::to_string(options.cardinality_limit) + " attribute sets (--cardinality-limit)";
    }
    m += "; measurements with new attribute sets go to the series otel.metric.overflow=true";
    if (options.log) {
      options.log(m);
    } else {
      std::cerr << m << std::endl;
    }
  }

  Series& overflow_series(Stream& s, int64_t id, uint64_t time) {
    if (s.overflow != SeriesIndex::kNone) return s.series[s.overflow];
    Series r = make_series(s, id, time);
    r.overflow = true;
    KeyValue& kv = r.attributes.emplace_back();
    kv.set_key(kOverflowKey);
    kv.mutable_value()->set_bool_value(true);
    r.sort_key = sort_key(r.attributes);
    s.series.push_back(std::move(r));  // Series moves without throwing: all or nothing
    s.overflow = static_cast<uint32_t>(s.series.size() - 1);
    ++stats.series;
    return s.series.back();
  }

  // The series of `attrs` in `s`, created if needed. Throws std::bad_alloc (with `s`
  // unchanged) when it cannot be created.
  Series& series_for(Stream& s, int64_t id, std::span<const KeyValue> attrs, uint64_t time) {
    canonical_order(attrs, attr_order);
    const uint64_t hash = hash_attributes(attrs, attr_order);
    const uint32_t found =
        s.index.find(hash, [&](uint32_t i) { return equal_attributes(s.series[i].attributes, attrs, attr_order); });
    if (found != SeriesIndex::kNone) return s.series[found];
    // The limit counts the overflow series: limit - 1 regular series at most.
    const size_t regular = s.series.size() - (s.overflow != SeriesIndex::kNone ? 1 : 0);
    const bool at_limit = regular + 1 >= options.cardinality_limit;
    const bool at_cap = !at_limit && regular_series >= options.max_series;
    if (at_limit || at_cap) {
      Series& r = overflow_series(s, id, time);
      ++stats.overflowed;
      if (at_cap) ++stats.overflowed_max_series;
      log_once(s, at_cap);
      return r;
    }
    const auto number = static_cast<uint32_t>(s.series.size());
    Series r = make_series(s, id, time);
    r.attributes.reserve(attr_order.size());
    for (uint32_t i : attr_order) r.attributes.push_back(attrs[i]);
    r.hash = hash;
    r.sort_key = sort_key(r.attributes);
    s.index.reserve(static_cast<size_t>(regular) + 1);
    s.series.push_back(std::move(r));
    s.index.insert(hash, number);  // no allocation after reserve
    ++regular_series;
    ++stats.series;
    return s.series.back();
  }

  // Aggregates `v` into `r`; returns the bucket of explicit-bucket histograms (else 0).
  size_t aggregate(Stream& s, Series& r, uint64_t time, const Number& v) {
    r.touched = true;
    switch (s.kind) {
      case Kind::kGauge:
      case Kind::kSum:
        if (s.kind == Kind::kSum && !s.cumulative_input) {
          add(r.value, v);
        } else if (time == 0 || time >= r.last_time) {  // latest by time; ties: the later record
          const bool as_double = v.is_double || (s.kind == Kind::kSum && r.value.is_double);
          r.value.is_double = as_double;
          r.value.i = v.i;
          r.value.d = v.as_double();
          if (time != 0) r.last_time = time;
        }
        return 0;
      case Kind::kHistogram: {
        const double x = v.as_double();
        ++r.count;
        r.sum += x;
        r.min = std::min(r.min, x);
        r.max = std::max(r.max, x);
        // Bucket i holds (bounds[i-1], bounds[i]]: the first bound >= x.
        const auto bucket =
            static_cast<size_t>(std::lower_bound(s.boundaries.begin(), s.boundaries.end(), x) - s.boundaries.begin());
        ++r.buckets[bucket];
        return bucket;
      }
      case Kind::kExpHistogram: r.exp->record(v.as_double(), scratch); return 0;
    }
    return 0;
  }

  uint64_t start_time(const Stream& s, Series& r, uint64_t now) {
    if (s.delta_export && s.last_collect != 0) return std::min(s.last_collect, now);
    // Cumulative (or a delta stream's first interval): the series' first measurement, fixed
    // once exported; never 0 and never after the point's time.
    if (r.start_time == 0) r.start_time = s.last_collect != 0 ? s.last_collect : now;
    r.start_time = std::min(r.start_time, now);
    return r.start_time;
  }

  void write_metric(Stream& s, uint64_t now, pm::Metric* m) {
    m->set_name(s.name);
    m->set_description(s.description);
    m->set_unit(s.unit);
    const auto temporality =
        s.delta_export ? pm::AGGREGATION_TEMPORALITY_DELTA : pm::AGGREGATION_TEMPORALITY_CUMULATIVE;
    switch (s.kind) {
      case Kind::kGauge:
      case Kind::kSum: {
        RepeatedPtrField<pm::NumberDataPoint>* out = nullptr;
        if (s.kind == Kind::kGauge) {
          out = m->mutable_gauge()->mutable_data_points();
        } else {
          pm::Sum* sum = m->mutable_sum();
          sum->set_aggregation_temporality(temporality);
          sum->set_is_monotonic(s.monotonic);
          out = sum->mutable_data_points();
        }
        out->Reserve(static_cast<int>(points.size()));
        for (uint32_t i : points) {
          Series& r = s.series[i];
          pm::NumberDataPoint* p = out->Add();
          set_common(r, start_time(s, r, now), now, p);
          const bool convert = s.kind == Kind::kSum && s.cumulative_input && s.delta_export;
          set_value(p, convert ? difference(r.value, r.exported, s.monotonic) : r.value);
          add_exemplar(r.exemplar, now, p->mutable_exemplars());
        }
        break;
      }
      case Kind::kHistogram: {
        pm::Histogram* h = m->mutable_histogram();
        h->set_aggregation_temporality(temporality);
        for (uint32_t i : points) {
          Series& r = s.series[i];
          pm::HistogramDataPoint* p = h->add_data_points();
          set_common(r, start_time(s, r, now), now, p);
          p->set_count(r.count);
          p->set_sum(r.sum);
          if (r.count > 0) {
            p->set_min(r.min);
            p->set_max(r.max);
          }
          p->mutable_bucket_counts()->Add(r.buckets.begin(), r.buckets.end());
          p->mutable_explicit_bounds()->Add(s.boundaries.begin(), s.boundaries.end());
          for (const Exemplar& e : r.bucket_exemplars) add_exemplar(e, now, p->mutable_exemplars());
        }
        break;
      }
      case Kind::kExpHistogram: {
        pm::ExponentialHistogram* h = m->mutable_exponential_histogram();
        h->set_aggregation_temporality(temporality);
        for (uint32_t i : points) {
          Series& r = s.series[i];
          const ExpHistogram& e = *r.exp;
          pm::ExponentialHistogramDataPoint* p = h->add_data_points();
          set_common(r, start_time(s, r, now), now, p);
          p->set_count(e.count());
          p->set_sum(e.sum());
          if (e.count() > 0) {
            p->set_min(e.min());
            p->set_max(e.max());
          }
          p->set_scale(e.scale());
          p->set_zero_count(e.zero_count());
          p->set_zero_threshold(0);
          auto write_range = [](const ExpBuckets& b, pm::ExponentialHistogramDataPoint::Buckets* out) {
            if (b.empty()) return;
            out->set_offset(static_cast<int32_t>(b.low()));
            for (int64_t k = b.low(); k <= b.high(); ++k) out->add_bucket_counts(b.at(k));
          };
          write_range(e.positive(), p->mutable_positive());
          write_range(e.negative(), p->mutable_negative());
          add_exemplar(r.exemplar, now, p->mutable_exemplars());
        }
        break;
      }
    }
  }

  // After a collection: delta streams start a new interval and forget idle series.
  void end_interval(Stream& s, uint64_t now) {
    s.last_collect = now;
    if (!s.delta_export) {
      for (Series& r : s.series) {
        r.touched = false;
        clear_exemplars(r);
      }
      return;
    }
    bool dropped = false;
    for (Series& r : s.series) {
      if (r.touched) {
        reset_interval(s, r);
      } else if (!s.cumulative_input) {
        dropped = true;
      }
    }
    if (!dropped) {
      for (Series& r : s.series) r.touched = false;
      return;
    }
    // In place, without allocating (the index keeps its slots), so that this cannot fail.
    size_t kept = 0;
    for (size_t i = 0; i < s.series.size(); ++i) {
      Series& r = s.series[i];
      if (r.touched || s.cumulative_input) {
        if (kept != i) s.series[kept] = std::move(r);
        ++kept;
      } else {
        --stats.series;
        if (!r.overflow) --regular_series;
      }
    }
    s.series.erase(s.series.begin() + static_cast<std::ptrdiff_t>(kept), s.series.end());
    s.index.clear();
    s.overflow = SeriesIndex::kNone;
    for (uint32_t i = 0; i < s.series.size(); ++i) {
      Series& r = s.series[i];
      r.touched = false;
      if (r.overflow) {
        s.overflow = i;
      } else {
        s.index.insert(r.hash, i);
      }
    }
  }
};

MetricsAggregator::MetricsAggregator(MetricsOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.cardinality_limit == 0) options.cardinality_limit = MetricsOptions{}.cardinality_limit;
  if (options.max_series == 0) options.max_series = MetricsOptions{}.max_series;
  impl_->options = options;
}

MetricsAggregator::~MetricsAggregator() = default;

int64_t MetricsAggregator::stream(const MetricStreamDefinition& definition) {
  Impl& I = *impl_;
  auto s = std::make_unique<Stream>();
  if (!configure(definition.metric, I.options.preference, *s)) return -1;
  s->name = definition.metric.name;
  s->description = definition.metric.description;
  s->unit = definition.metric.unit;
  ResourceGroup resource = Impl::resource_of(definition);
  ScopeGroup scope = Impl::scope_of(definition);
  s->key = stream_key(resource, scope, *s);
  if (auto it = I.stream_ids.find(s->key); it != I.stream_ids.end()) return it->second;
  if (I.streams.size() >= I.options.max_streams) {
    ++I.stats.streams_overflowed;
    return -1;
  }
  s->resource = Impl::intern(I.resources, std::move(resource));
  s->scope = Impl::intern(I.scopes, std::move(scope));
  const auto id = static_cast<int64_t>(I.streams.size());
  I.stream_ids.emplace(s->key, id);
  I.streams.push_back(std::move(s));
  I.stats.streams = I.streams.size();
  I.order_dirty = true;
  return id;
}

void MetricsAggregator::record(int64_t stream, std::span<const otlp::KeyValue> attributes, uint64_t time_unix_nano,
                               const Measurement& value, const SpanContext* exemplar) {
  Impl& I = *impl_;
  if (stream < 0 || static_cast<uint64_t>(stream) >= I.streams.size()) {
    ++I.stats.rejected;
    return;
  }
  Stream& s = *I.streams[static_cast<size_t>(stream)];
  Number v;
  switch (value.value_kind) {
    case Measurement::ValueKind::kLong: v.i = value.as_long; break;
    case Measurement::ValueKind::kDouble:
      v.is_double = true;
      v.d = value.as_double;
      break;
    case Measurement::ValueKind::kNone: ++I.stats.rejected; return;
  }
  if (s.kind != Kind::kGauge) {
    const bool invalid = (v.is_double && !std::isfinite(v.d)) ||
                         (s.kind == Kind::kSum && s.monotonic && (v.is_double ? v.d < 0 : v.i < 0));
    if (invalid) {
      ++I.stats.rejected;
      return;
    }
  }
  Series* r = nullptr;
  size_t bucket = 0;
  try {
    r = &I.series_for(s, stream, attributes, time_unix_nano);
    bucket = I.aggregate(s, *r, time_unix_nano, v);  // exponential histograms may allocate
  } catch (const std::bad_alloc&) {
    ++I.stats.allocation_failures;
    ++I.stats.measurements_lost;
    return;
  }
  ++I.stats.measurements;
  if (!sampled(exemplar)) return;
  if (s.kind == Kind::kHistogram) {
    if (r->bucket_exemplars.empty()) {
      try {
        r->bucket_exemplars.resize(r->buckets.size());
      } catch (const std::bad_alloc&) {
        ++I.stats.allocation_failures;  // the measurement is kept, its exemplar is not
        return;
      }
    }
    keep(r->bucket_exemplars[bucket], v, time_unix_nano, *exemplar);
  } else {
    keep(r->exemplar, v, time_unix_nano, *exemplar);
  }
}

size_t MetricsAggregator::collect(uint64_t now_unix_nano, otlp::ExportMetricsServiceRequest& out) {
  Impl& I = *impl_;
  out.Clear();
  if (I.order_dirty) {
    I.collect_order.resize(I.streams.size());
    for (size_t i = 0; i < I.streams.size(); ++i) I.collect_order[i] = i;
    std::sort(I.collect_order.begin(), I.collect_order.end(), [&](size_t a, size_t b) {
      const Stream& x = *I.streams[a];
      const Stream& y = *I.streams[b];
      if (x.resource != y.resource) return x.resource->key < y.resource->key;
      if (x.scope != y.scope) return x.scope->key < y.scope->key;
      if (x.name != y.name) return x.name < y.name;
      return x.key < y.key;
    });
    I.order_dirty = false;
  }
  size_t total = 0;
  pm::ResourceMetrics* rm = nullptr;
  pm::ScopeMetrics* sm = nullptr;
  const ResourceGroup* current_resource = nullptr;
  const ScopeGroup* current_scope = nullptr;
  bool failed = false;
  for (size_t index : I.collect_order) {
    Stream& s = *I.streams[index];
    pm::Metric* metric = nullptr;
    try {
      if (I.options.allocation_hook) I.options.allocation_hook(-1 - static_cast<int64_t>(index));
      I.points.clear();
      for (uint32_t i = 0; i < s.series.size(); ++i)
        if (!s.delta_export || s.series[i].touched) I.points.push_back(i);
      if (!I.points.empty()) {
        std::sort(I.points.begin(), I.points.end(), [&](uint32_t a, uint32_t b) {
          const std::string& x = s.series[a].sort_key;
          const std::string& y = s.series[b].sort_key;
          return x != y ? x < y : a < b;
        });
        if (s.resource != current_resource) {
          // Current only once complete: after a failure here the next stream starts anew.
          current_resource = nullptr;
          rm = out.add_resource_metrics();
          *rm->mutable_resource() = s.resource->resource;
          rm->set_schema_url(s.resource->schema_url);
          current_resource = s.resource;
          current_scope = nullptr;
        }
        if (s.scope != current_scope) {
          current_scope = nullptr;
          sm = rm->add_scope_metrics();
          *sm->mutable_scope() = s.scope->scope;
          sm->set_schema_url(s.scope->schema_url);
          current_scope = s.scope;
        }
        metric = sm->add_metrics();
        I.write_metric(s, now_unix_nano, metric);
        total += I.points.size();
      }
    } catch (const std::bad_alloc&) {
      // This stream only: its partial metric goes, its state stays for the next collection.
      ++I.stats.allocation_failures;
      ++I.stats.streams_not_collected;
      if (metric != nullptr) sm->mutable_metrics()->RemoveLast();
      failed = true;
      continue;
    }
    I.end_interval(s, now_unix_nano);
  }
  if (failed) {
    // Groups left empty by a failed stream.
    auto* rms = out.mutable_resource_metrics();
    for (int i = rms->size() - 1; i >= 0; --i) {
      auto* sms = rms->Mutable(i)->mutable_scope_metrics();
      for (int j = sms->size() - 1; j >= 0; --j)
        if (sms->Get(j).metrics_size() == 0) sms->DeleteSubrange(j, 1);
      if (sms->empty()) rms->DeleteSubrange(i, 1);
    }
  }
  return total;
}

const MetricsStats& MetricsAggregator::stats() const { return impl_->stats; }

}  // namespace otlp_mmap::collector

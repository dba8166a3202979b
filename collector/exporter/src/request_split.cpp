#include "otlp_mmap/collector/exporter/request_split.hpp"

#include <utility>

namespace otlp_mmap::collector {

namespace {

using opentelemetry::proto::metrics::v1::Metric;
using opentelemetry::proto::metrics::v1::ResourceMetrics;
using opentelemetry::proto::metrics::v1::ScopeMetrics;

// Bytes of framing counted for each resource, scope and metric a part opens: their tags and
// length prefixes at their largest (5 bytes each), so that the prefixes may grow as points
// are added. With a data point's exact framing (point_bytes) the count is an upper bound: a
// part never comes out larger than the limit.
constexpr size_t kFraming = 16;

size_t varint_bytes(size_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// A data point in its repeated field: a one-byte tag, its length, its bytes.
size_t point_bytes(size_t size) { return 1 + varint_bytes(size) + size; }

// The metric without its data points: what each part repeats of it.
Metric description_of(const Metric& m) {
  Metric d;
  d.set_name(m.name());
  d.set_description(m.description());
  d.set_unit(m.unit());
  *d.mutable_metadata() = m.metadata();
  switch (m.data_case()) {
    case Metric::kGauge: d.mutable_gauge(); break;
    case Metric::kSum:
      d.mutable_sum()->set_aggregation_temporality(m.sum().aggregation_temporality());
      d.mutable_sum()->set_is_monotonic(m.sum().is_monotonic());
      break;
    case Metric::kHistogram:
      d.mutable_histogram()->set_aggregation_temporality(m.histogram().aggregation_temporality());
      break;
    case Metric::kExponentialHistogram:
      d.mutable_exponential_histogram()->set_aggregation_temporality(
          m.exponential_histogram().aggregation_temporality());
      break;
    case Metric::kSummary: d.mutable_summary(); break;
    case Metric::DATA_NOT_SET: break;
  }
  return d;
}

// Fills parts in order, opening in the current part the resource, scope and metric of each
// point it receives (copies of their descriptions), and starting a new part when the next
// point would not fit.
class Splitter {
 public:
  explicit Splitter(size_t max_bytes) : max_(max_bytes) {}

  void add(const ResourceMetrics& rm, const ScopeMetrics& sm, Metric& m) {
    description_ = description_of(m);
    description_bytes_ = description_.ByteSizeLong() + kFraming;
    switch (m.data_case()) {
      case Metric::kGauge:
        add_points(rm, sm, m, [](Metric& x) { return x.mutable_gauge()->mutable_data_points(); });
        break;
      case Metric::kSum: add_points(rm, sm, m, [](Metric& x) { return x.mutable_sum()->mutable_data_points(); }); break;
      case Metric::kHistogram:
        add_points(rm, sm, m, [](Metric& x) { return x.mutable_histogram()->mutable_data_points(); });
        break;
      case Metric::kExponentialHistogram:
        add_points(rm, sm, m, [](Metric& x) { return x.mutable_exponential_histogram()->mutable_data_points(); });
        break;
      case Metric::kSummary:
        add_points(rm, sm, m, [](Metric& x) { return x.mutable_summary()->mutable_data_points(); });
        break;
      case Metric::DATA_NOT_SET: open(rm, sm, m, 0); break;
    }
  }

  std::vector<MetricsRequest> finish() {
    if (!empty_) parts_.push_back(std::move(part_));
    return std::move(parts_);
  }

 private:
  template <class Points>
  void add_points(const ResourceMetrics& rm, const ScopeMetrics& sm, Metric& m, Points points) {
    auto* source = points(m);
    if (source->empty()) open(rm, sm, m, 0);  // kept, as it came
    for (auto& point : *source) points(*open(rm, sm, m, point_bytes(point.ByteSizeLong())))->Add()->Swap(&point);
  }

  // The part's copy of `m`, opened (with its scope and resource) in the current part, or in a
  // new one when `bytes` more would not fit.
  Metric* open(const ResourceMetrics& rm, const ScopeMetrics& sm, const Metric& m, size_t bytes) {
    if (!empty_ && bytes_ + opening_cost(rm, sm, m) + bytes > max_) start_part();
    if (rm_source_ != &rm) {
      rm_ = part_.add_resource_metrics();
      *rm_->mutable_resource() = rm.resource();
      rm_->set_schema_url(rm.schema_url());
      bytes_ += header_bytes(rm);
      rm_source_ = &rm;
      sm_source_ = nullptr;
    }
    if (sm_source_ != &sm) {
      sm_ = rm_->add_scope_metrics();
      *sm_->mutable_scope() = sm.scope();
      sm_->set_schema_url(sm.schema_url());
      bytes_ += header_bytes(sm);
      sm_source_ = &sm;
      m_source_ = nullptr;
    }
    if (m_source_ != &m) {
      m_ = sm_->add_metrics();
      *m_ = description_;
      bytes_ += description_bytes_;
      m_source_ = &m;
    }
    bytes_ += bytes;
    empty_ = false;
    return m_;
  }

  size_t opening_cost(const ResourceMetrics& rm, const ScopeMetrics& sm, const Metric& m) const {
    if (rm_source_ != &rm) return header_bytes(rm) + header_bytes(sm) + description_bytes_;
    if (sm_source_ != &sm) return header_bytes(sm) + description_bytes_;
    return m_source_ != &m ? description_bytes_ : 0;
  }
  static size_t header_bytes(const ResourceMetrics& rm) {
    return rm.resource().ByteSizeLong() + rm.schema_url().size() + 2 * kFraming;
  }
  static size_t header_bytes(const ScopeMetrics& sm) {
    return sm.scope().ByteSizeLong() + sm.schema_url().size() + 2 * kFraming;
  }

  void start_part() {
    parts_.push_back(std::move(part_));
    part_ = MetricsRequest();
    bytes_ = 0;
    empty_ = true;
    rm_source_ = nullptr;
    sm_source_ = nullptr;
    m_source_ = nullptr;
  }

  const size_t max_;
  std::vector<MetricsRequest> parts_;
  MetricsRequest part_;
  size_t bytes_ = 0;
  bool empty_ = true;
  // What the current part has open, and the source element each copies.
  ResourceMetrics* rm_ = nullptr;
  ScopeMetrics* sm_ = nullptr;
  Metric* m_ = nullptr;
  const ResourceMetrics* rm_source_ = nullptr;
  const ScopeMetrics* sm_source_ = nullptr;
  const Metric* m_source_ = nullptr;
  Metric description_;  // of the metric being added
  size_t description_bytes_ = 0;
};

}  // namespace

std::vector<MetricsRequest> split_by_size(MetricsRequest request, size_t max_bytes) {
  if (request.ByteSizeLong() <= max_bytes) {
    std::vector<MetricsRequest> one;
    one.push_back(std::move(request));
    return one;
  }
  Splitter splitter(max_bytes);
  for (auto& rm : *request.mutable_resource_metrics()) {
    for (auto& sm : *rm.mutable_scope_metrics()) {
      for (auto& m : *sm.mutable_metrics()) splitter.add(rm, sm, m);
    }
  }
  return splitter.finish();
}

}  // namespace otlp_mmap::collector

// Requests cut to a size the receiving end accepts.
//
// A backend refuses a request above its size limit as a whole: the OpenTelemetry Collector's
// OTLP/gRPC receiver at 4 MiB by default (gRPC's default maximum message size). One metric
// collection can be larger than that (100,000 series, the default cap, are tens of MB), and
// refused, it would lose every point of the interval, so it is cut first.
#pragma once

#include <cstddef>
#include <vector>

#include "otlp_mmap/collector/requests.hpp"

namespace otlp_mmap::collector {

// The default limit of serialized bytes per request: gRPC's default maximum message size.
inline constexpr size_t kDefaultMaxRequestBytes = size_t{4} << 20;

// `request` cut into requests of at most `max_bytes` serialized bytes each (one part when it
// fits). Resources, scopes, metrics and data points keep their order; each part repeats the
// resource, scope and metric description of the points it carries. A single data point larger
// than `max_bytes` goes in a part of its own (nothing smaller can carry it).
std::vector<MetricsRequest> split_by_size(MetricsRequest request, size_t max_bytes);

}  // namespace otlp_mmap::collector

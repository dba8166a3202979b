// The OTLP export requests, one per signal: what the exporter sends.
#pragma once

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp_mmap/signal.hpp"

namespace otlp_mmap::collector {

using ::otlp_mmap::Signal;

using TraceRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using LogsRequest = opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using MetricsRequest = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

// Number of spans, log records or data points in a request.
size_t count_items(const TraceRequest& request);
size_t count_items(const LogsRequest& request);
size_t count_items(const MetricsRequest& request);

}  // namespace otlp_mmap::collector

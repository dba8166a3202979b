// The exporter with transports of the caller's choosing (tests use fakes): one SignalExporter
// per signal behind the Exporter interface.
#pragma once

#include <memory>

#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "transport.hpp"

namespace otlp_mmap::collector::detail {

std::unique_ptr<Exporter> make_exporter_with(const ExportConfig& config, const TransportFactory& factory);

}  // namespace otlp_mmap::collector::detail

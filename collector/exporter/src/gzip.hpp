// gzip (RFC 1952) of a request body (OTEL_EXPORTER_OTLP_COMPRESSION=gzip over HTTP).
#pragma once

#include <string>
#include <string_view>

namespace otlp_mmap::collector::detail {

std::string gzip_compress(std::string_view data);

}  // namespace otlp_mmap::collector::detail

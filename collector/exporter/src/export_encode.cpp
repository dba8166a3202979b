// Encodings of OTLP requests for people and files: OTLP/JSON and readable text.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "export_internal.hpp"

namespace otlp_mmap::collector::detail {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// ---- JSON primitives ------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong forms, surrogates and values beyond U+10FFFF are invalid.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// A JSON string; invalid UTF-8 becomes U+FFFD so that the output is always valid JSON.
void write_json_string(std::string_view s, std::string& out) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void write_double(double v, std::string& out) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc() ? p : buf);
  }
}

template <typename T>
void write_integer(T v, std::string& out) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? p : buf);
}

void write_base64(std::string_view bytes, std::string& out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out += '"';
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  out += '"';
}

// OTLP/JSON: these bytes fields are hex strings (the specification's exception to the
// protobuf JSON mapping); all other bytes are base64.
bool is_id_field(const FieldDescriptor* f) {
  const std::string& n = f->name();
  return n == "trace_id" || n == "span_id" || n == "parent_span_id";
}

void write_message(const Message& m, std::string& out);

void write_value(const Message& m, const Reflection* r, const FieldDescriptor* f, int index, std::string& out) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      write_integer(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      write_integer(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_INT64:  // 64-bit integers: decimal strings (protobuf JSON mapping)
      out += '"';
      write_integer(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), out);
      out += '"';
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out += '"';
      write_integer(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), out);
      out += '"';
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      write_double(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      write_double(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM:  // enums: integers (OTLP/JSON)
      write_integer(rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s =
          rep ? r->GetRepeatedStringReference(m, f, index, &scratch) : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        if (is_id_field(f)) {
          out += '"';
          out += hex_encode(s);
          out += '"';
        } else {
          write_base64(s, out);
        }
      } else {
        write_json_string(s, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      write_message(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out);
      break;
  }
}

void write_message(const Message& m, std::string& out) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);  // present fields only, by number
  out += '{';
  bool first = true;
  for (const FieldDescriptor* f : fields) {
    if (!first) out += ',';
    first = false;
    write_json_string(f->json_name(), out);
    out += ':';
    if (f->is_repeated()) {
      out += '[';
      const int n = r->FieldSize(m, f);
      for (int i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        write_value(m, r, f, i, out);
      }
      out += ']';
    } else {
      write_value(m, r, f, -1, out);
    }
  }
  out += '}';
}

}  // namespace

void append_otlp_json(const google::protobuf::Message& message, std::string& out) { write_message(message, out); }

std::string to_otlp_json(const google::protobuf::Message& message) {
  std::string out;
  write_message(message, out);
  return out;
}

// ---- readable text ---------------------------------------------------------------------------

namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
namespace logs = opentelemetry::proto::logs::v1;
namespace metrics = opentelemetry::proto::metrics::v1;

std::string timestamp(uint64_t unix_nano) {
  if (unix_nano == 0) return "-";
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_seconds(seconds(unix_nano / 1000000000)));
  const year_month_day ymd(day);
  const uint64_t secs_of_day = (unix_nano / 1000000000) % 86400;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%09uZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<unsigned>(secs_of_day / 3600), static_cast<unsigned>(secs_of_day / 60 % 60),
                static_cast<unsigned>(secs_of_day % 60), static_cast<unsigned>(unix_nano % 1000000000));
  return buf;
}

std::string duration_text(uint64_t start, uint64_t end) {
  if (start == 0 || end < start) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(end - start) / 1e6);
  return buf;
}

std::string number(double v) {
  std::string out;
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  write_double(v, out);
  return out;
}

std::string quoted(std::string_view s) {
  std::string out;
  write_json_string(s, out);
  return out;
}

std::string any_value(const common::AnyValue& v) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue: return quoted(v.string_value());
    case common::AnyValue::kBoolValue: return v.bool_value() ? "true" : "false";
    case common::AnyValue::kIntValue: return std::to_string(v.int_value());
    case common::AnyValue::kDoubleValue: return number(v.double_value());
    case common::AnyValue::kBytesValue: return "0x" + hex_encode(v.bytes_value());
    case common::AnyValue::kArrayValue: {
      std::string out = "[";
      for (int i = 0; i < v.array_value().values_size(); ++i) {
        if (i > 0) out += ", ";
        out += any_value(v.array_value().values(i));
      }
      return out + "]";
    }
    case common::AnyValue::kKvlistValue: {
      std::string out = "{";
      for (int i = 0; i < v.kvlist_value().values_size(); ++i) {
        if (i > 0) out += ", ";
        out += v.kvlist_value().values(i).key() + "=" + any_value(v.kvlist_value().values(i).value());
      }
      return out + "}";
    }
    case common::AnyValue::kStringValueStrindex: return "strindex:" + std::to_string(v.string_value_strindex());
    case common::AnyValue::VALUE_NOT_SET: break;
  }
  return "(empty)";
}

template <typename KeyValues>
std::string attributes(const KeyValues& kvs) {
  std::string out;
  for (int i = 0; i < kvs.size(); ++i) {
    if (i > 0) out += ", ";
    out += kvs.Get(i).key() + "=" + any_value(kvs.Get(i).value());
  }
  return out;
}

void context_lines(const opentelemetry::proto::resource::v1::Resource& resource,
                   const common::InstrumentationScope& scope, std::string& out) {
  if (resource.attributes_size() > 0) out += "  resource: " + attributes(resource.attributes()) + "\n";
  if (!scope.name().empty() || !scope.version().empty() || scope.attributes_size() > 0) {
    out += "  scope: " + scope.name();
    if (!scope.version().empty()) out += " " + scope.version();
    if (scope.attributes_size() > 0) out += " (" + attributes(scope.attributes()) + ")";
    out += "\n";
  }
}

const char* span_kind(int k) {
  switch (k) {
    case trace::Span::SPAN_KIND_INTERNAL: return "INTERNAL";
    case trace::Span::SPAN_KIND_SERVER: return "SERVER";
    case trace::Span::SPAN_KIND_CLIENT: return "CLIENT";
    case trace::Span::SPAN_KIND_PRODUCER: return "PRODUCER";
    case trace::Span::SPAN_KIND_CONSUMER: return "CONSUMER";
    default: return "UNSPECIFIED";
  }
}

const char* status_code(int c) {
  switch (c) {
    case trace::Status::STATUS_CODE_OK: return "OK";
    case trace::Status::STATUS_CODE_ERROR: return "ERROR";
    default: return "UNSET";
  }
}

const char* temporality(int t) {
  switch (t) {
    case metrics::AGGREGATION_TEMPORALITY_DELTA: return "delta";
    case metrics::AGGREGATION_TEMPORALITY_CUMULATIVE: return "cumulative";
    default: return "unspecified";
  }
}

void span_text(const trace::Span& s, std::string& out) {
  out += "Span " + quoted(s.name()) + " kind=" + span_kind(s.kind()) + "\n";
  out += "  trace_id=" + hex_encode(s.trace_id()) + " span_id=" + hex_encode(s.span_id());
  out += " parent_span_id=" + (s.parent_span_id().empty() ? std::string("-") : hex_encode(s.parent_span_id()));
  if (!s.trace_state().empty()) out += " trace_state=" + quoted(s.trace_state());
  if (s.flags() != 0) {
    char buf[24];
    std::snprintf(buf, sizeof buf, " flags=0x%x", static_cast<unsigned>(s.flags()));
    out += buf;
  }
  out += "\n";
  out += "  start=" + timestamp(s.start_time_unix_nano()) + " end=" + timestamp(s.end_time_unix_nano()) +
         " duration=" + duration_text(s.start_time_unix_nano(), s.end_time_unix_nano()) + "\n";
  if (s.has_status() && (s.status().code() != 0 || !s.status().message().empty())) {
    out += "  status=" + std::string(status_code(s.status().code()));
    if (!s.status().message().empty()) out += " " + quoted(s.status().message());
    out += "\n";
  }
  if (s.attributes_size() > 0) out += "  attributes: " + attributes(s.attributes()) + "\n";
  for (const auto& e : s.events()) {
    out += "  event " + quoted(e.name()) + " at " + timestamp(e.time_unix_nano());
    if (e.attributes_size() > 0) out += ": " + attributes(e.attributes());
    out += "\n";
  }
  for (const auto& l : s.links()) {
    out += "  link trace_id=" + hex_encode(l.trace_id()) + " span_id=" + hex_encode(l.span_id());
    if (l.attributes_size() > 0) out += ": " + attributes(l.attributes());
    out += "\n";
  }
  if (s.dropped_attributes_count() || s.dropped_events_count() || s.dropped_links_count()) {
    out += "  dropped: attributes=" + std::to_string(s.dropped_attributes_count()) +
           " events=" + std::to_string(s.dropped_events_count()) + " links=" + std::to_string(s.dropped_links_count()) +
           "\n";
  }
}

void log_text(const logs::LogRecord& r, std::string& out) {
  out += "LogRecord time=" + timestamp(r.time_unix_nano()) + " observed=" + timestamp(r.observed_time_unix_nano());
  out += " severity=" + (r.severity_text().empty() ? std::string("-") : r.severity_text()) + "(" +
         std::to_string(r.severity_number()) + ")";
  if (!r.event_name().empty()) out += " event_name=" + quoted(r.event_name());
  out += "\n";
  if (r.has_body()) out += "  body: " + any_value(r.body()) + "\n";
  if (!r.trace_id().empty() || !r.span_id().empty()) {
    out += "  trace_id=" + hex_encode(r.trace_id()) + " span_id=" + hex_encode(r.span_id()) + "\n";
  }
  if (r.attributes_size() > 0) out += "  attributes: " + attributes(r.attributes()) + "\n";
}

void point_header(const metrics::Metric& m, const std::string& kind, std::string& out) {
  out += "Metric " + quoted(m.name()) + " " + kind;
  if (!m.unit().empty()) out += " unit=" + quoted(m.unit());
  out += "\n";
  if (!m.description().empty()) out += "  description: " + quoted(m.description()) + "\n";
}

template <typename Point>
void point_common(const Point& p, std::string& out) {
  if (p.attributes_size() > 0) out += "  attributes: " + attributes(p.attributes()) + "\n";
  out += "  start=" + timestamp(p.start_time_unix_nano()) + " time=" + timestamp(p.time_unix_nano()) + "\n";
}

void number_point(const metrics::NumberDataPoint& p, std::string& out) {
  point_common(p, out);
  out += "  value=";
  out += p.value_case() == metrics::NumberDataPoint::kAsInt ? std::to_string(p.as_int()) : number(p.as_double());
  if (p.exemplars_size() > 0) out += " exemplars=" + std::to_string(p.exemplars_size());
  out += "\n";
}

template <typename Point>
void stats_line(const Point& p, std::string& out) {
  out += "  count=" + std::to_string(p.count());
  if (p.has_sum()) out += " sum=" + number(p.sum());
  if (p.has_min()) out += " min=" + number(p.min());
  if (p.has_max()) out += " max=" + number(p.max());
  out += "\n";
}

void metric_text(const metrics::Metric& m, const opentelemetry::proto::resource::v1::Resource& resource,
                 const common::InstrumentationScope& scope, std::string& out) {
  switch (m.data_case()) {
    case metrics::Metric::kGauge:
      for (const auto& p : m.gauge().data_points()) {
        point_header(m, "gauge", out);
        context_lines(resource, scope, out);
        number_point(p, out);
      }
      break;
    case metrics::Metric::kSum: {
      const std::string kind = std::string("sum(") + temporality(m.sum().aggregation_temporality()) +
                               (m.sum().is_monotonic() ? ", monotonic)" : ")");
      for (const auto& p : m.sum().data_points()) {
        point_header(m, kind, out);
        context_lines(resource, scope, out);
        number_point(p, out);
      }
      break;
    }
    case metrics::Metric::kHistogram: {
      const std::string kind = std::string("histogram(") + temporality(m.histogram().aggregation_temporality()) + ")";
      for (const auto& p : m.histogram().data_points()) {
        point_header(m, kind, out);
        context_lines(resource, scope, out);
        point_common(p, out);
        stats_line(p, out);
        out += "  buckets:";
        for (int i = 0; i < p.bucket_counts_size(); ++i) {
          const std::string lo = i == 0 ? "-Inf" : number(p.explicit_bounds(i - 1));
          const std::string hi = i < p.explicit_bounds_size() ? number(p.explicit_bounds(i)) : "+Inf";
          out += " (" + lo + "," + hi + "]=" + std::to_string(p.bucket_counts(i));
        }
        out += "\n";
      }
      break;
    }
    case metrics::Metric::kExponentialHistogram: {
      const std::string kind = std::string("exponential_histogram(") +
                               temporality(m.exponential_histogram().aggregation_temporality()) + ")";
      for (const auto& p : m.exponential_histogram().data_points()) {
        point_header(m, kind, out);
        context_lines(resource, scope, out);
        point_common(p, out);
        stats_line(p, out);
        out += "  scale=" + std::to_string(p.scale()) + " zero_count=" + std::to_string(p.zero_count());
        auto buckets = [&](const char* name, const metrics::ExponentialHistogramDataPoint::Buckets& b) {
          out += std::string(" ") + name + "(offset " + std::to_string(b.offset()) + ")=[";
          for (int i = 0; i < b.bucket_counts_size(); ++i) {
            if (i > 0) out += ",";
            out += std::to_string(b.bucket_counts(i));
          }
          out += "]";
        };
        buckets("positive", p.positive());
        buckets("negative", p.negative());
        out += "\n";
      }
      break;
    }
    case metrics::Metric::kSummary:
      for (const auto& p : m.summary().data_points()) {
        point_header(m, "summary", out);
        context_lines(resource, scope, out);
        point_common(p, out);
        out += "  count=" + std::to_string(p.count()) + " sum=" + number(p.sum());
        for (const auto& q : p.quantile_values()) out += " q" + number(q.quantile()) + "=" + number(q.value());
        out += "\n";
      }
      break;
    case metrics::Metric::DATA_NOT_SET:
      point_header(m, "(no data)", out);
      context_lines(resource, scope, out);
      break;
  }
}

}  // namespace

std::string to_console_text(const TraceRequest& request) {
  std::string out;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& s : ss.spans()) {
        const size_t at = out.size();
        span_text(s, out);
        // resource and scope after the first line of the block
        std::string ctx;
        context_lines(rs.resource(), ss.scope(), ctx);
        out.insert(out.find('\n', at) + 1, ctx);
      }
    }
  }
  return out;
}

std::string to_console_text(const LogsRequest& request) {
  std::string out;
  for (const auto& rl : request.resource_logs()) {
    for (const auto& sl : rl.scope_logs()) {
      for (const auto& r : sl.log_records()) {
        const size_t at = out.size();
        log_text(r, out);
        std::string ctx;
        context_lines(rl.resource(), sl.scope(), ctx);
        out.insert(out.find('\n', at) + 1, ctx);
      }
    }
  }
  return out;
}

std::string to_console_text(const MetricsRequest& request) {
  std::string out;
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) metric_text(m, rm.resource(), sm.scope(), out);
    }
  }
  return out;
}

}  // namespace otlp_mmap::collector::detail

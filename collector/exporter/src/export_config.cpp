// Export configuration: flags, then the OpenTelemetry OTEL_* environment variables, then the
// specification's defaults (OTLP exporter and SDK environment variable specifications).

#include "otlp_mmap/collector/exporter/export_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace otlp_mmap::collector {

const SignalExportConfig& ExportConfig::signal(Signal s) const {
  switch (s) {
    case Signal::kTraces: return traces;
    case Signal::kMetrics: return metrics;
    case Signal::kLogs: return logs;
  }
  return traces;
}

SignalExportConfig& ExportConfig::signal(Signal s) {
  return const_cast<SignalExportConfig&>(static_cast<const ExportConfig&>(*this).signal(s));
}

BatchOptions ExportConfig::batch(Signal s) const {
  const bool logs_signal = s == Signal::kLogs;
  BatchOptions b;
  b.max_items = std::max<size_t>(1, logs_signal ? logs_max_export_batch_size : max_export_batch_size);
  b.delay = logs_signal ? logs_schedule_delay : schedule_delay;
  // The console (and none) print what one moment produced, within 200 ms: a person is
  // watching, and there is no request overhead to save.
  const Protocol p = signal(s).protocol;
  if (p == Protocol::kConsoleText || p == Protocol::kConsoleJson || p == Protocol::kNone) {
    b.delay = std::min<std::chrono::nanoseconds>(b.delay, std::chrono::milliseconds(200));
  }
  return b;
}

size_t ExportConfig::queue_limit(Signal s) const {
  return std::max<size_t>(1, s == Signal::kLogs ? logs_max_queue_size : max_queue_size);
}

namespace {

constexpr Signal kSignals[] = {Signal::kTraces, Signal::kMetrics, Signal::kLogs};

const char* upper_name(Signal s) {
  switch (s) {
    case Signal::kTraces: return "TRACES";
    case Signal::kMetrics: return "METRICS";
    case Signal::kLogs: return "LOGS";
  }
  return "?";
}

[[noreturn]] void invalid(const std::string& source, const std::string& value, const std::string& why) {
  throw std::invalid_argument(source + "=\"" + value + "\": " + why);
}

// Header values may hold credentials: their errors never repeat the value.
[[noreturn]] void invalid_secret(const std::string& source, const std::string& why) {
  throw std::invalid_argument(source + ": " + why + " (value not shown)");
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  return out;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// A value with where it came from (a variable or flag name), for error messages.
struct Setting {
  std::string value;
  std::string source;
};

class Resolver {
 public:
  Resolver(const ExportOverrides& flags, const EnvLookup& env) : flags_(flags), env_(env) {}

  // The variable's value; empty counts as unset.
  std::optional<Setting> var(const std::string& name) const {
    std::optional<std::string> v = env_(name);
    if (!v) return std::nullopt;
    std::string t(trim(*v));
    if (t.empty()) return std::nullopt;
    return Setting{std::move(t), name};
  }

  static std::optional<Setting> flag(const std::optional<std::string>& v, const char* name) {
    if (!v) return std::nullopt;
    return Setting{std::string(trim(*v)), name};
  }

  // Flag, then OTEL_EXPORTER_OTLP_<SIGNAL>_<key>, then OTEL_EXPORTER_OTLP_<key>.
  std::optional<Setting> layered(const std::optional<std::string>& flag_value, const char* flag_name, Signal s,
                                 const char* key) const {
    if (auto f = flag(flag_value, flag_name)) return f;
    if (auto v = var(std::string("OTEL_EXPORTER_OTLP_") + upper_name(s) + "_" + key)) return v;
    return var(std::string("OTEL_EXPORTER_OTLP_") + key);
  }

  const ExportOverrides& flags() const { return flags_; }

 private:
  const ExportOverrides& flags_;
  const EnvLookup& env_;
};

uint64_t parse_uint(const Setting& s, uint64_t min_value) {
  uint64_t v = 0;
  const char* b = s.value.data();
  const char* e = b + s.value.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec == std::errc::result_out_of_range) invalid(s.source, s.value, "out of range");
  if (ec != std::errc() || p != e) invalid(s.source, s.value, "not a non-negative integer");
  if (v < min_value) invalid(s.source, s.value, "must be at least " + std::to_string(min_value));
  return v;
}

std::chrono::milliseconds parse_millis(const Setting& s, uint64_t min_value) {
  const uint64_t v = parse_uint(s, min_value);
  constexpr uint64_t kMax = uint64_t{365} * 24 * 3600 * 1000;  // a year: beyond is surely a mistake
  if (v > kMax) invalid(s.source, s.value, "more than a year in milliseconds");
  return std::chrono::milliseconds(static_cast<int64_t>(v));
}

bool parse_bool(const Setting& s) {
  const std::string v = lower(s.value);
  if (v == "true") return true;
  if (v == "false") return false;
  invalid(s.source, s.value, "expected true or false");
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in, const Setting& s) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) invalid_secret(s.source, "truncated percent-encoding");
    const int hi = hex_digit(in[i + 1]);
    const int lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) invalid_secret(s.source, "invalid percent-encoding");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// W3C-baggage-like "key1=value1,key2=value2" (no ";" properties), keys and values
// percent-decoded, surrounding whitespace ignored. Keys become lower-case.
std::map<std::string, std::string> parse_headers(const Setting& s, Protocol protocol) {
  std::map<std::string, std::string> out;
  std::string_view rest = s.value;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view entry = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) invalid_secret(s.source, "an entry has no '=' (expected key=value,key2=value2)");
    std::string key = lower(percent_decode(trim(entry.substr(0, eq)), s));
    std::string value = percent_decode(trim(entry.substr(eq + 1)), s);
    if (key.empty()) invalid_secret(s.source, "empty header name");
    for (unsigned char c : key) {
      if (!is_tchar(c)) invalid_secret(s.source, "invalid character in header name \"" + key + "\"");
    }
    const bool binary = key.size() > 4 && key.compare(key.size() - 4, 4, "-bin") == 0;
    for (unsigned char c : value) {
      if (c < 0x20 || c == 0x7f) invalid_secret(s.source, "control character in the value of header \"" + key + "\"");
      if (c >= 0x80 && protocol == Protocol::kGrpc && !binary) {
        invalid_secret(s.source, "gRPC metadata \"" + key + "\" must be printable ASCII");
      }
    }
    out[key] = std::move(value);
  }
  return out;
}

Protocol parse_protocol(const Setting& s) {
  const std::string v = lower(s.value);
  if (v == "grpc") return Protocol::kGrpc;
  if (v == "http/protobuf") return Protocol::kHttpProtobuf;
  if (v == "http/json") return Protocol::kHttpJson;
  invalid(s.source, s.value, "expected grpc, http/protobuf or http/json");
}

bool parse_compression(const Setting& s) {
  const std::string v = lower(s.value);
  if (v == "gzip") return true;
  if (v == "none") return false;
  invalid(s.source, s.value, "expected gzip or none");
}

enum class ExporterKind { kUnset, kOtlp, kConsole, kNone };

ExporterKind parse_exporter_kind(const std::optional<Setting>& s) {
  if (!s) return ExporterKind::kUnset;
  const std::string v = lower(s->value);
  if (v == "otlp") return ExporterKind::kOtlp;
  if (v == "console") return ExporterKind::kConsole;
  if (v == "none") return ExporterKind::kNone;
  invalid(s->source, s->value, "expected otlp, console or none (one exporter per signal)");
}

struct Url {
  std::string scheme;  // "http", "https" or "" (gRPC host:port)
  std::string authority;
  std::string path;  // from the first '/' after the authority (may be empty)
};

Url parse_url(const Setting& s, bool allow_no_scheme) {
  Url u;
  std::string_view rest = s.value;
  const size_t sep = rest.find("://");
  if (sep != std::string_view::npos) {
    u.scheme = lower(rest.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https") invalid(s.source, s.value, "the scheme must be http or https");
    rest = rest.substr(sep + 3);
  } else if (!allow_no_scheme) {
    invalid(s.source, s.value, "expected an http:// or https:// URL");
  }
  const size_t slash = rest.find_first_of("/?#");
  u.authority = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
  if (u.authority.empty()) invalid(s.source, s.value, "no host");
  for (unsigned char c : u.authority) {
    if (c <= 0x20 || c == 0x7f) invalid(s.source, s.value, "invalid character in host");
  }
  return u;
}

// OTEL_EXPORTER_OTLP_ENDPOINT for HTTP: "v1/<signal>" appended to the path (with one '/').
std::string append_signal_path(const Setting& s, Signal signal) {
  const Url u = parse_url(s, false);
  std::string path = u.path;
  const size_t q = path.find_first_of("?#");
  if (q != std::string::npos) path.resize(q);  // other URL components may be ignored
  if (path.empty() || path.back() != '/') path += '/';
  return u.scheme + "://" + u.authority + path + "v1/" + std::string(signal_name(signal));
}

void check_readable(const Setting& s) {
  if (::access(s.value.c_str(), R_OK) != 0) invalid(s.source, s.value, "file not readable");
}

}  // namespace

ExportConfig load_export_config(const ExportOverrides& flags) {
  return load_export_config(flags, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

ExportConfig load_export_config(const ExportOverrides& flags, const EnvLookup& env) {
  const Resolver r(flags, env);
  ExportConfig config;

  // Console exporter settings (flags only: the specification defines no variables).
  bool console_json = false;
  if (auto f = Resolver::flag(flags.console_format, "--format")) {
    const std::string v = lower(f->value);
    if (v == "json") {
      console_json = true;
    } else if (v != "text") {
      invalid(f->source, f->value, "expected text or json");
    }
  }
  std::string console_path;
  if (auto f = Resolver::flag(flags.console_output, "--output")) console_path = f->value == "-" ? "" : f->value;

  // Is an endpoint configured anywhere?
  const std::optional<Setting> flag_endpoint = Resolver::flag(flags.endpoint, "--endpoint");
  if (flag_endpoint && flag_endpoint->value.empty()) invalid("--endpoint", "", "empty");
  const std::optional<Setting> generic_endpoint = r.var("OTEL_EXPORTER_OTLP_ENDPOINT");
  bool any_endpoint = flag_endpoint || generic_endpoint;
  for (Signal s : kSignals) {
    any_endpoint = any_endpoint || r.var(std::string("OTEL_EXPORTER_OTLP_") + upper_name(s) + "_ENDPOINT");
  }

  for (Signal s : kSignals) {
    SignalExportConfig& c = config.signal(s);
    const std::string upper = upper_name(s);

    // Protocol first: it decides the endpoint defaults and the header rules.
    Protocol protocol = Protocol::kHttpProtobuf;
    if (auto p = r.layered(flags.protocol, "--protocol", s, "PROTOCOL")) protocol = parse_protocol(*p);

    const std::optional<Setting> timeout = r.layered(flags.timeout_ms, "--timeout", s, "TIMEOUT");
    if (timeout) c.timeout = parse_millis(*timeout, 1);
    const std::optional<Setting> headers = r.layered(flags.headers, "--headers", s, "HEADERS");
    if (headers) c.headers = parse_headers(*headers, protocol);
    if (auto z = r.layered(flags.compression, "--compression", s, "COMPRESSION")) c.gzip = parse_compression(*z);
    std::optional<Setting> insecure = r.var("OTEL_EXPORTER_OTLP_" + upper + "_INSECURE");
    if (!insecure) insecure = r.var("OTEL_EXPORTER_OTLP_INSECURE");
    if (insecure) c.insecure = parse_bool(*insecure);
    auto file = [&](const char* key) -> std::optional<Setting> {
      if (auto v = r.var("OTEL_EXPORTER_OTLP_" + upper + "_" + key)) return v;
      return r.var(std::string("OTEL_EXPORTER_OTLP_") + key);
    };
    const std::optional<Setting> certificate = file("CERTIFICATE");
    const std::optional<Setting> client_key = file("CLIENT_KEY");
    const std::optional<Setting> client_certificate = file("CLIENT_CERTIFICATE");

    // Which exporter.
    const ExporterKind kind = parse_exporter_kind(r.var("OTEL_" + upper + "_EXPORTER"));
    if (kind == ExporterKind::kNone) {
      c.protocol = Protocol::kNone;
      continue;
    }
    if (kind == ExporterKind::kConsole || (kind == ExporterKind::kUnset && !any_endpoint)) {
      c.protocol = console_json ? Protocol::kConsoleJson : Protocol::kConsoleText;
      c.console_path = console_path;
      continue;
    }

    // OTLP.
    c.protocol = protocol;
    const bool grpc = protocol == Protocol::kGrpc;
    std::optional<Setting> endpoint;  // as given
    bool append_path = false;
    if (flag_endpoint) {
      endpoint = flag_endpoint;
      append_path = true;
    } else if (auto v = r.var("OTEL_EXPORTER_OTLP_" + upper + "_ENDPOINT")) {
      endpoint = v;
    } else if (generic_endpoint) {
      endpoint = generic_endpoint;
      append_path = true;
    } else {
      endpoint = Setting{grpc ? "http://localhost:4317" : "http://localhost:4318", "default endpoint"};
      append_path = true;
    }
    const Url url = parse_url(*endpoint, grpc);
    if (grpc) {
      // gRPC targets: host:port; the scheme decides TLS (https wins over INSECURE).
      c.endpoint = endpoint->value;
      if (url.scheme == "https") c.insecure = false;
      if (url.scheme == "http") c.insecure = true;
    } else {
      c.endpoint = append_path ? append_signal_path(*endpoint, s) : endpoint->value;
      c.insecure = url.scheme == "http";
    }
    const bool tls = !c.insecure;
    if (certificate) {
      if (tls) check_readable(*certificate);
      c.certificate_file = certificate->value;
    }
    if (client_key) {
      if (tls) check_readable(*client_key);
      c.client_key_file = client_key->value;
    }
    if (client_certificate) {
      if (tls) check_readable(*client_certificate);
      c.client_certificate_file = client_certificate->value;
    }
    if (tls && (c.client_key_file.empty() != c.client_certificate_file.empty())) {
      throw std::invalid_argument(
          "OTEL_EXPORTER_OTLP_" + upper +
          "_CLIENT_KEY and _CLIENT_CERTIFICATE (or their generic forms) must be set together for " +
          std::string(signal_name(s)));
    }
  }

  // Batching, queues, metric interval.
  if (auto v = r.var("OTEL_BSP_SCHEDULE_DELAY")) config.schedule_delay = parse_millis(*v, 0);
  if (auto v = r.var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) config.max_export_batch_size = parse_uint(*v, 1);
  if (auto v = r.var("OTEL_BSP_MAX_QUEUE_SIZE")) config.max_queue_size = parse_uint(*v, 1);
  if (auto v = r.var("OTEL_BLRP_SCHEDULE_DELAY")) config.logs_schedule_delay = parse_millis(*v, 0);
  if (auto v = r.var("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE")) config.logs_max_export_batch_size = parse_uint(*v, 1);
  if (auto v = r.var("OTEL_BLRP_MAX_QUEUE_SIZE")) config.logs_max_queue_size = parse_uint(*v, 1);
  // The SDK specification: the batch size must not exceed the queue size.
  if (config.max_export_batch_size > config.max_queue_size) {
    throw std::invalid_argument("OTEL_BSP_MAX_EXPORT_BATCH_SIZE (" + std::to_string(config.max_export_batch_size) +
                                ") must not exceed OTEL_BSP_MAX_QUEUE_SIZE (" + std::to_string(config.max_queue_size) +
                                ")");
  }
  if (config.logs_max_export_batch_size > config.logs_max_queue_size) {
    throw std::invalid_argument(
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE (" + std::to_string(config.logs_max_export_batch_size) +
        ") must not exceed OTEL_BLRP_MAX_QUEUE_SIZE (" + std::to_string(config.logs_max_queue_size) + ")");
  }
  if (auto v = r.var("OTEL_METRIC_EXPORT_INTERVAL")) config.metric_export_interval = parse_millis(*v, 1);
  if (auto v = r.var("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")) {
    const std::string t = lower(v->value);
    if (t != "cumulative" && t != "delta" && t != "lowmemory") {
      invalid(v->source, v->value, "expected cumulative, delta or lowmemory");
    }
    config.metrics_temporality_preference = t;
  }
  return config;
}

}  // namespace otlp_mmap::collector

// load_export_config: the OTLP exporter and SDK environment variables, flags, defaults, errors.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "otlp_mmap/collector/exporter/exporter.hpp"

namespace otlp_mmap::collector {
namespace {

using Env = std::map<std::string, std::string>;
using std::chrono::milliseconds;

ExportConfig load(const Env& env, const ExportOverrides& flags = {}) {
  return load_export_config(flags, [&env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

// The message of the std::invalid_argument thrown, or "" when nothing is thrown.
std::string error_of(const Env& env, const ExportOverrides& flags = {}) {
  try {
    load(env, flags);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_NAMES(env, name)                      \
  do {                                                     \
    const std::string msg_ = error_of(env);                \
    EXPECT_NE(msg_.find(name), std::string::npos) << msg_; \
  } while (0)

TEST(ExportConfig, NothingConfiguredMeansConsoleTextToStdout) {
  const ExportConfig c = load({});
  for (Signal s : {Signal::kTraces, Signal::kMetrics, Signal::kLogs}) {
    EXPECT_EQ(c.signal(s).protocol, Protocol::kConsoleText) << signal_name(s);
    EXPECT_EQ(c.signal(s).console_path, "");
  }
  EXPECT_EQ(c.schedule_delay, milliseconds(5000));
  EXPECT_EQ(c.max_export_batch_size, 512u);
  EXPECT_EQ(c.max_queue_size, 2048u);
  EXPECT_EQ(c.logs_schedule_delay, milliseconds(1000));
  EXPECT_EQ(c.logs_max_export_batch_size, 512u);
  EXPECT_EQ(c.logs_max_queue_size, 2048u);
  EXPECT_EQ(c.metric_export_interval, milliseconds(60000));
  EXPECT_EQ(c.metrics_temporality_preference, "cumulative");
}

TEST(ExportConfig, ConsoleJsonToFileFromFlags) {
  ExportOverrides f;
  f.console_format = "JSON";
  f.console_output = "/tmp/out.jsonl";
  const ExportConfig c = load({}, f);
  EXPECT_EQ(c.logs.protocol, Protocol::kConsoleJson);
  EXPECT_EQ(c.logs.console_path, "/tmp/out.jsonl");
  f.console_output = "-";
  EXPECT_EQ(load({}, f).traces.console_path, "");
  f.console_format = "yaml";
  EXPECT_NE(error_of({}, f).find("--format"), std::string::npos);
}

TEST(ExportConfig, ProtocolAlonePicksNoEndpointSoConsole) {
  // Only an endpoint (flag or variable) turns OTLP on; OTEL_<SIGNAL>_EXPORTER=otlp too.
  EXPECT_EQ(load({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}}).traces.protocol, Protocol::kConsoleText);
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_TRACES_EXPORTER", "otlp"}});
  EXPECT_EQ(c.traces.protocol, Protocol::kGrpc);
  EXPECT_EQ(c.traces.endpoint, "http://localhost:4317");
  EXPECT_TRUE(c.traces.insecure);
  EXPECT_EQ(c.metrics.protocol, Protocol::kConsoleText);
}

TEST(ExportConfig, GenericHttpEndpointGetsSignalPaths) {
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}});
  EXPECT_EQ(c.traces.protocol, Protocol::kHttpProtobuf);  // the specification's default
  EXPECT_EQ(c.traces.endpoint, "http://collector:4318/v1/traces");
  EXPECT_EQ(c.metrics.endpoint, "http://collector:4318/v1/metrics");
  EXPECT_EQ(c.logs.endpoint, "http://collector:4318/v1/logs");
  EXPECT_TRUE(c.traces.insecure);
  EXPECT_EQ(c.traces.timeout, milliseconds(10000));
  EXPECT_FALSE(c.traces.gzip);
  // Trailing slash and a base path.
  EXPECT_EQ(load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://h/"}}).logs.endpoint, "https://h/v1/logs");
  EXPECT_EQ(load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://h:443/otlp"}}).metrics.endpoint,
            "https://h:443/otlp/v1/metrics");
  EXPECT_EQ(load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://h/otlp/"}}).metrics.endpoint, "https://h/otlp/v1/metrics");
  EXPECT_FALSE(load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://h/"}}).logs.insecure);
}

TEST(ExportConfig, PerSignalEndpointUsedAsIs) {
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"},
                               {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom/path"}});
  EXPECT_EQ(c.traces.endpoint, "http://traces:9999/custom/path");
  EXPECT_EQ(c.metrics.endpoint, "http://generic:4318/v1/metrics");
  // Only a per-signal endpoint: the others get the default endpoint (OTLP is on).
  const ExportConfig d = load({{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/v1/logs"}});
  EXPECT_EQ(d.logs.endpoint, "http://logs:4318/v1/logs");
  EXPECT_EQ(d.traces.protocol, Protocol::kHttpProtobuf);
  EXPECT_EQ(d.traces.endpoint, "http://localhost:4318/v1/traces");
}

TEST(ExportConfig, GrpcEndpointsAndTls) {
  Env env{{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"}};
  ExportConfig c = load(env);
  EXPECT_EQ(c.traces.protocol, Protocol::kGrpc);
  EXPECT_EQ(c.traces.endpoint, "http://collector:4317");  // no path appended for gRPC
  EXPECT_TRUE(c.traces.insecure);
  env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://collector:4317";
  env["OTEL_EXPORTER_OTLP_INSECURE"] = "true";  // https wins
  EXPECT_FALSE(load(env).metrics.insecure);
  env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "collector:4317";  // no scheme: INSECURE decides
  EXPECT_TRUE(load(env).metrics.insecure);
  env["OTEL_EXPORTER_OTLP_METRICS_INSECURE"] = "FALSE";
  c = load(env);
  EXPECT_FALSE(c.metrics.insecure);
  EXPECT_TRUE(c.logs.insecure);
  env.erase("OTEL_EXPORTER_OTLP_INSECURE");
  env.erase("OTEL_EXPORTER_OTLP_METRICS_INSECURE");
  EXPECT_FALSE(load(env).traces.insecure);  // default: secure
  // The default gRPC endpoint.
  EXPECT_EQ(load({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:1"}})
                .traces.endpoint,
            "http://localhost:4317");
  // A scheme-less endpoint is not valid for HTTP.
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"}}), "OTEL_EXPORTER_OTLP_ENDPOINT");
}

TEST(ExportConfig, PerSignalProtocol) {
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                               {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
                               {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "GRPC"}});
  EXPECT_EQ(c.traces.protocol, Protocol::kHttpJson);
  EXPECT_EQ(c.logs.protocol, Protocol::kHttpJson);
  EXPECT_EQ(c.metrics.protocol, Protocol::kGrpc);
  EXPECT_EQ(c.metrics.endpoint, "http://c:4318");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"}, {"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http"}}),
                     "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL");
}

TEST(ExportConfig, HeadersArePercentDecodedAndPerSignalReplacesGeneric) {
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                               {"OTEL_EXPORTER_OTLP_HEADERS", " Api-Key = secret%20value%2C1 , x-tenant=a%3Db,,"},
                               {"OTEL_EXPORTER_OTLP_LOGS_HEADERS", "only=logs"}});
  const std::map<std::string, std::string> expected{{"api-key", "secret value,1"}, {"x-tenant", "a=b"}};
  EXPECT_EQ(c.traces.headers, expected);
  EXPECT_EQ(c.metrics.headers, expected);
  EXPECT_EQ(c.logs.headers, (std::map<std::string, std::string>{{"only", "logs"}}));
  // Errors name the variable but never repeat the value (it may be a credential).
  const std::string msg =
      error_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"}, {"OTEL_EXPORTER_OTLP_HEADERS", "token%zzsecret"}});
  EXPECT_NE(msg.find("OTEL_EXPORTER_OTLP_HEADERS"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("secret"), std::string::npos) << msg;
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "novalue"}}), "OTEL_EXPORTER_OTLP_TRACES_HEADERS");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_HEADERS", "=v"}}), "OTEL_EXPORTER_OTLP_HEADERS");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_HEADERS", "k=a%0Ab"}}), "OTEL_EXPORTER_OTLP_HEADERS");  // CR/LF
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_HEADERS", "bad key=v"}}), "OTEL_EXPORTER_OTLP_HEADERS");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_HEADERS", "k=%4"}}), "OTEL_EXPORTER_OTLP_HEADERS");
  // gRPC metadata must be ASCII (unless a -bin key).
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_HEADERS", "k=%C3%A9"}}),
                     "OTEL_EXPORTER_OTLP_HEADERS");
  EXPECT_EQ(load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"}, {"OTEL_EXPORTER_OTLP_HEADERS", "k=%C3%A9"}})
                .traces.headers.at("k"),
            "\xC3\xA9");
}

TEST(ExportConfig, TimeoutAndCompression) {
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                               {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
                               {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"},
                               {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                               {"OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "None"}});
  EXPECT_EQ(c.traces.timeout, milliseconds(700));
  EXPECT_EQ(c.metrics.timeout, milliseconds(2500));
  EXPECT_TRUE(c.traces.gzip);
  EXPECT_TRUE(c.metrics.gzip);
  EXPECT_FALSE(c.logs.gzip);
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_TIMEOUT", "10s"}}), "OTEL_EXPORTER_OTLP_TIMEOUT");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_TIMEOUT", "-5"}}), "OTEL_EXPORTER_OTLP_TIMEOUT");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "0"}}), "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999999999999999"}}), "OTEL_EXPORTER_OTLP_TIMEOUT");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"}}), "OTEL_EXPORTER_OTLP_COMPRESSION");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate"}}),
                     "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
}

TEST(ExportConfig, EmptyVariablesCountAsUnset) {
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", ""},
                               {"OTEL_EXPORTER_OTLP_TIMEOUT", ""},
                               {"OTEL_BSP_SCHEDULE_DELAY", " "},
                               {"OTEL_EXPORTER_OTLP_PROTOCOL", ""}});
  EXPECT_EQ(c.traces.protocol, Protocol::kConsoleText);
  EXPECT_EQ(c.schedule_delay, milliseconds(5000));
}

TEST(ExportConfig, FlagsOverrideVariables) {
  ExportOverrides f;
  f.endpoint = "http://flag:4318";
  f.protocol = "http/json";
  f.headers = "from=flag";
  f.compression = "gzip";
  f.timeout_ms = "1234";
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"},
                               {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env-traces:1/x"},
                               {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                               {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"},
                               {"OTEL_EXPORTER_OTLP_HEADERS", "from=env"},
                               {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"},
                               {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5"}},
                              f);
  EXPECT_EQ(c.traces.endpoint, "http://flag:4318/v1/traces");
  EXPECT_EQ(c.traces.protocol, Protocol::kHttpJson);
  EXPECT_EQ(c.traces.headers.at("from"), "flag");
  EXPECT_TRUE(c.traces.gzip);
  EXPECT_EQ(c.traces.timeout, milliseconds(1234));
  // A flag endpoint alone turns OTLP on.
  ExportOverrides g;
  g.endpoint = "http://127.0.0.1:4317";
  g.protocol = "grpc";
  const ExportConfig d = load({}, g);
  EXPECT_EQ(d.logs.protocol, Protocol::kGrpc);
  EXPECT_EQ(d.logs.endpoint, "http://127.0.0.1:4317");
  // Flag errors name the flag.
  g.timeout_ms = "soon";
  EXPECT_NE(error_of({}, g).find("--timeout"), std::string::npos);
  g.timeout_ms.reset();
  g.protocol = "udp";
  EXPECT_NE(error_of({}, g).find("--protocol"), std::string::npos);
  g.protocol.reset();
  g.endpoint = "ftp://x";
  EXPECT_NE(error_of({}, g).find("--endpoint"), std::string::npos);
}

TEST(ExportConfig, ExporterSelectionPerSignal) {
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                               {"OTEL_METRICS_EXPORTER", "none"},
                               {"OTEL_LOGS_EXPORTER", "Console"}});
  EXPECT_EQ(c.traces.protocol, Protocol::kHttpProtobuf);
  EXPECT_EQ(c.metrics.protocol, Protocol::kNone);
  EXPECT_EQ(c.logs.protocol, Protocol::kConsoleText);
  EXPECT_ERROR_NAMES((Env{{"OTEL_TRACES_EXPORTER", "zipkin"}}), "OTEL_TRACES_EXPORTER");
  EXPECT_ERROR_NAMES((Env{{"OTEL_TRACES_EXPORTER", "otlp,console"}}), "OTEL_TRACES_EXPORTER");
}

TEST(ExportConfig, InsecureMustBeBoolean) {
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_INSECURE", "yes"}}), "OTEL_EXPORTER_OTLP_INSECURE");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_LOGS_INSECURE", "1"}}), "OTEL_EXPORTER_OTLP_LOGS_INSECURE");
}

TEST(ExportConfig, CertificatesAreCheckedWhenTlsIsUsed) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "export_config_test_certs";
  std::filesystem::create_directories(dir);
  const std::string ca = (dir / "ca.pem").string(), key = (dir / "key.pem").string(),
                    cert = (dir / "cert.pem").string();
  for (const auto& p : {ca, key, cert}) std::ofstream(p) << "pem";
  const ExportConfig c = load({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"},
                               {"OTEL_EXPORTER_OTLP_CERTIFICATE", ca},
                               {"OTEL_EXPORTER_OTLP_CLIENT_KEY", key},
                               {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert},
                               {"OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", cert}});
  EXPECT_EQ(c.traces.certificate_file, ca);
  EXPECT_EQ(c.logs.certificate_file, cert);
  EXPECT_EQ(c.metrics.client_key_file, key);
  EXPECT_EQ(c.metrics.client_certificate_file, cert);
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c"},
                          {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", (dir / "missing.pem").string()}}),
                     "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE");
  // A key without a certificate.
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c"}, {"OTEL_EXPORTER_OTLP_CLIENT_KEY", key}}),
                     "CLIENT_KEY");
  // Not checked when the endpoint is plain http.
  EXPECT_EQ(error_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"},
                      {"OTEL_EXPORTER_OTLP_CERTIFICATE", (dir / "missing.pem").string()}}),
            "");
  std::filesystem::remove_all(dir);
}

TEST(ExportConfig, BatchQueueAndMetricVariables) {
  const ExportConfig c = load({{"OTEL_BSP_SCHEDULE_DELAY", "250"},
                               {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100"},
                               {"OTEL_BSP_MAX_QUEUE_SIZE", "1000"},
                               {"OTEL_BLRP_SCHEDULE_DELAY", "0"},
                               {"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "7"},
                               {"OTEL_BLRP_MAX_QUEUE_SIZE", "70"},
                               {"OTEL_METRIC_EXPORT_INTERVAL", "15000"},
                               {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"}});
  EXPECT_EQ(c.schedule_delay, milliseconds(250));
  EXPECT_EQ(c.max_export_batch_size, 100u);
  EXPECT_EQ(c.max_queue_size, 1000u);
  EXPECT_EQ(c.logs_schedule_delay, milliseconds(0));
  EXPECT_EQ(c.logs_max_export_batch_size, 7u);
  EXPECT_EQ(c.logs_max_queue_size, 70u);
  EXPECT_EQ(c.metric_export_interval, milliseconds(15000));
  EXPECT_EQ(c.metrics_temporality_preference, "delta");
  EXPECT_EQ(load({{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "LowMemory"}}).metrics_temporality_preference,
            "lowmemory");
  EXPECT_ERROR_NAMES((Env{{"OTEL_BSP_SCHEDULE_DELAY", "fast"}}), "OTEL_BSP_SCHEDULE_DELAY");
  EXPECT_ERROR_NAMES((Env{{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"}}), "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
  EXPECT_ERROR_NAMES((Env{{"OTEL_BSP_MAX_QUEUE_SIZE", "1.5"}}), "OTEL_BSP_MAX_QUEUE_SIZE");
  EXPECT_ERROR_NAMES((Env{{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"}}), "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
  EXPECT_ERROR_NAMES((Env{{"OTEL_BLRP_MAX_QUEUE_SIZE", "10"}}), "OTEL_BLRP_MAX_QUEUE_SIZE");  // < batch 512
  EXPECT_ERROR_NAMES((Env{{"OTEL_METRIC_EXPORT_INTERVAL", "0"}}), "OTEL_METRIC_EXPORT_INTERVAL");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes"}}),
                     "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
}

TEST(ExportConfig, InvalidEndpoints) {
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c:21"}}), "OTEL_EXPORTER_OTLP_ENDPOINT");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"}}), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  EXPECT_ERROR_NAMES((Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a b"}}), "OTEL_EXPORTER_OTLP_ENDPOINT");
}

}  // namespace
}  // namespace otlp_mmap::collector

// OTLP/gRPC exporter: the generated TraceService / MetricsService / LogsService stubs.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

#include "export_internal.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace otlp_mmap::collector::detail {

namespace {

namespace trace_v1 = opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = opentelemetry::proto::collector::metrics::v1;
namespace logs_v1 = opentelemetry::proto::collector::logs::v1;

constexpr const char* kUserAgent = "otlp-mmap-collector/0.1.0";

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "UNKNOWN_CODE";
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "http://host:port/path" -> "host:port"; targets without a scheme are used as given.
std::string grpc_target(const std::string& endpoint) {
  std::string t = endpoint;
  const size_t sep = t.find("://");
  if (sep == std::string::npos) return t;
  const std::string scheme = t.substr(0, sep);
  if (scheme != "http" && scheme != "https" && scheme != "HTTP" && scheme != "HTTPS") return t;
  t = t.substr(sep + 3);
  const size_t slash = t.find_first_of("/?#");
  if (slash != std::string::npos) t.resize(slash);
  return t;
}

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(Signal signal, const SignalExportConfig& config)
      : signal_(signal), headers_(config.headers), timeout_(config.timeout) {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (config.insecure) {
      credentials = grpc::InsecureChannelCredentials();
    } else {
      grpc::SslCredentialsOptions ssl;
      if (!config.certificate_file.empty()) ssl.pem_root_certs = read_file(config.certificate_file);
      if (!config.client_key_file.empty()) ssl.pem_private_key = read_file(config.client_key_file);
      if (!config.client_certificate_file.empty()) ssl.pem_cert_chain = read_file(config.client_certificate_file);
      credentials = grpc::SslCredentials(ssl);
    }
    grpc::ChannelArguments args;
    args.SetUserAgentPrefix(kUserAgent);
    if (config.gzip) args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
    // Reconnect soon after an outage: our own retries decide how often we try.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // retries are ours (and counted)
    channel_ = grpc::CreateCustomChannel(grpc_target(config.endpoint), credentials, args);
    switch (signal_) {
      case Signal::kTraces: trace_ = trace_v1::TraceService::NewStub(channel_); break;
      case Signal::kMetrics: metrics_ = metrics_v1::MetricsService::NewStub(channel_); break;
      case Signal::kLogs: logs_ = logs_v1::LogsService::NewStub(channel_); break;
    }
  }

  void cancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }

  SendOutcome send(const google::protobuf::Message& request) override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout_);
    for (const auto& [key, value] : headers_) context.AddMetadata(key, value);
    {
      std::lock_guard lock(mu_);
      if (cancelled_) return SendOutcome::retryable("cancelled", "exporter stopping");
      current_ = &context;
    }
    grpc::Status status;
    uint64_t rejected = 0;
    std::string partial_message;
    switch (signal_) {
      case Signal::kTraces: {
        trace_v1::ExportTraceServiceResponse response;
        status = trace_->Export(&context, static_cast<const trace_v1::ExportTraceServiceRequest&>(request), &response);
        rejected = static_cast<uint64_t>(std::max<int64_t>(0, response.partial_success().rejected_spans()));
        partial_message = response.partial_success().error_message();
        break;
      }
      case Signal::kMetrics: {
        metrics_v1::ExportMetricsServiceResponse response;
        status =
            metrics_->Export(&context, static_cast<const metrics_v1::ExportMetricsServiceRequest&>(request), &response);
        rejected = static_cast<uint64_t>(std::max<int64_t>(0, response.partial_success().rejected_data_points()));
        partial_message = response.partial_success().error_message();
        break;
      }
      case Signal::kLogs: {
        logs_v1::ExportLogsServiceResponse response;
        status = logs_->Export(&context, static_cast<const logs_v1::ExportLogsServiceRequest&>(request), &response);
        rejected = static_cast<uint64_t>(std::max<int64_t>(0, response.partial_success().rejected_log_records()));
        partial_message = response.partial_success().error_message();
        break;
      }
    }
    bool cancelled;
    {
      std::lock_guard lock(mu_);
      current_ = nullptr;
      cancelled = cancelled_;
    }
    if (status.ok()) return SendOutcome::ok(rejected, std::move(partial_message));
    if (cancelled) return SendOutcome::retryable("cancelled", "exporter stopping");

    const grpc::StatusCode code = status.error_code();
    const std::string kind = std::string("gRPC ") + code_name(code);
    const std::optional<std::chrono::milliseconds> retry_info = parse_grpc_retry_info(status.error_details());
    switch (code) {
      case grpc::StatusCode::CANCELLED:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
      case grpc::StatusCode::ABORTED:
      case grpc::StatusCode::OUT_OF_RANGE:
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::DATA_LOSS: {
        std::optional<std::chrono::milliseconds> delay;
        if (retry_info && retry_info->count() > 0) delay = retry_info;
        return SendOutcome::retryable(kind, status.error_message(), delay);
      }
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        // Retryable only when the server says when to come back (RetryInfo).
        if (retry_info) {
          std::optional<std::chrono::milliseconds> delay;
          if (retry_info->count() > 0) delay = retry_info;
          return SendOutcome::retryable(kind, status.error_message(), delay);
        }
        return SendOutcome::permanent(kind, status.error_message());
      default: return SendOutcome::permanent(kind, status.error_message());
    }
  }

 private:
  const Signal signal_;
  const std::map<std::string, std::string> headers_;
  const std::chrono::milliseconds timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<trace_v1::TraceService::Stub> trace_;
  std::unique_ptr<metrics_v1::MetricsService::Stub> metrics_;
  std::unique_ptr<logs_v1::LogsService::Stub> logs_;
  std::mutex mu_;
  bool cancelled_ = false;
  grpc::ClientContext* current_ = nullptr;
};

}  // namespace

std::unique_ptr<Transport> make_grpc_transport(Signal signal, const SignalExportConfig& config) {
  return std::make_unique<GrpcTransport>(signal, config);
}

}  // namespace otlp_mmap::collector::detail

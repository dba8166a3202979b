// OTLP/gRPC: the generated TraceService / MetricsService / LogsService stubs, one transport per signal.

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "request_traits.hpp"
#include "retry_after.hpp"
#include "transport.hpp"

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

// The generated service of each signal's request.
template <class Request>
struct GrpcService;
template <>
struct GrpcService<TraceRequest> {
  using Service = trace_v1::TraceService;
};
template <>
struct GrpcService<MetricsRequest> {
  using Service = metrics_v1::MetricsService;
};
template <>
struct GrpcService<LogsRequest> {
  using Service = logs_v1::LogsService;
};
template <Signal S>
struct GrpcService<Encoded<S>> : GrpcService<typename MessageOf<S>::type> {};

// The Export method of a signal, called with the request's bytes.
const char* export_method(Signal s) {
  switch (s) {
    case Signal::kTraces: return "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    case Signal::kMetrics: return "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    case Signal::kLogs: break;
  }
  return "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
}

// A message goes through the generated stub.
template <class Stub, class Message, class Response>
grpc::Status export_call(Stub* stub, grpc::ChannelInterface*, const grpc::internal::RpcMethod&,
                         grpc::ClientContext& context, const Message& request, Response& response) {
  return stub->Export(&context, request, &response);
}
// An encoded request goes out as it is: the call the generated stub makes after serialising
// a message, with the bytes instead.
template <class Stub, Signal S, class Response>
grpc::Status export_call(Stub*, grpc::ChannelInterface* channel, const grpc::internal::RpcMethod& method,
                         grpc::ClientContext& context, const Encoded<S>& request, Response& response) {
  // The slice owns the encoded bytes: gRPC sends them without a copy of its own.
  auto owned = std::make_unique<std::string>();
  encode(request.request, *owned);
  std::string* bytes = owned.release();
  grpc::Slice slice(
      bytes->data(), bytes->size(), [](void* p) { delete static_cast<std::string*>(p); }, bytes);
  const grpc::ByteBuffer in(&slice, 1);
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, Response>(channel, method, &context, in, &response);
}

// Debian builds abseil without NDEBUG, which turns on absl::Mutex's deadlock detection: every
// lock of gRPC's mutexes then updates a graph of lock order (absl GraphCycles: about 1% of
// the collector's CPU exporting spans, perf). Release builds of abseil leave it off; so do we.
void without_mutex_deadlock_detection() {
  static std::once_flag once;
  std::call_once(once, [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
}

std::shared_ptr<grpc::Channel> make_channel(const SignalExportConfig& config) {
  without_mutex_deadlock_detection();
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
  return grpc::CreateCustomChannel(grpc_target(config.endpoint), credentials, args);
}

// A failed call as the retry policy sees it.
SendOutcome failure(const grpc::Status& status) {
  const grpc::StatusCode code = status.error_code();
  const std::string kind = std::string("gRPC ") + code_name(code);
  const std::optional<std::chrono::milliseconds> retry_info = parse_grpc_retry_info(status.error_details());
  std::optional<std::chrono::milliseconds> delay;
  if (retry_info && retry_info->count() > 0) delay = retry_info;
  switch (code) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS: return SendOutcome::retryable(kind, status.error_message(), delay);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // Retryable only when the server says when to come back (RetryInfo).
      if (retry_info) return SendOutcome::retryable(kind, status.error_message(), delay);
      return SendOutcome::permanent(kind, status.error_message());
    default: return SendOutcome::permanent(kind, status.error_message());
  }
}

template <class Request>
class GrpcTransport final : public Transport<Request> {
 public:
  using Traits = RequestTraits<Request>;
  using Service = typename GrpcService<Request>::Service;

  explicit GrpcTransport(const SignalExportConfig& config)
      : headers_(config.headers),
        channel_(make_channel(config)),
        stub_(Service::NewStub(channel_)),
        method_(export_method(Traits::signal), grpc::internal::RpcMethod::NORMAL_RPC, channel_) {}

  void cancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }

  SendOutcome send(const Request& request, std::chrono::steady_clock::time_point deadline) override {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + (deadline - std::chrono::steady_clock::now()));
    for (const auto& [key, value] : headers_) context.AddMetadata(key, value);
    if (!begin(context)) return SendOutcome::retryable("cancelled", "exporter stopping");
    typename Traits::Response response;
    const grpc::Status status = export_call(stub_.get(), channel_.get(), method_, context, request, response);
    const bool cancelled = end();
    if (status.ok()) return SendOutcome::ok(Traits::rejected(response), response.partial_success().error_message());
    if (cancelled) return SendOutcome::retryable("cancelled", "exporter stopping");
    return failure(status);
  }

 private:
  // The call in progress, for cancel(); false when already cancelled.
  bool begin(grpc::ClientContext& context) {
    std::lock_guard lock(mu_);
    if (cancelled_) return false;
    current_ = &context;
    return true;
  }
  // Whether the call was cancelled while in progress.
  bool end() {
    std::lock_guard lock(mu_);
    current_ = nullptr;
    return cancelled_;
  }

  const std::map<std::string, std::string> headers_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<typename Service::Stub> stub_;
  const grpc::internal::RpcMethod method_;
  std::mutex mu_;
  bool cancelled_ = false;
  grpc::ClientContext* current_ = nullptr;
};

}  // namespace

template <class Request>
std::unique_ptr<Transport<Request>> make_grpc_transport(const SignalExportConfig& config) {
  return std::make_unique<GrpcTransport<Request>>(config);
}

template std::unique_ptr<Transport<TraceRequest>> make_grpc_transport<TraceRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<MetricsRequest>> make_grpc_transport<MetricsRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<LogsRequest>> make_grpc_transport<LogsRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<EncodedTraces>> make_grpc_transport<EncodedTraces>(const SignalExportConfig&);
template std::unique_ptr<Transport<EncodedLogs>> make_grpc_transport<EncodedLogs>(const SignalExportConfig&);

}  // namespace otlp_mmap::collector::detail

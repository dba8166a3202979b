// OTLP/HTTP exporter (binary protobuf or JSON) with libcurl.

#include <curl/curl.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "export_internal.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace otlp_mmap::collector::detail {

namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;  // more is never needed (partial success, errors)
constexpr const char* kUserAgent = "otlp-mmap-collector/0.1.0";

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Printable, bounded excerpt of a response body for the log.
std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 300)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : ' ';
  }
  if (body.size() > 300) out += "...";
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

template <typename Response>
SendOutcome partial_success(const std::string& body, bool json, uint64_t (*rejected)(const Response&)) {
  if (body.empty()) return SendOutcome::ok();
  Response response;
  bool parsed;
  if (json) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    parsed = google::protobuf::util::JsonStringToMessage(body, &response, options).ok();
  } else {
    parsed = response.ParseFromString(body);
  }
  if (!parsed || !response.has_partial_success()) return SendOutcome::ok();
  return SendOutcome::ok(rejected(response), response.partial_success().error_message());
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(Signal signal, const SignalExportConfig& config)
      : signal_(signal), json_(config.protocol == Protocol::kHttpJson), gzip_(config.gzip) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
    headers_ =
        curl_slist_append(headers_, json_ ? "Content-Type: application/json" : "Content-Type: application/x-protobuf");
    if (gzip_) headers_ = curl_slist_append(headers_, "Content-Encoding: gzip");
    headers_ = curl_slist_append(headers_, "Expect:");  // no 100-continue round trip
    for (const auto& [key, value] : config.headers) {
      if (key == "content-type" || key == "content-encoding") continue;  // ours
      headers_ = curl_slist_append(headers_, (key + ": " + value).c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_URL, config.endpoint.c_str());
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, kUserAgent);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpTransport::on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &HttpTransport::on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, &HttpTransport::on_progress);
    curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, this);
    if (!config.certificate_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, config.certificate_file.c_str());
    if (!config.client_certificate_file.empty()) {
      curl_easy_setopt(curl_, CURLOPT_SSLCERT, config.client_certificate_file.c_str());
    }
    if (!config.client_key_file.empty()) curl_easy_setopt(curl_, CURLOPT_SSLKEY, config.client_key_file.c_str());
  }

  ~HttpTransport() override {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }

  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  void cancel() override { cancelled_ = true; }

  SendOutcome send(const google::protobuf::Message& request) override {
    if (cancelled_) return SendOutcome::retryable("cancelled", "exporter stopping");
    std::string body = json_ ? to_otlp_json(request) : request.SerializeAsString();
    if (gzip_) body = gzip_compress(body);
    response_.clear();
    retry_after_.clear();
    error_[0] = '\0';
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    const CURLcode rc = curl_easy_perform(curl_);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, nullptr);
    if (rc != CURLE_OK) {
      if (cancelled_) return SendOutcome::retryable("cancelled", "exporter stopping");
      std::string message = error_[0] != '\0' ? std::string(error_) : std::string(curl_easy_strerror(rc));
      switch (rc) {
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CIPHER:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT: return SendOutcome::permanent("TLS or URL error", message);
        default:
          // Connection refused or reset, timeouts, DNS: the endpoint may come back.
          return SendOutcome::retryable("connection error", message);
      }
    }
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return success();
    const std::string kind = "HTTP " + std::to_string(status);
    std::string message = error_message();
    if (status == 429 || status == 502 || status == 503 || status == 504) {
      return SendOutcome::retryable(kind, std::move(message),
                                    parse_retry_after(retry_after_, std::chrono::system_clock::now()));
    }
    return SendOutcome::permanent(kind, std::move(message));
  }

 private:
  SendOutcome success() const {
    using opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
    using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse;
    using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
    switch (signal_) {
      case Signal::kTraces:
        return partial_success<ExportTraceServiceResponse>(response_, json_, [](const ExportTraceServiceResponse& r) {
          return static_cast<uint64_t>(std::max<int64_t>(0, r.partial_success().rejected_spans()));
        });
      case Signal::kMetrics:
        return partial_success<ExportMetricsServiceResponse>(
            response_, json_, [](const ExportMetricsServiceResponse& r) {
              return static_cast<uint64_t>(std::max<int64_t>(0, r.partial_success().rejected_data_points()));
            });
      case Signal::kLogs:
        return partial_success<ExportLogsServiceResponse>(response_, json_, [](const ExportLogsServiceResponse& r) {
          return static_cast<uint64_t>(std::max<int64_t>(0, r.partial_success().rejected_log_records()));
        });
    }
    return SendOutcome::ok();
  }

  // The error body: a google.rpc.Status in the request's encoding, or anything else.
  std::string error_message() const {
    char* content_type = nullptr;
    curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &content_type);
    if (content_type != nullptr && iequals_prefix(content_type, "application/x-protobuf")) {
      std::string m = parse_rpc_status_message(response_);
      if (!m.empty()) return excerpt(m);
    }
    return excerpt(response_);
  }

  static size_t on_body(char* data, size_t size, size_t count, void* self) {
    auto* t = static_cast<HttpTransport*>(self);
    const size_t n = size * count;
    const size_t room = kMaxResponseBytes - std::min(kMaxResponseBytes, t->response_.size());
    t->response_.append(data, std::min(n, room));
    return n;
  }

  static size_t on_header(char* data, size_t size, size_t count, void* self) {
    auto* t = static_cast<HttpTransport*>(self);
    const size_t n = size * count;
    const std::string_view line(data, n);
    if (iequals_prefix(line, "retry-after:")) t->retry_after_ = std::string(line.substr(12));
    return n;
  }

  static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<HttpTransport*>(self)->cancelled_.load() ? 1 : 0;
  }

  const Signal signal_;
  const bool json_, gzip_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::atomic<bool> cancelled_{false};
  std::string response_;
  std::string retry_after_;
  char error_[CURL_ERROR_SIZE] = {};
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(Signal signal, const SignalExportConfig& config) {
  return std::make_unique<HttpTransport>(signal, config);
}

}  // namespace otlp_mmap::collector::detail

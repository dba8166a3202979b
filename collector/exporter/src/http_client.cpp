#include "http_client.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include "retry_after.hpp"

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

// Milliseconds left until `deadline`, at least 1 (0 would mean no limit to libcurl).
long millis_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<long>(std::max<int64_t>(1, left.count()));
}

}  // namespace

HttpClient::HttpClient(const SignalExportConfig& config)
    : json_(config.protocol == Protocol::kHttpJson), gzip_(config.gzip) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
  set_headers(config);
  set_options(config);
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(curl_);
  curl_slist_free_all(headers_);
}

void HttpClient::set_headers(const SignalExportConfig& config) {
  headers_ =
      curl_slist_append(headers_, json_ ? "Content-Type: application/json" : "Content-Type: application/x-protobuf");
  if (gzip_) headers_ = curl_slist_append(headers_, "Content-Encoding: gzip");
  headers_ = curl_slist_append(headers_, "Expect:");  // no 100-continue round trip
  for (const auto& [key, value] : config.headers) {
    if (key == "content-type" || key == "content-encoding") continue;  // ours
    headers_ = curl_slist_append(headers_, (key + ": " + value).c_str());
  }
}

void HttpClient::set_options(const SignalExportConfig& config) {
  curl_easy_setopt(curl_, CURLOPT_URL, config.endpoint.c_str());
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl_, CURLOPT_POST, 1L);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpClient::on_body);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &HttpClient::on_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, &HttpClient::on_progress);
  curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, this);
  if (!config.certificate_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, config.certificate_file.c_str());
  if (!config.client_certificate_file.empty()) {
    curl_easy_setopt(curl_, CURLOPT_SSLCERT, config.client_certificate_file.c_str());
  }
  if (!config.client_key_file.empty()) curl_easy_setopt(curl_, CURLOPT_SSLKEY, config.client_key_file.c_str());
}

SendOutcome HttpClient::post(const std::string& body, std::chrono::steady_clock::time_point deadline,
                             const OnSuccess& success) {
  if (cancelled_) return SendOutcome::retryable("cancelled", "exporter stopping");
  response_.clear();
  retry_after_.clear();
  error_[0] = '\0';
  const long timeout = millis_until(deadline);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  const CURLcode rc = curl_easy_perform(curl_);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, nullptr);
  if (rc != CURLE_OK) return connection_failure(rc);
  return answer(success);
}

SendOutcome HttpClient::connection_failure(CURLcode rc) const {
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

SendOutcome HttpClient::answer(const OnSuccess& success) const {
  long status = 0;
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return success(response_);
  const std::string kind = "HTTP " + std::to_string(status);
  std::string message = error_message();
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    return SendOutcome::retryable(kind, std::move(message),
                                  parse_retry_after(retry_after_, std::chrono::system_clock::now()));
  }
  return SendOutcome::permanent(kind, std::move(message));
}

// The error body: a google.rpc.Status in the request's encoding, or anything else.
std::string HttpClient::error_message() const {
  char* content_type = nullptr;
  curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &content_type);
  if (content_type != nullptr && iequals_prefix(content_type, "application/x-protobuf")) {
    std::string m = parse_rpc_status_message(response_);
    if (!m.empty()) return excerpt(m);
  }
  return excerpt(response_);
}

size_t HttpClient::on_body(char* data, size_t size, size_t count, void* self) {
  auto* c = static_cast<HttpClient*>(self);
  const size_t n = size * count;
  const size_t room = kMaxResponseBytes - std::min(kMaxResponseBytes, c->response_.size());
  c->response_.append(data, std::min(n, room));
  return n;
}

size_t HttpClient::on_header(char* data, size_t size, size_t count, void* self) {
  auto* c = static_cast<HttpClient*>(self);
  const size_t n = size * count;
  const std::string_view line(data, n);
  if (iequals_prefix(line, "retry-after:")) c->retry_after_ = std::string(line.substr(12));
  return n;
}

int HttpClient::on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<HttpClient*>(self)->cancelled_.load() ? 1 : 0;
}

}  // namespace otlp_mmap::collector::detail

// One libcurl handle that posts request bodies to one OTLP/HTTP endpoint and tells how each
// post ended: a 2xx answer's body goes to the caller (partial success is in it), anything
// else becomes the outcome here (the status codes OTLP/HTTP retries, Retry-After, the error
// body as a google.rpc.Status or text).
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "otlp_mmap/collector/exporter/export_config.hpp"
#include "send_outcome.hpp"

namespace otlp_mmap::collector::detail {

class HttpClient {
 public:
  explicit HttpClient(const SignalExportConfig& config);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using OnSuccess = std::function<SendOutcome(const std::string& response_body)>;
  SendOutcome post(const std::string& body, std::chrono::steady_clock::time_point deadline, const OnSuccess& success);
  void cancel() { cancelled_ = true; }

  bool json() const { return json_; }
  bool gzip() const { return gzip_; }

 private:
  void set_headers(const SignalExportConfig& config);
  void set_options(const SignalExportConfig& config);
  SendOutcome connection_failure(CURLcode rc) const;
  SendOutcome answer(const OnSuccess& success) const;
  std::string error_message() const;
  static size_t on_body(char* data, size_t size, size_t count, void* self);
  static size_t on_header(char* data, size_t size, size_t count, void* self);
  static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t);

  const bool json_, gzip_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::atomic<bool> cancelled_{false};
  std::string response_;
  std::string retry_after_;
  char error_[CURL_ERROR_SIZE] = {};
};

}  // namespace otlp_mmap::collector::detail

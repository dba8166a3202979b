// OTLP/HTTP (binary protobuf or JSON), one transport per signal on an HttpClient.

#include <google/protobuf/util/json_util.h>

#include <memory>
#include <string>

#include "export_internal.hpp"
#include "gzip.hpp"
#include "http_client.hpp"
#include "request_traits.hpp"
#include "transport.hpp"

namespace otlp_mmap::collector::detail {

namespace {

// A 2xx answer: items the endpoint rejected, from the partial success in its body if any.
template <class Request>
SendOutcome partial_success(const std::string& body, bool json) {
  using Traits = RequestTraits<Request>;
  if (body.empty()) return SendOutcome::ok();
  typename Traits::Response response;
  bool parsed;
  if (json) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    parsed = google::protobuf::util::JsonStringToMessage(body, &response, options).ok();
  } else {
    parsed = response.ParseFromString(body);
  }
  if (!parsed || !response.has_partial_success()) return SendOutcome::ok();
  return SendOutcome::ok(Traits::rejected(response), response.partial_success().error_message());
}

// The request's body: OTLP/JSON or protobuf; an encoded request is sent as it is.
template <class Request>
std::string body_of(const Request& request, bool json) {
  return json ? to_otlp_json(request) : request.SerializeAsString();
}
template <Signal S>
std::string body_of(const Encoded<S>& request, bool json) {
  if (json) {
    typename MessageOf<S>::type message;
    to_message(request.request, message);
    return to_otlp_json(message);
  }
  std::string body;
  encode(request.request, body);
  return body;
}

template <class Request>
class HttpTransport final : public Transport<Request> {
 public:
  explicit HttpTransport(const SignalExportConfig& config) : client_(config) {}

  SendOutcome send(const Request& request, std::chrono::steady_clock::time_point deadline) override {
    std::string body = body_of(request, client_.json());
    if (client_.gzip()) body = gzip_compress(body);
    return client_.post(body, deadline, [this](const std::string& response) {
      return partial_success<Request>(response, client_.json());
    });
  }
  void cancel() override { client_.cancel(); }

 private:
  HttpClient client_;
};

}  // namespace

template <class Request>
std::unique_ptr<Transport<Request>> make_http_transport(const SignalExportConfig& config) {
  return std::make_unique<HttpTransport<Request>>(config);
}

template std::unique_ptr<Transport<TraceRequest>> make_http_transport<TraceRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<MetricsRequest>> make_http_transport<MetricsRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<LogsRequest>> make_http_transport<LogsRequest>(const SignalExportConfig&);
template std::unique_ptr<Transport<EncodedTraces>> make_http_transport<EncodedTraces>(const SignalExportConfig&);
template std::unique_ptr<Transport<EncodedLogs>> make_http_transport<EncodedLogs>(const SignalExportConfig&);

}  // namespace otlp_mmap::collector::detail

// export_probe: drives the collector's exporter (its queue, retries, timeout and transports)
// without the pipeline and its batching, for tests against real servers. The configuration comes from the OTEL_*
// variables and the same flags as the collector; synthetic spans / log records / metric points are submitted on
// command.
//
//   export_probe [--endpoint URL] [--protocol P] [--headers H] [--compression C] [--timeout MS]
//                [--format text|json] [--output PATH] [tuning flags, see --help]
//                [--spans N] [--logs N] [--metrics N]
//
// After the --spans/--logs/--metrics requests, commands are read from stdin, one per line:
//   spans N | logs N | metrics N   submit one request of N items (numbered on from 0 per signal)
//   flush MS                       flush with a deadline; answers PROBE {"flush":true|false}
//   stats                          answers PROBE {"traces":{...},"metrics":{...},"logs":{...}}
//   sleep MS | quit
// At quit or end of input: flush (--flush-timeout), print PROBE {"final":true,"flushed":..,
// <stats>}, destroy the exporter, exit 0. Invalid configuration: PROBE {"error":"..."}, exit 2.
// Item k of a signal carries the attribute probe.seq=k; span k has span id k+1 (hex
// 16 digits), log record k has body "probe-log-k", data point k is a sum point of value k.
// Answers are lines starting with "PROBE " on stdout (console exporters may share stdout).

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "otlp_mmap/collector/exporter/exporter.hpp"

namespace {

using namespace otlp_mmap::collector;

std::string be_bytes(uint64_t v, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n && i < 8; ++i) out[n - 1 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

void set_seq(opentelemetry::proto::common::v1::KeyValue* kv, uint64_t seq) {
  kv->set_key("probe.seq");
  kv->mutable_value()->set_int_value(static_cast<int64_t>(seq));
}

struct Probe {
  std::string service = "export-probe";
  uint64_t next_span = 0, next_log = 0, next_point = 0, requests = 0;

  template <typename ResourceEntry>
  void resource(ResourceEntry* r) {
    auto* a = r->mutable_resource()->add_attributes();
    a->set_key("service.name");
    a->mutable_value()->set_string_value(service);
  }

  TraceRequest spans(uint64_t n) {
    TraceRequest req;
    auto* rs = req.add_resource_spans();
    resource(rs);
    auto* ss = rs->add_scope_spans();
    ss->mutable_scope()->set_name("export_probe");
    const uint64_t t = now_ns();
    ++requests;
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t k = next_span++;
      auto* s = ss->add_spans();
      s->set_trace_id(be_bytes(0x0af7651916cd43ddULL, 8) + be_bytes(requests, 8));
      s->set_span_id(be_bytes(k + 1, 8));
      s->set_name("probe-span-" + std::to_string(k));
      s->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_INTERNAL);
      s->set_start_time_unix_nano(t);
      s->set_end_time_unix_nano(t + 1000000);
      set_seq(s->add_attributes(), k);
    }
    return req;
  }

  LogsRequest logs(uint64_t n) {
    LogsRequest req;
    auto* rl = req.add_resource_logs();
    resource(rl);
    auto* sl = rl->add_scope_logs();
    sl->mutable_scope()->set_name("export_probe");
    const uint64_t t = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t k = next_log++;
      auto* l = sl->add_log_records();
      l->set_time_unix_nano(t);
      l->set_observed_time_unix_nano(t);
      l->set_severity_number(opentelemetry::proto::logs::v1::SEVERITY_NUMBER_INFO);
      l->set_severity_text("INFO");
      l->mutable_body()->set_string_value("probe-log-" + std::to_string(k));
      set_seq(l->add_attributes(), k);
    }
    return req;
  }

  MetricsRequest metrics(uint64_t n) {
    MetricsRequest req;
    auto* rm = req.add_resource_metrics();
    resource(rm);
    auto* sm = rm->add_scope_metrics();
    sm->mutable_scope()->set_name("export_probe");
    auto* m = sm->add_metrics();
    m->set_name("probe.counter");
    m->set_unit("1");
    m->mutable_sum()->set_is_monotonic(true);
    m->mutable_sum()->set_aggregation_temporality(
        opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
    const uint64_t t = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t k = next_point++;
      auto* p = m->mutable_sum()->add_data_points();
      p->set_start_time_unix_nano(t - 1000000000);
      p->set_time_unix_nano(t);
      p->set_as_int(static_cast<int64_t>(k));
      set_seq(p->add_attributes(), k);
    }
    return req;
  }
};

std::string stats_json(const SignalExportStats& s) {
  std::ostringstream o;
  o << "{\"submitted\":" << s.items_submitted << ",\"exported\":" << s.items_exported
    << ",\"rejected\":" << s.items_rejected << ",\"dropped\":" << s.items_dropped
    << ",\"requests_failed\":" << s.requests_failed << ",\"retries\":" << s.retries << "}";
  return o.str();
}

std::string all_stats(const Exporter& e) {
  return "\"traces\":" + stats_json(e.stats(Signal::kTraces)) +
         ",\"metrics\":" + stats_json(e.stats(Signal::kMetrics)) + ",\"logs\":" + stats_json(e.stats(Signal::kLogs));
}

void answer(const std::string& json) {
  std::fflush(stdout);
  std::cout << "PROBE " << json << std::endl;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Drives the otlp-mmap exporter with synthetic telemetry (tests)."};
  ExportOverrides flags;
  app.add_option("--endpoint", flags.endpoint, "OTLP endpoint (as OTEL_EXPORTER_OTLP_ENDPOINT)");
  app.add_option("--protocol", flags.protocol, "grpc | http/protobuf | http/json");
  app.add_option("--headers", flags.headers, "k=v,k2=v2");
  app.add_option("--compression", flags.compression, "gzip | none");
  app.add_option("--timeout", flags.timeout_ms, "per-attempt timeout, ms");
  app.add_option("--format", flags.console_format, "console format: text | json");
  app.add_option("--output", flags.console_output, "console output file");
  int64_t max_retry_elapsed = -1, retry_initial = -1, retry_max = -1;
  int64_t queue_size = -1, max_queue_requests = -1, flush_timeout = 10000;
  uint64_t spans = 0, logs = 0, metrics = 0;
  Probe probe;
  app.add_option("--max-retry-elapsed-ms", max_retry_elapsed);
  app.add_option("--retry-initial-ms", retry_initial);
  app.add_option("--retry-max-ms", retry_max);
  app.add_option("--queue-size", queue_size, "items per signal (spans and log records)");
  app.add_option("--max-queue-requests", max_queue_requests);
  app.add_option("--flush-timeout-ms", flush_timeout, "final flush");
  app.add_option("--service", probe.service, "service.name of the synthetic resource");
  app.add_option("--spans", spans);
  app.add_option("--logs", logs);
  app.add_option("--metrics", metrics);
  CLI11_PARSE(app, argc, argv);

  ExportConfig config;
  try {
    config = load_export_config(flags);
  } catch (const std::exception& e) {
    answer("{\"error\":\"" + json_escape(e.what()) + "\"}");
    return 2;
  }
  using ms = std::chrono::milliseconds;
  if (max_retry_elapsed >= 0) config.max_retry_elapsed = ms(max_retry_elapsed);
  if (retry_initial >= 0) config.retry_initial_backoff = ms(retry_initial);
  if (retry_max >= 0) config.retry_max_backoff = ms(retry_max);
  if (queue_size > 0) config.max_queue_size = config.logs_max_queue_size = static_cast<size_t>(queue_size);
  if (max_queue_requests > 0) config.max_queue_requests = static_cast<size_t>(max_queue_requests);

  std::unique_ptr<Exporter> exporter;
  try {
    exporter = make_exporter(config);
  } catch (const std::exception& e) {
    answer("{\"error\":\"" + json_escape(e.what()) + "\"}");
    return 2;
  }
  if (spans > 0) exporter->submit(probe.spans(spans));
  if (logs > 0) exporter->submit(probe.logs(logs));
  if (metrics > 0) exporter->submit(probe.metrics(metrics));

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    uint64_t n = 0;
    in >> cmd >> n;
    if (cmd == "spans") {
      exporter->submit(probe.spans(n));
    } else if (cmd == "logs") {
      exporter->submit(probe.logs(n));
    } else if (cmd == "metrics") {
      exporter->submit(probe.metrics(n));
    } else if (cmd == "flush") {
      const bool ok = exporter->flush(std::chrono::steady_clock::now() + ms(n));
      answer(std::string("{\"flush\":") + (ok ? "true" : "false") + "}");
    } else if (cmd == "stats") {
      answer("{" + all_stats(*exporter) + "}");
    } else if (cmd == "sleep") {
      std::this_thread::sleep_for(ms(n));
    } else if (cmd == "quit") {
      break;
    } else if (!cmd.empty()) {
      answer("{\"unknown\":\"" + json_escape(cmd) + "\"}");
    }
  }
  const bool flushed = exporter->flush(std::chrono::steady_clock::now() + ms(flush_timeout));
  exporter->shutdown();  // what was left is counted as dropped
  answer(std::string("{\"final\":true,\"flushed\":") + (flushed ? "true" : "false") + "," + all_stats(*exporter) + "}");
  exporter.reset();
  return 0;
}

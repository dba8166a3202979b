#include "otlp_mmap/collector/cli/cli.hpp"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "otlp_mmap/collector/cli/tools.hpp"
#include "otlp_mmap/collector/exporter/exporter.hpp"
#include "otlp_mmap/collector/pipeline/pipeline.hpp"
#include "otlp_mmap/collector/processor/metrics_backend.hpp"
#include "otlp_mmap/file_trust.hpp"

namespace otlp_mmap::collector {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
  if (g_stop.exchange(true)) {
    // A second request: the user does not want to wait for the flush.
    static const char msg[] = "otlp-mmap: second signal, exiting without flushing\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(1);
  }
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  // Writes to a closed pipe or socket report EPIPE instead of killing the process.
  ::signal(SIGPIPE, SIG_IGN);
}

const char* kCollectFooter = R"(Environment (flags win over variables; empty variables count as unset):
  SDK_MMAP_EXPORTER_FILE                 the telemetry file (default: none; --file)
  OTEL_EXPORTER_OTLP_ENDPOINT            OTLP endpoint of every signal; HTTP adds /v1/<signal>
                                         (default: none, which selects the console exporter;
                                         with OTEL_<SIGNAL>_EXPORTER=otlp and no endpoint:
                                         http://localhost:4318, or http://localhost:4317 for grpc)
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT     per signal, used as is (default: none)
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT    (default: none)
  OTEL_EXPORTER_OTLP_LOGS_ENDPOINT       (default: none)
  OTEL_EXPORTER_OTLP_PROTOCOL            grpc | http/protobuf | http/json (default: http/protobuf)
  OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL   per signal (default: the generic one)
  OTEL_EXPORTER_OTLP_HEADERS             k1=v1,k2=v2, percent-encoded (default: none)
  OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS    per signal (default: the generic one)
  OTEL_EXPORTER_OTLP_TIMEOUT             milliseconds per export attempt (default: 10000)
  OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT    per signal (default: the generic one)
  OTEL_EXPORTER_OTLP_COMPRESSION         gzip | none (default: none)
  OTEL_EXPORTER_OTLP_<SIGNAL>_COMPRESSION per signal (default: the generic one)
  OTEL_EXPORTER_OTLP_INSECURE            true | false: gRPC without TLS when the endpoint has
                                         no scheme (default: false)
  OTEL_EXPORTER_OTLP_CERTIFICATE         CA bundle for TLS (default: the system's)
  OTEL_EXPORTER_OTLP_CLIENT_KEY          client key for mutual TLS (default: none)
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE  client certificate for mutual TLS (default: none)
                                         (the last four also per signal: _<SIGNAL>_...)
  OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER
                                         otlp | console | none (default: otlp when an
                                         endpoint is configured, else console)
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
                                         cumulative | delta | lowmemory (default: cumulative)
  OTEL_METRIC_EXPORT_INTERVAL            milliseconds between metric exports (default: 60000)
  OTEL_BSP_SCHEDULE_DELAY                milliseconds a span may wait for a batch (default: 5000)
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE         spans per export (default: 512)
  OTEL_BSP_MAX_QUEUE_SIZE                spans queued for export, beyond: dropped (default: 2048)
  OTEL_BLRP_SCHEDULE_DELAY               milliseconds a log record may wait (default: 1000)
  OTEL_BLRP_MAX_EXPORT_BATCH_SIZE        log records per export (default: 512)
  OTEL_BLRP_MAX_QUEUE_SIZE               log records queued, beyond: dropped (default: 2048)
<SIGNAL> is TRACES, METRICS or LOGS.

Spans whose end never comes are exported with the attribute otlp_mmap.incomplete=true (and
otlp_mmap.incomplete.reason) when their writer process exited, when they outlive
--max-span-age, when --max-in-flight-spans is exceeded (oldest first), or at shutdown.
SIGTERM or SIGINT: the rings are drained, open spans exported as incomplete, metrics collected
a last time and everything flushed (bounded by --shutdown-timeout); a second signal exits at
once. Exit status: 0; 1 when the path names a file that cannot be trusted at start (not a
regular file, a symbolic link without --follow-symlinks, group- or world-writable without
--allow-shared-writable, or another user's without --trust-any-owner); 2 for a bad
configuration.

One collector reads a file at a time: collect holds an exclusive lock on the file it reads
(an OFD lock on its first byte). A second collect on the same file waits as a hot standby,
trying the lock every 150 ms, and takes over when the first exits (both logged), so a
restart overlap neither loses nor duplicates records. inspect and stats take no lock.
A file that shrinks or faults (SIGBUS) under the collector is dropped, logged and counted
(files_failed); the collector keeps what it aggregated and waits for a valid file at the path.
Files the collector creates (--output) are created with mode 0600.)";

std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  const int64_t ns = d.count();
  if (ns % duration_cast<nanoseconds>(hours(1)).count() == 0 && ns != 0)
    return std::to_string(ns / 3600000000000) + "h";
  if (ns % 60000000000 == 0 && ns != 0) return std::to_string(ns / 60000000000) + "m";
  if (ns % 1000000000 == 0) return std::to_string(ns / 1000000000) + "s";
  return std::to_string(ns / 1000000) + "ms";
}

int bad_config(const std::string& message) {
  std::cerr << "otlp-mmap collect: configuration error: " << message << '\n';
  return 2;
}

struct CollectArgs {
  std::string file;
  ExportOverrides overrides;
  std::optional<std::string> metric_export_interval_ms;
  std::optional<std::string> temporality;
  std::optional<std::string> schedule_delay_ms;
  std::optional<std::string> max_export_batch_size;
  std::string max_span_age = "1h";
  size_t max_in_flight_spans = 100000;
  double stats_interval = 10;
  size_t cardinality_limit = 2000;
  size_t max_metric_series = 100000;
  double shutdown_timeout = 10;
  std::string max_retry_after = "5m";
  double torn_grace = 2;
  bool no_writer_check = false;
  TrustPolicy trust;
};

// --trust-any-owner, --allow-shared-writable and --follow-symlinks on a subcommand; the
// OTLP_MMAP_* variables (TrustPolicy::from_env) are the defaults, applied in trust_from().
struct TrustFlags {
  bool any_owner = false;
  bool shared_writable = false;
  bool follow_symlinks = false;
};

void add_trust_flags(CLI::App* app, TrustFlags& f, const char* group) {
  app->add_flag("--trust-any-owner", f.any_owner, "Read a file owned by another user (OTLP_MMAP_TRUST_ANY_OWNER=1)")
      ->group(group);
  app->add_flag("--allow-shared-writable", f.shared_writable,
                "Read a file that group or others may write (OTLP_MMAP_ALLOW_SHARED_WRITABLE=1)")
      ->group(group);
  app->add_flag("--follow-symlinks", f.follow_symlinks,
                "Follow a symbolic link at the path (OTLP_MMAP_FOLLOW_SYMLINKS=1)")
      ->group(group);
}

// Throws std::invalid_argument for a malformed variable.
TrustPolicy trust_from(const TrustFlags& f) {
  TrustPolicy p = TrustPolicy::from_env();
  p.any_owner = p.any_owner || f.any_owner;
  p.shared_writable = p.shared_writable || f.shared_writable;
  p.follow_symlinks = p.follow_symlinks || f.follow_symlinks;
  return p;
}

std::optional<uint64_t> parse_uint(const std::string& s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::chrono::nanoseconds seconds_f(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

int run_collect(const CollectArgs& a) {
  if (a.file.empty()) return bad_config("no file: give --file or set SDK_MMAP_EXPORTER_FILE");
  ExportConfig config;
  try {
    config = load_export_config(a.overrides);
  } catch (const std::exception& e) {
    return bad_config(e.what());
  }
  if (a.metric_export_interval_ms) {
    auto v = parse_uint(*a.metric_export_interval_ms);
    if (!v || *v == 0) return bad_config("--metric-export-interval: expected milliseconds > 0");
    config.metric_export_interval = std::chrono::milliseconds(*v);
  }
  if (a.schedule_delay_ms) {
    auto v = parse_uint(*a.schedule_delay_ms);
    if (!v) return bad_config("--schedule-delay: expected milliseconds");
    // The flag sets both batch delays (OTEL_BSP_ and OTEL_BLRP_SCHEDULE_DELAY).
    config.schedule_delay = std::chrono::milliseconds(*v);
    config.logs_schedule_delay = std::chrono::milliseconds(*v);
  }
  if (a.max_export_batch_size) {
    auto v = parse_uint(*a.max_export_batch_size);
    if (!v || *v == 0) return bad_config("--max-export-batch-size: expected a number > 0");
    if (*v > config.max_queue_size) {
      return bad_config("--max-export-batch-size must not exceed OTEL_BSP_MAX_QUEUE_SIZE (" +
                        std::to_string(config.max_queue_size) + ")");
    }
    config.max_export_batch_size = *v;
  }
  if (a.temporality) config.metrics_temporality_preference = *a.temporality;
  MetricsOptions metrics_options;
  const std::string& t = config.metrics_temporality_preference;
  if (t == "cumulative") {
    metrics_options.preference = TemporalityPreference::kCumulative;
  } else if (t == "delta") {
    metrics_options.preference = TemporalityPreference::kDelta;
  } else if (t == "lowmemory") {
    metrics_options.preference = TemporalityPreference::kLowMemory;
  } else {
    return bad_config("temporality preference \"" + t + "\": expected cumulative, delta or lowmemory");
  }
  metrics_options.cardinality_limit = a.cardinality_limit;
  if (a.max_metric_series == 0) return bad_config("--max-metric-series must be at least 1");
  metrics_options.max_series = a.max_metric_series;

  PipelineOptions options;
  options.path = a.file;
  const auto age = parse_duration(a.max_span_age);
  if (!age || age->count() <= 0)
    return bad_config("--max-span-age \"" + a.max_span_age + "\": expected e.g. 90s, 30m, 1h");
  options.spans.max_age = *age;
  if (a.max_in_flight_spans == 0) return bad_config("--max-in-flight-spans must be at least 1");
  options.spans.max_in_flight = a.max_in_flight_spans;
  if (!(a.stats_interval >= 0) || !std::isfinite(a.stats_interval)) return bad_config("--stats-interval must be >= 0");
  options.stats_interval = seconds_f(a.stats_interval);
  if (!(a.shutdown_timeout >= 0) || !std::isfinite(a.shutdown_timeout))
    return bad_config("--shutdown-timeout must be >= 0");
  options.flush_timeout = seconds_f(a.shutdown_timeout);
  const auto retry_after = parse_duration(a.max_retry_after);
  if (!retry_after) return bad_config("--max-retry-after \"" + a.max_retry_after + "\": expected e.g. 0, 90s, 5m");
  config.max_retry_after = std::chrono::duration_cast<std::chrono::milliseconds>(*retry_after);
  if (!(a.torn_grace >= 0) || !std::isfinite(a.torn_grace)) return bad_config("--torn-grace must be >= 0");
  options.reader.torn_grace = seconds_f(a.torn_grace);
  options.reader.trust = a.trust;
  options.check_writer_liveness = !a.no_writer_check;
  options.span_batch = config.batch(Signal::kTraces);
  options.log_batch = config.batch(Signal::kLogs);
  options.span_queue_limit = config.queue_limit(Signal::kTraces);
  options.log_queue_limit = config.queue_limit(Signal::kLogs);
  options.metric_export_interval = config.metric_export_interval;

  install_signal_handlers();
  std::unique_ptr<Exporter> exporter;
  try {
    exporter = make_exporter(config);
  } catch (const std::exception& e) {
    return bad_config(e.what());
  }
  std::unique_ptr<MetricsBackend> metrics = make_metrics_backend(metrics_options);
  Pipeline pipeline(options, *exporter, metrics.get());
  std::cerr << "otlp-mmap: collecting " << a.file << " (max span age " << format_duration(options.spans.max_age)
            << ", max in-flight spans " << options.spans.max_in_flight << ")" << std::endl;
  const int rc = pipeline.run(g_stop);
  exporter.reset();
  return rc;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t unit_at = text.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(text[unit_at - 1]))) --unit_at;
  const std::string number = text.substr(0, unit_at);
  const std::string unit = text.substr(unit_at);
  if (number.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  double scale;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else if (unit == "d") {
    scale = 86400e9;
  } else {
    return std::nullopt;
  }
  const double ns = v * scale;
  if (ns > 9.2e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

int cli_main(int argc, char** argv) {
  CLI::App app{"otlp-mmap: reads an otlp-mmap telemetry file and exports OTLP, or inspects the file."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  app.set_version_flag("--version", "otlp-mmap 0.1.0 (otlp-mmap protocol version 1)");

  CollectArgs collect_args;
  CLI::App* collect = app.add_subcommand(
      "collect", "Follow the file and export its spans, logs and metrics as OTLP (console when no endpoint)");
  collect->add_option("-f,--file", collect_args.file, "The telemetry file; waits for it to appear")
      ->type_name("PATH")
      ->envname("SDK_MMAP_EXPORTER_FILE");
  auto& o = collect_args.overrides;
  collect
      ->add_option("--endpoint", o.endpoint,
                   "OTLP endpoint of every signal (OTEL_EXPORTER_OTLP_ENDPOINT); none: console exporter")
      ->type_name("URL")
      ->group("Export");
  collect->add_option("--protocol", o.protocol, "grpc | http/protobuf | http/json (OTEL_EXPORTER_OTLP_PROTOCOL)")
      ->type_name("PROTOCOL")
      ->group("Export");
  collect->add_option("--headers", o.headers, "k1=v1,k2=v2 sent with every export (OTEL_EXPORTER_OTLP_HEADERS)")
      ->type_name("LIST")
      ->group("Export");
  collect->add_option("--compression", o.compression, "gzip | none (OTEL_EXPORTER_OTLP_COMPRESSION)")
      ->type_name("gzip|none")
      ->group("Export");
  collect->add_option("--timeout", o.timeout_ms, "Milliseconds per export attempt (OTEL_EXPORTER_OTLP_TIMEOUT)")
      ->type_name("MS")
      ->group("Export");
  collect->add_option("--format", o.console_format, "Console exporter: text (default) or json (OTLP/JSON lines)")
      ->type_name("text|json")
      ->group("Export");
  collect->add_option("--output", o.console_output, "Console exporter: file to append to (default: stdout)")
      ->type_name("PATH")
      ->group("Export");
  collect
      ->add_option("--metric-export-interval", collect_args.metric_export_interval_ms,
                   "Milliseconds between metric exports (OTEL_METRIC_EXPORT_INTERVAL, default 60000)")
      ->type_name("MS")
      ->group("Export");
  collect
      ->add_option("--temporality", collect_args.temporality,
                   "cumulative | delta | lowmemory (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE)")
      ->type_name("PREFERENCE")
      ->group("Export");
  collect
      ->add_option("--schedule-delay", collect_args.schedule_delay_ms,
                   "Milliseconds a span or log record may wait for its batch (OTEL_BSP_SCHEDULE_DELAY, default "
                   "5000, and OTEL_BLRP_SCHEDULE_DELAY, default 1000)")
      ->type_name("MS")
      ->group("Export");
  collect
      ->add_option("--max-export-batch-size", collect_args.max_export_batch_size,
                   "Spans per export (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default 512)")
      ->type_name("N")
      ->group("Export");
  collect
      ->add_option("--max-span-age", collect_args.max_span_age,
                   "A span still open after this long is exported as incomplete (e.g. 90s, 30m, 1h)")
      ->capture_default_str()
      ->type_name("DURATION")
      ->group("Pipeline");
  collect
      ->add_option("--max-in-flight-spans", collect_args.max_in_flight_spans,
                   "Open spans kept; beyond, the oldest is exported as incomplete")
      ->capture_default_str()
      ->type_name("N")
      ->group("Pipeline");
  collect
      ->add_option("--stats-interval", collect_args.stats_interval, "Seconds between one-line stats on stderr; 0: off")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->group("Pipeline");
  collect
      ->add_option("--cardinality-limit", collect_args.cardinality_limit,
                   "Attribute sets per metric stream; beyond, the overflow series")
      ->capture_default_str()
      ->type_name("N")
      ->group("Pipeline");
  collect
      ->add_option("--max-metric-series", collect_args.max_metric_series,
                   "Metric series in all streams; beyond, new attribute sets go to their stream's overflow series")
      ->capture_default_str()
      ->type_name("N")
      ->group("Pipeline");
  collect
      ->add_option("--shutdown-timeout", collect_args.shutdown_timeout,
                   "Seconds allowed for the final flush after SIGTERM/SIGINT")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->group("Pipeline");
  collect
      ->add_option("--max-retry-after", collect_args.max_retry_after,
                   "Longest pause of a signal when the endpoint asks (Retry-After) to wait longer than the retry "
                   "budget; its records stay in the file meanwhile. 0: drop such batches")
      ->capture_default_str()
      ->type_name("DURATION")
      ->group("Export");
  collect
      ->add_option("--torn-grace", collect_args.torn_grace,
                   "Seconds a claimed but unpublished slot may block its ring before it is skipped")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->group("Pipeline");
  collect
      ->add_flag("--no-writer-check", collect_args.no_writer_check,
                 "Do not end the open spans of writer processes that exited (use when the writers run "
                 "in another pid namespace)")
      ->group("Pipeline");
  TrustFlags collect_trust, inspect_trust, stats_trust;
  add_trust_flags(collect, collect_trust, "Pipeline");
  collect->footer(kCollectFooter);

  std::string inspect_path;
  InspectOptions inspect_options;
  CLI::App* inspect = app.add_subcommand(
      "inspect",
      "Print the file's header, rings, counters, dictionary and unread records (read-only). A file that cannot be "
      "used as a whole (another version, a corrupt layout, a fault while reading) gets the error and then a "
      "best-effort forensic readout of what is still in bounds; the exit status is 1");
  inspect->add_option("FILE", inspect_path, "The telemetry file")->required();
  inspect->add_flag("--json", inspect_options.json, "One JSON document instead of text");
  inspect->add_option("--max-records", inspect_options.max_records, "Unread records shown per ring (default: all)");
  inspect->add_option("--max-entries", inspect_options.max_entries, "Dictionary entries shown")->capture_default_str();
  add_trust_flags(inspect, inspect_trust, "Trust");

  std::string stats_path;
  StatsOptions stats_options;
  CLI::App* stats = app.add_subcommand(
      "stats", "Ring fill, write and read rates and loss counters, one line per interval (read-only)");
  stats->add_option("FILE", stats_path, "The telemetry file")->required();
  stats->add_option("--interval", stats_options.interval_seconds, "Seconds between lines")->capture_default_str();
  stats->add_option("--count", stats_options.count, "Lines to print, then exit; 0: until interrupted")
      ->capture_default_str();
  add_trust_flags(stats, stats_trust, "Trust");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  try {
    collect_args.trust = trust_from(collect_trust);
    inspect_options.trust = trust_from(inspect_trust);
    stats_options.trust = trust_from(stats_trust);
  } catch (const std::invalid_argument& e) {
    std::cerr << "otlp-mmap: configuration error: " << e.what() << '\n';
    return 2;
  }
  if (collect->parsed()) return run_collect(collect_args);
  if (inspect->parsed()) return run_inspect(inspect_path, inspect_options, std::cout, std::cerr);
  if (stats->parsed()) {
    if (!(stats_options.interval_seconds > 0)) {
      std::cerr << "otlp-mmap stats: --interval must be > 0\n";
      return 2;
    }
    install_signal_handlers();
    return run_stats(stats_path, stats_options, std::cout, std::cerr, g_stop);
  }
  return 2;
}

}  // namespace otlp_mmap::collector

// The exporter: per signal a bounded queue of requests and one sender thread that batches
// them into sends and retries retryable failures; statistics of every item.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "export_internal.hpp"

namespace otlp_mmap::collector {

// ---- counting -----------------------------------------------------------------------------------

size_t count_items(const TraceRequest& request) {
  size_t n = 0;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) n += static_cast<size_t>(ss.spans_size());
  }
  return n;
}

size_t count_items(const LogsRequest& request) {
  size_t n = 0;
  for (const auto& rl : request.resource_logs()) {
    for (const auto& sl : rl.scope_logs()) n += static_cast<size_t>(sl.log_records_size());
  }
  return n;
}

size_t count_items(const MetricsRequest& request) {
  using opentelemetry::proto::metrics::v1::Metric;
  size_t n = 0;
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        switch (m.data_case()) {
          case Metric::kGauge: n += static_cast<size_t>(m.gauge().data_points_size()); break;
          case Metric::kSum: n += static_cast<size_t>(m.sum().data_points_size()); break;
          case Metric::kHistogram: n += static_cast<size_t>(m.histogram().data_points_size()); break;
          case Metric::kExponentialHistogram:
            n += static_cast<size_t>(m.exponential_histogram().data_points_size());
            break;
          case Metric::kSummary: n += static_cast<size_t>(m.summary().data_points_size()); break;
          case Metric::DATA_NOT_SET: break;
        }
      }
    }
  }
  return n;
}

namespace detail {

// ---- splitting and merging ------------------------------------------------------------------------

namespace {

struct TraceShape {
  static auto* resources(TraceRequest& r) { return r.mutable_resource_spans(); }
  template <typename R>
  static auto* scopes(R& r) {
    return r.mutable_scope_spans();
  }
  template <typename S>
  static auto* items(S& s) {
    return s.mutable_spans();
  }
};

struct LogsShape {
  static auto* resources(LogsRequest& r) { return r.mutable_resource_logs(); }
  template <typename R>
  static auto* scopes(R& r) {
    return r.mutable_scope_logs();
  }
  template <typename S>
  static auto* items(S& s) {
    return s.mutable_log_records();
  }
};

struct MetricsShape {
  static auto* resources(MetricsRequest& r) { return r.mutable_resource_metrics(); }
  template <typename R>
  static auto* scopes(R& r) {
    return r.mutable_scope_metrics();
  }
  template <typename S>
  static auto* items(S& s) {
    return s.mutable_metrics();
  }
};

template <typename Shape, typename Request>
Request take(Request& from, size_t n) {
  Request out;
  auto* resources = Shape::resources(from);
  int moved_resources = 0;
  size_t left = n;
  while (left > 0 && moved_resources < resources->size()) {
    auto& resource = *resources->Mutable(moved_resources);
    size_t in_resource = 0;
    for (auto& s : *Shape::scopes(resource)) in_resource += static_cast<size_t>(Shape::items(s)->size());
    if (in_resource <= left) {
      *Shape::resources(out)->Add() = std::move(resource);
      ++moved_resources;
      left -= in_resource;
      continue;
    }
    // Split this resource entry: the new one gets a copy of everything but the scopes.
    auto* out_resource = Shape::resources(out)->Add();
    *out_resource->mutable_resource() = resource.resource();
    out_resource->set_schema_url(resource.schema_url());
    auto* scopes = Shape::scopes(resource);
    int moved_scopes = 0;
    while (left > 0 && moved_scopes < scopes->size()) {
      auto& scope = *scopes->Mutable(moved_scopes);
      auto* items = Shape::items(scope);
      const auto in_scope = static_cast<size_t>(items->size());
      if (in_scope <= left) {
        *Shape::scopes(*out_resource)->Add() = std::move(scope);
        ++moved_scopes;
        left -= in_scope;
        continue;
      }
      auto* out_scope = Shape::scopes(*out_resource)->Add();
      *out_scope->mutable_scope() = scope.scope();
      out_scope->set_schema_url(scope.schema_url());
      auto* out_items = Shape::items(*out_scope);
      out_items->Reserve(static_cast<int>(left));
      for (int k = 0; k < static_cast<int>(left); ++k) *out_items->Add() = std::move(*items->Mutable(k));
      items->DeleteSubrange(0, static_cast<int>(left));
      left = 0;
    }
    scopes->DeleteSubrange(0, moved_scopes);
  }
  resources->DeleteSubrange(0, moved_resources);
  return out;
}

template <typename List>
void move_all(List* to, List* from) {
  to->Reserve(to->size() + from->size());
  for (auto& e : *from) *to->Add() = std::move(e);
  from->Clear();
}

// Identity of a resource entry (its Resource) or scope entry (its InstrumentationScope): the
// message's bytes and the entry's schema URL. OTLP has no map fields, so equal messages
// serialise to equal bytes.
struct ResourceIdentity {
  template <typename Entry>
  std::string operator()(const Entry& e) const {
    return e.resource().SerializeAsString() + '\0' + e.schema_url();
  }
};
struct ScopeIdentity {
  template <typename Entry>
  std::string operator()(const Entry& e) const {
    return e.scope().SerializeAsString() + '\0' + e.schema_url();
  }
};

// Moves each entry of `from` into `to`, or, when `to` already has an entry of the same
// identity, hands both to `merge_into(target, entry)`. The entries are few (one per writer
// process and scope), so a linear search serves.
template <typename Identity, typename List, typename MergeInto>
void add_or_merge(List* to, List* from, MergeInto merge_into) {
  const Identity identity;
  std::vector<std::string> keys;
  keys.reserve(static_cast<size_t>(to->size() + from->size()));
  for (const auto& e : *to) keys.push_back(identity(e));
  for (auto& e : *from) {
    std::string key = identity(e);
    const auto found = std::find(keys.begin(), keys.end(), key);
    if (found == keys.end()) {
      *to->Add() = std::move(e);
      keys.push_back(std::move(key));
    } else {
      merge_into(*to->Mutable(static_cast<int>(found - keys.begin())), e);
    }
  }
  from->Clear();
}

// Moves every item of `from` into `to`, into the entry of the same resource and scope when
// `to` has one: a send carries each resource once, however many requests it merges.
template <typename Shape, typename Request>
void merge(Request& to, Request&& from) {
  add_or_merge<ResourceIdentity>(Shape::resources(to), Shape::resources(from), [](auto& target, auto& resource) {
    add_or_merge<ScopeIdentity>(Shape::scopes(target), Shape::scopes(resource),
                                [](auto& into, auto& scope) { move_all(Shape::items(into), Shape::items(scope)); });
  });
}

}  // namespace

TraceRequest take_items(TraceRequest& from, size_t n) { return take<TraceShape>(from, n); }
LogsRequest take_items(LogsRequest& from, size_t n) { return take<LogsShape>(from, n); }
void append_request(TraceRequest& to, TraceRequest&& from) { merge<TraceShape>(to, std::move(from)); }
void append_request(LogsRequest& to, LogsRequest&& from) { merge<LogsShape>(to, std::move(from)); }
void append_request(MetricsRequest& to, MetricsRequest&& from) { merge<MetricsShape>(to, std::move(from)); }

// ---- one signal ---------------------------------------------------------------------------------

namespace {

struct Limits {
  std::chrono::milliseconds schedule_delay{0};
  size_t batch_size = 0;  // 0: requests are sent as submitted (no merging or splitting)
  size_t max_items = std::numeric_limits<size_t>::max();
  size_t max_requests = 256;
};

struct Counters {
  std::atomic<uint64_t> submitted{0}, exported{0}, rejected{0}, dropped{0}, failed{0}, retries{0};
  std::atomic<uint64_t> dropped_queue_full{0}, dropped_retries{0}, dropped_shutdown{0}, pauses{0};
  std::atomic<bool> paused{false};

  void drop(std::atomic<uint64_t>& cause, uint64_t n) {
    cause += n;
    dropped += n;
  }
};

std::string items_word(Signal s) {
  switch (s) {
    case Signal::kTraces: return "spans";
    case Signal::kMetrics: return "data points";
    case Signal::kLogs: return "log records";
  }
  return "items";
}

std::string millis_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

template <typename Request>
class SignalSender {
 public:
  SignalSender(Signal signal, Limits limits, const ExportConfig& config, std::unique_ptr<Transport> transport)
      : signal_(signal),
        limits_(limits),
        max_retry_elapsed_(config.max_retry_elapsed),
        max_retry_after_(config.max_retry_after),
        backoff_(config.retry_initial_backoff, config.retry_max_backoff, std::random_device{}()),
        transport_(std::move(transport)),
        name_(signal_name(signal)) {
    thread_ = std::thread([this] { run(); });
  }

  ~SignalSender() { stop(); }

  // Stops the sender thread (cancelling an attempt in progress) and counts what is left as
  // dropped. Idempotent.
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    transport_->cancel();
    wake_.notify_all();
    thread_.join();
    uint64_t left = 0;
    std::lock_guard lock(mu_);
    for (const auto& e : queue_) left += e.items;
    queue_.clear();
    queued_items_ = 0;
    idle_.notify_all();
    if (left > 0) {
      counters_.drop(counters_.dropped_shutdown, left);
      log_limited(
          name_ + " shutdown", std::chrono::seconds(0),
          name_ + ": " + std::to_string(left) + " " + items_word(signal_) + " still queued at shutdown were dropped");
    }
  }

  SignalSender(const SignalSender&) = delete;
  SignalSender& operator=(const SignalSender&) = delete;

  bool submit(Request&& request) {
    const size_t n = count_items(request);
    counters_.submitted += n;
    {
      std::lock_guard lock(mu_);
      const bool full =
          !queue_.empty() && (queue_.size() >= limits_.max_requests || queued_items_ + n > limits_.max_items);
      if (!full && !stop_) {
        const bool was_empty = queue_.empty();
        queue_.push_back(Entry{std::move(request), n, std::chrono::steady_clock::now()});
        queued_items_ += n;
        if (was_empty || limits_.schedule_delay.count() == 0 ||
            (limits_.batch_size > 0 && queued_items_ >= limits_.batch_size) || flushers_ > 0) {
          wake_.notify_all();
        }
        return true;
      }
    }
    if (stopped()) {
      counters_.drop(counters_.dropped_shutdown, n);
      log_limited(
          name_ + " stopped", std::chrono::seconds(10),
          name_ + ": exporter shut down, dropped a request of " + std::to_string(n) + " " + items_word(signal_));
      return false;
    }
    counters_.drop(counters_.dropped_queue_full, n);
    log_limited(name_ + " queue full", std::chrono::seconds(10),
                name_ + ": export queue full, dropped a request of " + std::to_string(n) + " " + items_word(signal_) +
                    " (" + std::to_string(counters_.dropped.load()) + " dropped so far)");
    return false;
  }

  void begin_flush() {
    std::lock_guard lock(mu_);
    ++flushers_;
    wake_.notify_all();
  }

  // Waits until idle or the deadline; returns true when idle.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return idle_.wait_until(lock, deadline, [&] { return queue_.empty() && !busy_; });
  }

  void end_flush() {
    std::lock_guard lock(mu_);
    --flushers_;
  }

  SignalExportStats stats() const {
    SignalExportStats s;
    s.items_submitted = counters_.submitted.load();
    s.items_exported = counters_.exported.load();
    s.items_rejected = counters_.rejected.load();
    s.items_dropped = counters_.dropped.load();
    s.requests_failed = counters_.failed.load();
    s.retries = counters_.retries.load();
    s.dropped_queue_full = counters_.dropped_queue_full.load();
    s.dropped_retries = counters_.dropped_retries.load();
    s.dropped_shutdown = counters_.dropped_shutdown.load();
    s.pauses = counters_.pauses.load();
    s.paused = counters_.paused.load();
    return s;
  }

 private:
  struct Entry {
    Request request;
    size_t items;
    std::chrono::steady_clock::time_point enqueued;
  };

  // Whether the queue's head should be sent now (mu_ held); otherwise when.
  bool due(std::chrono::steady_clock::time_point& when) const {
    if (queue_.empty()) {
      when = std::chrono::steady_clock::time_point::max();
      return false;
    }
    if (flushers_ > 0 || limits_.schedule_delay.count() == 0) return true;
    if (limits_.batch_size > 0 && queued_items_ >= limits_.batch_size) return true;
    when = queue_.front().enqueued + limits_.schedule_delay;
    return std::chrono::steady_clock::now() >= when;
  }

  // The next send (mu_ held, queue not empty).
  Request take_batch(size_t& items) {
    if (limits_.batch_size == 0) {
      Request out = std::move(queue_.front().request);
      items = queue_.front().items;
      queue_.pop_front();
      return out;
    }
    Request out;
    items = 0;
    while (!queue_.empty() && items < limits_.batch_size) {
      Entry& e = queue_.front();
      const size_t room = limits_.batch_size - items;
      if (e.items <= room) {
        append_request(out, std::move(e.request));
        items += e.items;
        queue_.pop_front();
      } else {
        if constexpr (std::is_same_v<Request, MetricsRequest>) {
          break;  // never split metric requests (not reached: batch_size is 0 for metrics)
        } else {
          append_request(out, take_items(e.request, room));
          e.items -= room;
          items += room;
        }
      }
    }
    return out;
  }

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      std::chrono::steady_clock::time_point when;
      while (!stop_ && !due(when)) {
        if (when == std::chrono::steady_clock::time_point::max()) {
          wake_.wait(lock);
        } else {
          wake_.wait_until(lock, when);
        }
      }
      if (stop_) return;
      size_t items = 0;
      Request batch = take_batch(items);
      queued_items_ -= items;
      busy_ = true;
      lock.unlock();
      send_with_retries(batch, items);
      lock.lock();
      busy_ = false;
      idle_.notify_all();
    }
  }

  void send_with_retries(const Request& batch, size_t items) {
    auto start = std::chrono::steady_clock::now();
    for (unsigned attempt = 0;; ++attempt) {
      SendOutcome outcome = transport_->send(batch);
      if (outcome.kind == SendOutcome::Kind::kOk) {
        const uint64_t rejected = std::min<uint64_t>(outcome.rejected, items);
        counters_.exported += items - rejected;
        counters_.rejected += rejected;
        if (rejected > 0 || !outcome.message.empty()) {
          log_limited(name_ + " partial success", std::chrono::seconds(10),
                      name_ + ": partial success, the endpoint rejected " + std::to_string(outcome.rejected) + " " +
                          items_word(signal_) + " of " + std::to_string(items) +
                          (outcome.message.empty() ? std::string() : ": " + outcome.message));
        }
        return;
      }
      ++counters_.failed;
      if (stopping()) {
        counters_.drop(counters_.dropped_shutdown, items);
        return;
      }
      if (outcome.kind == SendOutcome::Kind::kPermanent) {
        counters_.rejected += items;
        log_limited(name_ + " permanent " + outcome.kind_text, std::chrono::seconds(0),
                    name_ + ": export failed (" + outcome.kind_text + ", not retryable), " + std::to_string(items) +
                        " " + items_word(signal_) + " rejected" +
                        (outcome.message.empty() ? std::string() : ": " + outcome.message) +
                        " (further failures of this kind are counted, not logged)");
        return;
      }
      // Retryable: the server's delay if it gave one, else exponential backoff with jitter.
      const std::chrono::milliseconds delay = outcome.retry_after ? *outcome.retry_after : backoff_.next(attempt);
      const auto now = std::chrono::steady_clock::now();
      const auto next_attempt = now + delay;
      if (next_attempt - start > max_retry_elapsed_) {
        if (outcome.retry_after && max_retry_after_.count() > 0) {
          // The endpoint asked for a longer wait than the retry budget: pause the signal
          // (nothing is sent, the exporter reports no room, records stay in the file), then
          // try the same batch again with a fresh budget.
          const std::chrono::milliseconds pause = std::min(delay, max_retry_after_);
          ++counters_.pauses;
          counters_.paused = true;
          log_limited(name_ + " paused", std::chrono::seconds(10),
                      name_ + ": export failed (" + outcome.kind_text + "), the endpoint asked to wait " +
                          millis_text(delay) + ": sending paused for " + millis_text(pause) +
                          ", records stay in the file" +
                          (outcome.message.empty() ? std::string() : ": " + outcome.message));
          const bool stopped_now = wait_or_stop(now + pause);
          counters_.paused = false;
          if (stopped_now) {
            counters_.drop(counters_.dropped_shutdown, items);
            return;
          }
          ++counters_.retries;
          start = std::chrono::steady_clock::now();
          attempt = std::numeric_limits<unsigned>::max();  // the backoff starts over (wraps to 0)
          continue;
        }
        counters_.drop(counters_.dropped_retries, items);
        log_limited(name_ + " gave up", std::chrono::seconds(10),
                    name_ + ": export failed (" + outcome.kind_text + "), gave up after " +
                        std::to_string(attempt + 1) + " attempts, " + std::to_string(items) + " " +
                        items_word(signal_) + " dropped" +
                        (outcome.message.empty() ? std::string() : ": " + outcome.message));
        return;
      }
      log_limited(name_ + " retry " + outcome.kind_text, std::chrono::seconds(10),
                  name_ + ": export failed (" + outcome.kind_text + "), retrying in " + millis_text(delay) +
                      (outcome.retry_after ? " as the endpoint asked" : "") +
                      (outcome.message.empty() ? std::string() : ": " + outcome.message));
      if (wait_or_stop(next_attempt)) {
        counters_.drop(counters_.dropped_shutdown, items);
        return;
      }
      ++counters_.retries;
    }
  }

  // Waits until `when`; returns true (at once) if the sender is stopped meanwhile.
  bool wait_or_stop(std::chrono::steady_clock::time_point when) {
    std::unique_lock lock(mu_);
    return wake_.wait_until(lock, when, [&] { return stop_; });
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }
  bool stopped() { return stopping(); }

  const Signal signal_;
  const Limits limits_;
  const std::chrono::milliseconds max_retry_elapsed_;
  const std::chrono::milliseconds max_retry_after_;
  Backoff backoff_;  // sender thread only
  std::unique_ptr<Transport> transport_;
  const std::string name_;
  Counters counters_;

  std::mutex mu_;
  std::condition_variable wake_;  // sender: work, flush, stop
  std::condition_variable idle_;  // flushers: the sender finished a send
  std::deque<Entry> queue_;
  size_t queued_items_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  int flushers_ = 0;
  std::thread thread_;
};

class QueuedExporter final : public Exporter {
 public:
  QueuedExporter(const ExportConfig& config, const TransportFactory& factory)
      : traces_(Signal::kTraces, limits(config, Signal::kTraces), config,
                factory(Signal::kTraces, config.signal(Signal::kTraces))),
        metrics_(Signal::kMetrics, limits(config, Signal::kMetrics), config,
                 factory(Signal::kMetrics, config.signal(Signal::kMetrics))),
        logs_(Signal::kLogs, limits(config, Signal::kLogs), config,
              factory(Signal::kLogs, config.signal(Signal::kLogs))) {}

  bool submit(TraceRequest&& request) override { return traces_.submit(std::move(request)); }
  bool submit(LogsRequest&& request) override { return logs_.submit(std::move(request)); }
  bool submit(MetricsRequest&& request) override { return metrics_.submit(std::move(request)); }

  bool flush(std::chrono::steady_clock::time_point deadline) override {
    traces_.begin_flush();
    metrics_.begin_flush();
    logs_.begin_flush();
    const bool t = traces_.wait_idle(deadline);
    const bool m = metrics_.wait_idle(deadline);
    const bool l = logs_.wait_idle(deadline);
    traces_.end_flush();
    metrics_.end_flush();
    logs_.end_flush();
    return t && m && l;
  }

  void shutdown() override {
    traces_.stop();
    metrics_.stop();
    logs_.stop();
  }

  SignalExportStats stats(Signal s) const override {
    switch (s) {
      case Signal::kTraces: return traces_.stats();
      case Signal::kMetrics: return metrics_.stats();
      case Signal::kLogs: return logs_.stats();
    }
    return {};
  }

 private:
  static Limits limits(const ExportConfig& config, Signal s) {
    Limits l;
    l.max_requests = std::max<size_t>(1, config.max_queue_requests);
    const Protocol p = config.signal(s).protocol;
    const bool immediate = p == Protocol::kConsoleText || p == Protocol::kConsoleJson || p == Protocol::kNone;
    switch (s) {
      case Signal::kTraces:
        l.schedule_delay = immediate ? std::chrono::milliseconds(0) : config.schedule_delay;
        l.batch_size = std::max<size_t>(1, config.max_export_batch_size);
        l.max_items = std::max<size_t>(1, config.max_queue_size);
        break;
      case Signal::kLogs:
        l.schedule_delay = immediate ? std::chrono::milliseconds(0) : config.logs_schedule_delay;
        l.batch_size = std::max<size_t>(1, config.logs_max_export_batch_size);
        l.max_items = std::max<size_t>(1, config.logs_max_queue_size);
        break;
      case Signal::kMetrics: break;  // one collection per request, sent at once
    }
    return l;
  }

  // Destroyed in reverse order; each stops its own thread.
  SignalSender<TraceRequest> traces_;
  SignalSender<MetricsRequest> metrics_;
  SignalSender<LogsRequest> logs_;
};

class DiscardTransport final : public Transport {
 public:
  SendOutcome send(const google::protobuf::Message&) override { return SendOutcome::ok(); }
};

}  // namespace

std::unique_ptr<Exporter> make_exporter_with(const ExportConfig& config, TransportFactory factory) {
  return std::make_unique<QueuedExporter>(config, factory);
}

}  // namespace detail

std::unique_ptr<Exporter> make_exporter(const ExportConfig& config) {
  return detail::make_exporter_with(config,
                                    [](Signal s, const SignalExportConfig& c) -> std::unique_ptr<detail::Transport> {
                                      switch (c.protocol) {
                                        case Protocol::kGrpc: return detail::make_grpc_transport(s, c);
                                        case Protocol::kHttpProtobuf:
                                        case Protocol::kHttpJson: return detail::make_http_transport(s, c);
                                        case Protocol::kConsoleText:
                                        case Protocol::kConsoleJson: return detail::make_console_transport(s, c);
                                        case Protocol::kNone: return std::make_unique<detail::DiscardTransport>();
                                      }
                                      return std::make_unique<detail::DiscardTransport>();
                                    });
}

}  // namespace otlp_mmap::collector

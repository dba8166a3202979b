#include "otlp_mmap/collector/cli/tools.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <variant>
#include <vector>

#include "otlp_mmap/collector/receiver/resolver.hpp"
#include "otlp_mmap/file.hpp"
#include "otlp_mmap/mapping_guard.hpp"
#include "otlp_mmap/protowire.hpp"
#include "otlp_mmap/reader.hpp"
#include "otlp_mmap/ring.hpp"
#include "otlp_mmap/slot_record.hpp"

namespace otlp_mmap::collector {

namespace {

using layout::RingKind;

// ------------------------------------------------------------------ a small JSON model

class Json {
 public:
  using Object = std::vector<std::pair<std::string, Json>>;
  using Array = std::vector<Json>;

  Json() = default;
  Json(bool b) : v_(b) {}  // NOLINT: implicit by design, values read naturally below
  Json(int v) : v_(static_cast<int64_t>(v)) {}
  Json(int64_t v) : v_(v) {}
  Json(uint64_t v) : v_(v) {}
  Json(uint32_t v) : v_(static_cast<uint64_t>(v)) {}
  Json(double v) : v_(v) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  static Json object() { return Json(Object{}); }
  static Json array() { return Json(Array{}); }

  Json& set(std::string key, Json value) {
    std::get<Object>(v_).emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Json& push(Json value) {
    std::get<Array>(v_).push_back(std::move(value));
    return *this;
  }
  bool is_object() const { return std::holds_alternative<Object>(v_); }
  bool is_array() const { return std::holds_alternative<Array>(v_); }
  bool is_scalar() const { return !is_object() && !is_array(); }
  const Object& fields() const { return std::get<Object>(v_); }
  const Array& items() const { return std::get<Array>(v_); }

  // indent < 0: one line.
  void write(std::ostream& o, int indent = -1, int level = 0) const {
    auto newline = [&](int l) {
      if (indent < 0) return;
      o << '\n' << std::string(static_cast<size_t>(indent * l), ' ');
    };
    if (std::holds_alternative<std::monostate>(v_)) {
      o << "null";
    } else if (auto* b = std::get_if<bool>(&v_)) {
      o << (*b ? "true" : "false");
    } else if (auto* i = std::get_if<int64_t>(&v_)) {
      o << *i;
    } else if (auto* u = std::get_if<uint64_t>(&v_)) {
      o << *u;
    } else if (auto* d = std::get_if<double>(&v_)) {
      if (std::isfinite(*d)) {
        char buf[64];
        auto res = std::to_chars(buf, buf + sizeof buf, *d);  // shortest form that reads back exactly
        o << std::string_view(buf, static_cast<size_t>(res.ptr - buf));
      } else {
        o << '"' << (std::isnan(*d) ? "NaN" : (*d > 0 ? "Infinity" : "-Infinity")) << '"';
      }
    } else if (auto* s = std::get_if<std::string>(&v_)) {
      write_string(o, *s);
    } else if (auto* a = std::get_if<Array>(&v_)) {
      o << '[';
      for (size_t k = 0; k < a->size(); ++k) {
        if (k > 0) o << (indent < 0 ? "," : ",");
        newline(level + 1);
        (*a)[k].write(o, indent, level + 1);
      }
      if (!a->empty()) newline(level);
      o << ']';
    } else if (auto* obj = std::get_if<Object>(&v_)) {
      o << '{';
      for (size_t k = 0; k < obj->size(); ++k) {
        if (k > 0) o << ',';
        newline(level + 1);
        write_string(o, (*obj)[k].first);
        o << (indent < 0 ? ":" : ": ");
        (*obj)[k].second.write(o, indent, level + 1);
      }
      if (!obj->empty()) newline(level);
      o << '}';
    }
  }

  std::string dump() const {
    std::ostringstream o;
    write(o);
    return o.str();
  }

  static void write_string(std::ostream& o, const std::string& raw) {
    std::string s = raw;
    repair_utf8(s);
    o << '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': o << "\\\""; break;
        case '\\': o << "\\\\"; break;
        case '\n': o << "\\n"; break;
        case '\r': o << "\\r"; break;
        case '\t': o << "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            o << buf;
          } else {
            o << static_cast<char>(c);
          }
      }
    }
    o << '"';
  }

 private:
  std::variant<std::monostate, bool, int64_t, uint64_t, double, std::string, Array, Object> v_;
};

std::string hex(std::string_view b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (unsigned char c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string iso_time(uint64_t unix_nano) {
  if (unix_nano == 0) return "-";
  const time_t secs = static_cast<time_t>(unix_nano / 1000000000u);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%03uZ", buf, static_cast<unsigned>((unix_nano / 1000000u) % 1000u));
  return out;
}

bool printable_text(std::string_view s) {
  std::string copy(s);
  if (repair_utf8(copy)) return false;
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

const char* aggregation_name(AggregationKind k) {
  switch (k) {
    case AggregationKind::kNone: return "none";
    case AggregationKind::kGauge: return "gauge";
    case AggregationKind::kSum: return "sum";
    case AggregationKind::kHistogram: return "histogram";
    case AggregationKind::kExpHistogram: return "exp_histogram";
  }
  return "?";
}

const char* temporality_name(int32_t t) {
  switch (t) {
    case 1: return "delta";
    case 2: return "cumulative";
    default: return "unspecified";
  }
}

const char* span_event_name(SpanEventType t) {
  switch (t) {
    case SpanEventType::kNone: return "unknown";
    case SpanEventType::kStart: return "start";
    case SpanEventType::kEnd: return "end";
    case SpanEventType::kName: return "name";
    case SpanEventType::kAttributes: return "attributes";
    case SpanEventType::kLink: return "link";
    case SpanEventType::kAddEvent: return "add_event";
  }
  return "?";
}

// ------------------------------------------------------------------ inspect

// `Source` is the Reader of a valid file, or the ForensicFile of one that is not (below):
// both resolve refs with bounds checks and list slots and entries under the SIGBUS guard.
template <class Source>
class Inspector {
 public:
  explicit Inspector(Source& reader) : reader_(reader) {}

  Json any(const AnyValue& v, int depth = 0) {
    using K = AnyValue::Kind;
    if (depth > kMaxNesting) return Json("<nested too deep>");
    switch (v.kind) {
      case K::kEmpty: return Json();
      case K::kString: return Json(v.bytes);
      case K::kBool: return Json(v.bool_value);
      case K::kInt: return Json(v.int_value);
      case K::kDouble: return Json(v.double_value);
      case K::kBytes: return Json::object().set("bytes", hex(v.bytes));
      case K::kArray: {
        Json a = Json::array();
        for (const auto& e : v.array) a.push(any(e, depth + 1));
        return a;
      }
      case K::kKvList: return attributes(v.kvlist, depth + 1);
      case K::kValueRef: {
        AnyValue target;
        Json ref = Json::object().set("value_ref", v.int_value);
        if (reader_.read(v.int_value, target)) {
          ref.set("value", any(target, depth + 1));
        } else {
          ref.set("error", "unreadable value ref");
        }
        return ref;
      }
    }
    return Json();
  }

  std::string key(int64_t ref) {
    std::string s;
    if (reader_.read_string(ref, s)) return s;
    return "<unreadable key ref " + std::to_string(ref) + ">";
  }

  Json attributes(const std::vector<KeyValueRef>& kvs, int depth = 0) {
    Json o = Json::object();
    for (const auto& kv : kvs) o.set(key(kv.key_ref), any(kv.value, depth));
    return o;
  }

  Json scope_summary(int64_t ref) {
    if (ref == 0) return Json();
    InstrumentationScope s;
    if (!reader_.read(ref, s)) return Json("<unreadable scope ref " + std::to_string(ref) + ">");
    std::string name = key(s.name_ref);
    if (s.version_ref != 0) name += "@" + key(s.version_ref);
    return Json(name);
  }

  Json span_context(const std::optional<SpanContext>& sc) {
    if (!sc) return Json();
    return Json::object().set("trace_id", hex(sc->trace_id)).set("span_id", hex(sc->span_id)).set("flags", sc->flags);
  }

  Json event(const Event& e) {
    Json o = Json::object();
    o.set("scope_ref", e.scope_ref).set("scope", scope_summary(e.scope_ref));
    o.set("time_unix_nano", e.time_unix_nano);
    if (e.observed_time_unix_nano != 0) o.set("observed_time_unix_nano", e.observed_time_unix_nano);
    o.set("severity_number", e.severity_number);
    if (!e.severity_text.empty()) o.set("severity_text", e.severity_text);
    if (e.event_name_ref != 0) o.set("event_name", key(e.event_name_ref));
    if (e.body) o.set("body", any(*e.body));
    o.set("attributes", attributes(e.attributes));
    if (e.dropped_attributes_count != 0) o.set("dropped_attributes_count", e.dropped_attributes_count);
    if (e.span_context) o.set("span_context", span_context(e.span_context));
    return o;
  }

  Json span(const SpanEvent& s) {
    Json o = Json::object();
    o.set("type", span_event_name(s.type)).set("trace_id", hex(s.trace_id)).set("span_id", hex(s.span_id));
    o.set("scope_ref", s.scope_ref);
    switch (s.type) {
      case SpanEventType::kStart:
        o.set("scope", scope_summary(s.scope_ref));
        o.set("name", s.name).set("kind", s.kind).set("parent_span_id", hex(s.parent_span_id));
        o.set("start_time_unix_nano", s.start_time_unix_nano).set("flags", s.flags);
        if (!s.trace_state.empty()) o.set("trace_state", s.trace_state);
        o.set("attributes", attributes(s.attributes));
        break;
      case SpanEventType::kEnd:
        o.set("end_time_unix_nano", s.end_time_unix_nano);
        if (s.has_status) o.set("status", Json::object().set("code", s.status_code).set("message", s.status_message));
        if (s.dropped_attributes_count + s.dropped_events_count + s.dropped_links_count != 0) {
          o.set("dropped_attributes_count", s.dropped_attributes_count);
          o.set("dropped_events_count", s.dropped_events_count);
          o.set("dropped_links_count", s.dropped_links_count);
        }
        break;
      case SpanEventType::kName: o.set("name", s.name); break;
      case SpanEventType::kAttributes: o.set("attributes", attributes(s.attributes)); break;
      case SpanEventType::kLink: {
        Json links = Json::array();
        for (const auto& l : s.links) {
          Json lj = Json::object();
          lj.set("trace_id", hex(l.trace_id)).set("span_id", hex(l.span_id));
          if (!l.trace_state.empty()) lj.set("trace_state", l.trace_state);
          lj.set("attributes", attributes(l.attributes)).set("flags", l.flags);
          if (l.dropped_attributes_count != 0) lj.set("dropped_attributes_count", l.dropped_attributes_count);
          links.push(std::move(lj));
        }
        o.set("links", std::move(links));
        break;
      }
      case SpanEventType::kAddEvent:
        o.set("name", s.name).set("time_unix_nano", s.event_time_unix_nano);
        o.set("attributes", attributes(s.attributes));
        if (s.dropped_attributes_count != 0) o.set("dropped_attributes_count", s.dropped_attributes_count);
        break;
      case SpanEventType::kNone: break;
    }
    return o;
  }

  Json measurement(const Measurement& m) {
    Json o = Json::object();
    o.set("metric_ref", m.metric_ref);
    MetricRef def;
    if (reader_.read(m.metric_ref, def)) {
      o.set("metric", def.name);
    } else {
      o.set("metric", "<unreadable metric ref>");
    }
    o.set("time_unix_nano", m.time_unix_nano);
    switch (m.value_kind) {
      case Measurement::ValueKind::kLong: o.set("value", m.as_long); break;
      case Measurement::ValueKind::kDouble: o.set("value", m.as_double); break;
      case Measurement::ValueKind::kNone: o.set("value", Json()); break;
    }
    o.set("attributes", attributes(m.attributes));
    if (m.span_context) o.set("span_context", span_context(m.span_context));
    return o;
  }

  // Every unconsumed sequence of a ring, published or not (a writer that died between claim
  // and publish leaves a pending slot; the records after it are shown too).
  Json ring_records(RingKind kind, size_t max, size_t& pending_out) {
    Json out = Json::array();
    pending_out = 0;
    std::string payload;
    reader_.scan(kind, max, [&](int64_t seq, Reader::SlotState state, std::string_view bytes) {
      Json rec = Json::object();
      rec.set("seq", seq);
      if (state == Reader::SlotState::kPending) {
        ++pending_out;
        rec.set("state", "pending");
        out.push(std::move(rec));
        return;
      }
      rec.set("state", "published");
      if (state == Reader::SlotState::kInvalid) {
        rec.set("error", "invalid length prefix");
        out.push(std::move(rec));
        return;
      }
      payload.assign(bytes);
      bool ok = false;
      switch (kind) {
        case RingKind::kEvents: {
          Event e;
          if ((ok = decode(payload, e))) rec.set("record", event(e));
          break;
        }
        case RingKind::kSpans: {
          SpanEvent s;
          if ((ok = decode(payload, s))) rec.set("record", span(s));
          break;
        }
        case RingKind::kMeasurements: {
          Measurement m;
          if ((ok = decode(payload, m))) rec.set("record", measurement(m));
          break;
        }
      }
      if (!ok) rec.set("error", "undecodable").set("payload_hex", hex(payload));
      out.push(std::move(rec));
    });
    return out;
  }

  // Entries are untyped (docs/FORMAT.md §5.2): the type shown is what the referrers say it
  // is, or failing that a guess from the bytes.
  Json dictionary(size_t max, size_t& listed) {
    std::vector<std::pair<int64_t, std::string>> entries;
    reader_.for_each_entry(max, [&](int64_t ref, std::string_view payload) { entries.emplace_back(ref, payload); });
    listed = entries.size();
    std::set<int64_t> refs;
    for (const auto& e : entries) refs.insert(e.first);
    auto valid = [&](int64_t r) { return r == 0 || refs.count(r) > 0; };
    enum class T { kString, kResource, kScope, kMetric, kValue, kBytes };
    std::map<int64_t, T> type;
    // Guesses, strictest first: messages whose refs all point at entries, then text.
    for (const auto& [ref, bytes] : entries) {
      MetricRef m;
      InstrumentationScope s;
      Resource r;
      AnyValue v;
      auto keys_valid = [&](const std::vector<KeyValueRef>& kvs) {
        for (const auto& kv : kvs) {
          if (kv.key_ref == 0 || !valid(kv.key_ref)) return false;
        }
        return true;
      };
      if (!bytes.empty() && decode(bytes, m) && !m.name.empty() && m.aggregation != AggregationKind::kNone &&
          valid(m.scope_ref) && printable_text(m.name)) {
        type[ref] = T::kMetric;
      } else if (!bytes.empty() && decode(bytes, s) && s.name_ref != 0 && valid(s.name_ref) && valid(s.version_ref) &&
                 valid(s.resource_ref) && keys_valid(s.attributes)) {
        type[ref] = T::kScope;
      } else if (!bytes.empty() && decode(bytes, r) && !r.attributes.empty() && keys_valid(r.attributes)) {
        type[ref] = T::kResource;
      } else if (printable_text(bytes)) {
        type[ref] = T::kString;
      } else if (decode(bytes, v)) {
        type[ref] = T::kValue;
      } else {
        type[ref] = T::kBytes;
      }
    }
    // What referrers say wins over guesses.
    auto mark = [&](int64_t r, T t) {
      if (r != 0 && type.count(r) > 0) type[r] = t;
    };
    for (const auto& [ref, bytes] : entries) {
      auto kvs = [&](const std::vector<KeyValueRef>& list) {
        for (const auto& kv : list) mark(kv.key_ref, T::kString);
      };
      switch (type[ref]) {
        case T::kScope: {
          InstrumentationScope s;
          decode(bytes, s);
          mark(s.name_ref, T::kString);
          mark(s.version_ref, T::kString);
          mark(s.resource_ref, T::kResource);
          kvs(s.attributes);
          break;
        }
        case T::kMetric: {
          MetricRef m;
          decode(bytes, m);
          mark(m.scope_ref, T::kScope);
          break;
        }
        case T::kResource: {
          Resource r;
          decode(bytes, r);
          kvs(r.attributes);
          break;
        }
        default: break;
      }
    }
    Json out = Json::array();
    for (const auto& [ref, bytes] : entries) {
      Json e = Json::object();
      e.set("ref", ref);
      switch (type[ref]) {
        case T::kString: e.set("type", "string").set("value", bytes); break;
        case T::kResource: {
          Resource r;
          decode(bytes, r);
          Json v = Json::object().set("attributes", attributes(r.attributes));
          if (r.dropped_attributes_count != 0) v.set("dropped_attributes_count", r.dropped_attributes_count);
          if (!r.schema_url.empty()) v.set("schema_url", r.schema_url);
          e.set("type", "resource").set("value", std::move(v));
          break;
        }
        case T::kScope: {
          InstrumentationScope s;
          decode(bytes, s);
          Json v = Json::object().set("name", key(s.name_ref));
          if (s.version_ref != 0) v.set("version", key(s.version_ref));
          v.set("attributes", attributes(s.attributes)).set("resource_ref", s.resource_ref);
          if (!s.schema_url.empty()) v.set("schema_url", s.schema_url);
          e.set("type", "scope").set("value", std::move(v));
          break;
        }
        case T::kMetric: {
          MetricRef m;
          decode(bytes, m);
          Json v = Json::object().set("name", m.name);
          if (!m.description.empty()) v.set("description", m.description);
          if (!m.unit.empty()) v.set("unit", m.unit);
          v.set("scope_ref", m.scope_ref).set("aggregation", aggregation_name(m.aggregation));
          if (m.aggregation != AggregationKind::kGauge) v.set("temporality", temporality_name(m.temporality));
          if (m.aggregation == AggregationKind::kSum) v.set("monotonic", m.is_monotonic);
          if (m.aggregation == AggregationKind::kHistogram) {
            Json b = Json::array();
            for (double x : m.bucket_boundaries) b.push(x);
            v.set("bucket_boundaries", std::move(b));
          }
          if (m.aggregation == AggregationKind::kExpHistogram) {
            v.set("max_buckets", m.max_buckets).set("max_scale", m.max_scale);
          }
          e.set("type", "metric").set("value", std::move(v));
          break;
        }
        case T::kValue: {
          AnyValue v;
          decode(bytes, v);
          e.set("type", "value").set("value", any(v));
          break;
        }
        case T::kBytes: e.set("type", "bytes").set("value", hex(bytes)); break;
      }
      out.push(std::move(e));
    }
    return out;
  }

 private:
  Source& reader_;
};

// `after_file` prints what comes between the file and the rings (the forensic header).
void write_text(std::ostream& o, const Json& doc, const std::function<void()>& after_file = {}) {
  const auto& f = doc.fields();
  auto get = [&](const char* k) -> const Json& {
    for (const auto& [name, v] : f) {
      if (name == k) return v;
    }
    static const Json null;
    return null;
  };
  auto line_fields = [&](const Json& obj, const char* indent) {
    for (const auto& [k, v] : obj.fields()) {
      o << indent << k << ": ";
      v.write(o);
      o << '\n';
    }
  };
  o << "file\n";
  line_fields(get("file"), "  ");
  if (after_file) after_file();
  o << "rings\n";
  for (const auto& [name, r] : get("rings").fields()) {
    o << "  " << std::left << std::setw(13) << name;
    for (const auto& [k, v] : r.fields()) {
      o << ' ' << k << '=';
      v.write(o);
    }
    o << '\n';
  }
  o << "writer counters (every writer process, from the file)\n";
  line_fields(get("writer_counters"), "  ");
  o << "reader counters (every reader so far, from the file)\n";
  line_fields(get("reader_counters"), "  ");
  const Json& dict = get("dictionary");
  o << "dictionary\n";
  for (const auto& [k, v] : dict.fields()) {
    if (k == "entries") continue;
    o << "  " << k << ": ";
    v.write(o);
    o << '\n';
  }
  for (const auto& [k, v] : dict.fields()) {
    if (k != "entries") continue;
    for (const Json& e : v.items()) {
      const auto& ef = e.fields();
      o << "  @" << ef[0].second.dump() << ' ' << ef[1].second.dump().substr(1, ef[1].second.dump().size() - 2) << ' ';
      ef[2].second.write(o);
      o << '\n';
    }
  }
  o << "unread records\n";
  for (const auto& [ring, recs] : get("records").fields()) {
    o << "  " << ring << " (" << recs.items().size() << ")\n";
    for (const Json& r : recs.items()) {
      o << "    ";
      bool first = true;
      for (const auto& [k, v] : r.fields()) {
        if (!first) o << ' ';
        first = false;
        if (k == "seq") {
          o << '#' << v.dump();
        } else if (k == "state") {
          o << v.dump().substr(1, v.dump().size() - 2);
        } else {
          o << k << '=';
          v.write(o);
        }
      }
      o << '\n';
    }
  }
}

// ------------------------------------------------------------------ forensic readout

// A file the Reader refuses as a whole (unsupported version, corrupt layout, a fault while
// reading): read it once more, read-only and without a lock, and show whatever part of it is
// still in bounds. Every section is checked against the file's size before it is touched,
// every load runs under mapping_guard::guarded (a fault becomes an error in the readout), and
// every copy goes into memory sized before the guard is entered (mapping_guard.hpp's rule).
// Nothing is written to the file.
class ForensicFile {
 public:
  static constexpr uint64_t kMaxFileBytes = uint64_t{64} << 30;  // as ReaderOptions
  static constexpr uint64_t kMaxEntryBytes = uint64_t{16} << 20;
  static constexpr uint64_t kMaxFaults = 16;  // then every later read is refused
  static constexpr size_t kMaxErrors = 64;

  // nullptr when the path cannot be opened or mapped at all (`why` says so).
  static std::unique_ptr<ForensicFile> open(const std::string& path, const TrustPolicy& trust, std::string& why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | trust.open_flags());
    if (fd < 0) {
      why = path + ": open: " + std::strerror(errno);
      return nullptr;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      why = path + ": not a regular file";
      return nullptr;
    }
    if (auto reason = untrusted_reason(st, path, trust)) {
      ::close(fd);
      why = *reason;
      return nullptr;
    }
    auto f = std::unique_ptr<ForensicFile>(new ForensicFile(fd, static_cast<uint64_t>(st.st_size)));
    if (f->mapped_ > 0) {
      void* p = ::mmap(nullptr, f->mapped_, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        why = path + ": mmap: " + std::strerror(errno);
        return nullptr;
      }
      f->base_ = static_cast<const uint8_t*>(p);
    }
    if (f->size_ > kMaxFileBytes) {
      f->error("file of " + std::to_string(f->size_) + " bytes is larger than the reader's limit; only the first " +
               std::to_string(kMaxFileBytes) + " are read");
    }
    return f;
  }

  ~ForensicFile() {
    if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), mapped_);
    ::close(fd_);
  }
  ForensicFile(const ForensicFile&) = delete;
  ForensicFile& operator=(const ForensicFile&) = delete;

  uint64_t size() const { return size_; }
  // [off, off + len) lies inside the file (as last sized) and the mapping.
  bool covered(uint64_t off, uint64_t len) const {
    const uint64_t limit = std::min(size_, mapped_);
    return off <= limit && len <= limit - off;
  }
  // Copies [off, off + len) into `dst` (len bytes of memory the caller owns); false when out
  // of bounds or when the read faulted (then an error is noted and the size re-read).
  bool copy(uint64_t off, void* dst, uint64_t len) {
    if (faults_ >= kMaxFaults || !covered(off, len)) return false;
    if (len == 0) return true;
    for (const auto& [a, b] : faulted_) {
      if (off < b && a < off + len) return false;  // faulted before: not touched again
    }
    const uint8_t* src = base_ + off;
    if (mapping_guard::guarded([&] { std::memcpy(dst, src, len); })) return true;
    ++faults_;
    faulted_.emplace_back(off, off + len);
    struct stat st {};
    if (::fstat(fd_, &st) == 0) size_ = std::min(size_, static_cast<uint64_t>(st.st_size));
    error("SIGBUS reading bytes " + std::to_string(off) + ".." + std::to_string(off + len) + ": the file shrank (now " +
          std::to_string(size_) + " bytes) or has a hole the filesystem cannot back");
    if (faults_ == kMaxFaults) error("too many faults: nothing more is read");
    return false;
  }
  std::optional<int64_t> i64(uint64_t off) {
    int64_t v = 0;
    if (!copy(off, &v, sizeof v)) return std::nullopt;
    return v;
  }

  void error(std::string e) {
    if (errors_.size() < kMaxErrors) {
      errors_.push_back(std::move(e));
    } else if (errors_.size() == kMaxErrors) {
      errors_.emplace_back("more errors not listed");
    }
  }
  const std::vector<std::string>& errors() const { return errors_; }
  uint64_t faults() const { return faults_; }

  // What the readout found usable: rings whose whole extent is in the file with sane
  // geometry and consistent indices, and the entry area of the dictionary.
  struct RingView {
    uint64_t offset = 0;
    layout::RingGeometry geometry;
  };
  void set_ring(RingKind k, RingView v) { rings_[static_cast<size_t>(k)] = v; }
  void set_entries(uint64_t first, uint64_t end) {
    first_entry_ = first;
    entries_end_ = end;
  }
  void set_min_ref(uint64_t first) { first_entry_ = first; }

  // ---- the Source interface of Inspector (the same contract as Reader's)

  bool entry(int64_t ref, std::string& out) {
    if (ref <= 0 || static_cast<uint64_t>(ref) < first_entry_) return false;
    const uint64_t off = static_cast<uint64_t>(ref);
    if (!covered(off, 1)) return false;
    uint8_t prefix[slot_record::kMaxPrefixBytes];
    const uint64_t room = std::min<uint64_t>(std::min(size_, mapped_) - off, sizeof prefix);
    if (!copy(off, prefix, room)) return false;
    uint64_t len = 0, used = 0;
    bool ok = false;
    for (uint64_t i = 0; i < room; ++i) {
      len |= uint64_t{prefix[i] & 0x7fu} << (7 * i);
      if ((prefix[i] & 0x80) == 0) {
        used = i + 1;
        ok = true;
        break;
      }
    }
    if (!ok || len > kMaxEntryBytes || !covered(off + used, len)) return false;
    out.resize(len);  // outside the guard
    if (!copy(off + used, out.data(), len)) {
      out.clear();
      return false;
    }
    return true;
  }
  bool read_string(int64_t ref, std::string& out) {
    if (ref == 0) {
      out.clear();
      return true;
    }
    return entry(ref, out);
  }
  template <class Msg>
  bool read(int64_t ref, Msg& out) {
    return entry(ref, scratch_) && decode(scratch_, out);
  }

  void scan(RingKind kind, size_t max, const std::function<void(int64_t, Reader::SlotState, std::string_view)>& f) {
    const auto& view = rings_[static_cast<size_t>(kind)];
    if (!view) return;
    const uint64_t n = view->geometry.num_buffers;
    const uint64_t b = view->geometry.buffer_size;
    const uint64_t off = view->offset;
    const auto rd = i64(off + layout::ring_header::kReaderIndex);
    const auto wr = i64(off + layout::ring_header::kWriterIndex);
    if (!rd || !wr) return;
    const int64_t unread = seq_sub(*wr, *rd);
    if (unread < 0 || static_cast<uint64_t>(unread) > n) return;
    const int shift = std::countr_zero(n);
    std::string slot(b, '\0');
    int64_t next = seq_add(*rd, 1);
    for (size_t k = 0; k < max && seq_sub(*wr, next) >= 0; ++k, next = seq_add(next, 1)) {
      const uint64_t i = static_cast<uint64_t>(next) & (n - 1);
      int32_t avail = 0;
      if (!copy(off + layout::ring_header::kAvailability + 4 * i, &avail, sizeof avail)) return;
      if (avail != layout::availability_flag(next, shift) &&
          avail != layout::availability_flag_truncated_first(next, shift)) {
        f(next, Reader::SlotState::kPending, {});
        continue;
      }
      if (!copy(off + layout::ring_header::kSize + 4 * n + i * b, slot.data(), b)) return;
      const auto p = slot_record::payload(reinterpret_cast<const uint8_t*>(slot.data()), b);
      if (!p) {
        f(next, Reader::SlotState::kInvalid, {});
        continue;
      }
      f(next, Reader::SlotState::kPublished, *p);
    }
  }

  void for_each_entry(size_t max, const std::function<void(int64_t, std::string_view)>& f) {
    uint64_t ref = first_entry_;
    std::string buf;
    for (size_t n = 0; n < max && ref < entries_end_ && ref < size_; ++n) {
      if (!entry(static_cast<int64_t>(ref), buf)) {
        error("dictionary entry at " + std::to_string(ref) +
              ": unreadable (an invalid length prefix, beyond the end of the file, or a fault); the walk stops there");
        return;
      }
      f(static_cast<int64_t>(ref), buf);
      ref += wire::varint_size(buf.size()) + buf.size();
    }
  }

 private:
  ForensicFile(int fd, uint64_t size) : fd_(fd), size_(size), mapped_(std::min(size, kMaxFileBytes)) {}

  int fd_;
  uint64_t size_;
  uint64_t mapped_;
  const uint8_t* base_ = nullptr;
  uint64_t faults_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> faulted_;  // ranges that raised SIGBUS
  std::vector<std::string> errors_;
  std::array<std::optional<RingView>, 3> rings_{};
  uint64_t first_entry_ = UINT64_MAX;
  uint64_t entries_end_ = 0;
  std::string scratch_;
};

// The readout of a file the normal open refused (or that failed under the reader).
Json forensic_doc(ForensicFile& f, const std::string& path, const InspectOptions& options) {
  namespace fh = layout::file_header;
  namespace rh = layout::ring_header;
  namespace dh = layout::dictionary_header;
  const uint64_t size = f.size();
  Json file = Json::object();
  file.set("path", path).set("size", size);

  // The header, field by field (FORMAT.md §3), with what fails the checks of §9.12.
  Json header = Json::object();
  std::array<std::optional<int64_t>, 8> h{};
  for (size_t i = 0; i < h.size(); ++i) h[i] = f.i64(8 * i);
  if (size < fh::kSize) {
    f.error("file is " + std::to_string(size) + " bytes, shorter than the 64-byte header");
  } else {
    bool zero = true;
    for (const auto& v : h) zero = zero && v && *v == 0;
    if (zero) f.error("the header is all zero: an uninitialised file, or not an otlp-mmap file");
  }
  auto field = [&](const char* name, uint64_t off, std::optional<int64_t> v, std::string note, bool is_unsigned) {
    Json o = Json::object();
    o.set("offset", off);
    if (!v) {
      o.set("value", Json()).set("error", "beyond the end of the file");
    } else {
      if (is_unsigned) {
        o.set("value", static_cast<uint64_t>(*v));
      } else {
        o.set("value", *v);
      }
      if (!note.empty()) {
        f.error(std::string(name) + ": " + note);
        o.set("error", std::move(note));
      }
    }
    header.set(name, std::move(o));
  };
  std::string vnote;
  if (h[0] && *h[0] == 0) {
    vnote = "0: not initialised (no writer published this file)";
  } else if (h[0] && *h[0] != layout::kVersion) {
    vnote = "unsupported version " + std::to_string(*h[0]) + " (supported: 1)";
  }
  field("version", fh::kVersion, h[0], vnote, false);

  // Section offsets, each checked against the end of the one before it.
  std::array<std::optional<uint64_t>, 3> ring_off{};
  std::array<std::optional<layout::RingGeometry>, 3> ring_geom{};
  uint64_t prev_end = fh::kSize;
  std::array<Json, 3> ring_json;
  for (auto k : layout::kRingKinds) {
    const size_t i = static_cast<size_t>(k);
    const std::string name(layout::ring_name(k));
    const auto v = h[1 + i];
    std::string note;
    Json r = Json::object();
    if (v) {
      const uint64_t off = static_cast<uint64_t>(*v);
      r.set("offset", off);
      if (off % 8 != 0) {
        note = "misaligned (not a multiple of 8)";
      } else if (off < prev_end) {
        note = "before the end of the previous section (" + std::to_string(prev_end) + ")";
      }
      if (off < fh::kSize) {
        r.set("error", "inside the file header: not read");
      } else if (!f.covered(off, rh::kSize)) {
        if (note.empty()) note = "ring header outside the file (" + std::to_string(size) + " bytes)";
        r.set("error", "ring header outside the file (" + std::to_string(size) + " bytes): not read");
      } else {
        ring_off[i] = off;
      }
    } else {
      r.set("error", "offset beyond the end of the file");
    }
    field((name + "_offset").c_str(), layout::header_offset_field(k), v, note, false);
    if (ring_off[i]) {
      const uint64_t off = *ring_off[i];
      const auto n = f.i64(off + rh::kNumBuffers), b = f.i64(off + rh::kBufferSize);
      const auto rd = f.i64(off + rh::kReaderIndex), wr = f.i64(off + rh::kWriterIndex);
      if (n && b && rd && wr) {
        const layout::RingGeometry g{static_cast<uint64_t>(*n), static_cast<uint64_t>(*b)};
        const int64_t unread = seq_sub(*wr, *rd);
        r.set("slots", *n).set("slot_size", *b).set("reader_index", *rd).set("writer_index", *wr).set("unread", unread);
        std::vector<std::string> problems;
        if (g.num_buffers == 0 || !std::has_single_bit(g.num_buffers) || g.num_buffers > layout::kMaxRingSlots) {
          problems.push_back("slots " + std::to_string(*n) + ": must be a power of two no larger than 2^26");
        }
        if (g.buffer_size < 2 || g.buffer_size > layout::kMaxSlotSize) {
          problems.push_back("slot size " + std::to_string(*b) + " is out of range");
        }
        const bool sane = problems.empty();
        bool inside = false;
        if (sane) {
          r.set("bytes", g.bytes());
          inside = f.covered(off, g.bytes());
          if (!inside) {
            problems.push_back("the ring (" + std::to_string(g.bytes()) + " bytes at " + std::to_string(off) +
                               ") extends beyond the end of the file (" + std::to_string(size) +
                               " bytes): records not read");
          }
          prev_end = std::max(prev_end, off + g.bytes());
          // The next section should start at or after this ring's end (it is still read:
          // the bytes are in the file, they may belong to both).
          const auto next = h[k == RingKind::kMeasurements ? 4 : 2 + i];
          if (next && static_cast<uint64_t>(*next) >= off && static_cast<uint64_t>(*next) < off + g.bytes()) {
            problems.push_back("overlaps the next section (at " + std::to_string(*next) + ")");
          }
        }
        const bool consistent = unread >= 0 && static_cast<uint64_t>(unread) <= (sane ? g.num_buffers : 0);
        if (sane && !consistent) {
          problems.push_back("inconsistent indices: writer_index " + std::to_string(*wr) + ", reader_index " +
                             std::to_string(*rd) + " (" + std::to_string(unread) + " unread in " + std::to_string(*n) +
                             " slots): records not read");
        }
        if (off % 8 != 0 && sane && inside && consistent) {
          problems.push_back("misaligned ring: records not read");
        }
        if (sane && inside && consistent && off % 8 == 0) ring_geom[i] = g;
        std::string all;
        for (const auto& p : problems) {
          f.error(name + " ring: " + p);
          all += (all.empty() ? "" : "; ") + p;
        }
        if (!all.empty()) r.set("error", all);
      } else {
        r.set("error", "ring header unreadable");
      }
    }
    ring_json[i] = std::move(r);
  }
  // The dictionary offset is checked after the rings: it must follow the measurements ring.
  std::optional<uint64_t> dict_off;
  {
    const auto v = h[4];
    std::string note;
    if (v) {
      const uint64_t off = static_cast<uint64_t>(*v);
      if (off % 8 != 0) {
        note = "misaligned (not a multiple of 8)";
      } else if (off < prev_end) {
        note = "before the end of the previous section (" + std::to_string(prev_end) + ")";
      }
      if (!f.covered(off, dh::kSize)) {
        if (note.empty()) note = "dictionary header outside the file (" + std::to_string(size) + " bytes)";
      } else if (off >= fh::kSize) {
        dict_off = off;  // read even when misaligned or overlapping: copies need no alignment
      }
    }
    field("dictionary_offset", fh::kDictionaryOffset, v, note, false);
  }
  std::string tnote;
  if (h[5] && *h[5] == 0) tnote = "zero (never set)";
  field("start_time_unix_nano", fh::kStartTime, h[5], tnote, true);
  if (h[5]) header.set("start_time", iso_time(static_cast<uint64_t>(*h[5])));
  field("reader_skipped_torn", fh::kReaderSkippedTorn, h[6], "", true);
  field("reader_skipped_corrupt", fh::kReaderSkippedCorrupt, h[7], "", true);

  // Refs resolve only inside the entry area when the dictionary is sane; otherwise anywhere
  // after the last readable ring (best effort: a ref that lands elsewhere decodes as garbage
  // or not at all, and says so).
  Json dict = Json::object();
  Json w = Json::object();
  f.set_min_ref(prev_end);
  if (dict_off) {
    const uint64_t d = *dict_off;
    const auto end = f.i64(d + dh::kEnd), entries = f.i64(d + dh::kNumEntries);
    dict.set("offset", d);
    if (end && entries) {
      dict.set("end", *end).set("num_entries", *entries);
      const uint64_t first = d + dh::kSize;
      uint64_t walk_end = static_cast<uint64_t>(*end);
      if (*end < static_cast<int64_t>(first)) {
        f.error("dictionary end " + std::to_string(*end) + " is before the first entry (" + std::to_string(first) +
                ")");
        dict.set("error", "end before the first entry");
        walk_end = first;
      } else if (static_cast<uint64_t>(*end) > size) {
        f.error("dictionary end " + std::to_string(*end) + " is beyond the end of the file (" + std::to_string(size) +
                " bytes): entries walked up to the end of the file");
        dict.set("error", "end beyond the end of the file");
        walk_end = size;
      }
      f.set_entries(first, walk_end);
    }
    for (auto k : layout::kRingKinds) {
      if (auto c = f.i64(d + layout::dropped_full_field(k))) {
        w.set("dropped_full_" + std::string(layout::ring_name(k)), static_cast<uint64_t>(*c));
      }
    }
    const std::pair<const char*, uint64_t> counters[] = {{"dropped_unencodable", dh::kDroppedUnencodable},
                                                         {"truncated_values", dh::kTruncatedValues},
                                                         {"dropped_skipped", dh::kDroppedSkipped}};
    for (const auto& [name, off] : counters) {
      if (auto c = f.i64(d + off)) w.set(name, static_cast<uint64_t>(*c));
    }
  } else {
    dict.set("offset", h[4] ? Json(*h[4]) : Json())
        .set("error", "no readable dictionary header at this offset: entries not listed");
  }
  for (auto k : layout::kRingKinds) {
    if (ring_geom[static_cast<size_t>(k)]) {
      f.set_ring(k, {*ring_off[static_cast<size_t>(k)], *ring_geom[static_cast<size_t>(k)]});
    }
  }

  Inspector<ForensicFile> in(f);
  Json rings = Json::object();
  Json records = Json::object();
  for (auto k : layout::kRingKinds) {
    const size_t i = static_cast<size_t>(k);
    size_t pending = 0;
    Json recs = in.ring_records(k, options.max_records, pending);
    if (ring_geom[i]) ring_json[i].set("pending", static_cast<uint64_t>(pending));
    rings.set(std::string(layout::ring_name(k)), std::move(ring_json[i]));
    records.set(std::string(layout::ring_name(k)), std::move(recs));
  }
  if (dict_off) {
    size_t listed = 0;
    Json entries = in.dictionary(options.max_entries, listed);
    dict.set("listed", static_cast<uint64_t>(listed)).set("entries", std::move(entries));
  }

  Json errors = Json::array();
  for (const auto& e : f.errors()) errors.push(e);
  Json doc = Json::object();
  doc.set("forensic", true).set("errors", std::move(errors)).set("file", std::move(file));
  doc.set("header", std::move(header)).set("rings", std::move(rings)).set("writer_counters", std::move(w));
  Json rc = Json::object();
  if (h[6] && h[7]) {
    rc.set("skipped_torn", static_cast<uint64_t>(*h[6])).set("skipped_corrupt", static_cast<uint64_t>(*h[7]));
  }
  doc.set("reader_counters", std::move(rc)).set("dictionary", std::move(dict)).set("records", std::move(records));
  return doc;
}

void write_forensic_text(std::ostream& o, const Json& doc) {
  const auto& f = doc.fields();
  auto get = [&](const char* k) -> const Json& {
    for (const auto& [name, v] : f) {
      if (name == k) return v;
    }
    static const Json empty = Json::object();
    return empty;
  };
  o << "FORENSIC READOUT: the file cannot be used as a whole; what follows is read as far as it is in bounds\n";
  o << "errors\n";
  for (const Json& e : get("errors").items()) {
    o << "  - ";
    e.write(o);
    o << '\n';
  }
  write_text(o, doc, [&] {
    o << "header\n";
    for (const auto& [name, v] : get("header").fields()) {
      o << "  " << std::left << std::setw(24) << name << ' ';
      if (v.is_scalar()) {
        v.write(o);
      } else {
        for (const auto& [k, x] : v.fields()) {
          if (k == "value") x.write(o);
          if (k == "offset") o << "@" << x.dump() << ' ';
          if (k == "error") o << "  !! " << x.dump();
        }
      }
      o << '\n';
    }
  });
}

// Prints the readout after the error that refused the file (`inspect` still exits 1).
void run_forensic(const std::string& path, const InspectOptions& options, std::ostream& out, std::ostream& err) {
  std::string why;
  auto f = ForensicFile::open(path, options.trust, why);
  if (!f) {
    err << "otlp-mmap inspect: no forensic readout: " << why << '\n';
    return;
  }
  const Json doc = forensic_doc(*f, path, options);
  if (options.json) {
    doc.write(out, 2);
    out << '\n';
  } else {
    write_forensic_text(out, doc);
  }
  out.flush();
}

}  // namespace

int run_inspect(const std::string& path, const InspectOptions& options, std::ostream& out, std::ostream& err) {
  std::unique_ptr<Reader> reader;
  try {
    ReaderOptions ro;
    ro.read_only = true;
    ro.trust = options.trust;
    reader = Reader::open(path, ro);
  } catch (const FileError& e) {
    err << "otlp-mmap inspect: " << e.what() << '\n';
    using C = FileError::Code;
    if (e.code() == C::kUnsupported || e.code() == C::kCorrupt || e.code() == C::kNotInitialized) {
      run_forensic(path, options, out, err);
    }
    return 1;
  }
  Inspector<Reader> in(*reader);
  const FileLayout& lay = reader->file_layout();
  Json doc = Json::object();

  Json file = Json::object();
  file.set("path", path).set("size", reader->file_size()).set("version", static_cast<int64_t>(layout::kVersion));
  file.set("start_time_unix_nano", reader->start_time_unix_nano())
      .set("start_time", iso_time(reader->start_time_unix_nano()));
  for (auto k : layout::kRingKinds) file.set(std::string(layout::ring_name(k)) + "_offset", lay.ring_offset(k));
  file.set("dictionary_offset", lay.dictionary_offset);
  doc.set("file", std::move(file));

  Json records = Json::object();
  std::map<RingKind, size_t> pending;
  for (auto k : layout::kRingKinds) {
    size_t p = 0;
    records.set(std::string(layout::ring_name(k)), in.ring_records(k, options.max_records, p));
    pending[k] = p;
  }
  Json rings = Json::object();
  for (auto k : layout::kRingKinds) {
    const RingState st = reader->ring_state(k);
    Json r = Json::object();
    r.set("slots", st.num_buffers).set("slot_size", st.buffer_size).set("reader_index", st.reader_index);
    r.set("writer_index", st.writer_index).set("unread", st.unread());
    char fill[32];
    std::snprintf(
        fill, sizeof fill, "%.1f",
        st.num_buffers == 0 ? 0.0 : 100.0 * static_cast<double>(st.unread()) / static_cast<double>(st.num_buffers));
    r.set("fill_percent", std::stod(fill)).set("pending", static_cast<uint64_t>(pending[k]));
    rings.set(std::string(layout::ring_name(k)), std::move(r));
  }
  doc.set("rings", std::move(rings));

  const WriterCounters wc = reader->writer_counters();
  Json w = Json::object();
  for (auto k : layout::kRingKinds) {
    w.set("dropped_full_" + std::string(layout::ring_name(k)), wc.dropped_full[static_cast<size_t>(k)]);
  }
  w.set("dropped_unencodable", wc.dropped_unencodable).set("truncated_values", wc.truncated_values);
  w.set("dropped_skipped", wc.dropped_skipped);
  doc.set("writer_counters", std::move(w));
  const auto [torn, corrupt] = reader->file_skip_totals();
  doc.set("reader_counters", Json::object().set("skipped_torn", torn).set("skipped_corrupt", corrupt));

  size_t listed = 0;
  Json entries = in.dictionary(options.max_entries, listed);
  Json dict = Json::object();
  dict.set("end", reader->dictionary_end()).set("num_entries", reader->dictionary_entries());
  dict.set("listed", static_cast<uint64_t>(listed)).set("entries", std::move(entries));
  doc.set("dictionary", std::move(dict));
  doc.set("records", std::move(records));
  // The file shrank or faulted under us: what was read may be partial; say so, print nothing.
  if (reader->failed() || !reader->refresh()) {
    err << "otlp-mmap inspect: " << reader->failure() << '\n';
    reader.reset();  // its mapping and descriptor: the readout opens the path afresh
    run_forensic(path, options, out, err);
    return 1;
  }

  if (options.json) {
    doc.write(out, 2);
    out << '\n';
  } else {
    write_text(out, doc);
  }
  out.flush();
  return 0;
}

int run_stats(const std::string& path, const StatsOptions& options, std::ostream& out, std::ostream& err,
              const std::atomic<bool>& stop) {
  std::unique_ptr<Reader> reader;
  try {
    ReaderOptions ro;
    ro.read_only = true;
    ro.trust = options.trust;
    reader = Reader::open(path, ro);
  } catch (const FileError& e) {
    err << "otlp-mmap stats: " << e.what() << '\n';
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.interval_seconds > 0 ? options.interval_seconds : 1.0));
  std::array<RingState, 3> prev{};
  for (auto k : layout::kRingKinds) prev[static_cast<size_t>(k)] = reader->ring_state(k);
  auto prev_time = Clock::now();
  auto next = prev_time;
  for (uint64_t line = 0; options.count == 0 || line < options.count; ++line) {
    if (line > 0) {
      next += interval;
      while (!stop.load(std::memory_order_relaxed) && Clock::now() < next) {
        std::this_thread::sleep_for(std::min<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(50)));
      }
      if (stop.load(std::memory_order_relaxed)) break;
    }
    const auto now = Clock::now();
    const double secs = std::chrono::duration<double>(now - prev_time).count();
    std::ostringstream o;
    o << iso_time(now_unix_nanos());
    for (auto k : layout::kRingKinds) {
      const RingState st = reader->ring_state(k);
      const RingState& p = prev[static_cast<size_t>(k)];
      const double fill =
          st.num_buffers == 0 ? 0.0 : 100.0 * static_cast<double>(st.unread()) / static_cast<double>(st.num_buffers);
      char buf[160];
      if (line == 0) {
        std::snprintf(buf, sizeof buf, " | %s %lld/%llu (%.1f%%)", std::string(layout::ring_name(k)).c_str(),
                      static_cast<long long>(st.unread()), static_cast<unsigned long long>(st.num_buffers), fill);
      } else {
        const double in = static_cast<double>(seq_sub(st.writer_index, p.writer_index)) / secs;
        const double outr = static_cast<double>(seq_sub(st.reader_index, p.reader_index)) / secs;
        std::snprintf(buf, sizeof buf, " | %s %lld/%llu (%.1f%%) in=%.0f/s out=%.0f/s",
                      std::string(layout::ring_name(k)).c_str(), static_cast<long long>(st.unread()),
                      static_cast<unsigned long long>(st.num_buffers), fill, in, outr);
      }
      o << buf;
      prev[static_cast<size_t>(k)] = st;
    }
    const WriterCounters wc = reader->writer_counters();
    const auto [torn, corrupt] = reader->file_skip_totals();
    o << " | dropped full=" << wc.dropped_full[0] << '/' << wc.dropped_full[1] << '/' << wc.dropped_full[2]
      << " unencodable=" << wc.dropped_unencodable << " skipped=" << wc.dropped_skipped
      << " truncated=" << wc.truncated_values << " | reader torn=" << torn << " corrupt=" << corrupt;
    if (reader->failed() || !reader->refresh()) {
      err << "otlp-mmap stats: " << reader->failure() << '\n';
      return 1;
    }
    out << o.str() << std::endl;
    prev_time = now;
  }
  return 0;
}

}  // namespace otlp_mmap::collector

#include "otlp_mmap/collector/tools.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <variant>
#include <vector>

#include "otlp_mmap/collector/resolver.hpp"
#include "otlp_mmap/file.hpp"
#include "otlp_mmap/protowire.hpp"
#include "otlp_mmap/reader.hpp"
#include "otlp_mmap/ring.hpp"

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

class Inspector {
 public:
  explicit Inspector(Reader& reader) : reader_(reader) {}

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
  Reader& reader_;
};

void write_text(std::ostream& o, const Json& doc) {
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
    return 1;
  }
  Inspector in(*reader);
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

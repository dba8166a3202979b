// otlp_mmap._native.Reader: the collector side, for tests, tools and the demo.
//
// Records are decoded into plain dicts whose keys are the proto's field names, with
// dictionary references resolved. Nothing read from the file can make a call crash:
// unresolvable attribute keys and value references become "<bad ref N>" placeholders.
#include <nanobind/nanobind.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "common.hpp"
#include "otlp_mmap/reader.hpp"

namespace otlp_mmap::py {

using namespace nb::literals;
using layout::RingKind;

namespace {

// How many value_ref hops are followed (a hostile file may make them loop).
constexpr int kMaxRefDepth = 8;

nb::str ring_str(RingKind k) {
  auto n = layout::ring_name(k);
  return nb::str(n.data(), n.size());
}

RingKind ring_arg(nb::handle name) {
  std::string_view n = str_arg(name, "ring_name");
  for (auto k : layout::kRingKinds) {
    if (layout::ring_name(k) == n) return k;
  }
  throw_py(PyExc_ValueError, "unknown ring %R (allowed: 'events', 'spans', 'measurements')", name.ptr());
}

nb::object bad_ref(int64_t ref) { return nb::str("<bad ref {}>").format(ref); }

const char* span_event_type_name(SpanEventType t) {
  switch (t) {
    case SpanEventType::kStart: return "start";
    case SpanEventType::kEnd: return "end";
    case SpanEventType::kName: return "name";
    case SpanEventType::kAttributes: return "attributes";
    case SpanEventType::kLink: return "link";
    case SpanEventType::kAddEvent: return "add_event";
    case SpanEventType::kNone: break;
  }
  return "none";
}

nb::dict aggregation_dict(const MetricRef& m) {
  nb::dict params;
  const char* kind = nullptr;
  switch (m.aggregation) {
    case AggregationKind::kNone: return nb::dict();
    case AggregationKind::kGauge: kind = "gauge"; break;
    case AggregationKind::kSum:
      kind = "sum";
      params["aggregation_temporality"] = m.temporality;
      params["is_monotonic"] = m.is_monotonic;
      break;
    case AggregationKind::kHistogram: {
      kind = "histogram";
      params["aggregation_temporality"] = m.temporality;
      nb::list bounds;
      for (double d : m.bucket_boundaries) bounds.append(d);
      params["bucket_boundaries"] = bounds;
      break;
    }
    case AggregationKind::kExpHistogram:
      kind = "exp_histogram";
      params["aggregation_temporality"] = m.temporality;
      params["max_buckets"] = m.max_buckets;
      params["max_scale"] = m.max_scale;
      break;
  }
  nb::dict d;
  d[kind] = params;
  return d;
}

class PyReader {
 public:
  explicit PyReader(std::unique_ptr<Reader> r) : r_(std::move(r)) {}

  Reader& r() const {
    if (!r_) throw_py(PyExc_ValueError, "the reader is closed");
    check();
    return *r_;
  }
  // The file shrank or faulted (SIGBUS) under the reader: FormatError, for this call and
  // every later one (the reader is failed for good; open the path again).
  void check() const {
    if (r_ && r_->failed()) throw_py(g_format_error, "%s", r_->failure().c_str());
  }
  void close() {
    r_.reset();
    keys_.clear();
  }
  bool closed() const { return !r_; }

  nb::dict header() const {
    Reader& rd = r();
    const auto& lay = rd.file_layout();
    auto [torn, corrupt] = rd.file_skip_totals();
    nb::dict d;
    d["version"] = layout::kVersion;  // the reader opens version 1 files only
    d["events_offset"] = lay.ring_offset(RingKind::kEvents);
    d["spans_offset"] = lay.ring_offset(RingKind::kSpans);
    d["measurements_offset"] = lay.ring_offset(RingKind::kMeasurements);
    d["dictionary_offset"] = lay.dictionary_offset;
    d["start_time_unix_nano"] = rd.start_time_unix_nano();
    d["dictionary_end"] = rd.dictionary_end();
    d["dictionary_entries"] = rd.dictionary_entries();
    d["file_size"] = rd.file_size();
    d["reader_skipped_torn"] = torn;
    d["reader_skipped_corrupt"] = corrupt;
    return d;
  }

  nb::dict ring_states() const {
    nb::dict d;
    for (auto k : layout::kRingKinds) {
      RingState s = r().ring_state(k);
      nb::dict e;
      e["num_buffers"] = s.num_buffers;
      e["buffer_size"] = s.buffer_size;
      e["reader_index"] = s.reader_index;
      e["writer_index"] = s.writer_index;
      e["unread"] = s.unread();
      d[ring_str(k)] = e;
    }
    return d;
  }

  nb::dict reader_counters() const {
    const ReaderCounters& c = r().counters();
    nb::dict d;
    for (auto k : layout::kRingKinds) {
      const size_t i = static_cast<size_t>(k);
      nb::dict e;
      e["records"] = c.records[i];
      e["torn"] = c.torn[i];
      e["corrupt"] = c.corrupt[i];
      d[ring_str(k)] = e;
    }
    auto [torn, corrupt] = r().file_skip_totals();
    d["file_torn_total"] = torn;
    d["file_corrupt_total"] = corrupt;
    return d;
  }

  // ------------------------------------------------------------ dictionary entries

  nb::object read_string(int64_t ref) {
    std::string s;
    if (!r().read_string(ref, s)) {
      check();
      unresolvable(ref);
    }
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
    if (o == nullptr) {
      PyErr_Clear();
      throw_py(g_format_error, "dictionary entry %lld is not UTF-8 text", static_cast<long long>(ref));
    }
    return nb::steal(o);
  }

  nb::dict read_resource(int64_t ref) {
    Resource res;
    entry_as(ref, res, "a Resource");
    nb::dict d;
    d["attributes"] = attributes(res.attributes);
    d["dropped_attributes_count"] = res.dropped_attributes_count;
    d["schema_url"] = text_to_py(res.schema_url);
    return d;
  }

  nb::dict read_scope(int64_t ref) {
    InstrumentationScope s;
    entry_as(ref, s, "an InstrumentationScope");
    nb::dict d;
    d["name"] = string_ref(s.name_ref);
    d["version"] = s.version_ref == 0 ? nb::none() : string_ref(s.version_ref);
    d["attributes"] = attributes(s.attributes);
    d["dropped_attributes_count"] = s.dropped_attributes_count;
    d["resource_ref"] = s.resource_ref;
    d["schema_url"] = text_to_py(s.schema_url);
    return d;
  }

  nb::dict read_metric_stream(int64_t ref) {
    MetricRef m;
    entry_as(ref, m, "a MetricRef");
    nb::dict d;
    d["name"] = text_to_py(m.name);
    d["description"] = text_to_py(m.description);
    d["unit"] = text_to_py(m.unit);
    d["scope_ref"] = m.scope_ref;
    d["aggregation"] = m.aggregation == AggregationKind::kNone ? nb::none() : nb::object(aggregation_dict(m));
    return d;
  }

  nb::list dictionary_entries(size_t max) {
    nb::list out;
    r().for_each_entry(
        max, [&](int64_t ref, std::string_view payload) { out.append(nb::make_tuple(ref, bytes_to_py(payload))); });
    return out;
  }

  // ------------------------------------------------------------ ring records

  nb::object read_event() {
    Event e;
    return r().next(e) ? nb::object(event(e)) : nb::none();
  }
  nb::object read_span_event() {
    SpanEvent s;
    return r().next(s) ? nb::object(span_event(s)) : nb::none();
  }
  nb::object read_measurement() {
    Measurement m;
    return r().next(m) ? nb::object(measurement(m)) : nb::none();
  }

  nb::dict read_all() {
    nb::list events, spans, measurements;
    Event e;
    while (r().next(e)) events.append(event(e));
    SpanEvent s;
    while (r().next(s)) spans.append(span_event(s));
    Measurement m;
    while (r().next(m)) measurements.append(measurement(m));
    nb::dict d;
    d["events"] = events;
    d["spans"] = spans;
    d["measurements"] = measurements;
    return d;
  }

  // Consumes up to `max` records of a ring without decoding them (benchmarks, tools).
  size_t skip(nb::handle ring_name, size_t max) {
    RingKind k = ring_arg(ring_name);
    std::string payload;
    size_t n = 0;
    while (n < max && r().next_payload(k, payload)) ++n;
    return n;
  }

  nb::list peek(nb::handle ring_name, size_t max) {
    RingKind k = ring_arg(ring_name);
    // Decode after peeking: the callback must not raise through the core.
    std::vector<std::pair<int64_t, std::string>> raw;
    r().peek(k, max, [&](int64_t seq, std::string_view payload) { raw.emplace_back(seq, std::string(payload)); });
    nb::list out;
    for (const auto& [seq, payload] : raw) out.append(decode_record(k, seq, payload));
    return out;
  }

 private:
  [[noreturn]] static void unresolvable(int64_t ref) {
    throw_py(PyExc_ValueError, "dictionary reference %lld does not point at an entry of this file",
             static_cast<long long>(ref));
  }

  template <class Msg>
  void entry_as(int64_t ref, Msg& out, const char* what) {
    std::string bytes;
    if (!r().entry(ref, bytes)) {
      check();
      unresolvable(ref);
    }
    if (!decode(bytes, out)) {
      throw_py(g_format_error, "dictionary entry %lld is not %s", static_cast<long long>(ref), what);
    }
  }

  nb::object decode_record(RingKind k, int64_t seq, const std::string& payload) {
    bool ok = false;
    nb::object out;
    switch (k) {
      case RingKind::kEvents: {
        Event e;
        if ((ok = decode(payload, e))) out = event(e);
        break;
      }
      case RingKind::kSpans: {
        SpanEvent s;
        if ((ok = decode(payload, s))) out = span_event(s);
        break;
      }
      case RingKind::kMeasurements: {
        Measurement m;
        if ((ok = decode(payload, m))) out = measurement(m);
        break;
      }
    }
    if (ok) return out;
    nb::dict bad;
    bad["corrupt"] = true;
    bad["sequence"] = seq;
    return bad;
  }

  // A string entry (a key, a name) as a str, cached: entries never change once written.
  nb::object string_ref(int64_t ref) {
    if (ref == 0) return nb::str("");
    if (auto it = keys_.find(ref); it != keys_.end()) return it->second;
    std::string s;
    if (!r().read_string(ref, s)) return bad_ref(ref);
    nb::object o = text_to_py(s);
    if (keys_.size() < kMaxCachedKeys) keys_.emplace(ref, o);
    return o;
  }

  nb::object value(const AnyValue& v, int ref_depth) {
    using K = AnyValue::Kind;
    switch (v.kind) {
      case K::kEmpty: return nb::none();
      case K::kString: return text_to_py(v.bytes);
      case K::kBool: return nb::bool_(v.bool_value);
      case K::kInt: return nb::int_(v.int_value);
      case K::kDouble: return nb::float_(v.double_value);
      case K::kBytes: return bytes_to_py(v.bytes);
      case K::kArray: {
        nb::list l;
        for (const auto& x : v.array) l.append(value(x, ref_depth));
        return l;
      }
      case K::kKvList: return attributes(v.kvlist, ref_depth);
      case K::kValueRef: {
        AnyValue target;
        if (ref_depth >= kMaxRefDepth || !r().read(v.int_value, target)) return bad_ref(v.int_value);
        return value(target, ref_depth + 1);
      }
    }
    return nb::none();
  }

  nb::dict attributes(const std::vector<KeyValueRef>& kvs, int ref_depth = 0) {
    nb::dict d;
    for (const auto& kv : kvs) d[string_ref(kv.key_ref)] = value(kv.value, ref_depth);
    return d;
  }

  static nb::object span_context(const std::optional<SpanContext>& sc) {
    if (!sc) return nb::none();
    nb::dict d;
    d["trace_id"] = bytes_to_py(sc->trace_id);
    d["span_id"] = bytes_to_py(sc->span_id);
    d["flags"] = sc->flags;
    return d;
  }

  nb::dict event(const Event& e) {
    nb::dict d;
    d["scope_ref"] = e.scope_ref;
    d["time_unix_nano"] = e.time_unix_nano;
    d["observed_time_unix_nano"] = e.observed_time_unix_nano;
    d["severity_number"] = e.severity_number;
    d["severity_text"] = text_to_py(e.severity_text);
    d["body"] = e.body ? value(*e.body, 0) : nb::none();
    d["event_name_ref"] = e.event_name_ref;
    d["event_name"] = string_ref(e.event_name_ref);
    d["span_context"] = span_context(e.span_context);
    d["attributes"] = attributes(e.attributes);
    d["dropped_attributes_count"] = e.dropped_attributes_count;
    return d;
  }

  nb::dict measurement(const Measurement& m) {
    nb::dict d;
    d["metric_ref"] = m.metric_ref;
    d["time_unix_nano"] = m.time_unix_nano;
    d["attributes"] = attributes(m.attributes);
    switch (m.value_kind) {
      case Measurement::ValueKind::kLong:
        d["as_long"] = m.as_long;
        d["value"] = m.as_long;
        break;
      case Measurement::ValueKind::kDouble:
        d["as_double"] = m.as_double;
        d["value"] = m.as_double;
        break;
      case Measurement::ValueKind::kNone: d["value"] = nb::none(); break;
    }
    d["span_context"] = span_context(m.span_context);
    return d;
  }

  nb::dict span_event(const SpanEvent& s) {
    nb::dict d;
    d["type"] = span_event_type_name(s.type);
    d["trace_id"] = bytes_to_py(s.trace_id);
    d["span_id"] = bytes_to_py(s.span_id);
    d["scope_ref"] = s.scope_ref;
    switch (s.type) {
      case SpanEventType::kStart:
        d["parent_span_id"] = bytes_to_py(s.parent_span_id);
        d["name"] = text_to_py(s.name);
        d["kind"] = s.kind;
        d["start_time_unix_nano"] = s.start_time_unix_nano;
        d["attributes"] = attributes(s.attributes);
        d["flags"] = s.flags;
        d["trace_state"] = text_to_py(s.trace_state);
        break;
      case SpanEventType::kEnd: {
        d["end_time_unix_nano"] = s.end_time_unix_nano;
        if (s.has_status) {
          nb::dict st;
          st["code"] = s.status_code;
          st["message"] = text_to_py(s.status_message);
          d["status"] = st;
        } else {
          d["status"] = nb::none();
        }
        d["dropped_attributes_count"] = s.dropped_attributes_count;
        d["dropped_events_count"] = s.dropped_events_count;
        d["dropped_links_count"] = s.dropped_links_count;
        break;
      }
      case SpanEventType::kName: d["name"] = text_to_py(s.name); break;
      case SpanEventType::kAttributes: d["attributes"] = attributes(s.attributes); break;
      case SpanEventType::kLink: {
        nb::list links;
        for (const auto& l : s.links) {
          nb::dict ld;
          ld["trace_id"] = bytes_to_py(l.trace_id);
          ld["span_id"] = bytes_to_py(l.span_id);
          ld["trace_state"] = text_to_py(l.trace_state);
          ld["attributes"] = attributes(l.attributes);
          ld["dropped_attributes_count"] = l.dropped_attributes_count;
          ld["flags"] = l.flags;
          links.append(ld);
        }
        d["links"] = links;
        break;
      }
      case SpanEventType::kAddEvent:
        d["name"] = text_to_py(s.name);
        d["time_unix_nano"] = s.event_time_unix_nano;
        d["attributes"] = attributes(s.attributes);
        d["dropped_attributes_count"] = s.dropped_attributes_count;
        break;
      case SpanEventType::kNone: break;
    }
    return d;
  }

  static constexpr size_t kMaxCachedKeys = 1 << 16;
  std::unique_ptr<Reader> r_;
  std::unordered_map<int64_t, nb::object> keys_;
};

}  // namespace

void bind_reader(nb::module_& m) {
  nb::class_<PyReader>(m, "Reader",
                       "Reads an otlp-mmap file: decodes records into dicts with dictionary references\n"
                       "resolved. A file has a single consuming reader; read_only readers can only peek.")
      .def(
          "__init__",
          [](PyReader* self, nb::handle path, double torn_grace_seconds, bool read_only, bool trust_any_owner,
             bool allow_shared_writable, bool follow_symlinks, bool exclusive) {
            if (!std::isfinite(torn_grace_seconds) || torn_grace_seconds < 0 || torn_grace_seconds > 1e9) {
              throw_py(PyExc_ValueError, "torn_grace_seconds must be a finite number of seconds >= 0");
            }
            ReaderOptions o;
            o.torn_grace = std::chrono::nanoseconds(static_cast<int64_t>(torn_grace_seconds * 1e9));
            o.read_only = read_only;
            o.trust = TrustPolicy::from_env();
            o.trust.any_owner = o.trust.any_owner || trust_any_owner;
            o.trust.shared_writable = o.trust.shared_writable || allow_shared_writable;
            o.trust.follow_symlinks = o.trust.follow_symlinks || follow_symlinks;
            if (exclusive && read_only) throw_py(PyExc_ValueError, "exclusive needs a reader that is not read_only");
            o.exclusive = exclusive;
            std::string p = fs_path(path);
            auto r = translating_core_errors([&] { return Reader::open(p, o); });
            new (self) PyReader(std::move(r));
          },
          "path"_a, nb::kw_only(), "torn_grace_seconds"_a = 2.0, "read_only"_a = false, "trust_any_owner"_a = false,
          "allow_shared_writable"_a = false, "follow_symlinks"_a = false, "exclusive"_a = false)
      .def_prop_ro("path", [](const PyReader& r) { return path_to_py(r.r().path()); })
      .def_prop_ro("closed", &PyReader::closed)
      .def("close", &PyReader::close)
      .def("__enter__", [](nb::handle self) { return nb::borrow(self); })
      .def("__exit__", [](PyReader& r, nb::args) { r.close(); })
      .def("header",
           [](PyReader& r) {
             auto out = r.header();
             r.check();
             return out;
           })
      .def("ring_states",
           [](PyReader& r) {
             auto out = r.ring_states();
             r.check();
             return out;
           })
      .def("writer_counters",
           [](const PyReader& r) {
             auto out = writer_counters_dict(r.r().writer_counters());
             r.check();
             return out;
           })
      .def("reader_counters", &PyReader::reader_counters)
      .def(
          "read_string",
          [](PyReader& r, int64_t ref) {
            auto out = r.read_string(ref);
            r.check();
            return out;
          },
          "ref"_a)
      .def(
          "read_resource",
          [](PyReader& r, int64_t ref) {
            auto out = r.read_resource(ref);
            r.check();
            return out;
          },
          "ref"_a)
      .def(
          "read_scope",
          [](PyReader& r, int64_t ref) {
            auto out = r.read_scope(ref);
            r.check();
            return out;
          },
          "ref"_a)
      .def(
          "read_metric_stream",
          [](PyReader& r, int64_t ref) {
            auto out = r.read_metric_stream(ref);
            r.check();
            return out;
          },
          "ref"_a)
      .def("read_event",
           [](PyReader& r) {
             auto out = r.read_event();
             r.check();
             return out;
           })
      .def("read_span_event",
           [](PyReader& r) {
             auto out = r.read_span_event();
             r.check();
             return out;
           })
      .def("read_measurement",
           [](PyReader& r) {
             auto out = r.read_measurement();
             r.check();
             return out;
           })
      .def("read_all",
           [](PyReader& r) {
             auto out = r.read_all();
             r.check();
             return out;
           })
      .def(
          "peek",
          [](PyReader& r, nb::handle ring, size_t max) {
            auto out = r.peek(ring, max);
            r.check();
            return out;
          },
          "ring_name"_a.none(), "max"_a = 100)
      .def(
          "skip",
          [](PyReader& r, nb::handle ring, size_t max) {
            auto out = r.skip(ring, max);
            r.check();
            return out;
          },
          "ring_name"_a.none(), "max"_a = std::numeric_limits<size_t>::max())
      .def(
          "dictionary_entries",
          [](PyReader& r, size_t max) {
            auto out = r.dictionary_entries(max);
            r.check();
            return out;
          },
          "max"_a = 1000)
      .def("__repr__", [](const PyReader& r) {
        if (r.closed()) return nb::str("<otlp_mmap._native.Reader (closed)>");
        return nb::str("<otlp_mmap._native.Reader {!r}>").format(path_to_py(r.r().path()));
      });
}

}  // namespace otlp_mmap::py

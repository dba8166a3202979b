// otlp_mmap._native.Writer: the application side.
//
// Hot paths take nb::handle arguments and borrow memory from them (see to_views.hpp for
// the order every record_* call follows). Calls keep the GIL: they take well under a
// microsecond and never block (a full ring is reported, not waited on).
#include "py_writer.hpp"

#include <nanobind/nanobind.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common.hpp"
#include "otlp_mmap/writer.hpp"
#include "to_views.hpp"

namespace otlp_mmap::py {

using namespace nb::literals;

namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

class PyWriter {
 public:
  explicit PyWriter(std::shared_ptr<Writer> w) : w_(std::move(w)) {}

  Writer& core() const { return *w_; }
  KeyCache& keys() { return keys_; }

  int64_t record_string(nb::handle s) {
    std::string_view utf8 = str_arg(s, "s");
    return keys_.get(*w_, s.ptr(), utf8, nullptr);
  }

  // lenient: bad attributes are dropped and counted (the SDK's providers), not raised about.
  int64_t create_resource(nb::handle attributes, nb::handle schema_url, bool lenient) {
    ScratchLease s;
    PyObject* d = lenient ? attributes.ptr() : as_dict(attributes.ptr(), *s, "attributes");
    ResourceView r;
    r.schema_url = optional_str_arg(schema_url, "schema_url");
    r.attributes = convert_attributes(d, *s, lenient ? kLenientAttributes : kStrictAttributes);
    if (!keys_.resolve(*w_, *s)) return 0;
    int64_t ref = w_->create_resource(r);
    keys_.remember(*s);
    return ref;
  }

  int64_t create_scope(nb::handle resource_ref, nb::handle name, nb::handle version, nb::handle attributes,
                       nb::handle schema_url, bool lenient) {
    ScratchLease s;
    PyObject* d = lenient ? attributes.ptr() : as_dict(attributes.ptr(), *s, "attributes");
    ScopeView v;
    v.resource_ref = int64_arg(resource_ref, "resource_ref");
    std::string_view name_utf8 = str_arg(name, "name");
    std::string_view version_utf8 = optional_str_arg(version, "version");
    v.schema_url = optional_str_arg(schema_url, "schema_url");
    v.attributes = convert_attributes(d, *s, lenient ? kLenientAttributes : kStrictAttributes);
    if (!keys_.resolve(*w_, *s)) return 0;
    v.name_ref = keys_.get(*w_, name.ptr(), name_utf8, &*s);
    if (v.name_ref == 0) return 0;
    if (!version.is_none()) {
      v.version_ref = keys_.get(*w_, version.ptr(), version_utf8, &*s);
      if (v.version_ref == 0) return 0;
    }
    int64_t ref = w_->create_scope(v);
    keys_.remember(*s);
    return ref;
  }

  int64_t create_metric_stream(nb::handle scope_ref, nb::handle name, nb::handle description, nb::handle unit,
                               nb::handle aggregation) {
    MetricRefView m;
    std::vector<double> bounds;
    parse_aggregation(aggregation, m, bounds);
    m.scope_ref = int64_arg(scope_ref, "scope_ref");
    m.name = str_arg(name, "name");
    m.description = optional_str_arg(description, "description");
    m.unit = optional_str_arg(unit, "unit");
    m.bucket_boundaries = bounds;
    return w_->create_metric_stream(m);
  }

  bool record_measurement(nb::handle metric_ref, nb::handle attributes, nb::handle time_unix_nano, nb::handle value,
                          nb::handle span_context) {
    ScratchLease s;
    PyObject* d = as_dict(attributes.ptr(), *s, "attributes");
    MeasurementView m;
    m.span_context = span_context_arg(span_context.ptr(), *s);
    m.metric_ref = int64_arg(metric_ref, "metric_ref");
    m.time_unix_nano = uint64_arg(time_unix_nano, "time_unix_nano");
    PyObject* v = value.ptr();
    if (PyLong_Check(v)) {  // bool included
      int overflow = 0;
      m.as_long = PyLong_AsLongLongAndOverflow(v, &overflow);
      if (overflow != 0) throw_py(PyExc_ValueError, "value %R does not fit in a signed 64-bit integer", v);
      if (m.as_long == -1 && PyErr_Occurred()) throw_current();
    } else if (PyFloat_Check(v)) {
      m.is_double = true;
      m.as_double = PyFloat_AS_DOUBLE(v);
    } else {
      throw_py(PyExc_TypeError, "value must be an int or a float, not %.100s", Py_TYPE(v)->tp_name);
    }
    m.attributes = convert_attributes(d, *s, kStrictAttributes);
    return finish(*s, [&] { return w_->write(m); });
  }

  bool record_event(nb::handle scope_ref, nb::handle span_context, nb::handle event_name_ref, nb::handle time_unix_nano,
                    nb::handle attributes, nb::handle severity_number, nb::handle severity_text, nb::handle body,
                    nb::handle observed_time_unix_nano, nb::handle dropped_attributes_count) {
    ScratchLease s;
    PyObject* d = as_dict(attributes.ptr(), *s, "attributes");
    PyObject* b = body.is_none() ? nullptr : normalise_body(body.ptr(), *s);
    EventView e;
    e.span_context = span_context_arg(span_context.ptr(), *s);
    e.severity_number = static_cast<int32_t>(int_arg(severity_number, 0, 24, "severity_number (SeverityNumber)"));
    e.scope_ref = int64_arg(scope_ref, "scope_ref");
    e.event_name_ref = int64_arg(event_name_ref, "event_name_ref");
    e.time_unix_nano = uint64_arg(time_unix_nano, "time_unix_nano");
    e.observed_time_unix_nano = uint64_arg(observed_time_unix_nano, "observed_time_unix_nano");
    e.severity_text = optional_str_arg(severity_text, "severity_text");
    e.dropped_attributes_count = uint32_arg(dropped_attributes_count, "dropped_attributes_count");
    AnyValueView body_view;
    if (b != nullptr) {
      convert_body(b, *s, kStrictBody, body_view);
      e.body = &body_view;
    }
    e.attributes = convert_attributes(d, *s, kStrictAttributes);
    return finish(*s, [&] { return w_->write(e); });
  }

  bool record_span_start(nb::handle scope_ref, nb::handle trace_id, nb::handle span_id, nb::handle parent_span_id,
                         nb::handle flags, nb::handle name, nb::handle kind, nb::handle start_time_unix_nano,
                         nb::handle attributes, nb::handle trace_state) {
    ScratchLease s;
    PyObject* d = as_dict(attributes.ptr(), *s, "attributes");
    SpanEventView v = span_event(SpanEventType::kStart, scope_ref, trace_id, span_id);
    if (!is_root(parent_span_id)) v.parent_span_id = id_arg(parent_span_id, 8, "parent_span_id");
    v.flags = uint32_arg(flags, "flags");
    v.name = str_arg(name, "name");
    v.kind = static_cast<int32_t>(int_arg(kind, 0, 5, "kind (SpanKind)"));
    v.start_time_unix_nano = uint64_arg(start_time_unix_nano, "start_time_unix_nano");
    v.trace_state = optional_str_arg(trace_state, "trace_state");
    v.attributes = convert_attributes(d, *s, kStrictAttributes);
    return finish(*s, [&] { return w_->write(v); });
  }

  bool record_span_end(nb::handle scope_ref, nb::handle trace_id, nb::handle span_id, nb::handle end_time_unix_nano,
                       nb::handle status, nb::handle dropped_attributes_count, nb::handle dropped_events_count,
                       nb::handle dropped_links_count) {
    ScratchLease s;
    PyObject* code = nullptr;
    PyObject* message = nullptr;
    if (!status.is_none()) status_parts(status.ptr(), *s, code, message);
    SpanEventView v = span_event(SpanEventType::kEnd, scope_ref, trace_id, span_id);
    v.end_time_unix_nano = uint64_arg(end_time_unix_nano, "end_time_unix_nano");
    if (code != nullptr) {
      v.has_status = true;
      v.status_code = static_cast<int32_t>(int_arg(code, 0, 2, "status code (0 UNSET, 1 OK, 2 ERROR)"));
      if (message != nullptr) v.status_message = optional_str_arg(message, "status message");
    }
    v.dropped_attributes_count = uint32_arg(dropped_attributes_count, "dropped_attributes_count");
    v.dropped_events_count = uint32_arg(dropped_events_count, "dropped_events_count");
    v.dropped_links_count = uint32_arg(dropped_links_count, "dropped_links_count");
    return finish(*s, [&] { return w_->write(v); });
  }

  bool record_span_name(nb::handle scope_ref, nb::handle trace_id, nb::handle span_id, nb::handle name) {
    SpanEventView v = span_event(SpanEventType::kName, scope_ref, trace_id, span_id);
    v.name = str_arg(name, "name");
    return written(w_->write(v));
  }

  bool record_span_attributes(nb::handle scope_ref, nb::handle trace_id, nb::handle span_id, nb::handle attributes) {
    ScratchLease s;
    PyObject* d = as_dict(attributes.ptr(), *s, "attributes");
    SpanEventView v = span_event(SpanEventType::kAttributes, scope_ref, trace_id, span_id);
    v.attributes = convert_attributes(d, *s, kStrictAttributes);
    if (v.attributes.empty()) return true;  // nothing to record
    return finish(*s, [&] { return w_->write(v); });
  }

  bool record_span_links(nb::handle scope_ref, nb::handle trace_id, nb::handle span_id, nb::handle links) {
    ScratchLease s;
    PyObject* t = normalise_links(links.ptr(), *s);
    SpanEventView v = span_event(SpanEventType::kLink, scope_ref, trace_id, span_id);
    v.links = convert_links(t, *s);
    if (v.links.empty()) return true;  // nothing to record
    return finish(*s, [&] { return w_->write(v); });
  }

  bool record_span_event(nb::handle scope_ref, nb::handle trace_id, nb::handle span_id, nb::handle name,
                         nb::handle time_unix_nano, nb::handle attributes, nb::handle dropped_attributes_count) {
    ScratchLease s;
    PyObject* d = as_dict(attributes.ptr(), *s, "attributes");
    SpanEventView v = span_event(SpanEventType::kAddEvent, scope_ref, trace_id, span_id);
    v.name = str_arg(name, "name");
    v.event_time_unix_nano = uint64_arg(time_unix_nano, "time_unix_nano");
    v.dropped_attributes_count = uint32_arg(dropped_attributes_count, "dropped_attributes_count");
    v.attributes = convert_attributes(d, *s, kStrictAttributes);
    return finish(*s, [&] { return w_->write(v); });
  }

  nb::dict geometry() const {
    nb::dict g;
    const auto& lay = w_->file_layout();
    for (auto k : layout::kRingKinds) {
      nb::dict r;
      r["num_buffers"] = lay.geometry.ring(k).num_buffers;
      r["buffer_size"] = lay.geometry.ring(k).buffer_size;
      r["offset"] = lay.ring_offset(k);
      g[nb::str(layout::ring_name(k).data(), layout::ring_name(k).size())] = r;
    }
    g["dictionary_offset"] = lay.dictionary_offset;
    g["dictionary_initial_bytes"] = w_->config().geometry.dictionary_initial_bytes;
    g["dictionary_max_bytes"] = w_->config().dictionary_max_bytes;
    g["file_mode"] = static_cast<unsigned>(w_->config().file_mode);
    g["created_file"] = w_->created_file();
    // What open did with what it found at the path (the SDK logs it); None when nothing.
    auto or_none = [](const std::string& s) { return s.empty() ? nb::none() : nb::object(nb::str(s.c_str())); };
    g["moved_aside_path"] = or_none(w_->moved_aside_path());
    g["moved_aside_reason"] = or_none(w_->moved_aside_reason());
    g["rolled_over"] = w_->rolled_over();
    g["full_file_path"] = or_none(w_->full_file_path());
    return g;
  }

  nb::dict counters() const { return writer_counters_dict(w_->counters()); }

  size_t key_cache_size() const { return keys_.size(); }

 private:
  // Steps 3 to 5 of a record_* call.
  template <class Write>
  bool finish(Scratch& s, Write&& write) {
    if (!keys_.resolve(*w_, s)) return false;
    bool ok = written(write());
    keys_.remember(s);
    return ok;
  }

  static SpanEventView span_event(SpanEventType type, nb::handle scope_ref, nb::handle trace_id, nb::handle span_id) {
    SpanEventView v;
    v.type = type;
    v.scope_ref = int64_arg(scope_ref, "scope_ref");
    v.trace_id = id_arg(trace_id, 16, "trace_id");
    v.span_id = id_arg(span_id, 8, "span_id");
    return v;
  }

  static bool is_root(nb::handle parent) {
    PyObject* p = parent.ptr();
    return p == Py_None || (PyBytes_Check(p) && PyBytes_GET_SIZE(p) == 0) ||
           (PyByteArray_Check(p) && PyByteArray_GET_SIZE(p) == 0);
  }

  // (code, message) from a 2-sequence or a mapping {"code", "message"}; kept alive by `s`.
  static void status_parts(PyObject* status, Scratch& s, PyObject*& code, PyObject*& message) {
    constexpr const char* kShape = "status must be None, a (code, message) tuple or a mapping {'code', 'message'}";
    if (PyTuple_Check(status) || PyList_Check(status)) {
      if (PySequence_Fast_GET_SIZE(status) != 2) throw_py(PyExc_ValueError, "%s", kShape);
      code = PySequence_Fast_GET_ITEM(status, 0);
      message = PySequence_Fast_GET_ITEM(status, 1);
    } else {
      int is_map = PyObject_IsInstance(status, g_mapping_abc);
      if (is_map < 0) throw_current();
      if (is_map == 0) throw_py(PyExc_TypeError, "%s, not %.100s", kShape, Py_TYPE(status)->tp_name);
      code = PyObject_GetItem(status, g_names.code);
      if (code == nullptr) {
        PyErr_Clear();
        throw_py(PyExc_ValueError, "status mapping needs a 'code' (0 UNSET, 1 OK, 2 ERROR)");
      }
      s.owned.push_back(nb::steal(code));
      message = PyObject_GetItem(status, g_names.message);
      if (message == nullptr) {
        PyErr_Clear();
      } else {
        s.owned.push_back(nb::steal(message));
      }
      return;
    }
    s.owned.push_back(nb::borrow(code));
    s.owned.push_back(nb::borrow(message));
  }

  static nb::dict dict_copy(nb::handle mapping) {
    nb::dict d;
    if (PyDict_Merge(d.ptr(), mapping.ptr(), 1) != 0) throw_current();
    return d;
  }

  static int32_t temporality(PyObject* v, const char* kind) {
    if (PyUnicode_Check(v)) {
      nb::object upper = nb::handle(v).attr("upper")();
      std::string_view t = str_arg(upper, "aggregation_temporality");
      if (t == "DELTA") return kDelta;
      if (t == "CUMULATIVE") return kCumulative;
    } else if (PyLong_Check(v) && !PyBool_Check(v)) {
      int overflow = 0;
      long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
      if (overflow == 0 && (x == kDelta || x == kCumulative)) return static_cast<int32_t>(x);
      PyErr_Clear();
    }
    throw_py(PyExc_ValueError, "%s aggregation_temporality must be 1 or 'DELTA', or 2 or 'CUMULATIVE', got %R", kind,
             v);
  }

  static void parse_aggregation(nb::handle aggregation, MetricRefView& m, std::vector<double>& bounds) {
    constexpr const char* kShape =
        "aggregation must be a mapping with exactly one key: {'gauge': {}}, "
        "{'sum': {'aggregation_temporality': 1|2, 'is_monotonic': bool}}, "
        "{'histogram': {'aggregation_temporality': 1|2, 'bucket_boundaries': [increasing floats]}} or "
        "{'exp_histogram': {'aggregation_temporality': 1|2, 'max_buckets': int > 0, 'max_scale': int in [-10, 20]}}";
    int is_map = PyObject_IsInstance(aggregation.ptr(), g_mapping_abc);
    if (is_map < 0) throw_current();
    if (is_map == 0) throw_py(PyExc_ValueError, "%s; got %.100s", kShape, Py_TYPE(aggregation.ptr())->tp_name);
    nb::dict agg = dict_copy(aggregation);
    if (agg.size() != 1) throw_py(PyExc_ValueError, "%s; got %zu keys", kShape, agg.size());
    nb::handle kind_obj, params_obj;
    for (auto [k, v] : agg) {
      kind_obj = k;
      params_obj = v;
    }
    if (!PyUnicode_Check(kind_obj.ptr())) throw_py(PyExc_ValueError, "%s", kShape);
    std::string_view kind = str_arg(kind_obj, "aggregation kind");
    nb::dict params;
    if (!params_obj.is_none()) {
      int ok = PyObject_IsInstance(params_obj.ptr(), g_mapping_abc);
      if (ok < 0) throw_current();
      if (ok == 0) {
        throw_py(PyExc_ValueError, "the parameters of aggregation '%U' must be a mapping, not %.100s", kind_obj.ptr(),
                 Py_TYPE(params_obj.ptr())->tp_name);
      }
      params = dict_copy(params_obj);
    }
    auto allow_only = [&](std::initializer_list<const char*> names, const char* allowed) {
      for (auto [k, v] : params) {
        bool known = false;
        if (PyUnicode_Check(k.ptr())) {
          std::string_view name = str_arg(k, "parameter name");
          for (const char* n : names) known = known || name == n;
        }
        if (!known) {
          throw_py(PyExc_ValueError, "unknown parameter %R of aggregation '%U' (allowed: %s)", k.ptr(), kind_obj.ptr(),
                   allowed);
        }
      }
    };
    auto get = [&](PyObject* name) -> PyObject* {
      PyObject* v = PyDict_GetItemWithError(params.ptr(), name);
      if (v == nullptr && PyErr_Occurred()) throw_current();
      return v;
    };
    auto required_temporality = [&](const char* k) {
      PyObject* t = get(g_names.aggregation_temporality);
      if (t == nullptr) {
        throw_py(PyExc_ValueError, "aggregation '%s' needs aggregation_temporality: 1 or 'DELTA', 2 or 'CUMULATIVE'",
                 k);
      }
      return temporality(t, k);
    };

    if (kind == "gauge") {
      allow_only({}, "none");
      m.aggregation = AggregationKind::kGauge;
    } else if (kind == "sum") {
      allow_only({"aggregation_temporality", "is_monotonic"}, "aggregation_temporality, is_monotonic");
      m.aggregation = AggregationKind::kSum;
      m.temporality = required_temporality("sum");
      if (PyObject* mono = get(g_names.is_monotonic)) {
        if (!PyBool_Check(mono)) throw_py(PyExc_ValueError, "sum is_monotonic must be True or False, got %R", mono);
        m.is_monotonic = mono == Py_True;
      }
    } else if (kind == "histogram") {
      allow_only({"aggregation_temporality", "bucket_boundaries"}, "aggregation_temporality, bucket_boundaries");
      m.aggregation = AggregationKind::kHistogram;
      m.temporality = required_temporality("histogram");
      if (PyObject* b = get(g_names.bucket_boundaries); b != nullptr && b != Py_None) {
        if (!PyList_Check(b) && !PyTuple_Check(b)) {
          throw_py(PyExc_ValueError, "histogram bucket_boundaries must be a list of floats, not %.100s",
                   Py_TYPE(b)->tp_name);
        }
        const Py_ssize_t n = PySequence_Fast_GET_SIZE(b);
        for (Py_ssize_t i = 0; i < n; ++i) {
          PyObject* x = PySequence_Fast_GET_ITEM(b, i);
          double d;
          if (PyFloat_Check(x)) {
            d = PyFloat_AS_DOUBLE(x);
          } else if (PyLong_Check(x) && !PyBool_Check(x)) {
            d = PyLong_AsDouble(x);
            if (d == -1.0 && PyErr_Occurred()) throw_current();
          } else {
            throw_py(PyExc_ValueError, "histogram bucket_boundaries must hold floats, got %.100s at index %zd",
                     Py_TYPE(x)->tp_name, i);
          }
          if (!std::isfinite(d) || (!bounds.empty() && !(d > bounds.back()))) {
            throw_py(PyExc_ValueError, "histogram bucket_boundaries must be finite and strictly increasing (index %zd)",
                     i);
          }
          bounds.push_back(d);
        }
      }
    } else if (kind == "exp_histogram") {
      allow_only({"aggregation_temporality", "max_buckets", "max_scale"},
                 "aggregation_temporality, max_buckets, max_scale");
      m.aggregation = AggregationKind::kExpHistogram;
      m.temporality = required_temporality("exp_histogram");
      m.max_buckets = 160;  // OpenTelemetry's defaults
      m.max_scale = 20;
      auto bounded = [&](PyObject* v, int64_t lo, int64_t hi, const char* what) {
        if (!PyLong_Check(v) || PyBool_Check(v)) {
          throw_py(PyExc_ValueError, "%s must be an int between %lld and %lld, got %R", what,
                   static_cast<long long>(lo), static_cast<long long>(hi), v);
        }
        return int_arg(v, lo, hi, what);
      };
      if (PyObject* b = get(g_names.max_buckets)) m.max_buckets = bounded(b, 1, kInt64Max, "exp_histogram max_buckets");
      if (PyObject* sc = get(g_names.max_scale)) m.max_scale = bounded(sc, -10, 20, "exp_histogram max_scale");
    } else {
      throw_py(PyExc_ValueError, "unknown aggregation '%U'; %s", kind_obj.ptr(), kShape);
    }
  }

  std::shared_ptr<Writer> w_;
  KeyCache keys_;
};

void set_size(uint64_t& target, nb::handle v, const char* name) {
  if (!v.is_none()) target = static_cast<uint64_t>(int_arg(v, 0, kInt64Max, name));
}

}  // namespace

bool writer_access(PyObject* obj, WriterAccess& out) {
  if (!nb::isinstance<PyWriter>(obj)) return false;
  PyWriter* w = nb::inst_ptr<PyWriter>(obj);
  out.core = &w->core();
  out.keys = &w->keys();
  return true;
}

void bind_writer(nb::module_& m) {
  nb::class_<PyWriter>(m, "Writer",
                       "Writes telemetry into an otlp-mmap file. One core writer per file per process is shared;\n"
                       "record_* calls never block and never raise for a full ring: they return False and the\n"
                       "loss is counted in the file.")
      .def(
          "__init__",
          [](PyWriter* self, nb::handle path, nb::handle events_slots, nb::handle events_slot_size,
             nb::handle spans_slots, nb::handle spans_slot_size, nb::handle measurements_slots,
             nb::handle measurements_slot_size, nb::handle dictionary_initial_bytes, nb::handle dictionary_max_bytes,
             nb::handle file_mode) {
            std::string p = fs_path(path);
            WriterConfig c = translating_core_errors([] { return WriterConfig::from_env(); });
            set_size(c.geometry.rings[0].num_buffers, events_slots, "events_slots");
            set_size(c.geometry.rings[0].buffer_size, events_slot_size, "events_slot_size");
            set_size(c.geometry.rings[1].num_buffers, spans_slots, "spans_slots");
            set_size(c.geometry.rings[1].buffer_size, spans_slot_size, "spans_slot_size");
            set_size(c.geometry.rings[2].num_buffers, measurements_slots, "measurements_slots");
            set_size(c.geometry.rings[2].buffer_size, measurements_slot_size, "measurements_slot_size");
            set_size(c.geometry.dictionary_initial_bytes, dictionary_initial_bytes, "dictionary_initial_bytes");
            set_size(c.dictionary_max_bytes, dictionary_max_bytes, "dictionary_max_bytes");
            if (!file_mode.is_none()) c.file_mode = static_cast<mode_t>(int_arg(file_mode, 0, 0777, "file_mode"));
            translating_core_errors([&] { c.validate(); });
            std::shared_ptr<Writer> w = translating_core_errors([&] {
              // Opening may wait on another process's initialisation lock.
              nb::gil_scoped_release unlocked;
              return Writer::open(p, c);
            });
            new (self) PyWriter(std::move(w));
          },
          "path"_a.none(), nb::kw_only(), "events_slots"_a.none() = nb::none(),
          "events_slot_size"_a.none() = nb::none(), "spans_slots"_a.none() = nb::none(),
          "spans_slot_size"_a.none() = nb::none(), "measurements_slots"_a.none() = nb::none(),
          "measurements_slot_size"_a.none() = nb::none(), "dictionary_initial_bytes"_a.none() = nb::none(),
          "dictionary_max_bytes"_a.none() = nb::none(), "file_mode"_a.none() = nb::none())
      .def_prop_ro("path", [](const PyWriter& w) { return path_to_py(w.core().path()); })
      .def_prop_ro("geometry", &PyWriter::geometry)
      .def("counters", &PyWriter::counters,
           "The file's writer loss counters: dropped_full_{events,spans,measurements}, dropped_unencodable, "
           "truncated_values, dropped_skipped.")
      .def(
          "after_fork_in_child", [](PyWriter& w) { w.core().after_fork_in_child(); },
          "Call in a forked child (os.register_at_fork) before it writes.")
      .def_prop_ro("key_cache_size", &PyWriter::key_cache_size)
      .def("record_string", &PyWriter::record_string, "s"_a.none(),
           "Dictionary reference of a string entry (the same string, the same reference); 0: dictionary full.")
      .def("create_resource", &PyWriter::create_resource, "attributes"_a.none(), "schema_url"_a.none() = nb::none(),
           nb::kw_only(), "lenient"_a = false,
           "Dictionary reference of a Resource (attribute order does not matter); 0: dictionary full. "
           "lenient=True: invalid attributes are dropped and counted instead of raised about.")
      .def("create_instrumentation_scope", &PyWriter::create_scope, "resource_ref"_a.none(), "name"_a.none(),
           "version"_a.none() = nb::none(), "attributes"_a.none() = nb::none(), "schema_url"_a.none() = nb::none(),
           nb::kw_only(), "lenient"_a = false,
           "Dictionary reference of an InstrumentationScope; 0: dictionary full. lenient=True: invalid "
           "attributes are dropped and counted instead of raised about.")
      .def("create_metric_stream", &PyWriter::create_metric_stream, "scope_ref"_a.none(), "name"_a.none(),
           "description"_a.none(), "unit"_a.none(), "aggregation"_a.none(),
           "Dictionary reference of a metric stream. aggregation has one key: gauge, sum, histogram or exp_histogram "
           "(see the type hints).")
      .def("record_measurement", &PyWriter::record_measurement, "metric_ref"_a.none(), "attributes"_a.none(),
           "time_unix_nano"_a.none(), "value"_a.none(), "span_context"_a.none() = nb::none(),
           "Records a measurement (int: as_long, float: as_double). True if written, False if dropped.")
      .def("record_event", &PyWriter::record_event, "scope_ref"_a.none(), "span_context"_a.none(),
           "event_name_ref"_a.none(), "time_unix_nano"_a.none(), "attributes"_a.none(), nb::kw_only(),
           "severity_number"_a.none() = 0, "severity_text"_a.none() = "", "body"_a.none() = nb::none(),
           "observed_time_unix_nano"_a.none() = 0, "dropped_attributes_count"_a.none() = 0,
           "Records a log record or event. True if written, False if dropped.")
      .def("record_span_start", &PyWriter::record_span_start, "scope_ref"_a.none(), "trace_id"_a.none(),
           "span_id"_a.none(), "parent_span_id"_a.none(), "flags"_a.none(), "name"_a.none(), "kind"_a.none(),
           "start_time_unix_nano"_a.none(), "attributes"_a.none(), nb::kw_only(), "trace_state"_a.none() = "",
           "Records the start of a span (parent_span_id None or b'' for a root). True if written.")
      .def("record_span_end", &PyWriter::record_span_end, "scope_ref"_a.none(), "trace_id"_a.none(), "span_id"_a.none(),
           "end_time_unix_nano"_a.none(), "status"_a.none() = nb::none(), nb::kw_only(),
           "dropped_attributes_count"_a.none() = 0, "dropped_events_count"_a.none() = 0,
           "dropped_links_count"_a.none() = 0,
           "Records the end of a span; status None, (code, message) or {'code', 'message'}. True if written.")
      .def("record_span_name", &PyWriter::record_span_name, "scope_ref"_a.none(), "trace_id"_a.none(),
           "span_id"_a.none(), "name"_a.none(), "Records a new name of a span. True if written.")
      .def("record_span_attributes", &PyWriter::record_span_attributes, "scope_ref"_a.none(), "trace_id"_a.none(),
           "span_id"_a.none(), "attributes"_a.none(),
           "Records attributes set on a span after its start. True if written (or nothing to write).")
      .def("record_span_links", &PyWriter::record_span_links, "scope_ref"_a.none(), "trace_id"_a.none(),
           "span_id"_a.none(), "links"_a.none(),
           "Records links added to a span. True if written (or nothing to write).")
      .def("record_span_event", &PyWriter::record_span_event, "scope_ref"_a.none(), "trace_id"_a.none(),
           "span_id"_a.none(), "name"_a.none(), "time_unix_nano"_a.none(), "attributes"_a.none(),
           "dropped_attributes_count"_a.none() = 0, "Records an event on a span (Span.add_event). True if written.")
      .def("__repr__", [](const PyWriter& w) {
        return nb::str("<otlp_mmap._native.Writer {!r}>").format(path_to_py(w.core().path()));
      });
}

}  // namespace otlp_mmap::py

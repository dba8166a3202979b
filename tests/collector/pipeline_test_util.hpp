// Helpers of the collector tests: a real file (written with the C++ writer) whose dictionary
// the resolver reads, and records built directly.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "otlp_mmap/collector/otlp.hpp"
#include "otlp_mmap/collector/receiver/resolver.hpp"
#include "otlp_mmap/reader.hpp"
#include "otlp_mmap/writer.hpp"

namespace otlp_mmap::collector::pipeline_test {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("otlp-mmap-pipeline-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name = "telemetry.otlp") const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline WriterConfig small_config(uint64_t slots = 256, uint64_t slot_size = 512) {
  WriterConfig c;
  c.geometry = layout::Geometry{{layout::RingGeometry{slots, slot_size}, layout::RingGeometry{slots, slot_size},
                                 layout::RingGeometry{slots, slot_size}},
                                4096};
  c.dictionary_max_bytes = 4 << 20;
  return c;
}

inline ReaderOptions fast_reader() {
  ReaderOptions o;
  o.torn_grace = std::chrono::milliseconds(50);
  return o;
}

// 16- and 8-byte ids whose bytes start at `seed`.
inline std::string trace_id(uint8_t seed) {
  std::string s(16, '\0');
  for (size_t i = 0; i < 16; ++i) s[i] = static_cast<char>(seed + i);
  return s;
}
inline std::string span_id(uint8_t seed) {
  std::string s(8, '\0');
  for (size_t i = 0; i < 8; ++i) s[i] = static_cast<char>(seed + i);
  return s;
}

inline AnyValue str_value(std::string s) {
  AnyValue v;
  v.kind = AnyValue::Kind::kString;
  v.bytes = std::move(s);
  return v;
}
inline AnyValue int_value(int64_t i) {
  AnyValue v;
  v.kind = AnyValue::Kind::kInt;
  v.int_value = i;
  return v;
}
inline AnyValue bool_value(bool b) {
  AnyValue v;
  v.kind = AnyValue::Kind::kBool;
  v.bool_value = b;
  return v;
}
inline AnyValue double_value(double d) {
  AnyValue v;
  v.kind = AnyValue::Kind::kDouble;
  v.double_value = d;
  return v;
}

// A file with a writer (to create dictionary entries and records) and a reader, and a
// resolver attached to the reader.
struct TestFile {
  explicit TestFile(ResolverLimits limits = {}, WriterConfig config = small_config())
      : path(dir.file()),
        writer(Writer::open(path, config)),
        reader(Reader::open(path, fast_reader())),
        resolver(limits) {
    resolver.attach(reader.get());
  }

  int64_t key(std::string_view s) { return writer->intern(s); }

  KeyValueRef kv(std::string_view k, AnyValue v) {
    KeyValueRef r;
    r.key_ref = key(k);
    r.value = std::move(v);
    return r;
  }

  // A resource of string attributes (written through the writer: sorted, interned).
  int64_t resource(std::initializer_list<std::pair<std::string_view, std::string_view>> attrs, int64_t pid = 0) {
    std::vector<KeyValueView> kvs;
    for (const auto& [k, v] : attrs) kvs.push_back(KeyValueView{key(k), AnyValueView::string(v)});
    if (pid != 0) kvs.push_back(KeyValueView{key("process.pid"), AnyValueView::integer(pid)});
    ResourceView r;
    r.attributes = kvs;
    return writer->create_resource(r);
  }

  int64_t scope(int64_t resource_ref, std::string_view name, std::string_view version = "") {
    ScopeView s;
    s.name_ref = key(name);
    s.version_ref = version.empty() ? 0 : key(version);
    s.resource_ref = resource_ref;
    return writer->create_scope(s);
  }

  TempDir dir;
  std::string path;
  std::shared_ptr<Writer> writer;
  std::unique_ptr<Reader> reader;
  DictionaryResolver resolver;
};

inline std::string attr_string(const otlp::AnyValue& v) {
  switch (v.value_case()) {
    case otlp::AnyValue::kStringValue: return "s:" + v.string_value();
    case otlp::AnyValue::kIntValue: return "i:" + std::to_string(v.int_value());
    case otlp::AnyValue::kBoolValue: return v.bool_value() ? "b:true" : "b:false";
    case otlp::AnyValue::kDoubleValue: return "d:" + std::to_string(v.double_value());
    default: return v.ShortDebugString();
  }
}

// "key=value" for each attribute, in order.
inline std::vector<std::string> attrs_of(const otlp::KeyValues& kvs) {
  std::vector<std::string> out;
  for (const auto& kv : kvs) out.push_back(kv.key() + "=" + attr_string(kv.value()));
  return out;
}

}  // namespace otlp_mmap::collector::pipeline_test

#include "otlp_mmap/collector/receiver/resolver.hpp"

#include <algorithm>
#include <cstring>

#include "otlp_mmap/reader.hpp"

namespace otlp_mmap::collector {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid (overlong
// forms, surrogates and code points above U+10FFFF are invalid, as protobuf checks them).
size_t utf8_sequence(const unsigned char* s, size_t n, size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > n) return 0;
  if (s[i + 1] < lo || s[i + 1] > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
  }
  return len;
}

void sort_attributes(otlp::KeyValues& attrs) {
  std::stable_sort(attrs.pointer_begin(), attrs.pointer_end(),
                   [](const otlp::KeyValue* a, const otlp::KeyValue* b) { return a->key() < b->key(); });
}

}  // namespace

size_t valid_utf8_prefix(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  // Fast path: ASCII, eight bytes at a time.
  while (i + 8 <= n) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ull) break;
    i += 8;
  }
  for (; i < n;) {
    if (p[i] < 0x80) {  // the tail of an ASCII string: no call per byte
      ++i;
      continue;
    }
    size_t len = utf8_sequence(p, n, i);
    if (len == 0) break;
    i += len;
  }
  return i;
}

bool repair_utf8(std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = valid_utf8_prefix(s);
  if (i == n) return false;
  std::string out(s, 0, i);
  out.reserve(n + 8);
  while (i < n) {
    size_t len = utf8_sequence(p, n, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  s = std::move(out);
  return true;
}

DictionaryResolver::DictionaryResolver(ResolverLimits limits)
    : limits_(limits),
      strings_(limits.max_strings, limits.max_string_bytes),
      values_(limits.max_values, limits.max_value_bytes),
      scopes_(limits.max_scopes, SIZE_MAX),
      resources_(limits.max_resources, SIZE_MAX) {
  auto r = std::make_shared<ResolvedResource>();
  r->key = std::string(1, '\0');
  auto s = std::make_shared<ResolvedScope>();
  s->resource = std::move(r);
  s->key = std::string(1, '\0');
  empty_scope_ = std::move(s);
}

void DictionaryResolver::attach(Reader* reader) {
  reader_ = reader;
  strings_.clear();
  values_.clear();
  scopes_.clear();
  resources_.clear();
  wire_keys_.clear();
}

const std::string* DictionaryResolver::string(int64_t ref) {
  if (std::string* hit = strings_.find(ref)) {
    ++stats_.cache_hits;
    return hit;
  }
  ++stats_.cache_misses;
  std::string s;
  if (ref != 0 && (reader_ == nullptr || !reader_->read_string(ref, s))) {
    ++stats_.string_failures;
    return nullptr;
  }
  if (repair_utf8(s)) ++stats_.repaired_utf8;
  const size_t bytes = s.size() + 64;
  uint64_t before = strings_.rotations();
  const std::string* out = strings_.insert(ref, std::move(s), bytes);
  note_rotation(before, strings_.rotations());
  return out;
}

const otlp::AnyValue* DictionaryResolver::value_ref(int64_t ref, int depth) {
  if (otlp::AnyValue* hit = values_.find(ref)) {
    ++stats_.cache_hits;
    return hit;
  }
  ++stats_.cache_misses;
  AnyValue decoded;
  if (reader_ == nullptr || !reader_->read(ref, decoded)) return nullptr;
  otlp::AnyValue resolved;
  if (!value_at(decoded, resolved, depth + 1)) return nullptr;
  const size_t bytes = resolved.ByteSizeLong() + 64;
  uint64_t before = values_.rotations();
  const otlp::AnyValue* out = values_.insert(ref, std::move(resolved), bytes);
  note_rotation(before, values_.rotations());
  return out;
}

bool DictionaryResolver::value_at(const AnyValue& in, otlp::AnyValue& out, int depth) {
  using K = AnyValue::Kind;
  if (depth > limits_.max_value_depth) {
    ++stats_.value_failures;
    return false;
  }
  switch (in.kind) {
    case K::kEmpty: out.Clear(); return true;
    case K::kString: {
      std::string* s = out.mutable_string_value();
      *s = in.bytes;
      if (repair_utf8(*s)) ++stats_.repaired_utf8;
      return true;
    }
    case K::kBool: out.set_bool_value(in.bool_value); return true;
    case K::kInt: out.set_int_value(in.int_value); return true;
    case K::kDouble: out.set_double_value(in.double_value); return true;
    case K::kBytes: out.set_bytes_value(in.bytes); return true;
    case K::kArray: {
      auto* arr = out.mutable_array_value();
      arr->Clear();
      bool ok = true;
      for (const auto& v : in.array) ok = value_at(v, *arr->add_values(), depth + 1) && ok;
      return ok;
    }
    case K::kKvList: {
      auto* list = out.mutable_kvlist_value();
      list->Clear();
      bool ok = true;
      for (const auto& kv : in.kvlist) {
        otlp::KeyValue* dst = list->add_values();
        if (!kv_at(kv, *dst, depth + 1)) {
          list->mutable_values()->RemoveLast();
          ok = false;
        }
      }
      return ok;
    }
    case K::kValueRef: {
      const otlp::AnyValue* v = value_ref(in.int_value, depth);
      if (v == nullptr) {
        ++stats_.value_failures;
        out.Clear();
        return false;
      }
      out.CopyFrom(*v);
      return true;
    }
  }
  out.Clear();
  return false;
}

bool DictionaryResolver::kv_at(const KeyValueRef& in, otlp::KeyValue& out, int depth) {
  const std::string* key = string(in.key_ref);
  if (key == nullptr) return false;
  out.set_key(*key);
  if (!value_at(in.value, *out.mutable_value(), depth)) {
    // A value that failed entirely leaves the attribute out; a partly resolved array or
    // list is kept with what could be resolved.
    return out.value().value_case() != otlp::AnyValue::VALUE_NOT_SET;
  }
  return true;
}

uint32_t DictionaryResolver::merge_attributes(const std::vector<KeyValueRef>& in, otlp::KeyValues& out) {
  uint32_t dropped = 0;
  otlp::KeyValue tmp;
  for (const auto& kv : in) {
    tmp.Clear();
    if (!kv_at(kv, tmp, 0)) {
      ++dropped;
      continue;
    }
    otlp::KeyValue* existing = nullptr;
    for (auto& e : out) {
      if (e.key().size() == tmp.key().size() && e.key() == tmp.key()) {
        existing = &e;
        break;
      }
    }
    if (existing != nullptr) {
      existing->mutable_value()->Swap(tmp.mutable_value());
    } else {
      out.Add()->Swap(&tmp);
    }
  }
  return dropped;
}

size_t DictionaryResolver::attributes_into(const std::vector<KeyValueRef>& in, std::vector<otlp::KeyValue>& out,
                                           uint32_t* dropped) {
  size_t n = 0;
  for (const auto& kv : in) {
    if (out.size() <= n) out.emplace_back();
    otlp::KeyValue& dst = out[n];
    if (!kv_at(kv, dst, 0)) {
      if (dropped != nullptr) ++*dropped;
      continue;
    }
    size_t same = n;
    for (size_t i = 0; i < n; ++i) {
      if (out[i].key() == dst.key()) {
        same = i;
        break;
      }
    }
    if (same != n) {
      out[same].mutable_value()->Swap(dst.mutable_value());
    } else {
      ++n;
    }
  }
  return n;
}

std::shared_ptr<const ResolvedResource> DictionaryResolver::intern(std::shared_ptr<ResolvedResource> r) {
  auto it = interned_resources_.find(r->key);
  if (it != interned_resources_.end()) {
    if (auto live = it->second.lock()) return live;
  }
  if (interned_resources_.size() >= limits_.max_interned) {
    std::erase_if(interned_resources_, [](const auto& e) { return e.second.expired(); });
    if (interned_resources_.size() >= limits_.max_interned) interned_resources_.clear();
  }
  std::shared_ptr<const ResolvedResource> c = std::move(r);
  interned_resources_[c->key] = c;
  return c;
}

std::shared_ptr<const ResolvedScope> DictionaryResolver::intern(std::shared_ptr<ResolvedScope> s) {
  std::string key = s->resource->key;
  key.push_back('\0');
  key += s->key;
  auto it = interned_scopes_.find(key);
  if (it != interned_scopes_.end()) {
    if (auto live = it->second.lock()) return live;
  }
  if (interned_scopes_.size() >= limits_.max_interned) {
    std::erase_if(interned_scopes_, [](const auto& e) { return e.second.expired(); });
    if (interned_scopes_.size() >= limits_.max_interned) interned_scopes_.clear();
  }
  std::shared_ptr<const ResolvedScope> c = std::move(s);
  interned_scopes_[std::move(key)] = c;
  return c;
}

std::shared_ptr<const ResolvedResource> DictionaryResolver::resource(int64_t ref) {
  if (ref == 0) return empty_scope_->resource;
  if (auto* hit = resources_.find(ref)) {
    ++stats_.cache_hits;
    return *hit;
  }
  ++stats_.cache_misses;
  Resource decoded;
  std::shared_ptr<const ResolvedResource> out;
  if (reader_ == nullptr || !reader_->read(ref, decoded)) {
    ++stats_.resource_failures;
    out = empty_scope_->resource;
  } else {
    auto r = std::make_shared<ResolvedResource>();
    uint32_t dropped = merge_attributes(decoded.attributes, *r->resource.mutable_attributes());
    sort_attributes(*r->resource.mutable_attributes());
    r->resource.set_dropped_attributes_count(decoded.dropped_attributes_count + dropped);
    r->schema_url = std::move(decoded.schema_url);
    if (repair_utf8(r->schema_url)) ++stats_.repaired_utf8;
    for (const auto& kv : r->resource.attributes()) {
      if (kv.key() == "process.pid" && kv.value().value_case() == otlp::AnyValue::kIntValue) {
        r->pid = kv.value().int_value();
      }
    }
    r->resource.SerializeToString(&r->encoded);
    r->key = r->encoded;
    r->key.push_back('\0');
    r->key += r->schema_url;
    out = intern(std::move(r));
  }
  resources_.insert(ref, out, 0);
  return out;
}

std::shared_ptr<const ResolvedScope> DictionaryResolver::scope(int64_t ref) {
  if (ref == 0) return empty_scope_;
  if (auto* hit = scopes_.find(ref)) {
    ++stats_.cache_hits;
    return *hit;
  }
  ++stats_.cache_misses;
  InstrumentationScope decoded;
  std::shared_ptr<const ResolvedScope> out;
  if (reader_ == nullptr || !reader_->read(ref, decoded)) {
    ++stats_.scope_failures;
    out = empty_scope_;
  } else {
    auto s = std::make_shared<ResolvedScope>();
    s->resource = resource(decoded.resource_ref);
    const std::string* name = string(decoded.name_ref);
    if (name != nullptr) s->scope.set_name(*name);
    const std::string* version = string(decoded.version_ref);
    if (version != nullptr) s->scope.set_version(*version);
    uint32_t dropped = merge_attributes(decoded.attributes, *s->scope.mutable_attributes());
    sort_attributes(*s->scope.mutable_attributes());
    s->scope.set_dropped_attributes_count(decoded.dropped_attributes_count + dropped);
    s->schema_url = std::move(decoded.schema_url);
    if (repair_utf8(s->schema_url)) ++stats_.repaired_utf8;
    s->scope.SerializeToString(&s->encoded);
    s->key = s->encoded;
    s->key.push_back('\0');
    s->key += s->schema_url;
    out = intern(std::move(s));
  }
  uint64_t before = scopes_.rotations();
  scopes_.insert(ref, out, 0);
  note_rotation(before, scopes_.rotations());
  return out;
}

bool DictionaryResolver::metric(int64_t ref, MetricRef& out) {
  if (reader_ == nullptr || ref == 0 || !reader_->read(ref, out)) {
    ++stats_.metric_failures;
    return false;
  }
  bool repaired = repair_utf8(out.name);
  repaired = repair_utf8(out.description) || repaired;
  repaired = repair_utf8(out.unit) || repaired;
  if (repaired) ++stats_.repaired_utf8;
  return true;
}

}  // namespace otlp_mmap::collector

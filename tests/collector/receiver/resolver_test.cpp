// Dictionary resolution: cache bounds, failures, value refs, UTF-8 repair.
#include "otlp_mmap/collector/receiver/resolver.hpp"

#include <gtest/gtest.h>

#include "pipeline_test_util.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;

TEST(RefCacheTest, StaysWithinItsEntryBound) {
  RefCache<int> cache(8, SIZE_MAX);
  for (int i = 1; i <= 1000; ++i) {
    cache.insert(i, i, 1);
    EXPECT_LE(cache.size(), 8u);
  }
  EXPECT_GT(cache.rotations(), 0u);
  // The most recent entries are there.
  ASSERT_NE(cache.find(1000), nullptr);
  EXPECT_EQ(*cache.find(1000), 1000);
  EXPECT_EQ(cache.find(1), nullptr);
}

TEST(RefCacheTest, StaysWithinItsByteBound) {
  RefCache<std::string> cache(1000000, 1000);
  for (int i = 1; i <= 1000; ++i) cache.insert(i, std::string(100, 'x'), 100);
  // Two generations of at most 500 bytes each: at most 10 entries of 100 bytes.
  EXPECT_LE(cache.size(), 10u);
}

TEST(RefCacheTest, RecentlyUsedEntriesSurviveRotation) {
  RefCache<int> cache(4, SIZE_MAX);  // two generations of two
  cache.insert(1, 1, 1);
  cache.insert(2, 2, 1);
  cache.insert(3, 3, 1);              // rotates: {1,2} become the old generation
  ASSERT_NE(cache.find(1), nullptr);  // promoted back into the current one
  cache.insert(4, 4, 1);              // rotates: {3,1} old, 2 dropped
  EXPECT_NE(cache.find(1), nullptr);
  EXPECT_EQ(cache.find(2), nullptr);
}

TEST(ResolverTest, KeyCacheIsBoundedAndStillResolvesEverything) {
  ResolverLimits limits;
  limits.max_strings = 16;
  TestFile f(limits);
  std::vector<int64_t> refs;
  for (int i = 0; i < 500; ++i) refs.push_back(f.key("key-" + std::to_string(i)));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 500; ++i) {
      const std::string* s = f.resolver.string(refs[static_cast<size_t>(i)]);
      ASSERT_NE(s, nullptr);
      EXPECT_EQ(*s, "key-" + std::to_string(i));
      EXPECT_LE(f.resolver.cached_strings(), 16u);
    }
  }
  EXPECT_GT(f.resolver.stats().cache_evictions, 0u);
  EXPECT_EQ(f.resolver.stats().string_failures, 0u);
}

TEST(ResolverTest, ScopeAndValueCachesAreBounded) {
  ResolverLimits limits;
  limits.max_scopes = 4;
  limits.max_values = 4;
  TestFile f(limits);
  const int64_t res = f.resource({{"service.name", "svc"}});
  for (int i = 0; i < 50; ++i) {
    auto s = f.resolver.scope(f.scope(res, "scope-" + std::to_string(i)));
    EXPECT_EQ(s->scope.name(), "scope-" + std::to_string(i));
    EXPECT_LE(f.resolver.cached_scopes(), 4u);
    std::string entry = "\x0a";
    const std::string text = "value-" + std::to_string(i);
    entry += static_cast<char>(text.size());
    entry += text;
    AnyValue ref;
    ref.kind = AnyValue::Kind::kValueRef;
    ref.int_value = f.writer->intern(entry);
    otlp::AnyValue out;
    ASSERT_TRUE(f.resolver.value(ref, out));
    EXPECT_EQ(out.string_value(), text);
    EXPECT_LE(f.resolver.cached_values(), 4u);
  }
}

TEST(ResolverTest, EqualContentIsOneObject) {
  TestFile f;
  const int64_t r = f.resource({{"service.name", "svc"}});
  // Same content, different bytes: attributes in the other order.
  std::vector<KeyValueView> kvs{{f.key("z"), AnyValueView::string("1")}, {f.key("a"), AnyValueView::string("2")}};
  ResourceView rv;
  rv.attributes = kvs;
  const int64_t r1 = f.writer->intern(encode_to_string(rv));
  std::swap(kvs[0], kvs[1]);
  const int64_t r2 = f.writer->intern(encode_to_string(rv));
  ASSERT_NE(r1, r2);
  auto s1 = f.resolver.scope(f.scope(r1, "lib"));
  auto s2 = f.resolver.scope(f.scope(r2, "lib"));
  EXPECT_EQ(s1.get(), s2.get());
  EXPECT_EQ(attrs_of(s1->resource->resource.attributes()), (std::vector<std::string>{"a=s:2", "z=s:1"}));
  auto s3 = f.resolver.scope(f.scope(r, "lib"));
  EXPECT_NE(s3.get(), s1.get());
}

TEST(ResolverTest, ProcessPidIsTakenFromTheResource) {
  TestFile f;
  auto s = f.resolver.scope(f.scope(f.resource({{"service.name", "svc"}}, 31337), "lib"));
  EXPECT_EQ(s->resource->pid, 31337);
}

TEST(ResolverTest, FailuresAreCountedAndGiveEmptyValues) {
  TestFile f;
  EXPECT_EQ(f.resolver.string(1 << 30), nullptr);
  EXPECT_EQ(f.resolver.stats().string_failures, 1u);
  auto s = f.resolver.scope(12345);  // inside the file, but not an entry that decodes as a scope
  EXPECT_EQ(s->scope.name(), "");
  MetricRef m;
  EXPECT_FALSE(f.resolver.metric(1 << 30, m));
  EXPECT_EQ(f.resolver.stats().metric_failures, 1u);
  // Ref 0 is "none": the empty string, not a failure.
  ASSERT_NE(f.resolver.string(0), nullptr);
  EXPECT_EQ(*f.resolver.string(0), "");
}

TEST(ResolverTest, ValueRefCyclesStopAtTheDepthLimit) {
  TestFile f;
  // An AnyValue entry whose value_ref points at itself: {8: <its own offset>}. Allocate it
  // first with a placeholder of the right size, then find its ref from the dictionary end.
  const int64_t end = f.reader->dictionary_end();
  std::string self = "\x40";  // field 8, varint
  uint64_t v = static_cast<uint64_t>(end);
  while (v >= 0x80) {
    self += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  self += static_cast<char>(v);
  const int64_t ref = f.writer->intern(self);
  ASSERT_EQ(ref, end);
  AnyValue in;
  in.kind = AnyValue::Kind::kValueRef;
  in.int_value = ref;
  otlp::AnyValue out;
  EXPECT_FALSE(f.resolver.value(in, out));
  EXPECT_GT(f.resolver.stats().value_failures, 0u);
}

TEST(ResolverTest, AttachingAnotherFileEmptiesTheRefCaches) {
  TestFile a;
  TestFile b;
  const int64_t ka = a.key("from-a");
  ASSERT_NE(a.resolver.string(ka), nullptr);
  EXPECT_EQ(a.resolver.cached_strings(), 1u);
  a.resolver.attach(b.reader.get());
  EXPECT_EQ(a.resolver.cached_strings(), 0u);
  const int64_t kb = b.key("from-b");
  ASSERT_EQ(kb, ka);  // same offset in both files
  EXPECT_EQ(*a.resolver.string(kb), "from-b");
}

TEST(ResolverTest, AttributesIntoReusesItsVector) {
  TestFile f;
  std::vector<otlp::KeyValue> scratch;
  std::vector<KeyValueRef> in{f.kv("a", int_value(1)), f.kv("b", int_value(2)), f.kv("a", int_value(3))};
  uint32_t dropped = 0;
  EXPECT_EQ(f.resolver.attributes_into(in, scratch, &dropped), 2u);
  EXPECT_EQ(scratch[0].key(), "a");
  EXPECT_EQ(scratch[0].value().int_value(), 3);
  EXPECT_EQ(scratch[1].key(), "b");
  in.resize(1);
  EXPECT_EQ(f.resolver.attributes_into(in, scratch, &dropped), 1u);
  EXPECT_EQ(scratch[0].value().int_value(), 1);
  EXPECT_EQ(dropped, 0u);
}

TEST(Utf8Test, RepairsOnlyWhatIsInvalid) {
  std::string ok = "plain ascii and \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  EXPECT_FALSE(repair_utf8(ok));
  std::string bad =
      "a\xC3(b\xED\xA0\x80"
      "c\xF5";  // truncated, surrogate, out of range
  EXPECT_TRUE(repair_utf8(bad));
  EXPECT_EQ(bad,
            "a\xEF\xBF\xBD(b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
            "c\xEF\xBF\xBD");
  std::string overlong = "\xC0\xAF";
  EXPECT_TRUE(repair_utf8(overlong));
  EXPECT_EQ(overlong, "\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace otlp_mmap::collector

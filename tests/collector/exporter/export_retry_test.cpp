// Backoff schedule, Retry-After, google.rpc.RetryInfo, gzip, log rate limiting.

#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <string>
#include <vector>

#include "backoff.hpp"
#include "gzip.hpp"
#include "log_limited.hpp"
#include "retry_after.hpp"

namespace otlp_mmap::collector {
namespace {

using detail::Backoff;
using detail::parse_retry_after;
using std::chrono::milliseconds;

TEST(Backoff, ExponentialCeilingCappedAtMax) {
  Backoff b(milliseconds(1000), milliseconds(30000), 1);
  const std::vector<int64_t> expected{1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (unsigned i = 0; i < expected.size(); ++i) EXPECT_EQ(b.ceiling(i).count(), expected[i]) << i;
  EXPECT_EQ(b.ceiling(1000).count(), 30000);  // no overflow
}

TEST(Backoff, JitterStaysWithinHalfToFullAndVaries) {
  Backoff b(milliseconds(100), milliseconds(1600), 42);
  for (unsigned attempt = 0; attempt < 8; ++attempt) {
    const int64_t d = b.ceiling(attempt).count();
    int64_t lo = d, hi = 0;
    for (int i = 0; i < 200; ++i) {
      const int64_t v = b.next(attempt).count();
      ASSERT_GE(v, d / 2) << attempt;
      ASSERT_LE(v, d) << attempt;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_LT(lo, hi) << "no jitter at attempt " << attempt;
  }
}

TEST(RetryAfter, DelaySeconds) {
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(parse_retry_after("0", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("3", now), milliseconds(3000));
  EXPECT_EQ(parse_retry_after(" 120 ", now), milliseconds(120000));
  EXPECT_EQ(parse_retry_after("99999999999", now), milliseconds(86400000));  // capped at a day
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-1", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
}

TEST(RetryAfter, HttpDates) {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s after the epoch.
  const std::chrono::system_clock::time_point now{std::chrono::seconds(784111777 - 10)};
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(10000));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), milliseconds(10000));  // RFC 850
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), milliseconds(10000));        // asctime
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:20 GMT", now), milliseconds(0));       // past
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now), std::nullopt);
  // A date far ahead is capped at a day.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 2094 08:49:37 GMT", now), milliseconds(86400000));
}

// Hand-encoded protobuf (what a server puts in grpc-status-details-bin).
std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string field_bytes(int number, const std::string& payload) {
  return varint(static_cast<uint64_t>(number) << 3 | 2) + varint(payload.size()) + payload;
}
std::string field_varint(int number, uint64_t v) { return varint(static_cast<uint64_t>(number) << 3) + varint(v); }
std::string any(const std::string& type, const std::string& value) {
  return field_bytes(1, "type.googleapis.com/" + type) + field_bytes(2, value);
}

TEST(GrpcRetryInfo, DelayFromStatusDetails) {
  const std::string duration = field_varint(1, 2) + field_varint(2, 500000000);  // 2.5 s
  const std::string retry_info = field_bytes(1, duration);
  const std::string status = field_varint(1, 8) + field_bytes(2, "slow down") +
                             field_bytes(3, any("google.rpc.DebugInfo", "x")) +
                             field_bytes(3, any("google.rpc.RetryInfo", retry_info));
  EXPECT_EQ(detail::parse_grpc_retry_info(status), milliseconds(2500));
  EXPECT_EQ(detail::parse_rpc_status_message(status), "slow down");
  // RetryInfo without a delay: present, zero.
  EXPECT_EQ(detail::parse_grpc_retry_info(field_bytes(3, any("google.rpc.RetryInfo", ""))), milliseconds(0));
  // No RetryInfo, empty and garbage details.
  EXPECT_EQ(detail::parse_grpc_retry_info(field_varint(1, 8)), std::nullopt);
  EXPECT_EQ(detail::parse_grpc_retry_info(""), std::nullopt);
  EXPECT_EQ(detail::parse_grpc_retry_info("\xff\xff\xff"), std::nullopt);
  EXPECT_EQ(detail::parse_rpc_status_message("\x12\x50"), "");  // truncated
}

TEST(Gzip, RoundTripsWithZlib) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += "span-" + std::to_string(i % 17);
  const std::string z = detail::gzip_compress(data);
  ASSERT_GE(z.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(z[1]), 0x8b);
  EXPECT_LT(z.size(), data.size() / 4);
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(data.size() + 16, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data()));
  zs.avail_in = static_cast<uInt>(z.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_EQ(out, data);
  EXPECT_EQ(detail::gzip_compress("").substr(0, 2), "\x1f\x8b");
}

TEST(LogLimited, OncePerIntervalWithSuppressedCount) {
  std::vector<std::string> lines;
  detail::set_log_sink([&](const std::string& l) { lines.push_back(l); });
  for (int i = 0; i < 5; ++i) detail::log_limited("k", std::chrono::hours(1), "hello");
  detail::log_limited("other", std::chrono::hours(1), "world");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "otlp-mmap export: hello");
  EXPECT_EQ(lines[1], "otlp-mmap export: world");
  for (int i = 0; i < 3; ++i) detail::log_limited("once", std::chrono::seconds(0), "permanent");
  EXPECT_EQ(lines.size(), 3u);
  detail::log_limited("fast", std::chrono::nanoseconds(1), "a");
  std::this_thread::sleep_for(milliseconds(2));
  detail::log_limited("fast", std::chrono::nanoseconds(1), "b");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[4], "otlp-mmap export: b");
  detail::set_log_sink(nullptr);
}

}  // namespace
}  // namespace otlp_mmap::collector

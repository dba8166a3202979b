// Writer liveness with a pid table of the test's: a gone writer is suspected, watched after
// the grace, then declared dead and its open spans ended; one that still writes is left alone.
#include "otlp_mmap/collector/processor/writer_liveness.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "pipeline_test_util.hpp"
#include "record_bytes.hpp"

namespace otlp_mmap::collector {
namespace {

using namespace pipeline_test;
using namespace std::chrono_literals;

struct WriterLivenessTest : ::testing::Test {
  TestFile f;
  std::ostringstream log;
  Diagnostics diagnostics{log};
  std::set<int64_t> gone_pids;
  std::vector<otlp::Span> emitted;
  SpanAssembler spans{{}, [this](std::shared_ptr<const ResolvedScope>, const SpanDraft& s) {
                        std::string bytes;
                        otlp_wire::Out out(bytes);
                        s.encode(out);
                        EXPECT_TRUE(emitted.emplace_back().ParseFromString(bytes));
                      }};
  RecordViews views;
  WriterLiveness liveness{0ns, diagnostics, [this](int64_t pid) { return gone_pids.count(pid) > 0; }};
  Now now{std::chrono::steady_clock::now(), 1000};
  int reads = 0;
  bool room = true;

  void open_span(int64_t pid, uint8_t id) {
    SpanEvent r;
    r.type = SpanEventType::kStart;
    r.trace_id = trace_id(1);
    r.span_id = span_id(id);
    r.scope_ref = f.scope(f.resource({{"service.name", "svc"}}, pid), "lib");
    r.start_time_unix_nano = 500;
    spans.handle(views(r), f.resolver, now);
  }
  void update_span(uint8_t id) {
    SpanEvent r;
    r.type = SpanEventType::kName;
    r.trace_id = trace_id(1);
    r.span_id = span_id(id);
    r.name = "renamed";
    spans.handle(views(r), f.resolver, now);
  }
  void check() {
    liveness.check(spans, [this] {
      ++reads;
      return room;
    });
  }
};

TEST_F(WriterLivenessTest, AGoneWriterIsSuspectedWatchedThenItsSpansEnded) {
  open_span(111, 1);
  open_span(222, 2);
  gone_pids = {111};
  check();  // suspected: the rings are read to their end first
  EXPECT_EQ(reads, 1);
  EXPECT_TRUE(emitted.empty());
  check();  // the grace has passed: its records are counted from now
  EXPECT_TRUE(emitted.empty());
  check();  // none came: dead
  ASSERT_EQ(emitted.size(), 1u);
  EXPECT_EQ(liveness.exited(), 1u);
  EXPECT_EQ(spans.in_flight(), 1u);  // pid 222 still runs
  EXPECT_NE(log.str().find("writer process(es) 111 exited: 1 open span(s) exported as incomplete"), std::string::npos);
}

TEST_F(WriterLivenessTest, AWriterThatLooksGoneButStillWritesIsLeftAlone) {
  open_span(111, 1);
  gone_pids = {111};
  check();
  check();
  update_span(1);  // a record of the suspect after the grace
  check();
  EXPECT_TRUE(emitted.empty());
  EXPECT_EQ(liveness.unverifiable(), 1u);
  check();  // not suspected again
  check();
  check();
  EXPECT_TRUE(emitted.empty());
  EXPECT_EQ(liveness.exited(), 0u);
}

TEST_F(WriterLivenessTest, NothingIsDecidedWhileRecordsWaitForRoom) {
  open_span(111, 1);
  gone_pids = {111};
  room = false;
  for (int i = 0; i < 3; ++i) check();
  EXPECT_EQ(reads, 3);  // tried every time, never got to the end
  EXPECT_TRUE(emitted.empty());
  room = true;
  for (int i = 0; i < 3; ++i) check();
  EXPECT_EQ(emitted.size(), 1u);
}

}  // namespace
}  // namespace otlp_mmap::collector

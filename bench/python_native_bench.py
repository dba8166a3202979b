#!/usr/bin/env python3
"""Cost of otlp_mmap._native calls from Python (`make bench-python`).

Prints the median microseconds per call over many timed batches, with the pure-Python
cost of `time.time_ns()` and of an empty 4-argument function call for scale. It reports,
never asserts: the targets are printed next to the figures.

Steady state is measured: every ring is written through once before timing (so its pages
are mapped), and a Reader drains the ring between batches (untimed), so no call meets a
full ring. Times passed to the calls are constants: the cost of reading a clock is the
caller's, and is shown separately as the baseline.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

from otlp_mmap import Reader, Writer

TRACE_ID = bytes(range(1, 17))
SPAN_ID = bytes(range(1, 9))
SLOTS = 1 << 16

# Hard targets (microseconds per operation), from the project's performance issue.
TARGETS = {
    "record_measurement, 2 attributes": 0.5,
    "record_span_start + record_span_end, 4 attributes": 1.5,
}


def timed_batches(fn, batch, rounds, before=None):
    """Median and 90th percentile of the per-call time in microseconds."""
    per_call = []
    for _ in range(rounds):
        if before is not None:
            before()
        t0 = time.perf_counter_ns()
        fn(batch)
        per_call.append((time.perf_counter_ns() - t0) / batch / 1000)
    per_call.sort()
    return statistics.median(per_call), per_call[int(len(per_call) * 0.9)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200, help="timed batches per operation")
    ap.add_argument("--batch", type=int, default=1000, help="calls per timed batch")
    ap.add_argument("--quick", action="store_true", help="a few rounds only (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.batch = 10, 200

    tmp = tempfile.TemporaryDirectory(prefix="otlp-mmap-bench-")
    path = os.path.join(tmp.name, "bench.mmap")
    w = Writer(path, events_slots=SLOTS, spans_slots=SLOTS, measurements_slots=SLOTS)
    r = Reader(path)

    resource = w.create_resource({"service.name": "bench", "host.name": platform.node()})
    scope = w.create_instrumentation_scope(resource, "bench", "1.0")
    counter = w.create_metric_stream(
        scope, "requests", "", "1", {"sum": {"aggregation_temporality": 1, "is_monotonic": True}}
    )
    event_name = w.record_string("bench.event")
    attrs2 = {"http.request.method": "GET", "http.response.status_code": 200}
    attrs4 = {
        "http.request.method": "GET", "url.path": "/api/users", "http.response.status_code": 200, "server.ok": True
    }

    def drain(ring):
        return lambda: r.skip(ring)

    # Write every slot once so the timed calls do not pay for first-touch page faults.
    for ring, write in (
        ("measurements", lambda: w.record_measurement(counter, attrs2, 1, 1)),
        ("spans", lambda: w.record_span_end(scope, TRACE_ID, SPAN_ID, 1)),
        ("events", lambda: w.record_event(scope, None, 0, 1, None)),
    ):
        for _ in range(SLOTS):
            write()
        r.skip(ring)

    rm, ss, se, re_, rse, rs = (
        w.record_measurement,
        w.record_span_start,
        w.record_span_end,
        w.record_event,
        w.record_span_event,
        w.record_string,
    )

    def measurement_int(n):
        for _ in range(n):
            rm(counter, attrs2, 1_700_000_000_000_000_000, 1)

    def measurement_float(n):
        for _ in range(n):
            rm(counter, attrs2, 1_700_000_000_000_000_000, 1.5)

    def span_pair(n):
        for _ in range(n):
            ss(scope, TRACE_ID, SPAN_ID, None, 1, "GET /api/users", 2, 1_700_000_000_000_000_000, attrs4)
            se(scope, TRACE_ID, SPAN_ID, 1_700_000_000_000_001_000)

    def span_start(n):
        for _ in range(n):
            ss(scope, TRACE_ID, SPAN_ID, None, 1, "GET /api/users", 2, 1_700_000_000_000_000_000, attrs4)

    def span_end_status(n):
        for _ in range(n):
            se(scope, TRACE_ID, SPAN_ID, 1_700_000_000_000_001_000, (2, "failed"))

    def span_add_event(n):
        for _ in range(n):
            rse(scope, TRACE_ID, SPAN_ID, "retry", 1_700_000_000_000_000_500, attrs2)

    def log_event(n):
        for _ in range(n):
            re_(scope, None, event_name, 1_700_000_000_000_000_000, attrs2, severity_number=9, body="user logged in")

    def string_cached(n):
        for _ in range(n):
            rs("http.request.method")

    def time_ns(n):
        tn = time.time_ns
        for _ in range(n):
            tn()

    def py_call(n):
        def f(a, b, c, d):
            pass

        for _ in range(n):
            f(counter, attrs2, 1, 1)

    def empty_loop(n):
        for _ in range(n):
            pass

    rounds, batch = args.rounds, args.batch
    rows = []
    baseline, _ = timed_batches(time_ns, batch, rounds)
    for name, fn, ring, calls in (
        ("record_measurement, 2 attributes", measurement_int, "measurements", 1),
        ("record_measurement, 2 attributes, float", measurement_float, "measurements", 1),
        ("record_span_start + record_span_end, 4 attributes", span_pair, "spans", 2),
        ("record_span_start, 4 attributes", span_start, "spans", 1),
        ("record_span_end with status", span_end_status, "spans", 1),
        ("record_span_event, 2 attributes", span_add_event, "spans", 1),
        ("record_event, str body, 2 attributes", log_event, "events", 1),
        ("record_string (cached)", string_cached, None, 0),
    ):
        # Keep every batch within the ring: drained before each batch.
        b = min(batch, SLOTS // max(calls, 1))
        median, p90 = timed_batches(fn, b, rounds, drain(ring) if ring else None)
        rows.append((name, median, p90))

    # A burst: 50 spans (100 records) into an empty ring, timed as a whole.
    def burst(_n):
        span_pair(50)

    burst_median, burst_p90 = timed_batches(burst, 1, rounds, drain("spans"))
    call_median, _ = timed_batches(py_call, batch, rounds)
    loop_median, _ = timed_batches(empty_loop, batch, rounds)

    counters = w.counters()
    print(f"otlp_mmap._native on Python {platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs)")
    print(f"{rounds} batches of up to {batch} calls; median and p90 microseconds per call\n")
    print(f"{'operation':52} {'median':>8} {'p90':>8} {'x time_ns':>10}  target")
    for name, median, p90 in rows:
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            verdict = f"<= {target} {'ok' if median <= target else 'MISSED'}"
        print(f"{name:52} {median:8.3f} {p90:8.3f} {median / baseline:10.1f}  {verdict}")
    print(f"{'burst: 50 spans = 100 records, whole burst':52} {burst_median:8.2f} {burst_p90:8.2f} "
          f"{burst_median / baseline:10.1f}")
    print(f"{'burst, per record':52} {burst_median / 100:8.3f} {burst_p90 / 100:8.3f} "
          f"{burst_median / 100 / baseline:10.1f}")
    print("\nfor scale (pure Python):")
    print(f"{'time.time_ns()':52} {baseline:8.3f}")
    print(f"{'empty 4-argument Python function call':52} {call_median:8.3f}")
    print(f"{'empty loop iteration (included in every figure)':52} {loop_median:8.3f}")
    lost = {k: v for k, v in counters.items() if v}
    print(f"\nwriter counters: {lost if lost else 'nothing dropped or truncated'}")
    r.close()
    del w
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

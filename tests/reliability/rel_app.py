"""The application of the reliability tests: several threads writing spans, log records and
metric measurements through the otlp-mmap SDK (``otlp_mmap.configure()``), each operation
numbered and recorded in a *ledger*.

Run as a subprocess: ``python rel_app.py --file F --ledger L [options]``.

Every thread repeats, for i = 0, 1, ...:

* a child span ``rel.child`` (attribute ``rel.id``) under the thread's current ``rel.outer``
  span (a new outer span every ``--outer-every`` iterations, attribute ``rel.id`` too);
* a log record through the standard library (``otlp_mmap.LoggingHandler``, ``extra={"rel.id"}``);
* ``rel.ops.add(1, {"rel.run", "rel.thread"})`` on a counter (a DELTA sum).

The ledger is exact up to a SIGKILL: around every SDK call the thread appends one fixed-size
record (``LEDGER``: kind, phase, thread, run, seq) with a single ``os.write`` to a file opened
with ``O_APPEND``. Each append is one system call, so it is in the kernel (page cache) as soon
as it returns and survives the death of the process; records of different threads never mix.
Phases: ``BEGIN`` before the call, ``DONE`` after it returned; spans also have ``STARTED``
(after ``start_span`` returned: the start record is in the file) and ``ENDING`` (just before
``end()``). So at the kill each thread has at most one call in flight, and the tests know
for every id whether its write completed, was in flight, or never began.

SDK calls return nothing; a call that found its ring full drops the record and counts it in
the file (``dropped_full_*``, read back with ``otlp-mmap inspect --json``). The tests size
the rings (or assert on those counters) so that "completed" is the same as "written".

At a normal end the application writes a JSON summary (``--summary``): operations completed
per kind, and the latency of the SDK calls per wall-clock second (worst, total, count and a
histogram in quarter-octave buckets).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import struct
import sys
import threading
import time
from math import log2

LEDGER = struct.Struct("<BBHIQ")  # kind, phase, thread, run, seq: 16 bytes
KIND_CHILD, KIND_LOG, KIND_METRIC, KIND_OUTER = 1, 2, 3, 4
BEGIN, STARTED, ENDING, DONE = 0, 1, 2, 3


def make_id(run: int, thread: int, seq: int, outer: bool = False) -> int:
    """The rel.id of an item: unique across runs, threads and kinds (fits an int64)."""
    return (run << 48) | (int(outer) << 47) | (thread << 32) | seq


def split_id(value: int) -> tuple[int, int, int, bool]:
    return value >> 48, (value >> 32) & 0x7FFF, value & 0xFFFFFFFF, bool(value >> 47 & 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--ledger", required=True)
    ap.add_argument("--summary")
    ap.add_argument("--run", type=int, default=1)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=0, help="per thread; 0: until --duration")
    ap.add_argument("--duration", type=float, default=0.0, help="seconds; 0: until --iterations")
    ap.add_argument("--rate", type=float, default=0.0, help="iterations per second per thread; 0: full speed")
    ap.add_argument("--outer-every", type=int, default=50)
    ap.add_argument("--no-logs", action="store_true")
    ap.add_argument("--no-metrics", action="store_true")
    args = ap.parse_args()

    import otlp_mmap
    from opentelemetry import metrics, trace

    # strict: a file the SDK cannot use must stop the run, not give a silent no-op app.
    telemetry = otlp_mmap.configure(args.file, service_name="reliability-app", logging_handler=True, strict=True)
    tracer = trace.get_tracer("rel.app", "1.0")
    meter = metrics.get_meter("rel.app", "1.0")
    counter = meter.create_counter("rel.ops", unit="{op}", description="operations of the reliability app")
    log = logging.getLogger("rel.app")
    log.setLevel(logging.INFO)
    ledger = os.open(args.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    pack = LEDGER.pack
    write = os.write
    perf = time.perf_counter_ns
    done_counts = [[0, 0, 0] for _ in range(args.threads)]  # child spans, logs, measurements
    latency: dict[int, list] = {}  # wall-clock second -> [max ns, total ns, calls, {bucket: calls}]
    latency_lock = threading.Lock()
    stop_at = time.monotonic() + args.duration if args.duration > 0 else None
    start_barrier = threading.Barrier(args.threads)

    def work(t: int) -> None:
        run = args.run
        local_lat: dict[int, list] = {}
        outer = None
        outer_seq = 0
        outer_ctx = None
        start_barrier.wait()
        t0 = time.monotonic()

        def note(dt: int) -> None:
            sec = int(time.time())
            e = local_lat.get(sec)
            if e is None:
                e = local_lat[sec] = [0, 0, 0, {}]
            if dt > e[0]:
                e[0] = dt
            e[1] += dt
            e[2] += 1
            b = int(4 * log2(dt)) if dt > 0 else 0  # quarter-octave buckets: 2**(b/4) ns
            e[3][b] = e[3].get(b, 0) + 1

        i = 0
        while True:
            if args.iterations and i >= args.iterations:
                break
            if stop_at is not None and (i & 15) == 0 and time.monotonic() >= stop_at:
                break
            if args.rate > 0 and (i & 7) == 0:
                ahead = t0 + i / args.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            if i % args.outer_every == 0:
                if outer is not None:
                    write(ledger, pack(KIND_OUTER, ENDING, t, run, outer_seq))
                    a = perf()
                    outer.end()
                    note(perf() - a)
                    write(ledger, pack(KIND_OUTER, DONE, t, run, outer_seq))
                    outer_seq += 1
                write(ledger, pack(KIND_OUTER, BEGIN, t, run, outer_seq))
                a = perf()
                outer = tracer.start_span("rel.outer", attributes={"rel.id": make_id(run, t, outer_seq, True)})
                note(perf() - a)
                write(ledger, pack(KIND_OUTER, STARTED, t, run, outer_seq))
                outer_ctx = trace.set_span_in_context(outer)
            # child span
            write(ledger, pack(KIND_CHILD, BEGIN, t, run, i))
            a = perf()
            child = tracer.start_span("rel.child", context=outer_ctx, attributes={"rel.id": make_id(run, t, i)})
            note(perf() - a)
            write(ledger, pack(KIND_CHILD, STARTED, t, run, i))
            write(ledger, pack(KIND_CHILD, ENDING, t, run, i))
            a = perf()
            child.end()
            note(perf() - a)
            write(ledger, pack(KIND_CHILD, DONE, t, run, i))
            done_counts[t][0] += 1
            # log record
            if not args.no_logs:
                write(ledger, pack(KIND_LOG, BEGIN, t, run, i))
                a = perf()
                log.info("rel op %d", i, extra={"rel.id": make_id(run, t, i)})
                note(perf() - a)
                write(ledger, pack(KIND_LOG, DONE, t, run, i))
                done_counts[t][1] += 1
            # measurement
            if not args.no_metrics:
                write(ledger, pack(KIND_METRIC, BEGIN, t, run, i))
                a = perf()
                counter.add(1, {"rel.run": run, "rel.thread": t})
                note(perf() - a)
                write(ledger, pack(KIND_METRIC, DONE, t, run, i))
                done_counts[t][2] += 1
            i += 1
        if outer is not None:
            write(ledger, pack(KIND_OUTER, ENDING, t, run, outer_seq))
            outer.end()
            write(ledger, pack(KIND_OUTER, DONE, t, run, outer_seq))
        with latency_lock:
            for sec, (mx, total, calls, hist) in local_lat.items():
                e = latency.setdefault(sec, [0, 0, 0, {}])
                e[0] = max(e[0], mx)
                e[1] += total
                e[2] += calls
                for b, n in hist.items():
                    e[3][b] = e[3].get(b, 0) + n

    threads = [threading.Thread(target=work, args=(t,), name=f"rel-{t}") for t in range(args.threads)]
    print("ready", flush=True)
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    os.close(ledger)
    telemetry.shutdown()
    if args.summary:
        summary = {
            "pid": os.getpid(),
            "children": sum(c[0] for c in done_counts),
            "logs": sum(c[1] for c in done_counts),
            "measurements": sum(c[2] for c in done_counts),
            "latency": {str(s): v for s, v in sorted(latency.items())},
            "sdk_counters": otlp_mmap.sdk.counters(),
        }
        tmp = args.summary + ".tmp"
        with open(tmp, "w") as f:
            json.dump(summary, f)
        os.replace(tmp, args.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

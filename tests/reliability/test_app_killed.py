"""Guarantee 1: telemetry survives the death of the application.

rel_app.py writes spans, log records and measurements from 4 threads at full speed through the
SDK while `otlp-mmap collect` follows the file (console exporter, OTLP/JSON lines). The
application is killed with SIGKILL in the middle. Its ledger says, for every operation,
whether the SDK call had returned before the kill; then, exactly:

* every span whose end() returned is exported once, complete; every span started and not
  ended (the outer span of each thread, a child caught between its calls) is exported once,
  with otlp_mmap.incomplete=true and reason writer_exited; a span whose start() call was
  interrupted is exported at most once (incomplete); nothing else is exported;
* every log record whose call returned is exported once; an interrupted one at most once;
* the sum rel.ops of each thread is between the adds that returned and those begun;
* nothing was dropped: the rings are sized to hold the whole run even if the collector
  read nothing, and the file's loss counters are all zero, except that a call interrupted
  between claiming its slot and publishing it leaves a torn slot, skipped after the grace
  period (reader_skipped_torn <= calls in flight; with the GIL at most one).
"""

from __future__ import annotations

import signal
import time

import pytest

from reliability_support import (
    KIND_CHILD,
    KIND_METRIC,
    Collect,
    Ledger,
    check_logs,
    check_spans,
    exported_log_ids,
    exported_span_ids,
    file_losses,
    items,
    json_lines,
    latest_sum_points,
    print_figures,
    reap,
    require_binary,
    start_app,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)

THREADS = 4
ITERATIONS = 15000  # per thread, a cap the run never reaches: it is killed first
# Rings that hold everything the capped run could write, read or not: 2 records per span
# (120,000 child + 2,408 outer), 60,000 log records, 60,000 measurements.
GEOMETRY = {"OTLP_MMAP_SPANS_SLOTS": "262144", "OTLP_MMAP_EVENTS_SLOTS": "131072",
            "OTLP_MMAP_MEASUREMENTS_SLOTS": "131072"}
KILL_AFTER_BYTES = 16 * 8 * THREADS * ITERATIONS * 35 // 100  # about 35% of the capped run in the ledger


def test_every_write_that_returned_before_sigkill_is_exported(tmp_path):
    require_binary()
    f = tmp_path / "app.otlp"
    out = tmp_path / "export.jsonl"
    ledger_path = tmp_path / "ledger.bin"
    c = Collect(tmp_path, f, "--format", "json", "--output", str(out), "--metric-export-interval", "1000")
    app = None
    try:
        app = start_app(tmp_path, f, "--ledger", str(ledger_path), "--threads", str(THREADS), "--iterations",
                        str(ITERATIONS), env=GEOMETRY)
        wait_for(lambda: (ledger_path.exists() and ledger_path.stat().st_size >= KILL_AFTER_BYTES)
                 or app.poll() is not None, timeout=120, what="the application to get going")
        assert app.poll() is None, "the application finished before it could be killed"
        app.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        app.wait(timeout=10)
        # The collector reads what is left, sees the writer gone and ends its open spans.
        wait_for(lambda: f"writer process(es) {app.pid} exited" in c.stderr(), timeout=60,
                 what="the collector to notice the dead writer", diag=lambda: c.stderr()[-3000:])
        t_noticed = time.monotonic() - t_kill
        assert c.stop() == 0, c.stderr()[-3000:]
    finally:
        reap(app)
        c.kill()

    led = Ledger.read(ledger_path)
    records = json_lines(out)
    span_fig = check_spans(led, exported_span_ids(items(records, "resourceSpans")))
    log_fig = check_logs(led, exported_log_ids(items(records, "resourceLogs")))

    # Metrics: one DELTA counter series per thread, exported as a cumulative sum.
    sums = {k: v for (_, k), v in latest_sum_points(items(records, "resourceMetrics"), "rel.ops",
                                                     key=lambda a: (a["rel.run"], a["rel.thread"])).items()}
    series = led.per_series(KIND_METRIC)
    assert set(sums) == set(series), (sums, series)
    for k, (done, in_flight) in series.items():
        assert done <= sums[k] <= done + in_flight, (k, sums[k], done, in_flight)

    losses = file_losses(f)
    calls_in_flight = sum(1 for ph in led.phase.values() if ph in (0, 2))  # BEGIN or ENDING: inside an SDK call
    stats = c.final_stats()
    figures = {
        "ledger records": led.records,
        "SDK calls in flight at the kill": calls_in_flight,
        "child spans ended / open / start in flight": (span_fig.get("child_written", 0), span_fig.get("child_open", 0),
                                                       span_fig.get("child_in_flight", 0)),
        "child spans exported": span_fig.get("child_exported", 0),
        "outer spans ended / open": (span_fig.get("outer_written", 0), span_fig.get("outer_open", 0)),
        "outer spans exported": span_fig.get("outer_exported", 0),
        "spans exported incomplete (writer_exited)": span_fig.get("incomplete", 0),
        "log records written / in flight / exported": (log_fig["logs_written"], log_fig.get("logs_in_flight", 0),
                                                       log_fig["logs_exported"]),
        "measurements written (adds returned)": sum(d for d, _ in series.values()),
        "rel.ops exported (sum of the series)": int(sum(sums.values())),
        "duplicates": span_fig.get("duplicates", 0) + log_fig.get("duplicates", 0),
        "file loss counters": {k: v for k, v in losses.items() if v} or "all 0",
        "collector final stats": {k: stats[k] for k in ("read_spans", "read_logs", "read_measurements",
                                                        "exported_spans", "exported_logs", "dropped_writer",
                                                        "dropped_exporter", "dropped_reader")},
        "seconds from kill to 'writer exited'": round(t_noticed, 2),
    }
    print_figures("application killed with SIGKILL", figures)

    # No writer dropped anything. A call interrupted between claiming its slot and publishing
    # it leaves a torn slot that the collector skips after the grace period: at most one per
    # call in flight (with the GIL, at most one in all), and nothing else is lost.
    assert all(v == 0 for k, v in losses.items() if k != "reader_skipped_torn"), losses
    assert losses["reader_skipped_torn"] <= calls_in_flight, (losses, calls_in_flight)
    assert stats["dropped_writer"] == stats["dropped_exporter"] == 0, stats
    assert stats["dropped_reader"] == losses["reader_skipped_torn"], stats
    # At the kill every thread had its outer span open, or was inside start_span of the next
    # one (its previous outer had just ended): the open ones all arrive incomplete.
    assert span_fig.get("outer_open", 0) + span_fig.get("outer_in_flight", 0) == THREADS, span_fig
    assert span_fig.get("incomplete", 0) >= span_fig.get("outer_open", 0)
    assert led.count(KIND_CHILD, 3) > 10000  # the kill came in the middle of a real stream
    # Everything the collector exported is accounted for by the ledger, and nothing more.
    assert stats["exported_spans"] == span_fig.get("child_exported", 0) + span_fig.get("outer_exported", 0)
    assert stats["exported_logs"] == log_fig["logs_exported"]

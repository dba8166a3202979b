"""Guarantee 4: an application that restarts on the same file loses nothing, even when the
collector is behind.

One file, four runs of rel_app.py (2 threads each, full speed), and a collector that is behind:

1. run 1 writes and exits before any collector runs (the collector is started late);
2. the collector starts, reads run 1, and is then frozen with SIGSTOP;
3. run 2 writes and exits; run 3 is killed with SIGKILL half-way; run 4 writes and exits. Each
   run opens the file that the previous ones left with unread records and adopts it as it is
   (docs/FORMAT.md section 9.3: a restart never erases data);
4. the collector is resumed with SIGCONT and catches up.

Asserted exactly from the four ledgers: every span and log record whose call returned is
exported once (the spans of run 3 that were open at its kill arrive incomplete), the counter
series of each run and thread sum to its adds, nothing was dropped (the frozen collector's
backlog fits the default rings) and the collector opened the file once.
"""

from __future__ import annotations

import os
import signal

import pytest

from reliability_support import (
    KIND_METRIC,
    Collect,
    Ledger,
    check_logs,
    check_spans,
    exported_log_ids,
    exported_span_ids,
    file_losses,
    finish,
    inspect_json,
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


def _unread(f) -> int:
    rings = inspect_json(f, "--max-records", "0", "--max-entries", "0")["rings"]
    return sum(r["unread"] for r in rings.values())


def test_restarts_on_the_same_file_while_the_collector_is_behind(tmp_path):
    require_binary()
    f = tmp_path / "app.otlp"
    out = tmp_path / "export.jsonl"
    ledgers = [tmp_path / f"ledger-{run}.bin" for run in range(1, 5)]
    procs = []
    c = None
    unread_at_resume = 0
    try:
        def run(n: int, *args: str):
            p = start_app(tmp_path, f, "--ledger", str(ledgers[n - 1]), "--run", str(n), "--threads", "2", *args)
            procs.append(p)
            return p

        assert finish(run(1, "--iterations", "1000"), timeout=60) == 0
        c = Collect(tmp_path, f, "--format", "json", "--output", str(out), "--metric-export-interval", "1000",
                    stats_interval=1)
        wait_for(lambda: _unread(f) == 0, timeout=30, what="the late collector to read run 1")
        os.kill(c.pid, signal.SIGSTOP)
        try:
            assert finish(run(2, "--iterations", "1000"), timeout=60) == 0
            p3 = run(3, "--iterations", "1000", "--rate", "400")
            wait_for(lambda: ledgers[2].exists() and ledgers[2].stat().st_size > 16 * 8 * 2 * 400, timeout=30,
                     what="run 3 to be half-way")
            p3.send_signal(signal.SIGKILL)
            p3.wait(timeout=10)
            assert finish(run(4, "--iterations", "1000"), timeout=60) == 0
            unread_at_resume = _unread(f)
        finally:
            os.kill(c.pid, signal.SIGCONT)
        wait_for(lambda: _unread(f) == 0, timeout=60, what="the collector to catch up")
        c.wait_stats(lambda s: s["in_flight_spans"] == 0, timeout=30, what="the open spans of run 3 to be ended")
        assert c.stop() == 0, c.stderr()[-3000:]
    finally:
        reap(*procs)
        if c is not None:
            c.kill()

    led = Ledger.read(*ledgers)
    records = json_lines(out)
    span_fig = check_spans(led, exported_span_ids(items(records, "resourceSpans")))
    log_fig = check_logs(led, exported_log_ids(items(records, "resourceLogs")))
    sums = {k: v for (_, k), v in latest_sum_points(items(records, "resourceMetrics"), "rel.ops",
                                                     key=lambda a: (a["rel.run"], a["rel.thread"])).items()}
    series = led.per_series(KIND_METRIC)
    assert set(sums) == set(series)
    for k, (done, in_flight) in series.items():
        assert done <= sums[k] <= done + in_flight, (k, sums[k], done, in_flight)
    losses = file_losses(f)
    calls_in_flight = sum(1 for ph in led.phase.values() if ph in (0, 2))
    stats = c.final_stats()
    figures = {
        "runs": 4,
        "records unread when the collector resumed": unread_at_resume,
        "spans ended / exported": (span_fig.get("child_written", 0) + span_fig.get("outer_written", 0),
                                   span_fig.get("child_exported", 0) + span_fig.get("outer_exported", 0)),
        "spans exported incomplete (run 3, killed)": span_fig.get("incomplete", 0),
        "log records written / exported": (log_fig["logs_written"], log_fig["logs_exported"]),
        "counter adds written / exported": (sum(d for d, _ in series.values()), int(sum(sums.values()))),
        "SDK calls in flight at the kill of run 3": calls_in_flight,
        "duplicates": span_fig.get("duplicates", 0) + log_fig.get("duplicates", 0),
        "file loss counters": {k: v for k, v in losses.items() if v} or "all 0",
    }
    print_figures("application restarts while the collector is behind", figures)
    assert unread_at_resume > 10000
    assert all(v == 0 for k, v in losses.items() if k != "reader_skipped_torn"), losses
    assert losses["reader_skipped_torn"] <= calls_in_flight
    assert stats["dropped_writer"] == stats["dropped_exporter"] == 0
    assert span_fig.get("incomplete", 0) >= 2  # the outer span of each thread of run 3
    assert c.stderr().count("reading ") == 1  # one file, adopted by every run

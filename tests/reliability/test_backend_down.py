"""Guarantee 3: a backend outage never blocks the application, and every record is either
delivered or counted as dropped, exactly.

rel_app.py writes from one thread, paced at 2,000 iterations a second (a span, a log record and a
counter add per iteration), for 41 s (one thread: with two, the latency of a call would include
waiting for the GIL, which says nothing about the SDK). `otlp-mmap collect` exports over OTLP/gRPC to a real
OpenTelemetry Collector, which is stopped 3 s in and started again 30 s later. During the
outage the collector's export queue fills, it stops draining the span and log rings (it
leaves the records in the file rather than dropping them), the rings fill and the writers drop
and count. After the restart the exporter's retry goes through and the backlog is delivered.

Small rings (spans 8,192 slots, events 4,096) make the drops happen within seconds. Metrics are
exported once, at shutdown (the measurements are still read and aggregated during the outage),
so that the collector's exporter-drop counter belongs to spans and logs alone.

Accounting, asserted exactly (sources: the application's ledger for what was written, the real
Collector's files for what was delivered, `otlp-mmap inspect --json` for the file's counters,
the collector's final stats line for what it read and dropped):

* logs:     written = delivered + dropped_full_events + exporter drops + reader skips;
* spans, in records (a span is a start and an end record):
            2 x spans written = span records read + dropped_full_spans + reader skips,
            span records read = 2 x complete + incomplete + orphan ends,
  where a span whose end was dropped arrives incomplete (otlp_mmap.incomplete=true) and a span
  whose start was dropped leaves an orphan end (the collector's reader drop counter);
* metrics:  final rel.ops sum = adds written - dropped_full_measurements;
* the exporter dropped nothing (its retry budget, 60 s, outlasts the outage).

The application's worst SDK-call latency during the outage is printed (microseconds), not asserted.
"""

from __future__ import annotations

import json
import time

import pytest

from reliability_support import (
    KIND_CHILD,
    KIND_LOG,
    KIND_METRIC,
    KIND_OUTER,
    Collect,
    Ledger,
    exported_log_ids,
    exported_span_ids,
    file_losses,
    finish,
    inspect_json,
    latency_figures,
    latest_sum_points,
    needs_otelcol,
    otelcol,
    print_figures,
    reap,
    require_binary,
    require_otelcol,
    settle,
    start_app,
    wait_for,
)

pytestmark = [pytest.mark.timeout(300), needs_otelcol]

OUTAGE = 30.0
BEFORE, AFTER = 3.0, 8.0
GEOMETRY = {"OTLP_MMAP_SPANS_SLOTS": "8192", "OTLP_MMAP_EVENTS_SLOTS": "4096"}


def _unread(f) -> int:
    rings = inspect_json(f, "--max-records", "0", "--max-entries", "0")["rings"]
    return rings["spans"]["unread"] + rings["events"]["unread"]


def test_backend_outage_blocks_nothing_and_every_record_is_accounted_for(tmp_path):
    require_binary()
    require_otelcol()
    f = tmp_path / "app.otlp"
    ledger_path = tmp_path / "ledger.bin"
    summary_path = tmp_path / "summary.json"
    with otelcol.OtelCol(workdir=tmp_path / "otelcol", debug_verbosity=None) as col:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{col.grpc_endpoint}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        c = Collect(tmp_path, f, "--metric-export-interval", "3600000", env=env, stats_interval=1)
        app = None
        try:
            app = start_app(tmp_path, f, "--ledger", str(ledger_path), "--summary", str(summary_path), "--threads", "1",
                            "--rate", "2000", "--duration", str(BEFORE + OUTAGE + AFTER), "--outer-every", "100",
                            env=GEOMETRY)
            time.sleep(BEFORE)
            t_down = time.time()
            col.stop()
            time.sleep(OUTAGE)
            assert app.poll() is None and c.alive(), "the application and the collector run through the outage"
            col.start()
            t_up = time.time()
            assert finish(app, timeout=AFTER + 60) == 0
            # The exporter's next retry (backoff up to 30 s) delivers the backlog; then the rings drain.
            wait_for(lambda: _unread(f) == 0 and len(col.export_files()) == 2 and col.export_files()[-1].stat().st_size,
                     timeout=90, what="delivery to resume after the outage", diag=lambda: c.stderr()[-3000:])
            # The spans whose end record was dropped are ended once the collector sees the writer gone.
            c.wait_stats(lambda s: s["in_flight_spans"] == 0, timeout=30,
                         what="the collector to end the spans of the exited application")
            settle(col, quiet=1.5)
            assert c.stop() == 0, c.stderr()[-3000:]
            settle(col)
        finally:
            reap(app)
            c.kill()
        led = Ledger.read(ledger_path)
        spans = exported_span_ids(col.items_with_context("resourceSpans"))
        logs = exported_log_ids(col.items_with_context("resourceLogs"))
        sums = latest_sum_points(col.items_with_context("resourceMetrics"), "rel.ops", key=lambda a: a["rel.thread"])
    summary = json.loads(summary_path.read_text())
    losses = file_losses(f)
    stats = c.final_stats()

    # Written, from the ledger (the application ended normally: every operation completed).
    assert all(p == 3 for p in led.phase.values())
    spans_written = led.count(KIND_CHILD, 3) + led.count(KIND_OUTER, 3)
    logs_written = led.count(KIND_LOG, 3)
    adds_written = led.count(KIND_METRIC, 3)
    # Delivered, from the Collector: each id at most once, and only ids that were written.
    assert all(len(v) == 1 for v in spans.values()), "duplicate spans"
    assert all(v == 1 for v in logs.values()), "duplicate log records"
    assert all((KIND_OUTER if o else KIND_CHILD, r, t, s) in led.phase for (r, t, s, o) in spans)
    assert all((KIND_LOG, *k) in led.phase for k in logs)
    complete = sum(1 for v in spans.values() if v[0] is None)
    incomplete = sum(1 for v in spans.values() if v[0] is not None)
    torn = losses["reader_skipped_torn"]
    corrupt = losses["reader_skipped_corrupt"]
    orphans = stats["dropped_reader"] - torn - corrupt  # the reader's drops besides skipped slots

    during = latency_figures(summary["latency"], lambda sec: t_down + 1 <= sec < t_up - 1)
    before = latency_figures(summary["latency"], lambda sec: sec < t_down - 1)
    figures = {
        "outage (s)": round(t_up - t_down, 1),
        "logs: written = delivered + dropped (ring full) + exporter + reader":
            f"{logs_written} = {len(logs)} + {losses['dropped_full_events']} + {stats['dropped_exporter']} + "
            f"{torn + corrupt}",
        "spans: written / delivered complete / delivered incomplete": (spans_written, complete, incomplete),
        "span records: 2 x written = read + dropped (ring full) + skipped":
            f"{2 * spans_written} = {stats['read_spans']} + {losses['dropped_full_spans']} + {torn + corrupt}",
        "span records read = 2 x complete + incomplete + orphan ends":
            f"{stats['read_spans']} = {2 * complete} + {incomplete} + {orphans}",
        "metrics: rel.ops sum = adds written - dropped (ring full)":
            f"{int(sum(sums.values()))} = {adds_written} - {losses['dropped_full_measurements']}",
        "app SDK call latency before the outage": before,
        "app SDK call latency during the outage (mostly drops)": during,
        "collector final stats": stats,
    }
    print_figures("backend down for 30 s", figures)

    assert losses["dropped_full_spans"] > 0 and losses["dropped_full_events"] > 0, "the outage filled no ring"
    assert stats["dropped_exporter"] == 0, stats
    assert logs_written == len(logs) + losses["dropped_full_events"] + stats["dropped_exporter"] + torn + corrupt
    assert 2 * spans_written == stats["read_spans"] + losses["dropped_full_spans"] + torn + corrupt
    assert stats["read_spans"] == 2 * complete + incomplete + orphans
    assert {v[0] for v in spans.values()} <= {None, "writer_exited"}
    assert sum(sums.values()) == adds_written - losses["dropped_full_measurements"]
    assert stats["read_logs"] == len(logs)
    assert losses["dropped_unencodable"] == losses["dropped_skipped"] == 0

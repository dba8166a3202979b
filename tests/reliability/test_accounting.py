"""Issue 10, items 4, 6 and 7: the collector's accounting closes, a backend's Retry-After pauses
the signal instead of dropping it, and the incomplete spans the collector makes itself are not
dropped by its own export queue.

The backend is a scripted OTLP/HTTP server on 127.0.0.1 (tests/collector/export_probe_support.py)
that answers 200, or 429 with ``Retry-After`` when told to. The collector's final stats line
(printed after its exporters stopped) carries, per signal, <signal>_submitted, _exported,
_rejected, _dropped_queue, _dropped_retry, _dropped_shutdown, _unqueued, _pending, _unread and
_paused; these tests assert the identities exactly (no timing assertions; figures printed).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reliability_support import (
    KIND_LOG,
    Collect,
    Ledger,
    file_losses,
    finish,
    inspect_json,
    print_figures,
    reap,
    require_binary,
    start_app,
    wait_for,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "collector"))

from export_probe_support import HttpResponse, ScriptedHttpServer  # noqa: E402

pytestmark = [pytest.mark.timeout(240)]


def _final_fields(c: Collect) -> dict[str, int]:
    lines = [ln for ln in c.stderr().splitlines() if "stats: read logs=" in ln]
    assert lines, c.stderr()[-3000:]
    out = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}
    out.update(c.final_stats())  # read_logs, read_spans, ... (the fields of STATS_RE)
    return out


def _unread(f: Path) -> dict[str, int]:
    rings = inspect_json(f, "--max-records", "0", "--max-entries", "0")["rings"]
    return {k: rings[k]["unread"] for k in ("spans", "events", "measurements")}


def _count_items(server: ScriptedHttpServer, upto: int | None = None) -> dict[str, int]:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    out = {"spans": 0, "logs": 0}
    with server.lock:
        reqs = list(server.requests[:upto] if upto is not None else server.requests)
    for r in reqs:
        if r.path.endswith("/v1/traces"):
            m = trace_service_pb2.ExportTraceServiceRequest.FromString(r.body)
            out["spans"] += sum(len(ss.spans) for rs in m.resource_spans for ss in rs.scope_spans)
        elif r.path.endswith("/v1/logs"):
            m = logs_service_pb2.ExportLogsServiceRequest.FromString(r.body)
            out["logs"] += sum(len(sl.log_records) for rl in m.resource_logs for sl in rl.scope_logs)
    return out


def _check_identities(s: dict[str, int]) -> None:
    for sig in ("spans", "logs", "points"):
        done = sum(s[f"{sig}_{k}"] for k in ("exported", "rejected", "dropped_queue", "dropped_retry",
                                              "dropped_shutdown"))
        assert s[f"{sig}_submitted"] == done, (sig, s)
    assert s["spans_made"] == s["spans_submitted"] + s["spans_unqueued"] + s["spans_pending"], s
    assert s["logs_made"] == s["logs_submitted"] + s["logs_unqueued"] + s["logs_pending"], s
    assert s["read_logs"] == s["logs_made"], s  # one log record per event record read
    assert s["spans_pending"] == s["logs_pending"] == 0, s  # nothing left behind in the pipeline


def test_retry_after_pauses_the_signal_and_sending_resumes(tmp_path):
    """429 Retry-After: 3600 (longer than the 60 s retry budget), --max-retry-after 4s: no request of
    that signal during the pause, its records stay in the file, all delivered after."""
    require_binary()
    f = tmp_path / "app.otlp"
    with ScriptedHttpServer([HttpResponse(429, {"Retry-After": "3600"})]) as server:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
               "OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
        c = Collect(tmp_path, f, "--max-retry-after", "4s", env=env, stats_interval=1)
        app = None
        try:
            app = start_app(tmp_path, f, "--ledger", str(tmp_path / "ledger.bin"), "--threads", "1", "--rate", "500",
                            "--duration", "3", "--no-metrics")
            wait_for(lambda: len(server.requests) >= 1, timeout=30, what="the first request")
            time.sleep(2.0)  # inside the 4 s pause
            during_requests = len(server.requests)
            during_unread = _unread(f)["spans"]
            assert finish(app, timeout=60) == 0
            wait_for(lambda: _unread(f)["spans"] == 0 and len(server.requests) >= 2, timeout=60,
                     what="sending to resume after the pause", diag=lambda: c.stderr()[-3000:])
            time.sleep(1.0)
            assert c.stop() == 0, c.stderr()[-3000:]
        finally:
            reap(app)
            c.kill()
        s = _final_fields(c)
        delivered = _count_items(server, None)
        first_rejected = _count_items(server, 1)["spans"]
    print_figures("Retry-After: 3600, --max-retry-after 4s", {
        "requests during the pause (the 429 included)": during_requests,
        "span records unread in the file during the pause": during_unread,
        "requests in all": len(server.requests),
        "spans made / exported / dropped (all causes)": (s["spans_made"], s["spans_exported"],
                                                         s["spans_dropped_queue"] + s["spans_dropped_retry"]
                                                         + s["spans_dropped_shutdown"] + s["spans_unqueued"]),
        "pauses": s["spans_paused"],
    })
    assert during_requests == 1
    assert during_unread > 0
    assert s["spans_paused"] >= 1
    _check_identities(s)
    assert s["spans_exported"] == s["spans_made"] > 0
    assert s["spans_dropped_queue"] == s["spans_dropped_retry"] == s["spans_dropped_shutdown"] == 0
    assert delivered["spans"] - first_rejected == s["spans_exported"]  # the first batch was sent again


def test_accounting_closes_through_an_outage_and_a_shutdown(tmp_path):
    """Healthy, then the backend answers 429 Retry-After: 3600 to everything (pause up to 1 h), then
    the collector is stopped during the pause (--shutdown-timeout 1): per signal the final line's
    terms add up exactly, and written log records = read + left in the file + writer drops."""
    require_binary()
    f = tmp_path / "app.otlp"
    ledger = tmp_path / "ledger.bin"
    with ScriptedHttpServer() as server:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        c = Collect(tmp_path, f, "--max-retry-after", "1h", "--shutdown-timeout", "1",
                    "--metric-export-interval", "3600000", env=env, stats_interval=1)
        app = None
        try:
            app = start_app(tmp_path, f, "--ledger", str(ledger), "--threads", "1", "--rate", "1000",
                            "--duration", "5", "--outer-every", "100")
            time.sleep(2.0)
            with server.lock:
                healthy = len(server.requests)
                server.script = [HttpResponse(429, {"Retry-After": "3600"})] * 1000
            assert finish(app, timeout=60) == 0
            time.sleep(1.0)
            assert c.stop() == 0, c.stderr()[-3000:]
        finally:
            reap(app)
            c.kill()
        s = _final_fields(c)
        delivered = _count_items(server, healthy)
    led = Ledger.read(ledger)
    losses = file_losses(f)
    unread = _unread(f)
    logs_written = led.count(KIND_LOG, 3)
    skipped = losses["reader_skipped_torn"] + losses["reader_skipped_corrupt"]
    print_figures("outage (429 Retry-After: 3600) then shutdown", {
        "logs: written = read + unread + dropped (ring full) + skipped":
            f"{logs_written} = {s['read_logs']} + {unread['events']} + {losses['dropped_full_events']} + {skipped}",
        "logs: read = exported + dropped queue/retry/shutdown + unqueued":
            f"{s['read_logs']} = {s['logs_exported']} + {s['logs_dropped_queue']}/{s['logs_dropped_retry']}/"
            f"{s['logs_dropped_shutdown']} + {s['logs_unqueued']}",
        "spans: made = exported + dropped queue/retry/shutdown + unqueued":
            f"{s['spans_made']} = {s['spans_exported']} + {s['spans_dropped_queue']}/{s['spans_dropped_retry']}/"
            f"{s['spans_dropped_shutdown']} + {s['spans_unqueued']}",
        "span records left in the file": unread["spans"],
        "points: submitted = exported + dropped shutdown": f"{s['points_submitted']} = {s['points_exported']} + "
                                                             f"{s['points_dropped_shutdown']}",
        "delivered while healthy (spans, logs)": (delivered["spans"], delivered["logs"]),
    })
    _check_identities(s)
    assert logs_written == s["read_logs"] + unread["events"] + losses["dropped_full_events"] + skipped
    assert s["logs_unread"] == unread["events"] and s["spans_unread"] == unread["spans"]
    assert delivered["spans"] == s["spans_exported"] and delivered["logs"] == s["logs_exported"]
    assert s["logs_exported"] > 0 and s["logs_dropped_shutdown"] + s["logs_unqueued"] + unread["events"] > 0


DEAD_WRITER = textwrap.dedent("""
    import os, sys
    import otlp_mmap
    from opentelemetry import trace
    otlp_mmap.configure(sys.argv[1], service_name="dead-writer", strict=True)
    tracer = trace.get_tracer("dead.writer")
    spans = [tracer.start_span("open") for _ in range(int(sys.argv[2]))]
    print("ready", flush=True)
    os._exit(0)
""")


def test_incomplete_spans_of_a_dead_writer_wait_for_room(tmp_path):
    """10,000 spans open when their writer dies: all exported as incomplete, none dropped by the
    collector's own export queue (2,048 spans)."""
    require_binary()
    f = tmp_path / "app.otlp"
    n = 10000
    with ScriptedHttpServer() as server:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
               "OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
        c = Collect(tmp_path, f, "--torn-grace", "0.2", env=env, stats_interval=1)
        try:
            r = subprocess.run([sys.executable, "-c", DEAD_WRITER, str(f), str(n)], capture_output=True, text=True,
                               timeout=120, env={**__import__("os").environ, "OTLP_MMAP_SPANS_SLOTS": "16384"})
            assert r.returncode == 0 and "ready" in r.stdout, r.stderr[-3000:]
            wait_for(lambda: _count_items(server)["spans"] >= n, timeout=90, what="the incomplete spans",
                     diag=lambda: c.stderr()[-3000:])
            assert c.stop() == 0, c.stderr()[-3000:]
        finally:
            c.kill()
        s = _final_fields(c)
        delivered = _count_items(server)["spans"]
    print_figures("dead writer with 10,000 open spans", {
        "delivered / incomplete / dropped by the queue": (delivered, s["incomplete_spans"], s["spans_dropped_queue"]),
    })
    _check_identities(s)
    assert s["incomplete_spans"] == n and delivered == n
    assert s["spans_dropped_queue"] == 0 and s["spans_unqueued"] == 0

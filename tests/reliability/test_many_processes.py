"""Guarantee 5: many processes share one file and nothing gets lost between them.

The example Flask server (examples/http_server) runs under gunicorn with 4 worker processes,
each with its own SDK, all writing into one otlp-mmap file; `otlp-mmap collect` exports it over
OTLP/gRPC to a real OpenTelemetry Collector. A Python client sends a fixed number of requests
over 8 concurrent connections to 127.0.0.1 (a mix of /, /fib/12, /log and /error). After a
graceful stop, asserted exactly:

* server spans at the Collector = requests served (gunicorn's access log), per route too;
* the example.requests counter sums to the requests served per route;
* one log record per /log request;
* every worker wrote (4 distinct process.pid resources) and nothing was dropped.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from reliability_support import (
    EXAMPLE_SERVER,
    Collect,
    attrs,
    clean_env,
    file_losses,
    inspect_json,
    latest_sum_points,
    needs_otelcol,
    otelcol,
    print_figures,
    reap,
    require_binary,
    require_otelcol,
    settle,
    wait_for,
)

pytestmark = [pytest.mark.timeout(240), needs_otelcol]

WORKERS = 4
REQUESTS = 10000
CONNECTIONS = 8
PATHS = ["/", "/fib/12", "/log", "/", "/error"]
ROUTE_OF = {"/": "/", "/fib/12": "/fib/<int:n>", "/log": "/log", "/error": "/error"}
METRIC_ROUTE = {"/fib/<n>": "/fib/<int:n>"}  # the example's counter names the route its own way
SERVER = 2  # SpanKind.SERVER in OTLP


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code


def _load(port: int) -> collections.Counter:
    """REQUESTS requests over CONNECTIONS threads; statuses counted."""
    statuses: collections.Counter = collections.Counter()
    lock = threading.Lock()
    next_i = iter(range(REQUESTS))

    def client() -> None:
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                return
            code = _get(f"http://127.0.0.1:{port}{PATHS[i % len(PATHS)]}")
            with lock:
                statuses[code] += 1

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return statuses


def test_gunicorn_workers_share_one_file_and_every_request_has_its_span(tmp_path):
    require_binary()
    require_otelcol()
    f = tmp_path / "server.otlp"
    access_log = tmp_path / "access.log"
    port = otelcol.free_port()
    with otelcol.OtelCol(workdir=tmp_path / "otelcol", debug_verbosity=None) as col:
        c = Collect(tmp_path, f, "--metric-export-interval", "1000", stats_interval=1,
                    env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{col.grpc_endpoint}",
                         "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
        env = clean_env(SDK_MMAP_EXPORTER_FILE=str(f), HTTP_ENDPOINT_PORT=str(port), GUNICORN_WORKERS=str(WORKERS),
                        GUNICORN_ACCESSLOG=str(access_log), PYTHONPATH=str(EXAMPLE_SERVER),
                        OTEL_SERVICE_NAME="reliability-gunicorn")
        app = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:otlp_mmap_example_server.gunicorn_conf",
                                "otlp_mmap_example_server.wsgi:app"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gunicorn.log", "wb"))
        try:
            wait_for(lambda: _get_ok(port), timeout=60, what="the example server",
                     diag=lambda: (tmp_path / "gunicorn.log").read_text()[-3000:])
            t0 = time.monotonic()
            statuses = _load(port)
            elapsed = time.monotonic() - t0
            app.send_signal(signal.SIGTERM)  # graceful: the workers finish their requests and exit
            assert app.wait(timeout=60) == 0
            wait_for(lambda: sum(r["unread"] for r in inspect_json(f, "--max-records", "0", "--max-entries", "0")
                                 ["rings"].values()) == 0, timeout=60, what="the collector to read everything")
            c.wait_stats(lambda s: s["in_flight_spans"] == 0, timeout=30, what="no span left open")
            assert c.stop() == 0, c.stderr()[-3000:]
            settle(col)
        finally:
            reap(app)
            c.kill()
        span_items = col.items_with_context("resourceSpans")
        log_items = col.items_with_context("resourceLogs")
        metric_items = col.items_with_context("resourceMetrics")

    served = collections.Counter()
    for line in access_log.read_text().splitlines():
        m = re.search(r'"GET (\S+) HTTP', line)
        assert m, line
        served[ROUTE_OF[m.group(1)]] += 1
    server_spans = collections.Counter()
    pids = set()
    for resource, _, span in span_items:
        if span.get("kind") in (SERVER, "SPAN_KIND_SERVER"):
            a = attrs(span)
            server_spans[a.get("http.route")] += 1
            pids.add(attrs(resource)["process.pid"])
            assert a.get("otlp_mmap.incomplete") is None, span
    requests_metric = latest_sum_points(metric_items, "example.requests", key=lambda a: a.get("http.route"))
    per_route = collections.Counter()
    for (_, route), v in requests_metric.items():  # one series per worker (resource) and route
        per_route[METRIC_ROUTE.get(route, route)] += int(v)
    log_lines = sum(1 for _, _, rec in log_items if "a log line from /log" in str(rec.get("body")))
    losses = file_losses(f)
    stats = c.final_stats()
    figures = {
        "requests sent / statuses": (REQUESTS, dict(statuses)),
        "client throughput (req/s)": round(REQUESTS / elapsed),
        "requests served (access log)": sum(served.values()),
        "server spans at the Collector": sum(server_spans.values()),
        "per route: served / server spans / example.requests":
            {r: (served[r], server_spans[r], per_route[r]) for r in sorted(served)},
        "all spans at the Collector": len(span_items),
        "/log requests / log lines at the Collector": (served["/log"], log_lines),
        "worker pids that wrote server spans": len(pids),
        "file loss counters (/error stack traces included: they continue over slots)":
            {k: v for k, v in losses.items() if v} or "all 0",
        "collector dropped writer / exporter / reader": (stats["dropped_writer"], stats["dropped_exporter"],
                                                         stats["dropped_reader"]),
    }
    print_figures("gunicorn, 4 workers, one file", figures)
    assert sum(statuses.values()) == REQUESTS and set(statuses) <= {200, 500}
    assert sum(server_spans.values()) == sum(served.values())
    assert server_spans == served
    assert per_route == served
    assert log_lines == served["/log"]
    assert len(pids) == WORKERS
    # The /error log records carry a stack trace longer than an event slot: spread over the
    # following slots (FORMAT.md §9.17), so not even shortened.
    assert all(v == 0 for v in losses.values()), losses
    assert stats["dropped_writer"] == stats["dropped_exporter"] == stats["dropped_reader"] == 0


def _get_ok(port: int) -> bool:
    try:
        return _get(f"http://127.0.0.1:{port}/") == 200
    except OSError:
        return False

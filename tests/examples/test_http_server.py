"""The example HTTP server, started for real: under Flask's own server and under gunicorn with
several workers on our SDK (telemetry read back through our collector), on the official SDK
(telemetry at a real OpenTelemetry Collector), and with no configuration (exit 2).

Every test checks the telemetry that arrives, not only the HTTP replies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))
from otelcol import OtelCol, binary_available, e2e_required  # noqa: E402

COLLECTOR = Path(os.environ.get("OTLP_MMAP_BIN", ROOT / "build" / "dev" / "collector" / "otlp-mmap"))
SERVER_PATH = str(ROOT / "examples" / "http_server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not answer in time")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"process did not stop on signal {sig}")


def attrs(item: dict) -> dict:
    """Attributes as Python values (OTLP/JSON writes 64-bit integers as strings)."""
    out = {}
    for kv in item.get("attributes", []):
        v = kv.get("value", {})
        out[kv["key"]] = int(v["intValue"]) if "intValue" in v else (next(iter(v.values()), None) if v else None)
    return out


class Output:
    """The collector's OTLP/JSON console output, flattened."""

    def __init__(self, path: Path) -> None:
        self.spans: list[dict] = []
        self.metrics: list[tuple[dict, dict]] = []
        self.logs: list[dict] = []
        for line in path.read_text().splitlines():
            doc = json.loads(line)
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        s["_resource"] = attrs(rs.get("resource", {}))
                        self.spans.append(s)
            for rm in doc.get("resourceMetrics", []):
                for sm in rm.get("scopeMetrics", []):
                    self.metrics += [(attrs(rm.get("resource", {})), m) for m in sm.get("metrics", [])]
            for rl in doc.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    self.logs += sl.get("logRecords", [])

    def server_spans(self) -> list[dict]:
        return [s for s in self.spans if s.get("kind") == 2]

    def latest_sum(self, name: str) -> dict[tuple, int]:
        """Latest cumulative value of each series of a sum, added up across processes."""
        latest: dict[tuple, int] = {}
        for resource, m in self.metrics:
            if m["name"] != name:
                continue
            for p in m["sum"]["dataPoints"]:
                latest[(resource.get("process.pid"), tuple(sorted(attrs(p).items())))] = int(p["asInt"])
        totals: Counter = Counter()
        for (_, a), v in latest.items():
            totals[a] += v
        return dict(totals)


class Pipeline:
    """Our collector on a fresh file, writing OTLP/JSON to a file."""

    def __init__(self, work: Path) -> None:
        if not COLLECTOR.exists():
            pytest.fail(f"{COLLECTOR} not built (make build)")
        self.file = work / "telemetry.otlp"
        self.out = work / "collector.jsonl"
        self.proc = subprocess.Popen(
            [str(COLLECTOR), "collect", "--file", str(self.file), "--format", "json", "--output", str(self.out),
             "--metric-export-interval", "500", "--schedule-delay", "100", "--stats-interval", "0"],
            stderr=open(work / "collector.log", "w"))

    def finish(self) -> Output:
        stop(self.proc)  # SIGTERM: drains the rings, collects metrics a last time, flushes
        assert self.proc.returncode == 0
        return Output(self.out)

    def close(self) -> None:
        """Never leave the collector behind, whatever happened in the test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def pipeline(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = Pipeline(tmp_path)
    try:
        yield p
    finally:
        p.close()


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SDK_MMAP_EXPORTER_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP_MMAP_EXAMPLE_TELEMETRY")}
    env.update(PYTHONPATH=SERVER_PATH, OTEL_SERVICE_NAME="example-test", OTEL_METRIC_EXPORT_INTERVAL="500", **extra)
    return env


def test_without_a_telemetry_destination_the_server_exits_2_with_a_clear_message() -> None:
    r = subprocess.run([sys.executable, "-m", "otlp_mmap_example_server"], env=server_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "SDK_MMAP_EXPORTER_FILE" in r.stderr and "OTEL_EXPORTER_OTLP_ENDPOINT" in r.stderr


def test_flask_server_on_our_sdk_produces_every_signal(tmp_path: Path, pipeline: Pipeline) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "otlp_mmap_example_server"],
                              env=server_env(SDK_MMAP_EXPORTER_FILE=str(pipeline.file), HTTP_ENDPOINT_PORT=str(port)),
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    try:
        wait_ready(port, server)
        assert [get(port, p) for p in ("/fib/6", "/error", "/log", "/fib/31")] == [200, 500, 200, 400]
    finally:
        stop(server)  # SIGTERM: the server flushes its providers and exits
    out = pipeline.finish()

    by_route = Counter(attrs(s).get("http.route") for s in out.server_spans())
    assert by_route == {"/": 1, "/fib/<int:n>": 2, "/error": 1, "/log": 1}

    # /fib/6: a tree of "fib" spans under the server span, with attributes.
    fib_server = [s for s in out.server_spans()
                  if attrs(s).get("http.route") == "/fib/<int:n>" and attrs(s).get("http.status_code") == 200]
    assert len(fib_server) == 1
    trace = [s for s in out.spans if s["traceId"] == fib_server[0]["traceId"]]
    fibs = [s for s in trace if s["name"] == "fib"]
    assert len(fibs) == 7  # depths 0, 1, 2: 1 + 2 + 4
    top = [s for s in fibs if s.get("parentSpanId") == fib_server[0]["spanId"]]
    assert len(top) == 1 and attrs(top[0])["fib.n"] == 6 and attrs(top[0])["fib.value"] == 8

    # /error: the exception event and the error status on the failing span, and an error log in its trace.
    failing = next(s for s in out.spans if s["name"] == "example.failing_operation")
    assert failing["status"]["code"] == 2
    assert "failed on purpose" in failing["status"]["message"]
    exc = next(e for e in failing["events"] if e["name"] == "exception")
    assert attrs(exc)["exception.type"] == "ValueError"
    error_logs = [r for r in out.logs if r.get("severityText") == "ERROR"]
    assert len(error_logs) == 1 and error_logs[0]["traceId"] == failing["traceId"]
    assert "request failed" in error_logs[0]["body"]["stringValue"]

    # /log: an info record carrying the trace of its request.
    log_server = next(s for s in out.server_spans() if attrs(s).get("http.route") == "/log")
    info = [r for r in out.logs if "a log line from /log" in r.get("body", {}).get("stringValue", "")]
    assert len(info) == 1 and info[0]["traceId"] == log_server["traceId"] and info[0]["severityNumber"] == 9

    # Metrics: the request counter per route, and one histogram point per successful /fib request.
    requests = out.latest_sum("example.requests")
    assert requests == {(("http.route", "/"),): 1, (("http.route", "/fib/<n>"),): 2, (("http.route", "/error"),): 1,
                        (("http.route", "/log"),): 1}
    fib_counts = [int(p["count"]) for _, m in out.metrics if m["name"] == "example.fib.duration"
                  for p in m["histogram"]["dataPoints"]]
    assert fib_counts and fib_counts[-1] == 1


def test_gunicorn_workers_share_one_file_and_every_request_is_a_span(tmp_path: Path, pipeline: Pipeline) -> None:
    port = free_port()
    access = tmp_path / "access.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:otlp_mmap_example_server.gunicorn_conf",
         "otlp_mmap_example_server.wsgi:app"],
        env=server_env(SDK_MMAP_EXPORTER_FILE=str(pipeline.file), HTTP_ENDPOINT_PORT=str(port), GUNICORN_WORKERS="3",
                       GUNICORN_ACCESSLOG=str(access)),
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gunicorn.log", "w"))
    try:
        wait_ready(port, server)
        paths = ["/", "/fib/12", "/log", "/error"] * 30

        def client(chunk: list[str]) -> None:
            for p in chunk:
                get(port, p)

        threads = [threading.Thread(target=client, args=(paths[i::6],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        stop(server)
    out = pipeline.finish()
    served = sum(1 for _ in access.open())
    assert served == len(paths) + 1  # and the readiness probe
    spans = out.server_spans()
    print(f"gunicorn: {served} requests served, {len(spans)} server spans, "
          f"{len({s['_resource']['process.pid'] for s in spans})} worker processes")
    assert len(spans) == served
    assert len({s["_resource"]["process.pid"] for s in spans}) >= 2
    assert sum(out.latest_sum("example.requests").values()) == served


@pytest.mark.skipif(not binary_available() and not e2e_required(), reason="OpenTelemetry Collector not built")
def test_official_sdk_mode_exports_to_a_real_collector(tmp_path: Path) -> None:
    port = free_port()
    with OtelCol(workdir=tmp_path / "otelcol") as col:
        server = subprocess.Popen(
            [sys.executable, "-m", "otlp_mmap_example_server"],
            env=server_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{col.grpc_endpoint}", HTTP_ENDPOINT_PORT=str(port),
                           OTEL_BSP_SCHEDULE_DELAY="100", OTEL_BLRP_SCHEDULE_DELAY="100"),
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
        try:
            wait_ready(port, server)
            assert get(port, "/log") == 200
        finally:
            stop(server)
        spans = col.wait_for(lambda c: [s for s in c.spans() if s.get("kind") == 2] or None, timeout=20)
        routes = sorted(attrs(s).get("http.route") for s in spans)
        assert routes == ["/", "/log"]
        logs = col.wait_for(lambda c: [r for r in c.logs() if "a log line" in str(r.get("body"))] or None, timeout=20)
        assert len(logs) == 1

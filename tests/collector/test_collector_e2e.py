"""End-to-end tests of the `otlp-mmap` executable.

The Python module otlp_mmap._native writes a known workload into a telemetry file; the
collector (`otlp-mmap collect`) exports it, and the tests assert the output exactly:

* to the console exporter as OTLP/JSON lines in a file;
* to a real OpenTelemetry Collector (tests/otlp/otelcol.py, built by scripts/build-otelcol.sh)
  over OTLP/gRPC and OTLP/HTTP (protobuf and JSON), on 127.0.0.1 only.

Also: a writer killed with SIGKILL while spans are open (they arrive marked incomplete), the
collector started before the file exists, writers restarting on the same file, shutdown,
configuration errors, --help, and the read-only tools `inspect` and `stats`.

The binary is $OTLP_MMAP_BIN, else build/dev/collector/otlp-mmap. When it is missing the tests
are skipped, unless OTLP_MMAP_E2E is set (then they fail).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))

import otelcol  # noqa: E402

native = pytest.importorskip("otlp_mmap._native")
Writer = native.Writer

BIN = Path(os.environ.get("OTLP_MMAP_BIN") or ROOT / "build" / "dev" / "collector" / "otlp-mmap")
E2E_REQUIRED = bool(os.environ.get("OTLP_MMAP_E2E"))

pytestmark = [pytest.mark.timeout(180)]

T0 = 1_700_000_000_000_000_000
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
REMOTE_PARENT = bytes.fromhex("1111111111111111")
ROOT_SPAN = bytes.fromhex("b7ad6b7169203331")
CHILD_SPAN = bytes.fromhex("00f067aa0ba902b7")
LINK_TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
LINK_SPAN = bytes.fromhex("00f067aa0ba902b8")

# Small rings: the tests write a few records.
GEOMETRY = dict(events_slots=256, spans_slots=256, measurements_slots=256)


@pytest.fixture(scope="module")
def binary() -> Path:
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        msg = f"otlp-mmap not built: {BIN} (make build, or set OTLP_MMAP_BIN)"
        if E2E_REQUIRED:
            pytest.fail(msg)
        pytest.skip(msg)
    return BIN


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """The collector's configuration comes from each test, not from the developer's shell."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "OTLP_MMAP_")) and name != "OTLP_MMAP_BIN":
            monkeypatch.delenv(name)


# ---------------------------------------------------------------------------------------- running


class Collect:
    """`otlp-mmap collect` as a subprocess; stderr goes to a file for diagnostics."""

    def __init__(self, binary: Path, tmp: Path, file: Path, *args: str, env: dict | None = None):
        self.stderr_path = tmp / f"collect-{time.monotonic_ns()}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        full_env = dict(os.environ)
        full_env.update({"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BLRP_SCHEDULE_DELAY": "100"})
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [str(binary), "collect", "--file", str(file), "--stats-interval", "0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, env=full_env)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"collector did not stop within {timeout}s:\n{self.stderr()}")
        self._stderr.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def wait_for(probe, timeout: float = 15.0, what: str = "condition", collect: Collect | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\ncollector stderr:\n{collect.stderr()}" if collect else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(0.05)


json_lines = otelcol.json_lines
items = otelcol.items


def attrs(item: dict) -> dict:
    return otelcol.attributes(item)


any_value = otelcol.any_value


def n(v) -> int:
    """OTLP/JSON 64-bit integers are strings; small ones may be numbers."""
    return int(v) if v is not None else 0


# ---------------------------------------------------------------------------------------- workload


def write_workload(path: Path) -> None:
    """Two spans (every kind of span record), two log records, four metric streams."""
    w = Writer(str(path), **GEOMETRY)
    res = w.create_resource({"service.name": "e2e", "process.pid": os.getpid()})
    scope = w.create_instrumentation_scope(res, "e2e.lib", "1.0.0", {"scope.attr": "x"})

    w.record_span_start(scope, TRACE, ROOT_SPAN, REMOTE_PARENT, 0x301, "GET /orders", 2, T0,
                        {"http.method": "GET", "http.status_code": 200}, trace_state="vendor=abc")
    w.record_span_start(scope, TRACE, CHILD_SPAN, ROOT_SPAN, 0x101, "db", 3, T0 + 1000,
                        {"db.system": "postgresql", "db.rows": 1})
    w.record_span_attributes(scope, TRACE, CHILD_SPAN, {"db.system": "sqlite", "db.retry": True})
    w.record_span_name(scope, TRACE, CHILD_SPAN, "SELECT orders")
    w.record_span_links(scope, TRACE, CHILD_SPAN, [
        {"trace_id": LINK_TRACE, "span_id": LINK_SPAN, "trace_state": "k=v", "attributes": {"link.kind": "follows"},
         "flags": 1}])
    w.record_span_event(scope, TRACE, CHILD_SPAN, "retry", T0 + 1500, {"attempt": 2})
    w.record_span_end(scope, TRACE, CHILD_SPAN, T0 + 2000, (2, "timeout"))
    w.record_span_end(scope, TRACE, ROOT_SPAN, T0 + 3000, (1, None))

    w.record_event(scope, {"trace_id": TRACE, "span_id": CHILD_SPAN, "flags": 1}, w.record_string("db.retry"),
                   T0 + 1600, {"attempt": 2}, severity_number=13, severity_text="WARN",
                   body={"msg": "retrying", "tries": [1, 2]}, observed_time_unix_nano=T0 + 1700)
    w.record_event(scope, None, 0, T0 + 4000, None, severity_number=9, severity_text="INFO", body="plain text")

    counter = w.create_metric_stream(scope, "orders.count", "orders taken", "1",
                                     {"sum": {"aggregation_temporality": "DELTA", "is_monotonic": True}})
    w.record_measurement(counter, {"route": "/orders"}, T0 + 100, 3,
                         span_context={"trace_id": TRACE, "span_id": ROOT_SPAN, "flags": 1})
    w.record_measurement(counter, {"route": "/orders"}, T0 + 200, 4)
    w.record_measurement(counter, {"route": "/other"}, T0 + 300, 5)
    gauge = w.create_metric_stream(scope, "queue.depth", None, "1", {"gauge": {}})
    w.record_measurement(gauge, None, T0 + 100, 10)
    w.record_measurement(gauge, None, T0 + 200, 7)
    totals = w.create_metric_stream(scope, "cpu.time", None, "s",
                                    {"sum": {"aggregation_temporality": "CUMULATIVE", "is_monotonic": True}})
    for i, v in enumerate((10, 20, 30)):
        w.record_measurement(totals, None, T0 + 100 * (i + 1), v)
    hist = w.create_metric_stream(scope, "latency", None, "ms",
                                  {"histogram": {"aggregation_temporality": "DELTA", "bucket_boundaries": [10.0, 100.0]}})
    for v in (5.0, 50.0, 500.0):
        w.record_measurement(hist, None, T0 + 100, v)


def check_spans(found: list[tuple[dict, dict, dict]]) -> None:
    assert len(found) == 2, found
    by_name = {s["name"]: (r, sc, s) for r, sc, s in found}
    assert set(by_name) == {"GET /orders", "SELECT orders"}
    resource, scope, root = by_name["GET /orders"]
    assert attrs(resource) == {"service.name": "e2e", "process.pid": os.getpid()}
    assert scope["name"] == "e2e.lib" and scope["version"] == "1.0.0"
    assert attrs(scope) == {"scope.attr": "x"}
    assert root["traceId"] == TRACE.hex()
    assert root["spanId"] == ROOT_SPAN.hex()
    assert root["parentSpanId"] == REMOTE_PARENT.hex()
    assert root.get("traceState") == "vendor=abc"
    assert n(root.get("flags")) == 0x301
    assert root["kind"] in (2, "SPAN_KIND_SERVER")
    assert n(root["startTimeUnixNano"]) == T0 and n(root["endTimeUnixNano"]) == T0 + 3000
    assert attrs(root) == {"http.method": "GET", "http.status_code": 200}
    assert root["status"].get("code") in (1, "STATUS_CODE_OK")
    assert not root.get("events") and not root.get("links")

    _, _, child = by_name["SELECT orders"]
    assert child["traceId"] == TRACE.hex() and child["spanId"] == CHILD_SPAN.hex()
    assert child["parentSpanId"] == ROOT_SPAN.hex()
    assert child["kind"] in (3, "SPAN_KIND_CLIENT")
    assert n(child.get("flags")) == 0x101
    assert n(child["startTimeUnixNano"]) == T0 + 1000 and n(child["endTimeUnixNano"]) == T0 + 2000
    # The update replaced db.system and added db.retry; keys appear once.
    assert [kv["key"] for kv in child["attributes"]] == ["db.system", "db.rows", "db.retry"]
    assert attrs(child) == {"db.system": "sqlite", "db.rows": 1, "db.retry": True}
    assert child["status"] == {"code": 2, "message": "timeout"} or child["status"] == {
        "code": "STATUS_CODE_ERROR", "message": "timeout"}
    assert len(child["events"]) == 1
    ev = child["events"][0]
    assert ev["name"] == "retry" and n(ev["timeUnixNano"]) == T0 + 1500 and attrs(ev) == {"attempt": 2}
    assert len(child["links"]) == 1
    link = child["links"][0]
    assert link["traceId"] == LINK_TRACE.hex() and link["spanId"] == LINK_SPAN.hex()
    assert link.get("traceState") == "k=v" and attrs(link) == {"link.kind": "follows"} and n(link.get("flags")) == 1


def check_logs(found: list[tuple[dict, dict, dict]]) -> None:
    assert len(found) == 2, found
    by_sev = {rec.get("severityText"): (r, sc, rec) for r, sc, rec in found}
    resource, scope, warn = by_sev["WARN"]
    assert attrs(resource) == {"service.name": "e2e", "process.pid": os.getpid()}
    assert scope["name"] == "e2e.lib"
    assert warn["severityNumber"] in (13, "SEVERITY_NUMBER_WARN")
    assert any_value(warn["body"]) == {"msg": "retrying", "tries": [1, 2]}
    assert warn.get("eventName") == "db.retry"
    assert attrs(warn) == {"attempt": 2}
    assert warn["traceId"] == TRACE.hex() and warn["spanId"] == CHILD_SPAN.hex() and n(warn.get("flags")) == 1
    assert n(warn["timeUnixNano"]) == T0 + 1600 and n(warn["observedTimeUnixNano"]) == T0 + 1700
    _, _, info = by_sev["INFO"]
    assert info["severityNumber"] in (9, "SEVERITY_NUMBER_INFO")
    assert any_value(info["body"]) == "plain text"
    assert not info.get("traceId") and not info.get("eventName")
    assert n(info["timeUnixNano"]) == T0 + 4000
    # No observed time in the record: the collector's read time (the test ran within the hour).
    assert abs(n(info["observedTimeUnixNano"]) - time.time_ns()) < 3600 * 10**9


CUMULATIVE = (2, "AGGREGATION_TEMPORALITY_CUMULATIVE")


def latest_metrics(found: list[tuple[dict, dict, dict]]) -> dict[str, dict]:
    """The last exported version of each metric, by name."""
    out = {}
    for _, _, m in found:
        out[m["name"]] = m
    return out


point_value = otelcol.point_value


def check_metrics(found: list[tuple[dict, dict, dict]]) -> None:
    metrics = latest_metrics(found)
    assert set(metrics) == {"orders.count", "queue.depth", "cpu.time", "latency"}, set(metrics)
    orders = metrics["orders.count"]
    assert orders.get("description") == "orders taken" and orders.get("unit") == "1"
    s = orders["sum"]
    assert s["aggregationTemporality"] in CUMULATIVE and s.get("isMonotonic") is True
    by_route = {attrs(p)["route"]: p for p in s["dataPoints"]}
    assert {r: point_value(p) for r, p in by_route.items()} == {"/orders": 7, "/other": 5}
    # The exemplar is in the export of the interval the measurement fell in (later exports of the
    # cumulative point carry only their own intervals' exemplars, here none).
    exemplars = [e for _, _, m in found if m["name"] == "orders.count" for p in m["sum"]["dataPoints"]
                 if attrs(p)["route"] == "/orders" for e in p.get("exemplars", [])]
    assert any(e.get("traceId") == TRACE.hex() and e.get("spanId") == ROOT_SPAN.hex() for e in exemplars), exemplars
    gauge = metrics["queue.depth"]["gauge"]["dataPoints"]
    assert [point_value(p) for p in gauge] == [7]
    cpu = metrics["cpu.time"]["sum"]
    assert cpu["aggregationTemporality"] in CUMULATIVE
    assert [point_value(p) for p in cpu["dataPoints"]] == [30]  # totals are not added up
    h = metrics["latency"]["histogram"]
    assert h["aggregationTemporality"] in CUMULATIVE
    (hp,) = h["dataPoints"]
    assert n(hp["count"]) == 3 and float(hp["sum"]) == 555.0
    assert [n(c) for c in hp["bucketCounts"]] == [1, 1, 1]
    assert [float(b) for b in hp["explicitBounds"]] == [10.0, 100.0]
    assert float(hp["min"]) == 5.0 and float(hp["max"]) == 500.0


# ---------------------------------------------------------------------------------------- console


def test_console_json_exports_the_workload_exactly(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    out = tmp_path / "out.jsonl"
    write_workload(f)
    c = Collect(binary, tmp_path, f, "--format", "json", "--output", str(out), "--metric-export-interval", "300")
    try:
        wait_for(lambda: len(items(json_lines(out), "resourceSpans")) >= 2
                 and len(items(json_lines(out), "resourceLogs")) >= 2
                 and len(latest_metrics(items(json_lines(out), "resourceMetrics"))) >= 4,
                 what="spans, logs and metrics in the console output", collect=c)
    finally:
        assert c.stop() == 0, c.stderr()
    records = json_lines(out)
    check_spans(items(records, "resourceSpans"))
    check_logs(items(records, "resourceLogs"))
    check_metrics(items(records, "resourceMetrics"))
    # One resource, one scope per request: grouped by content.
    for rec in records:
        for top in ("resourceSpans", "resourceLogs"):
            if top in rec:
                assert len(rec[top]) == 1 and len(rec[top][0][otelcol.SIGNALS[top][0]]) == 1


def test_waits_for_the_file_then_reads_it(binary, tmp_path):
    f = tmp_path / "later.mmap"
    out = tmp_path / "out.jsonl"
    c = Collect(binary, tmp_path, f, "--format", "json", "--output", str(out))
    try:
        wait_for(lambda: "waiting for" in c.stderr(), what="the collector to wait for the file", collect=c)
        time.sleep(0.3)
        assert c.proc.poll() is None
        write_workload(f)
        wait_for(lambda: len(items(json_lines(out), "resourceSpans")) >= 2, what="spans", collect=c)
    finally:
        assert c.stop() == 0, c.stderr()
    check_spans(items(json_lines(out), "resourceSpans"))


def test_a_file_that_appears_just_before_a_stop_is_still_read(binary, tmp_path):
    """The stop request lands while the collector sleeps between attempts to open the file
    (up to 500 ms apart once it has waited a while): what is already in the file is exported."""
    f = tmp_path / "late.mmap"
    out = tmp_path / "out.jsonl"
    c = Collect(binary, tmp_path, f, "--format", "json", "--output", str(out))
    try:
        wait_for(lambda: "waiting for" in c.stderr(), what="the collector to wait for the file", collect=c)
        time.sleep(1.5)  # long enough for the wait between attempts to reach its longest
        write_workload(f)
    finally:
        assert c.stop() == 0, c.stderr()
    check_spans(items(json_lines(out), "resourceSpans"))
    check_logs(items(json_lines(out), "resourceLogs"))


WRITER_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from otlp_mmap._native import Writer
    path, mode, T0 = sys.argv[1], sys.argv[2], int(sys.argv[3])
    w = Writer(path, events_slots=256, spans_slots=256, measurements_slots=256)
    res = w.create_resource({"service.name": "victim", "process.pid": os.getpid()})
    scope = w.create_instrumentation_scope(res, "victim.lib")
    trace = bytes(range(16))
    if mode == "crash":
        w.record_span_start(scope, trace, b"\\x01" * 8, None, 1, "request", 2, T0, {"step": 0})
        w.record_span_event(scope, trace, b"\\x01" * 8, "step 1 done", T0 + 500, None)
        w.record_span_start(scope, trace, b"\\x02" * 8, b"\\x01" * 8, 1, "inner", 1, T0 + 600, None)
        w.record_span_start(scope, trace, b"\\x03" * 8, b"\\x01" * 8, 1, "done", 1, T0 + 100, None)
        w.record_span_end(scope, trace, b"\\x03" * 8, T0 + 200, None)
        print("ready", flush=True)
        time.sleep(600)
    else:
        span = bytes([int(mode)]) * 8
        w.record_span_start(scope, trace, span, None, 1, "run " + mode, 2, T0, None)
        w.record_span_end(scope, trace, span, T0 + 10, None)
""")


def run_writer(tmp_path: Path, f: Path, mode: str, **kw) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(f), mode, str(T0)], stdout=subprocess.PIPE, text=True,
                            **kw)


def incomplete_reason(span: dict):
    a = attrs(span)
    if a.get("otlp_mmap.incomplete") is True:
        return a.get("otlp_mmap.incomplete.reason")
    return None


def test_spans_of_a_killed_writer_arrive_marked_incomplete(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    out = tmp_path / "out.jsonl"
    writer = run_writer(tmp_path, f, "crash")
    try:
        assert writer.stdout.readline().strip() == "ready"
        c = Collect(binary, tmp_path, f, "--format", "json", "--output", str(out))
        try:
            wait_for(lambda: len(items(json_lines(out), "resourceSpans")) >= 1, what="the finished span", collect=c)
            time.sleep(1.5)  # two liveness checks with the writer alive: nothing else may come
            assert [s["name"] for _, _, s in items(json_lines(out), "resourceSpans")] == ["done"]
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
            wait_for(lambda: len(items(json_lines(out), "resourceSpans")) >= 3, what="the interrupted spans",
                     collect=c)
        finally:
            assert c.stop() == 0, c.stderr()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    spans = {s["name"]: s for _, _, s in items(json_lines(out), "resourceSpans")}
    assert set(spans) == {"done", "request", "inner"}
    assert incomplete_reason(spans["done"]) is None and spans["done"].get("status", {}).get("code") in (None, 0)
    for name in ("request", "inner"):
        assert incomplete_reason(spans[name]) == "writer_exited", spans[name]
        assert not spans[name].get("status", {}).get("code")
    # Ended at the last time known for each span.
    assert n(spans["request"]["endTimeUnixNano"]) == T0 + 500
    assert n(spans["inner"]["endTimeUnixNano"]) == T0 + 600
    assert [e["name"] for e in spans["request"]["events"]] == ["step 1 done"]
    assert attrs(spans["request"])["step"] == 0
    assert spans["inner"]["parentSpanId"] == ("01" * 8)


def test_open_spans_are_exported_incomplete_at_shutdown(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    out = tmp_path / "out.jsonl"
    w = Writer(str(f), **GEOMETRY)
    scope = w.create_instrumentation_scope(w.create_resource({"service.name": "s", "process.pid": os.getpid()}), "l")
    w.record_span_start(scope, TRACE, ROOT_SPAN, None, 1, "open", 1, T0, None)
    c = Collect(binary, tmp_path, f, "--format", "json", "--output", str(out))
    wait_for(lambda: "reading" in c.stderr(), what="the collector to open the file", collect=c)
    time.sleep(0.3)
    assert c.stop() == 0, c.stderr()
    (span,) = [s for _, _, s in items(json_lines(out), "resourceSpans")]
    assert span["name"] == "open" and incomplete_reason(span) == "shutdown"
    assert n(span["endTimeUnixNano"]) > T0


def test_writers_restarting_on_the_same_file(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    out = tmp_path / "out.jsonl"
    c = Collect(binary, tmp_path, f, "--format", "json", "--output", str(out))
    try:
        for i in range(1, 4):
            p = run_writer(tmp_path, f, str(i))
            assert p.wait(timeout=30) == 0
            wait_for(lambda: len(items(json_lines(out), "resourceSpans")) >= i, what=f"span of run {i}", collect=c)
    finally:
        assert c.stop() == 0, c.stderr()
    assert [s["name"] for _, _, s in items(json_lines(out), "resourceSpans")] == ["run 1", "run 2", "run 3"]
    assert "reading" in c.stderr() and c.stderr().count("reading ") == 1


def test_configuration_errors_exit_2(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    env = {k: v for k, v in os.environ.items() if k != "SDK_MMAP_EXPORTER_FILE"}
    r = subprocess.run([str(binary), "collect"], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 2 and "SDK_MMAP_EXPORTER_FILE" in r.stderr
    r = subprocess.run([str(binary), "collect", "--file", str(f), "--protocol", "carrier-pigeon"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "carrier-pigeon" in r.stderr
    r = subprocess.run([str(binary), "collect", "--file", str(f), "--max-span-age", "soon"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "--max-span-age" in r.stderr
    r = subprocess.run([str(binary), "collect", "--file", str(f)], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "OTEL_METRIC_EXPORT_INTERVAL": "often"})
    assert r.returncode == 2 and "OTEL_METRIC_EXPORT_INTERVAL" in r.stderr
    r = subprocess.run([str(binary), "collect", "--no-such-flag"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    r = subprocess.run([str(binary)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2


def test_file_from_the_environment(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    out = tmp_path / "out.jsonl"
    write_workload(f)
    p = subprocess.Popen([str(binary), "collect", "--format", "json", "--output", str(out), "--stats-interval", "0"],
                         stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         env={**os.environ, "SDK_MMAP_EXPORTER_FILE": str(f), "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        wait_for(lambda: len(items(json_lines(out), "resourceSpans")) >= 2, what="spans")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0


def test_help_documents_every_flag_and_variable(binary):
    r = subprocess.run([str(binary), "collect", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    text = r.stdout
    for flag in ("--file", "--endpoint", "--protocol", "--headers", "--compression", "--timeout", "--format",
                 "--output", "--metric-export-interval", "--temporality", "--schedule-delay",
                 "--max-export-batch-size", "--max-span-age", "--max-in-flight-spans", "--stats-interval",
                 "--cardinality-limit", "--shutdown-timeout", "--torn-grace", "--no-writer-check",
                 "--trust-any-owner"):
        assert flag in text, flag
    for var in ("SDK_MMAP_EXPORTER_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT",
                "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                "OTEL_BLRP_SCHEDULE_DELAY", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"):
        assert var in text, var
    assert "default" in text
    for sub in ("collect", "inspect", "stats"):
        r = subprocess.run([str(binary), sub, "--help"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "Usage" in r.stdout


# ---------------------------------------------------------------------------------------- tools


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_inspect_json_reads_everything_and_changes_nothing(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    write_workload(f)
    before, mtime = digest(f), f.stat().st_mtime_ns
    r = subprocess.run([str(binary), "inspect", str(f), "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert digest(f) == before and f.stat().st_mtime_ns == mtime
    doc = json.loads(r.stdout)
    assert doc["file"]["version"] == 1 and doc["file"]["size"] == f.stat().st_size
    assert doc["rings"]["spans"]["unread"] == 8 and doc["rings"]["spans"]["pending"] == 0
    assert doc["rings"]["events"]["unread"] == 2
    assert doc["rings"]["measurements"]["unread"] == 11
    assert doc["rings"]["spans"]["slots"] == 256
    assert doc["writer_counters"]["dropped_full_spans"] == 0
    assert doc["reader_counters"] == {"skipped_torn": 0, "skipped_corrupt": 0}
    entries = doc["dictionary"]["entries"]
    by_type = {}
    for e in entries:
        by_type.setdefault(e["type"], []).append(e["value"])
    assert "service.name" in by_type["string"] and "db.retry" in by_type["string"]
    assert by_type["resource"] == [{"attributes": {"service.name": "e2e", "process.pid": os.getpid()}}]
    assert by_type["scope"][0]["name"] == "e2e.lib" and by_type["scope"][0]["version"] == "1.0.0"
    assert {m["name"] for m in by_type["metric"]} == {"orders.count", "queue.depth", "cpu.time", "latency"}
    spans = [r["record"] for r in doc["records"]["spans"]]
    assert [s["type"] for s in spans] == ["start", "start", "attributes", "name", "link", "add_event", "end", "end"]
    assert spans[0]["name"] == "GET /orders" and spans[0]["scope"] == "e2e.lib@1.0.0"
    assert spans[0]["attributes"] == {"http.method": "GET", "http.status_code": 200}
    assert spans[0]["trace_id"] == TRACE.hex() and spans[1]["parent_span_id"] == ROOT_SPAN.hex()
    assert spans[6]["status"] == {"code": 2, "message": "timeout"}
    events = [r["record"] for r in doc["records"]["events"]]
    assert events[0]["event_name"] == "db.retry" and events[0]["body"] == {"msg": "retrying", "tries": [1, 2]}
    assert events[1]["body"] == "plain text"
    meas = [r["record"] for r in doc["records"]["measurements"]]
    assert meas[0]["metric"] == "orders.count" and meas[0]["value"] == 3 and meas[0]["attributes"] == {"route": "/orders"}


def test_inspect_text_and_pending_slots(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    write_workload(f)
    r = subprocess.run([str(binary), "inspect", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for heading in ("file", "rings", "writer counters", "reader counters", "dictionary", "unread records"):
        assert f"\n{heading}" in "\n" + r.stdout, heading
    assert "GET /orders" in r.stdout and "spans (8)" in r.stdout
    r = subprocess.run([str(binary), "inspect", str(tmp_path / "missing")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "missing" in r.stderr


def test_inspect_after_a_crash_shows_the_open_spans(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    writer = run_writer(tmp_path, f, "crash")
    assert writer.stdout.readline().strip() == "ready"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    r = subprocess.run([str(binary), "inspect", str(f), "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    names = [rec["record"].get("name") for rec in doc["records"]["spans"] if rec["record"]["type"] == "start"]
    assert names == ["request", "inner", "done"]


def test_stats_prints_one_line_per_interval(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    write_workload(f)
    before = digest(f)
    r = subprocess.run([str(binary), "stats", str(f), "--interval", "0.2", "--count", "3"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    assert "spans 8/256 (3.1%)" in lines[0]
    assert "in=0/s out=0/s" in lines[2] and "dropped full=0/0/0" in lines[2]
    assert digest(f) == before


def test_stats_stops_on_sigint(binary, tmp_path):
    f = tmp_path / "telemetry.mmap"
    write_workload(f)
    p = subprocess.Popen([str(binary), "stats", str(f), "--interval", "0.1"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 0


# ---------------------------------------------------------------------------------------- real collector

needs_otelcol = pytest.mark.skipif(
    not otelcol.binary_available() and not otelcol.e2e_required(),
    reason=f"collector not built (scripts/build-otelcol.sh) and {otelcol.E2E_ENV} unset")


@pytest.fixture
def real_collector(tmp_path):
    if not otelcol.binary_available():
        pytest.fail(f"{otelcol.E2E_ENV} is set but the collector is not built: {otelcol.default_binary()}")
    col = otelcol.OtelCol(otelcol.default_binary(), tmp_path / "otelcol")
    col.start()
    try:
        yield col
    finally:
        col.close()


@needs_otelcol
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_real_collector_receives_the_workload_exactly(binary, tmp_path, real_collector, protocol):
    col = real_collector
    endpoint = f"http://{col.grpc_endpoint}" if protocol == "grpc" else col.http_endpoint
    f = tmp_path / "telemetry.mmap"
    write_workload(f)
    c = Collect(binary, tmp_path, f, "--endpoint", endpoint, "--protocol", protocol, "--metric-export-interval", "300")
    try:
        col.wait_for(lambda k: len(k.spans()) >= 2 and len(k.logs()) >= 2
                     and len(latest_metrics(k.items_with_context("resourceMetrics"))) >= 4, timeout=30)
    finally:
        assert c.stop() == 0, c.stderr()
    check_spans(col.items_with_context("resourceSpans"))
    check_logs(col.items_with_context("resourceLogs"))
    check_metrics(col.items_with_context("resourceMetrics"))


@needs_otelcol
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_metric_collection_larger_than_the_collectors_limit_arrives_whole(binary, tmp_path, real_collector,
                                                                           protocol):
    """40,000 series of 20 streams make one collection of about 8 MB, twice what the Collector's OTLP/gRPC
    receiver takes in one message (4 MiB; sent whole it was refused, RESOURCE_EXHAUSTED, and every point
    lost): it is cut into requests that fit, and every point arrives. The HTTP receiver takes 8 MB in
    one body; the cut requests must arrive whole there too."""
    col = real_collector
    endpoint = f"http://{col.grpc_endpoint}" if protocol == "grpc" else col.http_endpoint
    f = tmp_path / "telemetry.mmap"
    w = Writer(str(f), events_slots=256, spans_slots=256, measurements_slots=1 << 16)
    scope = w.create_instrumentation_scope(w.create_resource({"service.name": "big"}), "big.lib", "1", None)
    streams, sets = 20, 2000
    for s in range(streams):
        stream = w.create_metric_stream(scope, f"big.{s}", None, "1",
                                        {"sum": {"aggregation_temporality": "DELTA", "is_monotonic": True}})
        for i in range(sets):
            w.record_measurement(stream, {"series": f"{i:05d}" + "v" * 150}, T0 + i, s + 1)
    c = Collect(binary, tmp_path, f, "--endpoint", endpoint, "--protocol", protocol,
                "--metric-export-interval", "500", "--cardinality-limit", "4000")

    def points() -> dict[str, dict[str, int]]:
        got: dict[str, dict[str, int]] = {}
        for _, _, m in col.items_with_context("resourceMetrics"):
            for p in m.get("sum", {}).get("dataPoints", []):
                got.setdefault(m["name"], {})[attrs(p)["series"]] = n(p.get("asInt"))
        return got

    try:
        col.wait_for(lambda k: sum(len(v) for v in points().values()) >= streams * sets, timeout=60, interval=0.5)
    finally:
        assert c.stop() == 0, c.stderr()
    got = points()
    assert sorted(got) == sorted(f"big.{s}" for s in range(streams))
    for s in range(streams):
        assert len(got[f"big.{s}"]) == sets
        assert set(got[f"big.{s}"].values()) == {s + 1}
    # Every collection exported whole (cumulative by default: each one repeats every series), none refused.
    stats = [line for line in c.stderr().splitlines() if "stats: read" in line][-1]
    exported = int(re.search(r"points_exported=(\d+)", stats).group(1))
    assert exported >= streams * sets and exported % (streams * sets) == 0, stats
    assert "points_rejected=0 " in stats and "dropped writer=0 exporter=0 reader=0" in stats, stats


@needs_otelcol
def test_a_batch_of_large_spans_larger_than_the_collectors_limit_arrives_whole(binary, tmp_path, real_collector):
    """512 spans (one batch) with a 20,000-character attribute each are 10 MB: the batch is cut at
    about 4 MiB so that the Collector's OTLP/gRPC receiver takes every request (sent whole, it refused
    the batch with RESOURCE_EXHAUSTED and all its spans were lost)."""
    col = real_collector
    f = tmp_path / "telemetry.mmap"
    w = Writer(str(f), events_slots=256, spans_slots=1 << 16, measurements_slots=256)
    scope = w.create_instrumentation_scope(w.create_resource({"service.name": "large"}), "large.lib", "1", None)
    count = 512
    for i in range(count):
        span_id = (i + 1).to_bytes(8, "big")
        w.record_span_start(scope, TRACE, span_id, None, 0x101, f"op {i}", 1, T0 + i,
                            {"db.statement": f"{i:05d}" + "s" * 20000})
        w.record_span_end(scope, TRACE, span_id, T0 + i + 10, (1, None))
    c = Collect(binary, tmp_path, f, "--endpoint", f"http://{col.grpc_endpoint}", "--protocol", "grpc")
    try:
        col.wait_for(lambda k: len(k.spans()) >= count, timeout=60, interval=0.5)
    finally:
        assert c.stop() == 0, c.stderr()
    spans = col.spans()
    assert sorted(s["name"] for s in spans) == sorted(f"op {i}" for i in range(count))
    for s in spans:
        value = attrs(s)["db.statement"]
        assert len(value) == 20005 and value.startswith(s["name"][3:].zfill(5)), s["name"]
    stats = [line for line in c.stderr().splitlines() if "stats: read" in line][-1]
    assert f"spans_exported={count} spans_rejected=0" in stats, stats

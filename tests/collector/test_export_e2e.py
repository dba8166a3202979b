"""End-to-end export behaviour of the `otlp-mmap` executable: what happens between the
collector and its endpoint (test_collector_e2e.py covers what is exported).

* the real OpenTelemetry Collector stopped mid-stream and restarted: records written during the
  outage arrive afterwards (gRPC and HTTP);
* a scripted OTLP/HTTP server on 127.0.0.1: 503 + Retry-After then 200, gzip bodies and
  headers from the environment;
* an endpoint that is down: the collector keeps reading and shuts down within its bound.

The binary is $OTLP_MMAP_BIN, else build/dev/collector/otlp-mmap; skipped when it is missing
unless OTLP_MMAP_E2E is set (then they fail).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import export_probe_support as sup
from export_probe_support import HttpResponse, clean_env, otelcol

native = pytest.importorskip("otlp_mmap._native")

BIN = Path(os.environ.get("OTLP_MMAP_BIN") or sup.ROOT / "build" / "dev" / "collector" / "otlp-mmap")

pytestmark = [pytest.mark.timeout(180)]

needs_otelcol = pytest.mark.skipif(
    not otelcol.binary_available() and not otelcol.e2e_required(),
    reason=f"collector not built (scripts/build-otelcol.sh) and {otelcol.E2E_ENV} unset")

GEOMETRY = dict(events_slots=256, spans_slots=256, measurements_slots=256)


@pytest.fixture(scope="module")
def binary() -> Path:
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        msg = f"otlp-mmap not built: {BIN} (make build, or set OTLP_MMAP_BIN)"
        if otelcol.e2e_required():
            pytest.fail(msg)
        pytest.skip(msg)
    return BIN


class Workload:
    """Spans and log records numbered e2e.seq = 0, 1, ... written through otlp_mmap._native."""

    def __init__(self, path: Path, service: str):
        self.writer = native.Writer(str(path), **GEOMETRY)
        resource = self.writer.create_resource({"service.name": service})
        self.scope = self.writer.create_instrumentation_scope(resource, "export-e2e", "1.0")
        self.next_span = 0
        self.next_log = 0

    def spans(self, n: int) -> None:
        for _ in range(n):
            k = self.next_span
            self.next_span += 1
            trace_id = bytes.fromhex("5eed0000000000000000000000000000")
            span_id = (k + 1).to_bytes(8, "big")
            t = time.time_ns()
            assert self.writer.record_span_start(self.scope, trace_id, span_id, None, 1, f"e2e-span-{k}", 1, t,
                                                 {"e2e.seq": k})
            assert self.writer.record_span_end(self.scope, trace_id, span_id, t + 1000, None)

    def logs(self, n: int) -> None:
        for _ in range(n):
            k = self.next_log
            self.next_log += 1
            assert self.writer.record_event(self.scope, None, 0, time.time_ns(), {"e2e.seq": k},
                                            severity_number=9, severity_text="INFO", body=f"e2e-log-{k}")


class Collect:
    """`otlp-mmap collect` as a subprocess (stderr to a file)."""

    def __init__(self, binary: Path, tmp: Path, file: Path, env: dict, *args: str):
        self.stderr_path = tmp / f"collect-{time.monotonic_ns()}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        env = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BLRP_SCHEDULE_DELAY": "100", **env}
        self.proc = subprocess.Popen([str(binary), "collect", "--file", str(file), "--stats-interval", "0", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     env=env)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
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


def _seqs(col, top: str, service: str) -> list[int]:
    out = []
    for resource, _scope, item in col.items_with_context(top):
        if otelcol.attributes(resource).get("service.name") == service:
            out.append(otelcol.attributes(item)["e2e.seq"])
    return sorted(out)


@needs_otelcol
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_records_written_during_a_collector_outage_arrive_after_it_restarts(binary, tmp_path, protocol):
    with otelcol.OtelCol(workdir=tmp_path / "otelcol", debug_verbosity=None) as col:
        endpoint = f"http://{col.grpc_endpoint}" if protocol == "grpc" else col.http_endpoint
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                        OTEL_EXPORTER_OTLP_TIMEOUT="2000")
        w = Workload(tmp_path / "t.mmap", "outage-e2e")
        c = Collect(binary, tmp_path, tmp_path / "t.mmap", env)
        try:
            w.spans(5)
            w.logs(2)
            col.wait_for(lambda k: _seqs(k, "resourceSpans", "outage-e2e") == list(range(5)), timeout=20)
            col.stop()
            w.spans(7)  # 5..11 during the outage
            w.logs(3)
            time.sleep(1.5)
            assert c.proc.poll() is None, c.stderr()  # the collector keeps running
            col.start()
            col.wait_for(lambda k: _seqs(k, "resourceSpans", "outage-e2e") == list(range(12)), timeout=60)
            col.wait_for(lambda k: _seqs(k, "resourceLogs", "outage-e2e") == list(range(5)), timeout=30)
            assert c.stop() == 0, c.stderr()
        finally:
            c.kill()
        assert "retrying" in c.stderr()


def test_retry_after_gzip_and_headers_through_the_collector(binary, tmp_path):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    script = [HttpResponse(503, {"Retry-After": "1"})]
    with sup.ScriptedHttpServer(script) as srv:
        env = clean_env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=srv.url + "/v1/traces", OTEL_METRICS_EXPORTER="none",
                        OTEL_LOGS_EXPORTER="none", OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
                        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20t0ken")
        w = Workload(tmp_path / "t.mmap", "retry-e2e")
        c = Collect(binary, tmp_path, tmp_path / "t.mmap", env)
        try:
            w.spans(3)
            deadline = time.monotonic() + 20
            while len(srv.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.stop() == 0, c.stderr()
        finally:
            c.kill()
    assert len(srv.requests) == 2, c.stderr()
    first, second = srv.requests
    assert second.time - first.time >= 0.95  # Retry-After: 1
    assert first.body == second.body
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["authorization"] == "Bearer t0ken"
    req = trace_service_pb2.ExportTraceServiceRequest.FromString(second.body)
    names = sorted(s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans)
    assert names == ["e2e-span-0", "e2e-span-1", "e2e-span-2"]
    assert "HTTP 503" in c.stderr()


def test_endpoint_down_neither_blocks_reading_nor_shutdown(binary, tmp_path):
    port = otelcol.free_port()  # nothing listens there
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}", OTEL_EXPORTER_OTLP_TIMEOUT="500")
    w = Workload(tmp_path / "t.mmap", "down-e2e")
    c = Collect(binary, tmp_path, tmp_path / "t.mmap", env, "--shutdown-timeout", "2")
    try:
        for _ in range(5):
            w.spans(50)  # 250 spans through 256 span slots: only if the collector keeps reading
            w.logs(20)
            time.sleep(0.2)
        reader = native.Reader(str(tmp_path / "t.mmap"))
        try:
            rings = reader.ring_states()
        finally:
            reader.close()
        assert w.writer.counters()["dropped_full_spans"] == 0, (rings, c.stderr())
        start = time.monotonic()
        assert c.stop() == 0, c.stderr()
        assert time.monotonic() - start < 10
    finally:
        c.kill()
    assert "connection error" in c.stderr()

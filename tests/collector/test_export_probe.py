"""The collector's exporters against real servers on 127.0.0.1, driven by export_probe.

* the real OpenTelemetry Collector (tests/otlp/otelcol.py): OTLP/gRPC, OTLP/HTTP protobuf and
  JSON, each with and without gzip; an outage (collector stopped mid-stream, restarted);
* scripted OTLP/HTTP and OTLP/gRPC servers (http.server, grpcio): retries, Retry-After,
  RetryInfo, permanent errors, partial success, headers, gzip, TLS and mutual TLS;
* the console exporters, and an endpoint that is down.

Skipped when export_probe is not built (build/dev, or OTLP_MMAP_EXPORT_PROBE) and
OTLP_MMAP_E2E is unset; the real-Collector tests likewise need scripts/build-otelcol.sh.
"""

from __future__ import annotations

import email.utils
import json
import ssl
import time

import pytest

import export_probe_support as sup
from export_probe_support import GrpcAnswer, HttpResponse, Probe, clean_env, otelcol, run_probe

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not sup.probe_binary().is_file() and not otelcol.e2e_required(),
                       reason=f"export_probe not built ({sup.probe_binary()}; set {sup.PROBE_ENV})"),
]

needs_otelcol = pytest.mark.skipif(
    not otelcol.binary_available() and not otelcol.e2e_required(),
    reason=f"collector not built (scripts/build-otelcol.sh) and {otelcol.E2E_ENV} unset")

FAST_RETRY = ["--retry-initial-ms", "100", "--retry-max-ms", "400"]


@pytest.fixture(scope="module")
def real_collector(tmp_path_factory):
    col = otelcol.OtelCol(workdir=tmp_path_factory.mktemp("otelcol"), debug_verbosity=None)
    col.start()
    try:
        yield col
    finally:
        col.close()


def _service_items(col, top: str, service: str) -> list[dict]:
    out = []
    for resource, _scope, item in col.items_with_context(top):
        if otelcol.attributes(resource).get("service.name") == service:
            out.append(item)
    return out


def _seqs(items: list[dict]) -> list[int]:
    return sorted(otelcol.attributes(i)["probe.seq"] for i in items)


def _points(metrics: list[dict]) -> list[dict]:
    return [p for m in metrics for p in m["sum"]["dataPoints"]]


# ---- the real Collector ------------------------------------------------------------------------------

@needs_otelcol
@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_real_collector_receives_every_signal(real_collector, protocol, compression):
    col = real_collector
    service = f"probe-{protocol.replace('/', '-')}-{compression}"
    endpoint = f"http://{col.grpc_endpoint}" if protocol == "grpc" else col.http_endpoint
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                    OTEL_EXPORTER_OTLP_COMPRESSION=compression)
    final, _, stderr = run_probe(["--service", service, "--spans", "5", "--logs", "3", "--metrics", "4"], env)
    assert final["flushed"], stderr
    for signal, n in (("traces", 5), ("logs", 3), ("metrics", 4)):
        assert final[signal]["exported"] == n == final[signal]["submitted"], (signal, final, stderr)
        assert final[signal]["requests_failed"] == 0, (signal, final, stderr)

    spans = col.wait_for(lambda c: (s := _service_items(c, "resourceSpans", service)) and len(s) >= 5 and s)
    logs = col.wait_for(lambda c: (s := _service_items(c, "resourceLogs", service)) and len(s) >= 3 and s)
    metrics = col.wait_for(lambda c: (s := _service_items(c, "resourceMetrics", service)) and s)
    assert _seqs(spans) == [0, 1, 2, 3, 4]
    for s in spans:  # ids arrive as the Collector re-encodes them: hex
        k = otelcol.attributes(s)["probe.seq"]
        assert s["spanId"] == f"{k + 1:016x}"
        assert s["traceId"] == "0af7651916cd43dd0000000000000001"
        assert s["name"] == f"probe-span-{k}"
        assert s["kind"] == 1
    assert _seqs(logs) == [0, 1, 2]
    assert sorted(r["body"]["stringValue"] for r in logs) == ["probe-log-0", "probe-log-1", "probe-log-2"]
    points = _points(metrics)
    assert _seqs(points) == [0, 1, 2, 3]
    assert sorted(int(p["asInt"]) for p in points) == [0, 1, 2, 3]
    assert metrics[0]["name"] == "probe.counter"
    assert metrics[0]["sum"]["isMonotonic"] is True


@needs_otelcol
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_collector_outage_data_sent_meanwhile_arrives_after_restart(tmp_path, protocol):
    with otelcol.OtelCol(workdir=tmp_path / "otelcol", debug_verbosity=None) as col:
        endpoint = f"http://{col.grpc_endpoint}" if protocol == "grpc" else col.http_endpoint
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                        OTEL_EXPORTER_OTLP_TIMEOUT="2000")
        p = Probe(["--service", "outage", "--max-retry-elapsed-ms", "60000", *FAST_RETRY], env)
        try:
            p.send("spans 5")
            assert p.flush(10000)
            col.stop()
            p.send("spans 7")  # seq 5..11, during the outage
            p.send("logs 2")
            time.sleep(1.5)
            during = p.stats()
            assert during["traces"]["requests_failed"] >= 1, during
            assert during["traces"]["exported"] == 5, during
            col.start()  # same ports
            assert p.flush(30000)
            final = p.finish()
        finally:
            p.kill()
        sup.check_accounting(final)
        assert final["traces"]["exported"] == 12 and final["traces"]["dropped"] == 0, (final, p.stderr)
        assert final["logs"]["exported"] == 2, final
        assert final["traces"]["retries"] >= 1
        spans = col.wait_for(lambda c: (s := _service_items(c, "resourceSpans", "outage")) and len(s) >= 12 and s)
        assert _seqs(spans) == list(range(12))
        assert "retrying" in p.stderr


@needs_otelcol
def test_collector_outage_longer_than_retry_budget_is_counted_as_dropped_exactly(tmp_path):
    with otelcol.OtelCol(workdir=tmp_path / "otelcol", debug_verbosity=None) as col:
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=col.http_endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="1000")
        p = Probe(["--service", "budget", "--max-retry-elapsed-ms", "800", *FAST_RETRY], env)
        try:
            p.send("spans 5")  # 0..4 arrive
            assert p.flush(10000)
            col.stop()
            p.send("spans 7")  # 5..11: retried, then given up
            assert p.flush(10000)
            mid = p.stats()
            assert mid["traces"]["dropped"] == 7, mid
            col.start()
            p.send("spans 3")  # 12..14 arrive
            final = p.finish()
        finally:
            p.kill()
        sup.check_accounting(final)
        assert (final["traces"]["exported"], final["traces"]["dropped"]) == (8, 7), final
        spans = col.wait_for(lambda c: (s := _service_items(c, "resourceSpans", "budget")) and len(s) >= 8 and s)
        time.sleep(0.3)  # nothing else arrives late
        assert _seqs(_service_items(col, "resourceSpans", "budget")) == [0, 1, 2, 3, 4, 12, 13, 14]
        assert "gave up" in p.stderr


# ---- scripted HTTP server ----------------------------------------------------------------------------

def test_http_503_with_retry_after_seconds_then_200():
    with sup.ScriptedHttpServer([HttpResponse(503, {"Retry-After": "1"}, b"busy")]) as srv:
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=srv.url)
        final, _, stderr = run_probe(["--spans", "4", *FAST_RETRY], env)
    assert len(srv.requests) == 2
    assert srv.requests[1].time - srv.requests[0].time >= 0.95  # Retry-After, not the 100 ms backoff
    assert final["traces"]["exported"] == 4 and final["traces"]["retries"] == 1, final
    assert final["traces"]["requests_failed"] == 1
    assert srv.requests[0].body == srv.requests[1].body
    assert "HTTP 503" in stderr and "as the endpoint asked" in stderr


def test_http_retry_after_as_http_date():
    when = email.utils.formatdate(time.time() + 3, usegmt=True)  # 2-3 s ahead (whole seconds)
    with sup.ScriptedHttpServer([HttpResponse(429, {"Retry-After": when})]) as srv:
        final, _, _ = run_probe(["--logs", "2", *FAST_RETRY], clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=srv.url))
    assert len(srv.requests) == 2
    assert srv.requests[1].time - srv.requests[0].time >= 1.5
    assert final["logs"]["exported"] == 2 and final["logs"]["retries"] == 1, final


def test_http_retryable_without_retry_after_uses_backoff():
    script = [HttpResponse(502), HttpResponse(504), HttpResponse(503)]
    with sup.ScriptedHttpServer(script) as srv:
        final, _, _ = run_probe(["--metrics", "3", "--retry-initial-ms", "200", "--retry-max-ms", "800"],
                                clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=srv.url))
    t = [r.time for r in srv.requests]
    assert len(t) == 4
    # attempt n waits between d/2 and d, d = 200 ms * 2^n
    for n, gap in enumerate(b - a for a, b in zip(t, t[1:])):
        assert 0.1 * 2 ** n - 0.02 <= gap <= 0.2 * 2 ** n + 0.5, (n, gap)
    assert final["metrics"]["exported"] == 3 and final["metrics"]["retries"] == 3, final


def test_http_permanent_error_is_rejected_not_retried():
    from google.rpc import status_pb2
    body = status_pb2.Status(code=3, message="spans are malformed").SerializeToString()
    script = [HttpResponse(400, {"Content-Type": "application/x-protobuf"}, body), HttpResponse(400)]
    with sup.ScriptedHttpServer(script) as srv:
        p = Probe([], clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=srv.url))
        try:
            p.send("spans 5")
            assert p.flush(5000)
            p.send("spans 5")
            final = p.finish()
        finally:
            p.kill()
    assert len(srv.requests) == 2
    assert final["traces"]["rejected"] == 10 and final["traces"]["retries"] == 0, final
    assert p.stderr.count("HTTP 400") == 1, p.stderr  # once per kind
    assert "spans are malformed" in p.stderr


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_http_partial_success(protocol):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    response = trace_service_pb2.ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 2
    response.partial_success.error_message = "two spans too old"
    if protocol == "http/json":
        body = json.dumps({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "two spans too old"}}).encode()
        ctype = "application/json"
    else:
        body, ctype = response.SerializeToString(), "application/x-protobuf"
    with sup.ScriptedHttpServer([HttpResponse(200, {"Content-Type": ctype}, body)]) as srv:
        final, _, stderr = run_probe(["--spans", "5"], clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=srv.url,
                                                                 OTEL_EXPORTER_OTLP_PROTOCOL=protocol))
    assert (final["traces"]["exported"], final["traces"]["rejected"]) == (3, 2), final
    assert "two spans too old" in stderr


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_http_request_format_headers_and_gzip(protocol, compression):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    with sup.ScriptedHttpServer() as srv:
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=srv.url + "/base/", OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                        OTEL_EXPORTER_OTLP_COMPRESSION=compression,
                        OTEL_EXPORTER_OTLP_HEADERS="Api-Key=s%20ecret,x-tenant=t1",
                        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=srv.url + "/custom/logs")
        final, _, _ = run_probe(["--spans", "2", "--logs", "1", "--metrics", "1"], env)
    by_path = {r.path: r for r in srv.requests}
    assert set(by_path) == {"/base/v1/traces", "/base/v1/metrics", "/custom/logs"}
    r = by_path["/base/v1/traces"]
    assert r.headers["api-key"] == "s ecret" and r.headers["x-tenant"] == "t1"
    assert r.headers.get("content-encoding") == ("gzip" if compression == "gzip" else None)
    assert r.headers["user-agent"].startswith("otlp-mmap-collector/")
    if protocol == "http/json":
        assert r.headers["content-type"] == "application/json"
        doc = json.loads(r.body)
        span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
        assert span["spanId"] == "0000000000000002"  # hex, not base64
        assert span["traceId"] == "0af7651916cd43dd0000000000000001"
        assert span["kind"] == 1  # enums as integers
        assert isinstance(span["startTimeUnixNano"], str)
    else:
        assert r.headers["content-type"] == "application/x-protobuf"
        req = trace_service_pb2.ExportTraceServiceRequest.FromString(r.body)
        span = req.resource_spans[0].scope_spans[0].spans[1]
        assert span.span_id.hex() == "0000000000000002" and span.name == "probe-span-1"
    assert final["logs"]["exported"] == 1 and final["metrics"]["exported"] == 1, final


def test_http_gives_up_after_the_retry_budget():
    with sup.ScriptedHttpServer([HttpResponse(503)] * 100) as srv:
        start = time.monotonic()
        final, _, stderr = run_probe(["--spans", "6", "--max-retry-elapsed-ms", "1000", *FAST_RETRY],
                                     clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=srv.url))
        elapsed = time.monotonic() - start
    assert final["traces"]["dropped"] == 6 and final["traces"]["exported"] == 0, final
    assert len(srv.requests) >= 3
    assert elapsed < 10
    assert "gave up" in stderr


# ---- scripted gRPC server ----------------------------------------------------------------------------

def _grpc_env(srv, **more):
    return clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{srv.port}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
                     **more)


def test_grpc_unavailable_is_retried_and_metadata_is_sent():
    import grpc
    script = [GrpcAnswer(grpc.StatusCode.UNAVAILABLE, "not yet"), GrpcAnswer(grpc.StatusCode.DEADLINE_EXCEEDED)]
    with sup.ScriptedGrpcServer(script) as srv:
        final, _, stderr = run_probe(["--spans", "3", *FAST_RETRY],
                                     _grpc_env(srv, OTEL_EXPORTER_OTLP_TRACES_HEADERS="api-key=k%2F1"))
    assert [c[1] for c in srv.calls] == ["traces"] * 3
    assert srv.calls[0][2]["api-key"] == "k/1"
    assert srv.calls[0][2]["user-agent"].startswith("otlp-mmap-collector/")
    assert final["traces"]["exported"] == 3 and final["traces"]["retries"] == 2, final
    assert "gRPC UNAVAILABLE" in stderr


def test_grpc_gzip_compresses_messages():
    # gRPC core's own trace of the message compression filter shows what was sent.
    with sup.ScriptedGrpcServer() as srv:
        final, _, stderr = run_probe(["--spans", "50"], _grpc_env(
            srv, OTEL_EXPORTER_OTLP_COMPRESSION="gzip", GRPC_VERBOSITY="DEBUG", GRPC_TRACE="compression"))
    assert final["traces"]["exported"] == 50, final
    assert len(srv.calls[0][3].resource_spans[0].scope_spans[0].spans) == 50
    assert "Compressed[gzip]" in stderr


def test_grpc_resource_exhausted_needs_retry_info():
    import grpc
    script = [GrpcAnswer(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", retry_delay=1.0),
              GrpcAnswer(grpc.StatusCode.RESOURCE_EXHAUSTED, "no more, ever")]
    with sup.ScriptedGrpcServer(script) as srv:
        p = Probe(FAST_RETRY, _grpc_env(srv))
        try:
            p.send("logs 2")  # RetryInfo: retried after 1 s; then no RetryInfo: permanent
            assert p.flush(10000)
            final = p.finish()
        finally:
            p.kill()
    t = [c[0] for c in srv.calls]
    assert len(t) == 2 and t[1] - t[0] >= 0.95, t
    # The second answer (RESOURCE_EXHAUSTED without RetryInfo) is permanent.
    assert final["logs"]["rejected"] == 2 and final["logs"]["retries"] == 1, final


def test_grpc_permanent_error_and_partial_success():
    import grpc
    script = [GrpcAnswer(grpc.StatusCode.INVALID_ARGUMENT, "bad points"),
              GrpcAnswer(rejected=1, error_message="one point rejected")]
    with sup.ScriptedGrpcServer(script) as srv:
        p = Probe([], _grpc_env(srv))
        try:
            p.send("metrics 4")
            assert p.flush(10000)
            p.send("metrics 3")
            final = p.finish()
        finally:
            p.kill()
    assert len(srv.calls) == 2
    m = final["metrics"]
    assert (m["rejected"], m["exported"], m["retries"]) == (4 + 1, 2, 0), final
    assert "gRPC INVALID_ARGUMENT" in p.stderr and "one point rejected" in p.stderr


# ---- TLS ---------------------------------------------------------------------------------------------

def test_https_with_ca_certificate_and_client_certificate(tmp_path):
    certs = sup.make_certs(tmp_path / "certs")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    ctx.load_verify_locations(certs.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS
    with sup.ScriptedHttpServer(ssl_context=ctx) as srv:
        url = f"https://127.0.0.1:{srv.port}"
        ok, _, stderr = run_probe(["--spans", "2"], clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_EXPORTER_OTLP_CERTIFICATE=str(certs.ca),
            OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=str(certs.client_cert),
            OTEL_EXPORTER_OTLP_CLIENT_KEY=str(certs.client_key)))
        assert ok["traces"]["exported"] == 2, (ok, stderr)
        # Without our CA the server is not trusted: a permanent failure, not a crash or a hang.
        bad, _, stderr = run_probe(["--spans", "2", "--max-retry-elapsed-ms", "1000"],
                                   clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=url))
        assert bad["traces"]["exported"] == 0, bad
        assert bad["traces"]["rejected"] + bad["traces"]["dropped"] == 2, bad
    assert len(srv.requests) == 1


def test_grpc_over_tls(tmp_path):
    import grpc
    certs = sup.make_certs(tmp_path / "certs")
    creds = grpc.ssl_server_credentials([(certs.server_key.read_bytes(), certs.server_cert.read_bytes())])
    with sup.ScriptedGrpcServer(server_credentials=creds) as srv:
        final, _, stderr = run_probe(["--spans", "2", "--logs", "1"], clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"https://127.0.0.1:{srv.port}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_CERTIFICATE=str(certs.ca)))
    assert final["traces"]["exported"] == 2 and final["logs"]["exported"] == 1, (final, stderr)
    assert len(srv.calls) == 2


# ---- console, endpoint down, bad configuration -------------------------------------------------------

def test_console_json_lines_to_file(tmp_path):
    out = tmp_path / "telemetry.jsonl"
    final, stdout, _ = run_probe(["--format", "json", "--output", str(out), "--spans", "3", "--logs", "2",
                                  "--metrics", "2"], clean_env())
    assert final["traces"]["exported"] == 3
    lines = out.read_text().splitlines()
    docs = [json.loads(line) for line in lines]
    assert len(docs) == 3  # one request per line
    spans = [s for d in docs for rs in d.get("resourceSpans", []) for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert [s["spanId"] for s in spans] == ["0000000000000001", "0000000000000002", "0000000000000003"]
    assert any("resourceLogs" in d for d in docs) and any("resourceMetrics" in d for d in docs)
    assert stdout == ""


def test_console_text_to_stdout():
    final, stdout, _ = run_probe(["--spans", "2", "--logs", "1", "--metrics", "1"], clean_env())
    assert final["traces"]["exported"] == 2
    assert stdout.count('Span "probe-span-') == 2
    assert stdout.count("LogRecord ") == 1
    assert stdout.count('Metric "probe.counter"') == 1
    assert "span_id=0000000000000001" in stdout


def test_endpoint_down_never_blocks_and_counts_exactly():
    port = otelcol.free_port()  # nothing listens there
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}", OTEL_EXPORTER_OTLP_TIMEOUT="500")
    p = Probe(["--queue-size", "10", "--max-retry-elapsed-ms", "1500", *FAST_RETRY], env)
    try:
        start = time.monotonic()
        for _ in range(10):
            p.send("spans 5")
        s = p.stats()
        assert time.monotonic() - start < 2  # submit never waits for the endpoint
        assert s["traces"]["submitted"] == 50
        final = p.finish(timeout=30)
    finally:
        p.kill()
    sup.check_accounting(final)
    t = final["traces"]
    assert t["exported"] == 0 and t["dropped"] == 50, final
    assert "queue full" in p.stderr and "connection error" in p.stderr


def test_invalid_configuration_names_the_variable():
    p = Probe([], clean_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1", OTEL_EXPORTER_OTLP_COMPRESSION="br"))
    try:
        answer = p.answer(10)
        p.proc.wait(timeout=10)
    finally:
        p.kill()
    assert p.proc.returncode == 2
    assert "OTEL_EXPORTER_OTLP_COMPRESSION" in answer["error"]

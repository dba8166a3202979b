"""End-to-end smoke test of tests/otlp/otelcol.py: the official Python OTLP/gRPC exporters send
one span, one metric and one log record to the collector built by scripts/build-otelcol.sh,
and the collector's file exporter writes them back out.

Skipped only when the collector is not built AND OTLP_MMAP_E2E is unset; with OTLP_MMAP_E2E=1
a missing collector fails (see the otelcol_bin fixture in conftest.py).
"""

import pytest

import otelcol

pytestmark = [
    pytest.mark.otelcol_e2e,
    pytest.mark.skipif(
        not otelcol.binary_available() and not otelcol.e2e_required(),
        reason=f"collector not built (scripts/build-otelcol.sh) and {otelcol.E2E_ENV} unset",
    ),
    pytest.mark.timeout(120),
]


def _send_all(endpoint: str) -> dict:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    resource = Resource.create({"service.name": "otlp-mmap-smoke"})
    kw = dict(endpoint=endpoint, insecure=True, timeout=5)

    # Providers are local (not installed globally), so nothing leaks into other tests.
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(**kw)))
    with tp.get_tracer("smoke").start_as_current_span("smoke-span") as span:
        span.set_attribute("smoke.answer", 42)
        ctx = span.get_span_context()
    tp.shutdown()

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(**kw), export_interval_millis=3_600_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    mp.get_meter("smoke").create_counter("smoke.counter", unit="1").add(5, {"k": "v"})
    mp.shutdown(timeout_millis=10_000)  # collects and exports once (no other export happened)

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(**kw)))
    lp.get_logger("smoke").emit(severity_number=SeverityNumber.WARN, severity_text="WARN",
                                body="smoke-log", attributes={"smoke.log": True})
    lp.shutdown()
    return {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}


def test_span_metric_log_reach_collector_file(collector):
    sent = _send_all(collector.grpc_endpoint)

    def arrived(c):
        return c.spans() and c.metrics() and c.logs()

    collector.wait_for(arrived, timeout=15)
    spans, metrics, logs = collector.spans(), collector.metrics(), collector.logs()

    assert [s["name"] for s in spans] == ["smoke-span"]
    assert spans[0]["traceId"] == sent["trace_id"] and spans[0]["spanId"] == sent["span_id"]
    assert otelcol.attributes(spans[0]) == {"smoke.answer": 42}
    resource, scope, _ = collector.items_with_context("resourceSpans")[0]
    assert otelcol.attributes(resource)["service.name"] == "otlp-mmap-smoke"
    assert scope["name"] == "smoke"

    assert [m["name"] for m in metrics] == ["smoke.counter"]
    point = metrics[0]["sum"]["dataPoints"][0]
    assert int(point["asInt"]) == 5 and otelcol.attributes(point) == {"k": "v"}
    assert metrics[0]["sum"]["isMonotonic"] is True

    assert len(logs) == 1
    assert logs[0]["body"] == {"stringValue": "smoke-log"}
    assert logs[0]["severityNumber"] == 13 or logs[0]["severityNumber"] == "SEVERITY_NUMBER_WARN"
    assert otelcol.attributes(logs[0]) == {"smoke.log": True}

    assert collector.stop() == 0  # clean shutdown
    assert not collector.running


def test_restart_keeps_ports_and_files(collector):
    grpc_port, http_port = collector.grpc_port, collector.http_port
    _send_all(collector.grpc_endpoint)
    collector.wait_for(lambda c: c.logs(), timeout=15)
    collector.stop()
    assert not otelcol._port_open(grpc_port)  # outage: nothing listens any more
    collector.start()
    assert (collector.grpc_port, collector.http_port) == (grpc_port, http_port)
    _send_all(collector.grpc_endpoint)
    collector.wait_for(lambda c: len(c.spans()) == 2 and len(c.logs()) == 2, timeout=15)
    assert len(collector.export_files()) == 2


def test_otlp_http_protobuf_with_batch(otelcol_bin, tmp_path):
    """OTLP/HTTP (what the C++ collector's libcurl exporter will speak), through the batch processor."""
    import urllib.request

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest, ExportTraceServiceResponse)

    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes(range(1, 17)), bytes(range(1, 9)), "http-span"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_000_000_000, 2_000_000_000

    with otelcol.OtelCol(otelcol_bin, tmp_path / "otelcol", batch=True) as col:
        http = urllib.request.Request(
            col.http_endpoint + "/v1/traces", data=req.SerializeToString(), method="POST",
            headers={"Content-Type": "application/x-protobuf"})
        with urllib.request.urlopen(http, timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/x-protobuf"
            ExportTraceServiceResponse.FromString(resp.read())  # parses; empty = full success
        spans = col.wait_for(lambda c: c.spans(), timeout=15)
    assert [(s["name"], s["traceId"], s["spanId"]) for s in spans] == [
        ("http-span", bytes(range(1, 17)).hex(), bytes(range(1, 9)).hex())]
    assert spans[0]["startTimeUnixNano"] == "1000000000"

"""Differential test: one workload through the official opentelemetry-sdk (in-memory
exporters and reader) and through otlp_mmap.sdk, read back two ways: straight from the file,
and through the whole pipeline (our collector exporting OTLP/gRPC to a real OpenTelemetry
Collector, whose JSON file output is read). Each result must match the official SDK's field
by field.

Compared: spans (name, kind, parent, trace membership, attributes, status, events, links,
instrumentation scope), metric points (ours aggregated from the raw measurements as the
specification defines: DELTA sums added, CUMULATIVE sums and gauges latest, explicit
histograms bucketed; the official reader's default cumulative temporality gives the same
totals) and instrument kinds, log records (body, severity, attributes, event name, scope,
the span they belong to). Not compared: ids and times (random and clock-dependent), the
resource (each SDK names itself), and the frames of exception stack traces (the official
SDK records them from inside its context manager; the exception line is compared).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from sdk_support import aggregate_metrics, freeze, merge_spans, read_all

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader

official_trace = pytest.importorskip("opentelemetry.sdk.trace")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))
import otelcol  # noqa: E402

# Read at import: the autouse fixture clears OTLP_MMAP_* variables before each test.
COLLECTOR = Path(os.environ.get("OTLP_MMAP_BIN", ROOT / "build" / "dev" / "collector" / "otlp-mmap"))
E2E_REQUIRED = otelcol.e2e_required()


class Order:
    """An application object given as an attribute (as Django's logging passes its request):
    both SDKs keep its str()."""

    def __str__(self) -> str:
        return "<Order 42>"


def workload(tracer: Any, meter: Any, logger: Any, pylog: logging.Logger) -> None:
    """The same API calls, whatever the SDK."""
    counter = meter.create_counter("wl.requests", unit="1", description="Requests served")
    updown = meter.create_up_down_counter("wl.queue", description="Queue length")
    latency = meter.create_histogram("wl.latency", unit="ms")
    sizes = meter.create_histogram("wl.size", unit="By", explicit_bucket_boundaries_advisory=[10, 100, 1000])
    temperature = meter.create_gauge("wl.temperature", unit="Cel")

    def cpu(options: CallbackOptions) -> List[Observation]:
        return [Observation(42, {"cpu": "0"}), Observation(7.5, {"cpu": "1"})]

    def humidity() -> Iterator[List[Observation]]:
        level = 50
        while True:
            yield [Observation(level, {"room": "a"})]
            level += 1

    meter.create_observable_counter("wl.cpu", [cpu], unit="s")
    meter.create_observable_up_down_counter("wl.threads", [lambda options: [Observation(5)]])
    meter.create_observable_gauge("wl.humidity", [humidity()], unit="%")

    attributes = {"http.method": "GET", "n": 1, "ratio": 0.5, "ok": True, "tags": ["a", "b"], "ids": [1, 2]}
    with tracer.start_as_current_span("request", kind=SpanKind.SERVER, attributes=attributes) as root:
        counter.add(1, {"route": "/a"})
        with tracer.start_as_current_span("db", kind=SpanKind.CLIENT) as db:
            db.set_attribute("db.system", "sqlite")
            db.set_attributes({"db.rows": 3, "n": 2})
            db.set_attribute("db.order", Order())
            db.add_event("query", {"rows": 3, "sql": "select 1"})
            db.set_status(Status(StatusCode.OK))
            latency.record(12.5, {"op": "select"})
            latency.record(3, {"op": "select"})
            latency.record(700, {"op": "insert"})
        db_context = db.get_span_context()
        with tracer.start_as_current_span("cache", links=[Link(db_context, {"link.kind": "follows"})]) as cache:
            cache.add_link(root.get_span_context(), {"late": 1})
            cache.update_name("cache-renamed")
            cache.add_event("lookup")
            logger.emit(
                body="inside the cache",
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                attributes={"key": "k1"},
                event_name="wl.cache.lookup",
            )
            pylog.warning("cache miss for %s", "key-1", extra={"cache.key": "key-1", "order": Order()})
        try:
            with tracer.start_as_current_span("failing", kind=SpanKind.PRODUCER):
                raise ValueError("boom")
        except ValueError:
            pass
        manual = tracer.start_span("manual", kind=SpanKind.CONSUMER, attributes={"x": 1})
        try:
            raise KeyError("k")
        except KeyError as exc:
            manual.record_exception(exc, {"extra": True}, escaped=True)
        manual.set_status(StatusCode.ERROR, "manual error")
        manual.end()
        updown.add(10)
        updown.add(-3)
        temperature.set(20)
        temperature.set(22, {"room": "b"})
        temperature.set(23)
        for size in (5, 50, 5000):
            sizes.record(size)
        counter.add(2, {"route": "/a"})
        counter.add(5, {"route": "/b"})
    logger.emit(LogRecord(body={"structured": [1, 2]}, severity_number=SeverityNumber.ERROR, attributes={"n": 1}))
    try:
        raise RuntimeError("for the log")
    except RuntimeError:
        pylog.exception("logged failure")
    pylog.info("plain %d", 7)


def python_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


# ---------------------------------------------------------------------------- normalising

Span = Dict[str, Any]


def plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def exception_summary(attributes: Dict[str, Any]) -> Dict[str, Any]:
    result = plain(dict(attributes))
    if "exception.stacktrace" in result:
        result["exception.stacktrace"] = result["exception.stacktrace"].rstrip().splitlines()[-1]
    return result


def run_official() -> Tuple[List[Span], Dict[str, Any], List[Dict[str, Any]]]:
    import warnings

    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans_out = InMemorySpanExporter()
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(spans_out))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    logs_out = InMemoryLogRecordExporter()
    lp = LoggerProvider(shutdown_on_exit=False)
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs_out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handler = LoggingHandler(logger_provider=lp)
    log = python_logger("wl.app", handler)
    try:
        workload(tp.get_tracer("wl", "1.0"), mp.get_meter("wl", "1.0"), lp.get_logger("wl", "1.0"), log)
        metrics_data = reader.get_metrics_data()
    finally:
        log.handlers[:] = []
        tp.shutdown()
        mp.shutdown()
        lp.shutdown()

    finished = spans_out.get_finished_spans()
    names = {s.context.span_id: s.name for s in finished}
    spans = []
    for s in finished:
        spans.append(
            {
                "name": s.name,
                "kind": s.kind.value + 1,
                "parent": names.get(s.parent.span_id) if s.parent else None,
                "trace": s.context.trace_id,
                "attributes": plain(dict(s.attributes)),
                "status": (s.status.status_code.value, s.status.description or ""),
                "events": [(e.name, exception_summary(e.attributes)) for e in s.events],
                "links": [(names.get(l.context.span_id), plain(dict(l.attributes or {}))) for l in s.links],
                "scope": (s.instrumentation_scope.name, s.instrumentation_scope.version),
                "sampled": s.context.trace_flags.sampled,
            }
        )

    metrics: Dict[str, Any] = {}
    for rm in metrics_data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                data = metric.data
                kind = type(data).__name__
                points = {}
                for p in data.data_points:
                    key = freeze(dict(p.attributes))
                    if kind == "Histogram":
                        points[key] = {
                            "counts": list(p.bucket_counts),
                            "sum": p.sum,
                            "count": p.count,
                            "min": p.min,
                            "max": p.max,
                            "bounds": list(p.explicit_bounds),
                        }
                    else:
                        points[key] = p.value
                metrics[metric.name] = {
                    "kind": kind.lower(),
                    "monotonic": getattr(data, "is_monotonic", None),
                    "unit": metric.unit,
                    "description": metric.description,
                    "points": points,
                    "scope": sm.scope.name,
                }

    logs = []
    for item in logs_out.get_finished_logs():
        rec = item.log_record
        logs.append(
            {
                "body": plain(rec.body),
                "severity_number": rec.severity_number.value if rec.severity_number else 0,
                "severity_text": rec.severity_text or "",
                "attributes": exception_summary(dict(rec.attributes or {})),
                "event_name": rec.event_name or "",
                "span": names.get(rec.span_id) if rec.span_id else None,
                "scope": item.instrumentation_scope.name,
            }
        )
    return spans, metrics, logs


def write_ours(path: str) -> None:
    tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, export_interval_millis=3_600_000)
    lp = sdk.LoggerProvider(path, shutdown_on_exit=False)
    handler = sdk.LoggingHandler(logger_provider=lp)
    log = python_logger("wl.app", handler)
    try:
        workload(tp.get_tracer("wl", "1.0"), mp.get_meter("wl", "1.0"), lp.get_logger("wl", "1.0"), log)
    finally:
        log.handlers[:] = []
        handler.close()
        tp.shutdown()
        mp.shutdown()  # its final collection: the one collection, as the official reader's
        lp.shutdown()


def run_ours(path: str) -> Tuple[List[Span], Dict[str, Any], List[Dict[str, Any]]]:
    """The workload through our SDK, read straight from the file (the read consumes it)."""
    write_ours(path)
    aggregated = aggregate_metrics(path)  # consumes the measurements only
    data = read_all(path)
    merged = merge_spans(data["spans"])
    names = {sid: s["name"] for sid, s in merged.items()}
    with Reader(path, read_only=True) as r:
        scope = {}

        def scope_of(ref: int) -> Dict[str, Any]:
            if ref not in scope:
                scope[ref] = r.read_scope(ref)
            return scope[ref]

        spans = []
        for s in merged.values():
            status = s["status"] or {"code": 0, "message": ""}
            sc = scope_of(s["scope_ref"])
            spans.append(
                {
                    "name": s["name"],
                    "kind": s["kind"],
                    "parent": names.get(s["parent_span_id"]) if s["parent_span_id"] else None,
                    "trace": s["trace_id"],
                    "attributes": plain(s["attributes"]),
                    "status": (status["code"], status["message"]),
                    "events": [(e["name"], exception_summary(e["attributes"])) for e in s["events"]],
                    "links": [(names.get(l["span_id"]), plain(l["attributes"])) for l in s["links"]],
                    "scope": (sc["name"], sc["version"]),
                    "sampled": bool(s["flags"] & 1),
                }
            )
        metrics: Dict[str, Any] = {}
        for name, entry in aggregated.items():
            stream = entry["stream"]
            (kind, params), = stream["aggregation"].items()
            points: Dict[Any, Any] = {}
            for key, value in entry["points"].items():
                if kind == "histogram":
                    points[key] = {**value, "bounds": params["bucket_boundaries"]}
                else:
                    points[key] = value
            metrics[name] = {
                "kind": kind,
                "monotonic": params.get("is_monotonic"),
                "unit": stream["unit"],
                "description": stream["description"],
                "points": points,
                "scope": r.read_scope(stream["scope_ref"])["name"],
            }
        logs = []
        for e in data["events"]:
            span_id: Optional[bytes] = e["span_context"]["span_id"] if e["span_context"] else None
            logs.append(
                {
                    "body": plain(e["body"]),
                    "severity_number": e["severity_number"],
                    "severity_text": e["severity_text"],
                    "attributes": exception_summary(e["attributes"]),
                    "event_name": e["event_name"],
                    "span": names.get(span_id) if span_id else None,
                    "scope": scope_of(e["scope_ref"])["name"],
                }
            )
    return spans, metrics, logs


# ------------------------------------------------------------- through both collectors


any_value = otelcol.any_value
json_attributes = otelcol.plain_attributes
json_number = otelcol.point_value


def run_ours_through_collectors(work: Path) -> Tuple[List[Span], Dict[str, Any], List[Dict[str, Any]]]:
    """The workload through our SDK into a file of its own, collected by `otlp-mmap collect`
    into a real OpenTelemetry Collector over OTLP/gRPC; what that collector writes is
    normalised like the rest."""
    if not COLLECTOR.exists() or not otelcol.binary_available():
        message = f"needs {COLLECTOR} (make build) and {otelcol.default_binary()} (scripts/build-otelcol.sh)"
        if E2E_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    path = str(work / "collected.mmap")
    write_ours(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTLP_MMAP_", "SDK_MMAP_"))}
    with otelcol.OtelCol(otelcol.default_binary(), work / "otelcol", debug_verbosity=None) as col:
        with open(work / "collect.stderr", "wb") as stderr:
            proc = subprocess.Popen(
                [str(COLLECTOR), "collect", "--file", path, "--endpoint", f"http://{col.grpc_endpoint}",
                 "--protocol", "grpc", "--stats-interval", "0"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
            try:
                col.wait_for(lambda k: len(k.spans()) >= 5 and len(k.logs()) >= 5, timeout=30)
            finally:
                # SIGTERM: the collector drains, collects metrics a last time and flushes them.
                proc.send_signal(signal.SIGTERM)
                try:
                    assert proc.wait(timeout=30) == 0, (work / "collect.stderr").read_text()
                finally:
                    if proc.poll() is None:
                        proc.kill()
        col.stop()  # the file exporter writes out what it holds
        spans_in = col.items_with_context("resourceSpans")
        metrics_in = col.items_with_context("resourceMetrics")
        logs_in = col.items_with_context("resourceLogs")

    names = {s["spanId"]: s["name"] for _, _, s in spans_in}
    spans = []
    for _, scope, s in spans_in:
        status = s.get("status", {})
        spans.append(
            {
                "name": s["name"],
                "kind": s.get("kind", 0),
                "parent": names.get(s["parentSpanId"]) if s.get("parentSpanId") else None,
                "trace": s["traceId"],
                "attributes": json_attributes(s),
                "status": (status.get("code", 0), status.get("message", "")),
                "events": [(e["name"], exception_summary(json_attributes(e))) for e in s.get("events", [])],
                "links": [(names.get(l["spanId"]), json_attributes(l)) for l in s.get("links", [])],
                "scope": (scope.get("name"), scope.get("version")),
                "sampled": bool(int(s.get("flags", 0)) & 1),
            }
        )

    # Cumulative temporality (the default): a series' latest point holds its total.
    metrics: Dict[str, Any] = {}
    latest: Dict[Tuple[str, Any], int] = {}
    for _, scope, m in metrics_in:
        (kind,) = [k for k in ("sum", "gauge", "histogram") if k in m]
        data = m[kind]
        entry = metrics.setdefault(
            m["name"],
            {
                "kind": kind,
                "monotonic": bool(data.get("isMonotonic", False)) if kind == "sum" else None,
                "unit": m.get("unit", ""),
                "description": m.get("description", ""),
                "points": {},
                "scope": scope.get("name"),
            },
        )
        for p in data.get("dataPoints", []):
            key = freeze(json_attributes(p))
            when = int(p.get("timeUnixNano", 0))
            if latest.get((m["name"], key), -1) > when:
                continue
            latest[(m["name"], key)] = when
            if kind == "histogram":
                entry["points"][key] = {
                    "counts": [int(c) for c in p.get("bucketCounts", [])],
                    "sum": p.get("sum"),
                    "count": int(p.get("count", 0)),
                    "min": p.get("min"),
                    "max": p.get("max"),
                    "bounds": p.get("explicitBounds", []),
                }
            else:
                entry["points"][key] = json_number(p)

    logs = []
    for _, scope, rec in logs_in:
        logs.append(
            {
                "body": any_value(rec["body"]) if "body" in rec else None,
                "severity_number": rec.get("severityNumber", 0),
                "severity_text": rec.get("severityText", ""),
                "attributes": exception_summary(json_attributes(rec)),
                "event_name": rec.get("eventName", ""),
                "span": names.get(rec["spanId"]) if rec.get("spanId") else None,
                "scope": scope.get("name"),
            }
        )
    return spans, metrics, logs


class Results:
    """The official SDK's result, and ours read back each way (each run once, when first
    asked; a failure is kept and raised again rather than run again)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.official = run_official()
        self._ours: Dict[str, Any] = {}

    def ours(self, via: str) -> Tuple[List[Span], Dict[str, Any], List[Dict[str, Any]]]:
        if via not in self._ours:
            try:
                if via == "file":
                    self._ours[via] = run_ours(str(self.work / "telemetry.mmap"))
                else:
                    self._ours[via] = run_ours_through_collectors(self.work)
            except Exception as e:  # pytest's skip/fail outcomes are BaseException: not kept
                self._ours[via] = e
        result = self._ours[via]
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return Results(tmp_path_factory.mktemp("differential"))


VIA = pytest.mark.parametrize("via", ["file", "collectors"])


def by_name(spans: List[Span]) -> Dict[str, Span]:
    return {s["name"]: s for s in spans}


@VIA
def test_spans_match(results: Results, via: str) -> None:
    official, ours = by_name(results.official[0]), by_name(results.ours(via)[0])
    assert sorted(official) == sorted(ours) == ["cache-renamed", "db", "failing", "manual", "request"]
    for name in official:
        theirs, mine = dict(official[name]), dict(ours[name])
        # One trace: compare membership, not the random ids.
        assert (theirs.pop("trace") == official["request"]["trace"]) == (mine.pop("trace") == ours["request"]["trace"])
        assert mine == theirs, name


@VIA
def test_exception_events_match(results: Results, via: str) -> None:
    ours = by_name(results.ours(via)[0])
    failing = ours["failing"]
    assert failing["status"] == (2, "ValueError: boom")
    assert failing["events"] == [
        (
            "exception",
            {
                "exception.type": "ValueError",
                "exception.message": "boom",
                "exception.stacktrace": "ValueError: boom",
                "exception.escaped": "False",
            },
        )
    ]


@VIA
def test_metrics_match(results: Results, via: str) -> None:
    official, ours = results.official[1], results.ours(via)[1]
    assert sorted(official) == sorted(ours)
    kinds = {"sum": "sum", "gauge": "gauge", "histogram": "histogram"}
    for name, theirs in official.items():
        mine = ours[name]
        assert kinds[mine["kind"]] == theirs["kind"], name
        assert mine["monotonic"] == theirs["monotonic"], name
        assert (mine["unit"], mine["description"], mine["scope"]) == (
            theirs["unit"],
            theirs["description"],
            theirs["scope"],
        ), name
        assert mine["points"] == theirs["points"], name


@VIA
def test_logs_match(results: Results, via: str) -> None:
    official, ours = results.official[2], results.ours(via)[2]
    assert len(official) == len(ours) == 5
    if via == "collectors":
        # OTLP groups records by scope: the order holds within each scope, not across them.
        def by_scope(logs: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
            grouped: Dict[str, List[Dict[str, Any]]] = {}
            for rec in logs:
                grouped.setdefault(rec["scope"], []).append(rec)
            return grouped

        assert by_scope(ours) == by_scope(official)
        return
    for theirs, mine in zip(official, ours):
        assert mine == theirs

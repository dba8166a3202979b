"""Differential suite of real applications (issue 11): a Flask shop (jinja2 templates,
sqlite3, requests to itself, basicConfig logging) on Flask's own server and under gunicorn
workers, a FastAPI shop on uvicorn (async handlers, httpx, background tasks, uvicorn's
log_config) and a Django shop (ORM on sqlite, its LOGGING), in tests/sdk/frameworks/. Each
runs once on the official OpenTelemetry SDK (batch span and log processors, the periodic
metric reader, OTLP/gRPC exporters) and once on ours (the file, `otlp-mmap collect`,
OTLP/gRPC), into one real OpenTelemetry Collector, driven by the same requests
(framework_runs.SCRIPT). Flask and FastAPI run under `opentelemetry-instrument`; gunicorn and
Django set up telemetry and the instrumentors in code.

What the Collector wrote is compared field by field (framework_compare.py says what is
normalised and why): spans (name, kind, parent/child structure, attributes, status, events
with exception stack traces, links, resource, scope, dropped counts), metrics (name, kind,
unit, description, temporality, points per attribute set, exemplars) and logs (body,
severity, attributes, trace context, order within their scope). The long values — the
3,000-character SQL statement, the 5,000-character log body, the exception stack traces —
are compared exactly, with the official SDK and with what the application produced.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

import framework_compare as fc
import framework_runs as fr
from framework_runs import APPS, SDKS, otelcol, shop

pytest.importorskip("fastapi")
pytest.importorskip("opentelemetry.instrumentation.django")

ROOT = Path(__file__).resolve().parents[2]
# Read at import: the autouse fixture clears OTLP_MMAP_* variables before each test.
COLLECTOR = Path(os.environ.get("OTLP_MMAP_BIN", ROOT / "build" / "dev" / "collector" / "otlp-mmap")).resolve()
E2E_REQUIRED = otelcol.e2e_required()
PARALLEL_RUNS = 4  # the runs are independent (own ports, files, directories)
APP_SCOPE = ("shop",)  # the applications' own instruments: exemplars compared exactly


@dataclass
class Side:
    """One run's telemetry as compared, or why there is none."""

    run: fr.Run
    error: Optional[BaseException] = None
    spans: Any = None
    metrics: Any = None
    logs: Any = None
    resources: Any = None

    def check(self) -> "Side":
        if self.error is not None:
            raise AssertionError(f"the {self.run.label} run failed: {self.error}") from self.error
        return self


def attempt(run: fr.Run, collector: otelcol.OtelCol) -> Optional[BaseException]:
    try:
        fr.run_app(run, collector, COLLECTOR)
        return None
    except Exception as exc:  # pylint: disable=broad-except  (kept for that run's tests)
        return exc


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Dict[Tuple[str, str], Side]:
    if not COLLECTOR.exists() or not otelcol.binary_available():
        message = f"needs {COLLECTOR} (make build) and {otelcol.default_binary()} (scripts/build-otelcol.sh)"
        if E2E_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path_factory.mktemp("frameworks")
    runs = [fr.Run(APPS[app], sdk, work / f"{app}-{sdk}") for app in APPS for sdk in SDKS]
    with otelcol.OtelCol(workdir=work / "otelcol", debug_verbosity=None) as collector:
        with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
            errors = list(pool.map(lambda run: attempt(run, collector), runs))
        collector.stop()  # its file exporter writes out what it holds
        received = fc.split_runs(collector.records())
    result = {}
    for run, error in zip(runs, errors):
        side = Side(run, error)
        if error is None:
            got = received.get(run.label, fc.Received())
            normal = fc.Normaliser(run.port)
            side.spans = fc.Spans(got, normal)
            side.metrics = fc.metrics_of(got, normal, side.spans, APP_SCOPE)
            side.logs = fc.logs_of(got, normal, side.spans, by_time=run.app.name == "gunicorn")
            side.resources = fc.resources_of(got)
        result[(run.app.name, run.sdk)] = side
    return result


def both(sides: Dict[Tuple[str, str], Side], app: str) -> Tuple[Side, Side]:
    return sides[(app, "official")].check(), sides[(app, "ours")].check()


def assert_same(official: Any, ours: Any, what: str) -> None:
    diffs = fc.differences(official, ours, what)
    assert not diffs, f"{len(diffs)} difference(s):\n" + "\n".join(diffs)


APP = pytest.mark.parametrize("app", list(APPS))


@APP
def test_the_script_produces_the_telemetry_compared(sides: Dict[Tuple[str, str], Side], app: str) -> None:
    """The official SDK's side holds what the requests imply (the comparison is never of two
    empty sets): a server span per request (and per request to itself), database spans,
    the failure's exception event, the duration metrics and the application's log records."""
    official, _ = both(sides, app)
    views = list(official.spans.views.values())
    servers = [v for v in views if v["kind"] == 2]
    assert len(servers) == len(fr.SCRIPT) + 1, [v["name"] for v in servers]
    assert sum(1 for v in views if "db.statement" in v["attributes"]) >= len(fr.SCRIPT) - 2
    assert any(e["name"] == "exception" for v in servers for e in v["events"])
    assert any(v["links"] for v in views)
    names = {name for (_, name) in official.metrics}
    assert {"http.server.duration", "shop.orders", "shop.order.value"} <= names, names
    records = [r for scope, rs in official.logs.items() if scope[0].startswith("shop.") for r in rs]
    assert len(records) >= 8 and any(r["span"] for r in records)


@APP
def test_resources(sides: Dict[Tuple[str, str], Side], app: str) -> None:
    """One resource per run and signal (gunicorn's two workers differ only in what is
    normalised): OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and what the SDK adds."""
    official, ours = both(sides, app)
    assert all(len(resources) == 1 for resources in official.resources.values()), official.resources
    assert_same(official.resources, ours.resources, "resources")


@APP
def test_spans(sides: Dict[Tuple[str, str], Side], app: str) -> None:
    official, ours = both(sides, app)
    assert_same(official.spans.views, ours.spans.views, "spans")


@APP
def test_metrics(sides: Dict[Tuple[str, str], Side], app: str) -> None:
    official, ours = both(sides, app)
    assert_same(named(official.metrics), named(ours.metrics), "metrics")


def named(metrics: Dict[fc.MetricKey, Any]) -> Dict[str, Any]:
    return {f"{scope[0]} {scope[1]}: {name}": value for (scope, name), value in metrics.items()}


@APP
def test_logs(sides: Dict[Tuple[str, str], Side], app: str) -> None:
    official, ours = both(sides, app)
    assert_same(official.logs, ours.logs, "logs")


# ------------------------------------------------------------------ the long values, whole


def server_span(side: Side, path: str) -> Tuple[str, Dict[str, Any]]:
    (found,) = [
        (label, v) for label, v in side.spans.views.items()
        if v["kind"] == 2 and v["parent"] is None and path_of(v) == path
    ]  # fmt: skip
    return found


def path_of(view: Dict[str, Any]) -> Optional[str]:
    attrs = view["attributes"]
    target = attrs.get("http.target") or attrs.get("url.path") or attrs.get("http.url", "").partition(":<port>")[2]
    return target.split("?")[0] if target else None


@APP
@pytest.mark.parametrize("sdk", SDKS)
def test_long_sql_statement_arrives_whole(sides: Dict[Tuple[str, str], Side], app: str, sdk: str) -> None:
    side = sides[(app, sdk)].check()
    label, _ = server_span(side, "/report")
    statements = [
        v["attributes"]["db.statement"] for l, v in side.spans.views.items()
        if l.startswith(label + " >") and "db.statement" in v["attributes"]
    ]  # fmt: skip
    assert len(statements) == 1, [fc.short(s) for s in statements]
    assert len(statements[0]) == shop.SQL_LENGTH and statements[0] == shop.long_sql(), fc.short(statements[0])


@APP
@pytest.mark.parametrize("sdk", SDKS)
def test_long_log_body_arrives_whole(sides: Dict[Tuple[str, str], Side], app: str, sdk: str) -> None:
    side = sides[(app, sdk)].check()
    bodies = [r["body"] for rs in side.logs.values() for r in rs if str(r["body"]).startswith("inventory dump")]
    assert len(bodies) == 1, [fc.short(b) for b in bodies]
    assert len(bodies[0]) == shop.BODY_LENGTH and bodies[0] == shop.long_body(), fc.short(bodies[0])


@APP
@pytest.mark.parametrize("sdk", SDKS)
def test_exception_stacktrace_arrives_whole(sides: Dict[Tuple[str, str], Side], app: str, sdk: str) -> None:
    """The failing route's exception event: its whole stack trace, from the KeyError it was
    raised from to the PricingError, with the application's frames between."""
    side = sides[(app, sdk)].check()
    _, view = server_span(side, "/boom")
    (event,) = [e for e in view["events"] if e["name"] == "exception"]
    attrs = event["attributes"]
    assert (attrs.get("exception.type"), attrs.get("exception.message")) == ("shop.PricingError", "item 42 has no price")
    trace = attrs.get("exception.stacktrace", "")
    assert trace.startswith("Traceback (most recent call last):\n"), fc.short(trace)
    assert "KeyError: 'price'" in trace and "in checkout_broken_cart" in trace, fc.short(trace)
    assert trace.endswith("shop.PricingError: item 42 has no price\n"), fc.short(trace)
    assert 750 <= len(trace) <= 6000, len(trace)

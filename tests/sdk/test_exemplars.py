"""Exemplars through the whole pipeline: our SDK writes measurements with the current span
context into the file, `otlp-mmap collect` aggregates them and exports every interval
(cumulative temporality, the default) to a real OpenTelemetry Collector. Each exported point
carries the exemplars of its own interval only: an exemplar appears in one export, never
again in the exports after it (as with the official SDK, whose reservoirs reset at each
collection)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import otlp_mmap.sdk as sdk

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))
import otelcol  # noqa: E402

# Read at import: the autouse fixture clears OTLP_MMAP_* variables before each test.
COLLECTOR = Path(os.environ.get("OTLP_MMAP_BIN", ROOT / "build" / "dev" / "collector" / "otlp-mmap"))
E2E_REQUIRED = otelcol.e2e_required()

Point = Dict[str, Any]


def points_of(col: otelcol.OtelCol, name: str) -> List[Point]:
    """The exported points of metric `name`, in export order."""
    found = []
    for _, _, m in col.items_with_context("resourceMetrics"):
        if m["name"] == name:
            data = m.get("sum") or m.get("histogram") or {}
            found.extend(data.get("dataPoints", []))
    return sorted(found, key=lambda p: int(p["timeUnixNano"]))


def value(p: Point) -> float:
    return int(p["count"]) if "count" in p else otelcol.point_value(p)


def hex_span_id(span: Any) -> str:
    return format(span.get_span_context().span_id, "016x")


def test_each_export_carries_the_exemplars_of_its_interval_only(tmp_path: Path) -> None:
    if not COLLECTOR.exists() or not otelcol.binary_available():
        message = f"needs {COLLECTOR} (make build) and {otelcol.default_binary()} (scripts/build-otelcol.sh)"
        if E2E_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    path = str(tmp_path / "exemplars.mmap")
    tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, export_interval_millis=3_600_000)
    tracer = tp.get_tracer("ex")
    meter = mp.get_meter("ex")
    counter = meter.create_counter("ex.requests")
    latency = meter.create_histogram("ex.latency", explicit_bucket_boundaries_advisory=[10.0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTLP_MMAP_", "SDK_MMAP_"))}
    with otelcol.OtelCol(otelcol.default_binary(), tmp_path / "otelcol", debug_verbosity=None) as col:
        with open(tmp_path / "collect.stderr", "wb") as stderr:
            proc = subprocess.Popen(
                [str(COLLECTOR), "collect", "--file", path, "--endpoint", f"http://{col.grpc_endpoint}",
                 "--protocol", "grpc", "--stats-interval", "0", "--metric-export-interval", "200"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
            try:

                def step(total: int) -> None:
                    """Waits until an export shows `total` and one more export after it."""
                    col.wait_for(
                        lambda c: sum(1 for p in points_of(c, "ex.requests") if value(p) == total) >= 2, timeout=30
                    )

                # Interval 1: inside span A (sampled); interval 2: outside any span; interval 3: inside B.
                with tracer.start_as_current_span("a") as span_a:
                    counter.add(1)
                    latency.record(5.0)
                step(1)
                counter.add(1)
                latency.record(50.0)
                step(2)
                with tracer.start_as_current_span("b") as span_b:
                    counter.add(1)
                    latency.record(7.0)
                step(3)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    assert proc.wait(timeout=30) == 0, (tmp_path / "collect.stderr").read_text()
                finally:
                    if proc.poll() is None:
                        proc.kill()
        col.stop()
        sums, histograms = points_of(col, "ex.requests"), points_of(col, "ex.latency")
    tp.shutdown()
    mp.shutdown()

    a, b = hex_span_id(span_a), hex_span_id(span_b)
    for points in (sums, histograms):
        assert [p.get("startTimeUnixNano") for p in points] == [points[0].get("startTimeUnixNano")] * len(points)
        seen: List[Tuple[float, List[str]]] = [
            (value(p), [e["spanId"].lower() for e in p.get("exemplars", [])]) for p in points
        ]
        with_exemplars = [(v, ids) for v, ids in seen if ids]
        # One export each for A and B: the first of their interval; the exports in between
        # (also the idle ones) and after carry none.
        assert with_exemplars == [(1, [a]), (3, [b])], seen
        first_of = {v: next(i for i, (w, _) in enumerate(seen) if w == v) for v in (1, 2, 3)}
        assert seen[first_of[1]][1] == [a] and seen[first_of[3]][1] == [b]
        assert all(not ids for v, ids in seen if v == 2)

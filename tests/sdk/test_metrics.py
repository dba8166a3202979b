"""Metrics through the opentelemetry-api on otlp_mmap.sdk, read back from the file."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, List

import pytest
from opentelemetry import metrics as metrics_api
from opentelemetry.metrics import CallbackOptions, Observation

from sdk_support import aggregate_metrics, freeze, read_all

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader
from otlp_mmap.sdk.metrics import DEFAULT_BUCKET_BOUNDARIES


def streams(path: str) -> dict:
    """The metric streams of the measurements in the file (without consuming them)."""
    with Reader(path, read_only=True) as r:
        refs = {m["metric_ref"] for m in r.peek("measurements", 100_000)}
        return {s["name"]: s for s in (r.read_metric_stream(ref) for ref in refs)}


def test_instruments_are_api_instruments(meter: Any) -> None:
    assert isinstance(meter.create_counter("c"), metrics_api.Counter)
    assert isinstance(meter.create_up_down_counter("u"), metrics_api.UpDownCounter)
    assert isinstance(meter.create_histogram("h"), metrics_api.Histogram)
    assert isinstance(meter.create_gauge("g"), metrics_api._Gauge)
    assert isinstance(meter.create_observable_counter("oc"), metrics_api.ObservableCounter)
    assert isinstance(meter.create_observable_up_down_counter("ou"), metrics_api.ObservableUpDownCounter)
    assert isinstance(meter.create_observable_gauge("og"), metrics_api.ObservableGauge)


def test_synchronous_instruments(meter: Any, path: str) -> None:
    counter = meter.create_counter("requests", unit="1", description="Requests")
    counter.add(1, {"route": "/a"})
    counter.add(2, {"route": "/a"})
    counter.add(5, {"route": "/b"})
    counter.add(0.5)
    updown = meter.create_up_down_counter("queue")
    updown.add(3)
    updown.add(-1)
    hist = meter.create_histogram("latency", unit="ms")
    for v in (0, 3, 7, 120, 20000):
        hist.record(v, {"m": "GET"})
    gauge = meter.create_gauge("temperature")
    gauge.set(20)
    gauge.set(21.5, {"room": "a"})
    gauge.set(19)
    s = streams(path)
    with Reader(path, read_only=True) as r:
        raw = r.peek("measurements", 100)
    assert [m["value"] for m in raw[:4]] == [1, 2, 5, 0.5]
    assert "as_long" in raw[0] and "as_double" in raw[3]  # ints stay ints
    assert s["requests"]["aggregation"] == {"sum": {"aggregation_temporality": 1, "is_monotonic": True}}
    assert (s["requests"]["unit"], s["requests"]["description"]) == ("1", "Requests")
    assert s["queue"]["aggregation"] == {"sum": {"aggregation_temporality": 1, "is_monotonic": False}}
    assert s["latency"]["aggregation"] == {
        "histogram": {"aggregation_temporality": 1, "bucket_boundaries": list(DEFAULT_BUCKET_BOUNDARIES)}
    }
    assert s["temperature"]["aggregation"] == {"gauge": {}}
    agg = aggregate_metrics(path)
    assert agg["requests"]["points"] == {freeze({"route": "/a"}): 3, freeze({"route": "/b"}): 5, (): 0.5}
    assert agg["queue"]["points"] == {(): 2}
    point = agg["latency"]["points"][freeze({"m": "GET"})]
    assert point["count"] == 5 and point["sum"] == 20130 and point["min"] == 0 and point["max"] == 20000
    assert point["counts"][0] == 1 and point["counts"][1] == 1 and point["counts"][2] == 1  # (-inf,0] (0,5] (5,10]
    assert point["counts"][-1] == 1  # above 10000
    assert agg["temperature"]["points"] == {(): 19, freeze({"room": "a"}): 21.5}


def test_histogram_advisory_boundaries(meter: Any, path: str, sdk_warnings: pytest.LogCaptureFixture) -> None:
    meter.create_histogram("a", explicit_bucket_boundaries_advisory=[1, 2.5, 10]).record(1)
    meter.create_histogram("b", explicit_bucket_boundaries_advisory=[3, 2]).record(1)  # invalid: defaults
    s = streams(path)
    assert s["a"]["aggregation"]["histogram"]["bucket_boundaries"] == [1.0, 2.5, 10.0]
    assert s["b"]["aggregation"]["histogram"]["bucket_boundaries"] == list(DEFAULT_BUCKET_BOUNDARIES)
    assert any("explicit_bucket_boundaries_advisory" in r.getMessage() for r in sdk_warnings.records)


def test_negative_and_invalid_values_are_dropped_and_warned_once(
    meter: Any, path: str, sdk_warnings: pytest.LogCaptureFixture
) -> None:
    before = sdk.counters()["invalid_measurements"]
    counter = meter.create_counter("c")
    hist = meter.create_histogram("h")
    for _ in range(3):
        counter.add(-1)
        hist.record(-0.5)
        counter.add(float("nan"))
        counter.add("one")  # type: ignore[arg-type]
    meter.create_up_down_counter("u").add(-4)  # fine for an up-down counter
    assert [m["value"] for m in read_all(path)["measurements"]] == [-4]
    assert sdk.counters()["invalid_measurements"] - before == 12
    messages = [r.getMessage() for r in sdk_warnings.records]
    assert sum("negative" in m and "Counter 'c'" in m for m in messages) == 1
    assert sum("negative" in m and "Histogram 'h'" in m for m in messages) == 1
    assert sum("non-finite" in m for m in messages) == 1
    assert sum("not a number" in m for m in messages) == 1


def test_big_ints_and_other_numbers(meter: Any, path: str) -> None:
    from decimal import Decimal
    from fractions import Fraction

    g = meter.create_gauge("g")
    g.set(2**63 - 1)
    g.set(2**70)  # does not fit as_long: a double
    g.set(Decimal("1.5"))
    g.set(Fraction(1, 4))
    g.set(True)
    values = [m["value"] for m in read_all(path)["measurements"]]
    assert values == [2**63 - 1, float(2**70), 1.5, 0.25, 1]


def test_observable_instruments_and_callback_styles(meter_provider: Any, meter: Any, path: str) -> None:
    seen_options: List[Any] = []
    total = {"n": 0}

    def plain(options: CallbackOptions) -> List[Observation]:
        seen_options.append(options)
        total["n"] += 10
        return [Observation(total["n"], {"cpu": "0"}), Observation(total["n"] * 2, {"cpu": "1"})]

    def generator() -> Iterator[List[Observation]]:
        value = 0
        while True:
            options = yield [Observation(value, {"g": 1})]
            seen_options.append(options)
            value += 1

    meter.create_observable_counter("cpu.time", [plain], unit="s")
    meter.create_observable_up_down_counter("threads", [lambda options: [Observation(-3)]])
    meter.create_observable_gauge("gen", [generator()])
    meter_provider.force_flush()
    meter_provider.force_flush()
    s = streams(path)
    assert s["cpu.time"]["aggregation"] == {"sum": {"aggregation_temporality": 2, "is_monotonic": True}}
    assert s["threads"]["aggregation"] == {"sum": {"aggregation_temporality": 2, "is_monotonic": False}}
    assert s["gen"]["aggregation"] == {"gauge": {}}
    agg = aggregate_metrics(path)
    # Cumulative: the latest totals, never added up.
    assert agg["cpu.time"]["points"] == {freeze({"cpu": "0"}): 20, freeze({"cpu": "1"}): 40}
    assert agg["threads"]["points"] == {(): -3}
    assert agg["gen"]["points"] == {freeze({"g": 1}): 2}  # primed with next(), then sent twice
    assert all(isinstance(o, CallbackOptions) and o.timeout_millis == 30000 for o in seen_options)


def test_failing_callbacks_are_logged_and_others_still_run(meter_provider: Any, meter: Any, path: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(options: CallbackOptions) -> List[Observation]:
        raise RuntimeError("callback broke")

    meter.create_observable_gauge("broken", [broken, lambda options: [Observation(1)]])
    meter_provider.force_flush()
    assert [m["value"] for m in read_all(path)["measurements"]] == [1]
    assert any("Callback failed" in r.getMessage() for r in caplog.records)


def test_collection_thread_runs_on_the_interval(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "50")
    provider = sdk.MeterProvider(path, shutdown_on_exit=False)
    calls = []
    event = threading.Event()

    def callback(options: CallbackOptions) -> List[Observation]:
        calls.append(threading.current_thread().name)
        if len(calls) >= 3:
            event.set()
        return [Observation(len(calls))]

    provider.get_meter("m").create_observable_gauge("g", [callback])
    assert event.wait(5)
    provider.shutdown()  # a last collection
    n = len(calls)
    time.sleep(0.2)
    assert len(calls) == n  # stopped
    assert calls[0] == "otlp_mmap-metrics"
    assert len(read_all(path)["measurements"]) == n


def test_duplicate_registration(meter: Any, path: str, sdk_warnings: pytest.LogCaptureFixture) -> None:
    a = meter.create_counter("Requests", unit="1", description="d")
    b = meter.create_counter("requests", unit="1", description="d")  # case-insensitive: the same
    assert a is b
    conflicting = meter.create_counter("requests", unit="ms", description="d")
    assert conflicting is not a
    other_kind = meter.create_histogram("requests")
    a.add(1)
    conflicting.add(2)
    other_kind.record(3)
    refs = {m["metric_ref"] for m in read_all(path)["measurements"]}
    assert len(refs) == 3  # three distinct streams
    assert sum("Duplicate instrument registration" in r.getMessage() for r in sdk_warnings.records) == 2
    h1 = meter.create_histogram("h", explicit_bucket_boundaries_advisory=[1, 2])
    assert meter.create_histogram("h", explicit_bucket_boundaries_advisory=[5]) is h1
    assert any("different advisory" in r.getMessage() for r in sdk_warnings.records)


def test_instrument_names_are_lower_case_and_invalid_names_still_record(
    meter: Any, path: str, sdk_warnings: pytest.LogCaptureFixture
) -> None:
    meter.create_counter("HTTP.Requests").add(1)
    meter.create_counter("1-bad name").add(1)
    assert set(streams(path)) == {"http.requests", "1-bad name"}
    assert any("is invalid" in r.getMessage() for r in sdk_warnings.records)


def test_measurements_carry_the_sampled_span_context(meter: Any, make_tracer: Any, path: str) -> None:
    tracer = make_tracer()
    counter = meter.create_counter("c")
    counter.add(1)  # no span
    with tracer.start_as_current_span("s") as span:
        counter.add(2)
    unsampled = make_tracer(sampler=sdk.ALWAYS_OFF)
    with unsampled.start_as_current_span("u"):
        counter.add(3)  # trace_based: no exemplar for an unsampled span
    from opentelemetry import trace

    counter.add(4, context=trace.set_span_in_context(span))
    ms = read_all(path)["measurements"]
    ctx = span.get_span_context()
    expected = {"trace_id": ctx.trace_id.to_bytes(16, "big"), "span_id": ctx.span_id.to_bytes(8, "big"), "flags": 3}
    assert [m["span_context"] for m in ms] == [None, expected, None, expected]


def test_exemplar_filter_always_off(path: str, make_tracer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_off")
    provider = sdk.MeterProvider(path, shutdown_on_exit=False)
    try:
        counter = provider.get_meter("m").create_counter("c")
        with make_tracer().start_as_current_span("s"):
            counter.add(1)
        assert read_all(path)["measurements"][0]["span_context"] is None
    finally:
        provider.shutdown()
        sdk.MeterProvider(path, shutdown_on_exit=False, exemplar_filter="trace_based").shutdown()


def test_shutdown_disables_instruments(path: str) -> None:
    provider = sdk.MeterProvider(path, shutdown_on_exit=False)
    meter = provider.get_meter("m")
    counter = meter.create_counter("c")
    counter.add(1)
    provider.shutdown()
    counter.add(1)
    assert len(read_all(path)["measurements"]) == 1
    assert isinstance(provider.get_meter("m"), metrics_api.NoOpMeter)


def test_concurrent_measurements_from_threads(meter: Any, path: str) -> None:
    counter = meter.create_counter("c")

    def work() -> None:
        for _ in range(400):
            counter.add(1, {"t": threading.current_thread().name})

    threads = [threading.Thread(target=work, name=f"w{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    points = aggregate_metrics(path)["c"]["points"]
    assert points == {freeze({"t": f"w{i}"}): 400 for i in range(4)}

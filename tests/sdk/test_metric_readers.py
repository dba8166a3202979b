"""MeterProvider(metric_readers=[...]): an official MetricReader gets what the official SDK would
give it for the same calls, and the file still gets everything."""

from __future__ import annotations

import logging
from typing import Any, List

import pytest
from opentelemetry.metrics import CallbackOptions, Observation

from test_views import official_normal, ours_normal, standard_calls

import otlp_mmap.sdk as sdk

official = pytest.importorskip("opentelemetry.sdk.metrics")
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader  # noqa: E402
from opentelemetry.sdk.metrics.view import DropAggregation, ExplicitBucketHistogramAggregation, View  # noqa: E402


def observable_calls(mp: Any) -> None:
    meter = mp.get_meter("obs", "1")
    state = {"n": 0}

    def total(options: CallbackOptions) -> List[Observation]:
        state["n"] += 10
        return [Observation(state["n"], {"k": "v"})]

    def gen() -> Any:
        options = yield
        while True:
            options = yield [Observation(3, {"g": "1"})]

    meter.create_observable_counter("obs.total", [total], unit="1")
    meter.create_observable_gauge("obs.gauge", [gen()])
    meter.create_observable_up_down_counter("obs.updown", [lambda o: [Observation(-2)]])


def all_calls(mp: Any) -> None:
    standard_calls(mp)
    observable_calls(mp)


def run_official(views: Any, calls: Any) -> Any:
    reader = InMemoryMetricReader()
    mp = official.MeterProvider(metric_readers=[reader], views=views, shutdown_on_exit=False)
    calls(mp)
    result = official_normal(reader)
    mp.shutdown()
    return result


@pytest.mark.parametrize(
    "views",
    [
        [],
        [
            View(instrument_name="http.requests", attribute_keys={"route"}, name="requests"),
            View(instrument_type=official.Histogram, aggregation=ExplicitBucketHistogramAggregation((1, 100))),
            View(instrument_name="obs.updown", aggregation=DropAggregation()),
        ],
    ],
    ids=["no views", "views"],
)
def test_in_memory_reader_gets_what_the_official_sdk_gives(path: str, views: Any) -> None:
    reader = InMemoryMetricReader()
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[reader], views=views)
    all_calls(mp)
    theirs = run_official(views, all_calls)
    assert official_normal(reader) == theirs
    # the file still gets every measurement (our own collection of the observables)
    mp.force_flush()
    file_side = ours_normal(path)
    expected = {k: v for k, v in theirs.items() if k != "obs.total"}
    assert {k: v for k, v in file_side.items() if k != "obs.total"} == expected
    assert set(file_side) == set(theirs)
    mp.shutdown()


def test_reader_sees_our_resource_and_scopes(path: str) -> None:
    reader = InMemoryMetricReader()
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[reader], service_name="svc")
    mp.get_meter("lib", "2.0", schema_url="https://s/1").create_counter("c").add(1)
    data = reader.get_metrics_data()
    (rm,) = data.resource_metrics
    assert dict(rm.resource.attributes) == dict(mp.resource.attributes)
    (sm,) = rm.scope_metrics
    assert (sm.scope.name, sm.scope.version, sm.scope.schema_url) == ("lib", "2.0", "https://s/1")
    mp.shutdown()


def test_force_flush_and_shutdown_reach_the_readers(path: str) -> None:
    class Recording(MetricReader):
        def __init__(self) -> None:
            super().__init__()
            self.events: List[str] = []

        def _receive_metrics(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> None:
            self.events.append("export")

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            self.events.append("shutdown")

    reader = Recording()
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[reader])
    mp.get_meter("m").create_counter("c").add(1)
    assert mp.force_flush()
    assert "export" in reader.events
    mp.shutdown()
    assert reader.events[-1] == "shutdown"


def test_only_a_provider_with_readers_pays(path: str, tmp_path: Any) -> None:
    plain = sdk.MeterProvider(str(tmp_path / "plain.mmap"), shutdown_on_exit=False)
    assert type(plain.get_meter("m").create_counter("c")).__module__ == "otlp_mmap._native"
    teed = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[InMemoryMetricReader()])
    assert type(teed.get_meter("m").create_counter("c")).__module__ != "otlp_mmap._native"
    plain.shutdown()
    teed.shutdown()


def test_a_reader_that_cannot_be_registered_never_raises(path: str, caplog: pytest.LogCaptureFixture) -> None:
    reader = InMemoryMetricReader()
    taken = official.MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    with caplog.at_level(logging.WARNING, logger="otlp_mmap.sdk"):
        mp = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[reader])
    assert any("metric readers could not be set up" in r.getMessage() for r in caplog.records)
    counter = mp.get_meter("m").create_counter("c")
    counter.add(1)
    assert type(counter).__module__ == "otlp_mmap._native"
    assert set(ours_normal(path)) == {"c"}
    mp.shutdown()
    taken.shutdown()


def test_a_failing_reader_instrument_never_raises(path: str, monkeypatch: Any) -> None:
    reader = InMemoryMetricReader()
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[reader])
    counter = mp.get_meter("m").create_counter("c")

    def boom(*args: Any) -> None:
        raise RuntimeError("reader broke")

    monkeypatch.setattr(counter, "_twin", boom)
    counter.add(1)
    counter.add(1)
    assert ours_normal(path)["c"]["points"] == {(): 2}
    mp.shutdown()


def test_readers_keep_working_without_a_usable_file(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    reader = InMemoryMetricReader()
    mp = sdk.MeterProvider(str(tmp_path / "no" / "such" / "dir.mmap"), shutdown_on_exit=False, metric_readers=[reader])
    assert mp.disabled and mp.setup_error
    mp.get_meter("m").create_counter("c").add(2, {"k": "v"})
    assert official_normal(reader)["c"]["points"] == {(("k", "v"),): 2}
    mp.shutdown()


def test_sdk_disabled_means_readers_get_nothing(path: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    reader = InMemoryMetricReader()
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[reader])
    mp.get_meter("m").create_counter("c").add(2)
    assert reader.get_metrics_data() is None or official_normal(reader) == {}
    mp.shutdown()


def test_prometheus_reader(path: str) -> None:
    # A hard dependency of the dev environment (requirements-dev.txt): never skipped.
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import REGISTRY

    reader = PrometheusMetricReader()
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, metric_readers=[reader])
    mp.get_meter("m").create_counter("prom_requests").add(3, {"route": "/a"})
    # The exporter adds the scope as otel_scope_* labels, as it does for the official SDK.
    labels = {"otel_scope_name": "m", "otel_scope_schema_url": "", "otel_scope_version": "", "route": "/a"}
    assert REGISTRY.get_sample_value("prom_requests_total", labels) == 3
    mp.shutdown()

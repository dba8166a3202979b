"""MeterProvider(views=[View(...)]): each feature read back from the file, and compared with the
official SDK given the same views and calls (InMemoryMetricReader)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence

import pytest
from opentelemetry import metrics as metrics_api
from opentelemetry.metrics import CallbackOptions, Observation

from sdk_support import aggregate_metrics, freeze

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader
from otlp_mmap.sdk.metrics import DEFAULT_BUCKET_BOUNDARIES

official = pytest.importorskip("opentelemetry.sdk.metrics")
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.metrics.view import (  # noqa: E402
    DefaultAggregation,
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    LastValueAggregation,
    SumAggregation,
    View,
)

# ------------------------------------------------------------------ normal forms


def ours_normal(path: str) -> Dict[str, Dict[str, Any]]:
    """What the collector would aggregate from the file, in a form comparable with the
    official SDK's output."""
    result: Dict[str, Dict[str, Any]] = {}
    for name, entry in aggregate_metrics(path).items():
        stream = entry["stream"]
        ((kind, params),) = stream["aggregation"].items()
        points: Dict[Any, Any] = {}
        for key, p in entry["points"].items():
            points[key] = (tuple(p["counts"]), p["sum"], p["count"], p["min"], p["max"]) if kind == "histogram" else p
        result[name] = {
            "unit": stream["unit"],
            "description": stream["description"],
            "kind": kind,
            "monotonic": params.get("is_monotonic"),
            "bounds": tuple(params["bucket_boundaries"]) if kind == "histogram" else None,
            "points": points,
        }
    return result


def official_normal(reader: Any) -> Dict[str, Dict[str, Any]]:
    result: Dict[str, Dict[str, Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = {"Sum": "sum", "Gauge": "gauge", "Histogram": "histogram"}.get(
                    type(metric.data).__name__, type(metric.data).__name__
                )
                points: Dict[Any, Any] = {}
                bounds = None
                for dp in metric.data.data_points:
                    key = freeze(dict(dp.attributes or {}))
                    if kind == "histogram":
                        bounds = tuple(dp.explicit_bounds)
                        points[key] = (tuple(dp.bucket_counts), dp.sum, dp.count, dp.min, dp.max)
                    else:
                        points[key] = dp.value
                assert metric.name not in result, metric.name
                result[metric.name] = {
                    "unit": metric.unit,
                    "description": metric.description,
                    "kind": kind,
                    "monotonic": getattr(metric.data, "is_monotonic", None),
                    "bounds": bounds,
                    "points": points,
                }
    return result


def both(path: str, views: Sequence[Any], calls: Callable[[Any], None]) -> Any:
    """Runs `calls(meter_provider)` on ours (into `path`) and on the official SDK; both normal forms."""
    ours = sdk.MeterProvider(path, shutdown_on_exit=False, views=views, exemplar_filter="always_off")
    calls(ours)
    ours.force_flush()
    reader = InMemoryMetricReader()
    theirs = official.MeterProvider(metric_readers=[reader], views=views, shutdown_on_exit=False)
    calls(theirs)
    result = ours_normal(path), official_normal(reader)
    ours.shutdown()
    theirs.shutdown()
    return result


def streams(path: str) -> Dict[str, Dict[str, Any]]:
    with Reader(path, read_only=True) as r:
        refs = {m["metric_ref"] for m in r.peek("measurements", 100_000)}
        return {s["name"]: s for s in (r.read_metric_stream(ref) for ref in refs)}


def standard_calls(mp: Any) -> None:
    meter = mp.get_meter("lib.http", "1.2")
    other = mp.get_meter("lib.db", "0.1")
    requests = meter.create_counter("http.requests", unit="1", description="Requests")
    for route, n in (("/a", 1), ("/a", 2), ("/b", 5)):
        requests.add(n, {"route": route, "method": "GET", "user": route + "u"})
    meter.create_up_down_counter("http.active", unit="1").add(3, {"route": "/a"})
    latency = meter.create_histogram("http.latency", unit="ms", description="Latency")
    for v in (0.5, 3, 7, 42, 120, 20000):
        latency.record(v, {"route": "/a", "method": "GET"})
    other.create_counter("db.calls", unit="1").add(4, {"table": "t"})
    other.create_histogram("db.rows", unit="{row}").record(12, {"table": "t"})
    other.create_gauge("db.pool", unit="1").set(7, {"pool": "p"})


# ------------------------------------------------------------------ each feature


def test_no_views_same_as_official(path: str) -> None:
    ours, theirs = both(path, [], standard_calls)
    assert ours == theirs


def test_rename_and_description(path: str) -> None:
    views = [View(instrument_name="http.requests", name="requests_total", description="All requests")]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert "http.requests" not in ours and ours["requests_total"]["description"] == "All requests"


def test_rename_keeps_the_case_of_the_view_name(path: str) -> None:
    def calls(mp: Any) -> None:
        mp.get_meter("m").create_counter("My.Counter").add(1)
        mp.get_meter("m").create_counter("other").add(1)

    ours, theirs = both(path, [View(instrument_name="other", name="Renamed.Total")], calls)
    assert ours == theirs and set(ours) == {"my.counter", "Renamed.Total"}


def test_rename_keeps_the_native_fast_path(path: str) -> None:
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, views=[View(instrument_name="c", name="d")])
    counter = mp.get_meter("m").create_counter("c")
    assert type(counter).__module__ == "otlp_mmap._native"  # no Python layer for a rename
    counter.add(2)
    assert set(streams(path)) == {"d"}
    mp.shutdown()


def test_wildcard_name_and_aggregation_change(path: str) -> None:
    views = [View(instrument_name="http.*", aggregation=LastValueAggregation())]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert {n for n, m in ours.items() if m["kind"] == "gauge"} == {"http.requests", "http.active", "http.latency", "db.pool"}


def test_question_mark_wildcard_and_case(path: str) -> None:
    views = [View(instrument_name="DB.????", aggregation=SumAggregation())]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert ours["db.rows"]["kind"] == "sum" and ours["db.pool"]["kind"] == "sum"


def test_instrument_type_selects_and_explicit_boundaries(path: str) -> None:
    views = [View(instrument_type=official.Histogram, aggregation=ExplicitBucketHistogramAggregation((1, 10, 100)))]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert ours["http.latency"]["bounds"] == (1.0, 10.0, 100.0)
    assert ours["db.rows"]["bounds"] == (1.0, 10.0, 100.0)


def test_api_instrument_type_selects_too(path: str) -> None:
    views = [View(instrument_type=metrics_api.UpDownCounter, aggregation=DropAggregation())]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs and "http.active" not in ours


def test_unit_selects(path: str) -> None:
    views = [View(instrument_unit="ms", aggregation=ExplicitBucketHistogramAggregation((10.0,)))]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert ours["http.latency"]["bounds"] == (10.0,) and ours["db.rows"]["bounds"] == DEFAULT_BUCKET_BOUNDARIES


def test_meter_name_and_version_select(path: str) -> None:
    views = [
        View(meter_name="lib.db", instrument_name="db.calls", name="db.calls.renamed"),
        View(meter_name="lib.http", meter_version="9.9", instrument_name="http.requests", name="never"),
    ]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert "db.calls.renamed" in ours and "never" not in ours and "http.requests" in ours


def test_meter_schema_url_selects(path: str) -> None:
    def calls(mp: Any) -> None:
        mp.get_meter("a", schema_url="https://s/1").create_counter("x").add(1)
        mp.get_meter("b", schema_url="https://s/2").create_counter("y").add(1)

    views = [View(meter_schema_url="https://s/1", aggregation=DropAggregation())]
    ours, theirs = both(path, views, calls)
    assert ours == theirs and set(ours) == {"y"}


def test_attribute_keys_filter(path: str) -> None:
    views = [
        View(instrument_name="http.requests", attribute_keys={"route"}),
        View(instrument_name="http.latency", attribute_keys=set()),
    ]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert set(ours["http.requests"]["points"]) == {(("route", "/a"),), (("route", "/b"),)}
    assert ours["http.requests"]["points"][(("route", "/a"),)] == 3
    assert set(ours["http.latency"]["points"]) == {()}
    # instruments without such a view keep every attribute, on the native path
    assert set(ours["db.calls"]["points"]) == {(("table", "t"),)}


def test_attribute_filter_only_where_a_view_asks(path: str) -> None:
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, views=[View(instrument_name="a", attribute_keys={"k"})])
    meter = mp.get_meter("m")
    assert type(meter.create_counter("b")).__module__ == "otlp_mmap._native"
    filtered = meter.create_counter("a")
    assert isinstance(filtered, metrics_api.Counter) and type(filtered).__module__ != "otlp_mmap._native"
    mp.shutdown()


def test_drop_gives_a_no_op_instrument(path: str) -> None:
    views = [View(instrument_name="*", aggregation=DropAggregation()), View(instrument_name="db.calls")]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs and set(ours) == {"db.calls"}
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, views=[View(instrument_name="gone", aggregation=DropAggregation())])
    meter = mp.get_meter("m")
    assert isinstance(meter.create_counter("gone"), metrics_api.NoOpCounter)
    calls: List[int] = []
    gauge = meter.create_observable_gauge("gone", [lambda o: calls.append(1) or [Observation(1)]])
    assert isinstance(gauge, metrics_api.NoOpObservableGauge)
    mp.force_flush()
    assert calls == []  # a dropped observable's callback never runs
    mp.shutdown()


def test_sum_of_a_histogram_and_last_value_of_a_counter(path: str) -> None:
    views = [
        View(instrument_name="http.latency", aggregation=SumAggregation()),
        View(instrument_name="http.requests", aggregation=LastValueAggregation()),
        View(instrument_name="db.pool", aggregation=DefaultAggregation()),
    ]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert ours["http.latency"]["kind"] == "sum" and ours["http.latency"]["monotonic"] is False
    assert ours["http.requests"]["points"][freeze({"route": "/b", "method": "GET", "user": "/bu"})] == 5


def test_exponential_histogram_stream(path: str) -> None:
    views = [View(instrument_name="h", aggregation=ExponentialBucketHistogramAggregation(max_size=64, max_scale=5))]
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, views=views)
    mp.get_meter("m").create_histogram("h", unit="s").record(1.5)
    assert streams(path)["h"]["aggregation"] == {
        "exp_histogram": {"aggregation_temporality": 1, "max_buckets": 64, "max_scale": 5}
    }
    mp.shutdown()


def test_two_matching_views_give_two_streams(path: str) -> None:
    views = [
        View(instrument_name="http.latency", name="latency.coarse", aggregation=ExplicitBucketHistogramAggregation((100,))),
        View(instrument_name="http.latency", name="latency.by_route", attribute_keys={"route"}),
    ]
    ours, theirs = both(path, views, standard_calls)
    assert ours == theirs
    assert ours["latency.coarse"]["bounds"] == (100.0,) and ours["latency.by_route"]["bounds"] == DEFAULT_BUCKET_BOUNDARIES


def test_views_on_observable_instruments(path: str) -> None:
    def calls(mp: Any) -> None:
        meter = mp.get_meter("obs")

        def cpu(options: CallbackOptions) -> List[Observation]:
            return [Observation(1.5, {"cpu": "0", "mode": "user"}), Observation(2.5, {"cpu": "1", "mode": "user"})]

        meter.create_observable_counter("cpu.time", [cpu], unit="s")
        meter.create_observable_gauge("mem", [lambda o: [Observation(10, {"kind": "rss", "pid": 1})]], unit="By")
        meter.create_observable_up_down_counter("threads", [lambda o: [Observation(4, {"p": "x"})]])

    views = [
        View(instrument_name="cpu.time", attribute_keys={"cpu"}, name="cpu.seconds"),
        View(instrument_name="mem", attribute_keys={"kind"}),
        View(instrument_name="threads", aggregation=DropAggregation()),
    ]
    ours, theirs = both(path, views, calls)
    assert ours == theirs
    assert set(ours) == {"cpu.seconds", "mem"}


def test_observations_merged_by_the_attribute_filter(path: str) -> None:
    def calls(mp: Any) -> None:
        meter = mp.get_meter("obs")
        two = [Observation(1, {"cpu": "0", "mode": "u"}), Observation(2, {"cpu": "0", "mode": "s"}), Observation(5, {"cpu": "1", "mode": "u"})]
        meter.create_observable_counter("cpu", [lambda o: two])
        meter.create_observable_up_down_counter("ud", [lambda o: two])
        meter.create_observable_gauge("g", [lambda o: two])

    ours, theirs = both(path, [View(instrument_name="*", attribute_keys={"cpu"})], calls)
    assert ours == theirs
    assert ours["cpu"]["points"] == {(("cpu", "0"),): 3, (("cpu", "1"),): 5}  # summed, as the official SDK
    assert ours["g"]["points"] == {(("cpu", "0"),): 2, (("cpu", "1"),): 5}  # the last one


def test_advisory_boundaries_with_a_view_that_does_not_set_them(path: str) -> None:
    def calls(mp: Any) -> None:
        h = mp.get_meter("m").create_histogram("adv", explicit_bucket_boundaries_advisory=[1, 2, 3])
        for v in (0.5, 2.5, 9):
            h.record(v, {"a": 1, "b": 2})

    views = [View(instrument_name="adv", aggregation=ExplicitBucketHistogramAggregation(), attribute_keys={"a"})]
    ours, theirs = both(path, views, calls)
    assert ours == theirs and ours["adv"]["bounds"] == (1.0, 2.0, 3.0)


def test_bad_views_never_raise(path: str, caplog: pytest.LogCaptureFixture) -> None:
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, views=["not a view", View(instrument_name="c", name="d")])
    mp.get_meter("m").create_counter("c").add(1)
    assert set(streams(path)) == {"d"}
    assert any("not an opentelemetry.sdk.metrics.view.View" in r.getMessage() for r in caplog.records)
    mp.shutdown()


def test_views_survive_fork_recreation(path: str) -> None:
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, views=[
        View(instrument_name="c", name="c1"), View(instrument_name="c", name="c2", attribute_keys=set())
    ])
    counter = mp.get_meter("m").create_counter("c")
    mp._after_fork()  # pylint: disable=protected-access  (what a forked child does)
    counter.add(1, {"k": "v"})
    s = aggregate_metrics(path)
    assert s["c1"]["points"] == {(("k", "v"),): 1} and s["c2"]["points"] == {(): 1}
    mp.shutdown()
    counter.add(1)
    assert aggregate_metrics(path) == {}

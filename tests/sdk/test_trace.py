"""Tracing through the opentelemetry-api on otlp_mmap.sdk, read back from the file."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sdk_support import merge_spans, read_all, spans_by_name

import otlp_mmap.sdk as sdk
from otlp_mmap import _native

SAMPLED_FLAGS = 0x01 | 0x02 | 0x100  # sampled, random trace id, is-remote known (local parent)


def test_native_types_are_api_types(tracer: Any) -> None:
    assert isinstance(tracer, trace.Tracer)
    span = tracer.start_span("s")
    assert isinstance(span, trace.Span)
    assert isinstance(span, _native.Span)
    span.end()


def test_start_as_current_span_writes_start_and_end(tracer: Any, path: str) -> None:
    with tracer.start_as_current_span("op", attributes={"a": 1, "b": "x", "c": 2.5, "d": True, "e": ["p", "q"]}) as s:
        assert trace.get_current_span() is s
        assert s.is_recording()
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert not s.is_recording()
    records = read_all(path)["spans"]
    assert [r["type"] for r in records] == ["start", "end"]
    start, end = records
    ctx = s.get_span_context()
    assert start["trace_id"] == ctx.trace_id.to_bytes(16, "big")
    assert start["span_id"] == ctx.span_id.to_bytes(8, "big")
    assert start["parent_span_id"] == b""
    assert start["name"] == "op"
    assert start["kind"] == 1  # INTERNAL
    assert start["flags"] == SAMPLED_FLAGS
    assert start["attributes"] == {"a": 1, "b": "x", "c": 2.5, "d": True, "e": ["p", "q"]}
    assert end["status"] is None
    assert start["start_time_unix_nano"] <= end["end_time_unix_nano"]
    assert s.start_time == start["start_time_unix_nano"] and s.end_time == end["end_time_unix_nano"]


def test_children_inherit_the_trace_from_the_current_context(tracer: Any, path: str) -> None:
    with tracer.start_as_current_span("parent") as parent:
        with tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
            grandchild = tracer.start_span("grandchild")  # parent from the current context
            grandchild.end()
        explicit = tracer.start_span("explicit", context=trace.set_span_in_context(child))
        explicit.end()
        root = tracer.start_span("root", context=context_api.Context())  # an empty context: no parent
        root.end()
    spans = spans_by_name(path)
    trace_id = parent.get_span_context().trace_id.to_bytes(16, "big")
    assert spans["parent"]["parent_span_id"] is None
    assert spans["child"]["parent_span_id"] == spans["parent"]["span_id"]
    assert spans["grandchild"]["parent_span_id"] == spans["child"]["span_id"]
    assert spans["explicit"]["parent_span_id"] == spans["child"]["span_id"]
    assert spans["root"]["parent_span_id"] is None and spans["root"]["trace_id"] != trace_id
    for name in ("parent", "child", "grandchild", "explicit"):
        assert spans[name]["trace_id"] == trace_id
    assert spans["child"]["kind"] == 3  # CLIENT
    assert child.parent.span_id == parent.get_span_context().span_id


def test_every_span_method(tracer: Any, path: str) -> None:
    other = tracer.start_span("other")
    other.end()
    link_ctx = other.get_span_context()
    span = tracer.start_span(
        "first-name",
        kind=SpanKind.SERVER,
        attributes={"start": 1},
        links=[Link(link_ctx, {"why": "batch"})],
        start_time=1_000,
    )
    span.set_attribute("k", "v")
    span.set_attributes({"n": 2, "start": 10})  # replaces the start value
    span.set_attribute("k", "v2")  # last value wins
    span.add_event("ev", {"e": 1}, timestamp=2_000)
    span.add_event("ev2")
    span.add_link(link_ctx, {"late": True})
    span.update_name("second-name")
    span.set_status(Status(StatusCode.ERROR, "broken"))
    try:
        raise KeyError("missing")
    except KeyError as exc:
        span.record_exception(exc, attributes={"extra": 1}, timestamp=3_000, escaped=True)
    span.end(end_time=5_000)
    span.end(end_time=6_000)  # idempotent
    span.set_attribute("after", "end")  # ignored
    got = merge_spans(read_all(path)["spans"])[span.get_span_context().span_id.to_bytes(8, "big")]
    assert got["name"] == "second-name"
    assert got["kind"] == 2
    assert got["start"] == 1_000 and got["end"] == 5_000
    assert got["attributes"] == {"start": 10, "k": "v2", "n": 2}
    assert got["status"] == {"code": 2, "message": "broken"}
    assert [e["name"] for e in got["events"]] == ["ev", "ev2", "exception"]
    assert got["events"][0]["time"] == 2_000 and got["events"][0]["attributes"] == {"e": 1}
    exc_event = got["events"][2]
    assert exc_event["time"] == 3_000
    attrs = exc_event["attributes"]
    assert attrs["exception.type"] == "KeyError"
    assert attrs["exception.message"] == "'missing'"
    assert "raise KeyError" in attrs["exception.stacktrace"]
    assert attrs["exception.escaped"] == "True" and attrs["extra"] == 1
    other_ids = (link_ctx.trace_id.to_bytes(16, "big"), link_ctx.span_id.to_bytes(8, "big"))
    assert [(l["trace_id"], l["span_id"]) for l in got["links"]] == [other_ids, other_ids]
    assert [l["attributes"] for l in got["links"]] == [{"why": "batch"}, {"late": True}]
    assert got["links"][0]["flags"] == SAMPLED_FLAGS
    assert got["records"] == ["start", "link", "add_event", "add_event", "link", "add_event", "name", "attributes", "end"]


def test_status_semantics(tracer: Any, path: str) -> None:
    a = tracer.start_span("ok-is-final")
    a.set_status(StatusCode.OK)
    a.set_status(StatusCode.ERROR, "later")
    a.end()
    b = tracer.start_span("unset-ignored")
    b.set_status(StatusCode.ERROR, "first")
    b.set_status(Status(StatusCode.UNSET))
    b.end()
    c = tracer.start_span("description-only-with-error")
    c.set_status(StatusCode.OK, "ignored")
    c.end()
    d = tracer.start_span("status-object-ok")
    d.set_status(Status(StatusCode.OK))
    d.end()
    spans = spans_by_name(path)
    assert spans["ok-is-final"]["status"] == {"code": 1, "message": ""}
    assert spans["unset-ignored"]["status"] == {"code": 2, "message": "first"}
    assert spans["description-only-with-error"]["status"] == {"code": 1, "message": ""}
    assert spans["status-object-ok"]["status"] == {"code": 1, "message": ""}
    assert a.status.status_code is StatusCode.OK


def test_exception_through_start_as_current_span(tracer: Any, path: str) -> None:
    with pytest.raises(ValueError):
        with tracer.start_as_current_span("fails"):
            raise ValueError("boom")
    with pytest.raises(ValueError):
        with tracer.start_as_current_span("no-record", record_exception=False, set_status_on_exception=False):
            raise ValueError("quiet")
    with pytest.raises(KeyboardInterrupt):  # not an Exception: the span just ends (as use_span)
        with tracer.start_as_current_span("interrupted"):
            raise KeyboardInterrupt
    with pytest.raises(RuntimeError):
        with tracer.start_span("span-as-cm"):  # the span's own __exit__: escaped=True
            raise RuntimeError("direct")
    spans = spans_by_name(path)
    fails = spans["fails"]
    assert fails["status"] == {"code": 2, "message": "ValueError: boom"}
    assert [e["name"] for e in fails["events"]] == ["exception"]
    assert fails["events"][0]["attributes"]["exception.escaped"] == "False"
    assert fails["events"][0]["attributes"]["exception.message"] == "boom"
    assert spans["no-record"]["status"] is None and spans["no-record"]["events"] == []
    assert spans["interrupted"]["status"] is None and spans["interrupted"]["end"] is not None
    direct = spans["span-as-cm"]
    assert direct["status"] == {"code": 2, "message": "RuntimeError: direct"}
    assert direct["events"][0]["attributes"]["exception.escaped"] == "True"


def test_use_span_from_the_api(tracer: Any, path: str) -> None:
    span = tracer.start_span("used")
    with pytest.raises(ZeroDivisionError):
        with trace.use_span(span, end_on_exit=True):
            assert trace.get_current_span() is span
            1 / 0  # noqa: B018
    got = spans_by_name(path)["used"]
    assert got["status"]["code"] == 2 and got["status"]["message"].startswith("ZeroDivisionError")
    assert got["events"][0]["name"] == "exception"


def test_end_on_exit_false_and_decorator(tracer: Any, path: str) -> None:
    with tracer.start_as_current_span("kept-open", end_on_exit=False) as open_span:
        pass
    assert open_span.is_recording()
    open_span.end()

    @tracer.start_as_current_span("decorated")
    def work(x: int) -> int:
        assert trace.get_current_span().name == "decorated"
        return x * 2

    assert work(2) == 4 and work(3) == 6

    @tracer.start_as_current_span("async-decorated")
    async def awork() -> str:
        await asyncio.sleep(0)
        return trace.get_current_span().name

    assert asyncio.run(awork()) == "async-decorated"
    spans = merge_spans(read_all(path)["spans"])
    names = sorted(s["name"] for s in spans.values())
    assert names == ["async-decorated", "decorated", "decorated", "kept-open"]
    assert all(s["end"] is not None for s in spans.values())


def test_trace_state_and_remote_parent_through_w3c(tracer: Any, path: str) -> None:
    propagator = TraceContextTextMapPropagator()
    carrier = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=abc,other=1",
    }
    ctx = propagator.extract(carrier)
    with tracer.start_as_current_span("server", context=ctx, kind=SpanKind.SERVER) as server:
        with tracer.start_as_current_span("inner") as inner:
            out: dict = {}
            propagator.inject(out)
    assert out["traceparent"] == f"00-0af7651916cd43dd8448eb211c80319c-{inner.get_span_context().span_id:016x}-01"
    assert out["tracestate"] == "vendor=abc,other=1"
    spans = spans_by_name(path)
    assert spans["server"]["trace_id"] == bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    assert spans["server"]["parent_span_id"] == bytes.fromhex("b7ad6b7169203331")
    assert spans["server"]["flags"] == 0x01 | 0x100 | 0x200  # sampled, parent remote; no random bit
    assert spans["server"]["trace_state"] == "vendor=abc,other=1"
    assert spans["inner"]["trace_state"] == "vendor=abc,other=1"
    assert spans["inner"]["flags"] == 0x01 | 0x100
    assert server.get_span_context().trace_state.get("vendor") == "abc"


@pytest.mark.parametrize(
    "sampler, arg, parent_flags, expected",
    [
        ("always_on", None, None, True),
        ("always_off", None, None, False),
        ("traceidratio", "0", None, False),
        ("traceidratio", "1", None, True),
        ("parentbased_always_on", None, "00", False),
        ("parentbased_always_on", None, "01", True),
        ("parentbased_always_off", None, None, False),
        ("parentbased_always_off", None, "01", True),
        ("always_on", None, "00", True),
        ("nonsense", None, None, True),  # unknown: parentbased_always_on, with a warning
    ],
)
def test_samplers_from_the_environment(
    make_tracer: Any, path: str, monkeypatch: pytest.MonkeyPatch, sampler: str, arg: Any, parent_flags: Any,
    expected: bool,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    if arg is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    tracer = make_tracer()
    ctx = None
    if parent_flags is not None:
        ctx = TraceContextTextMapPropagator().extract(
            {"traceparent": f"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{parent_flags}"}
        )
    with tracer.start_as_current_span("s", context=ctx) as span:
        with tracer.start_as_current_span("child") as child:
            pass
    assert span.get_span_context().trace_flags.sampled == expected
    assert child.get_span_context().trace_id == span.get_span_context().trace_id  # context still propagates
    assert span.is_recording() is False  # ended
    written = read_all(path)["spans"]
    assert bool(written) == expected


def test_unsampled_span_writes_nothing_but_propagates(make_tracer: Any, path: str) -> None:
    tracer = make_tracer(sampler=sdk.ALWAYS_OFF)
    with tracer.start_as_current_span("dropped", attributes={"a": 1}) as span:
        assert not span.is_recording()
        span.set_attribute("x", 1)
        span.add_event("e")
        carrier: dict = {}
        TraceContextTextMapPropagator().inject(carrier)
    assert carrier["traceparent"].endswith("-02")  # not sampled, random trace id
    assert read_all(path)["spans"] == []


def test_trace_id_ratio_decides_by_the_low_64_bits(make_tracer: Any) -> None:
    tracer = make_tracer(sampler=sdk.TraceIdRatioBased(0.5))
    decisions = []
    for _ in range(2000):
        span = tracer.start_span("s")
        ctx = span.get_span_context()
        decisions.append((ctx.trace_id & (2**64 - 1) < 2**63, ctx.trace_flags.sampled))
        span.end()
    assert all(expected == got for expected, got in decisions)
    assert 800 < sum(got for _, got in decisions) < 1200


def test_custom_sampler_object(make_tracer: Any, path: str) -> None:
    from opentelemetry.sdk.trace.sampling import Decision, SamplingResult  # the official SDK's types

    class OnlyNamed:
        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None) -> SamplingResult:
            if name == "keep":
                return SamplingResult(Decision.RECORD_AND_SAMPLE, {"sampler": "yes"})
            return SamplingResult(Decision.DROP)

    tracer = make_tracer(sampler=OnlyNamed())
    tracer.start_span("keep", attributes={"original": 1}).end()
    tracer.start_span("drop").end()
    spans = spans_by_name(path)
    assert list(spans) == ["keep"]
    assert spans["keep"]["attributes"] == {"sampler": "yes"}


def test_span_limits_from_the_environment(make_tracer: Any, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "1")
    monkeypatch.setenv("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "1")
    monkeypatch.setenv("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "1")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
    tracer = make_tracer()
    other = tracer.start_span("other")
    other.end()
    ctx = other.get_span_context()
    span = tracer.start_span("limited", attributes={"a": "abcdefgh", "b": ["long-1", "x"], "c": 1, "d": 2},
                             links=[Link(ctx, {"x": 1, "y": 2}), Link(ctx)])
    span.set_attribute("a", "replaced-ok")  # an existing key: allowed
    span.set_attribute("e", 5)  # a fourth key: dropped
    for i in range(3):
        span.add_event(f"ev{i}", {"p": 1, "q": 2})
    span.add_link(ctx)
    span.end()
    got = spans_by_name(path)["limited"]
    assert got["attributes"] == {"a": "repl", "b": ["long", "x"], "c": 1}
    assert got["dropped_attributes_count"] == 2  # d at start, e later
    assert [e["name"] for e in got["events"]] == ["ev0", "ev1"]
    assert all(len(e["attributes"]) == 1 and e["dropped_attributes_count"] == 1 for e in got["events"])
    assert got["dropped_events_count"] == 1
    assert len(got["links"]) == 1 and got["links"][0]["dropped_attributes_count"] == 1
    assert got["dropped_links_count"] == 2
    assert span.dropped_attributes == 2 and span.dropped_events == 1 and span.dropped_links == 2


def test_global_attribute_limits_apply_to_spans(make_tracer: Any, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3")
    tracer = make_tracer()
    span = tracer.start_span("s", attributes={"a": "héllo wörld", "b": 1, "c": 2})
    span.add_event("e", {"x": "12345", "y": 1, "z": 2})
    span.end()
    got = spans_by_name(path)["s"]
    assert got["attributes"] == {"a": "hél", "b": 1}  # characters, not bytes
    assert got["events"][0]["attributes"] == {"x": "123", "y": 1}


def test_bad_attributes_are_dropped_with_one_warning_and_counted(
    tracer: Any, path: str, sdk_warnings: pytest.LogCaptureFixture
) -> None:
    before = sdk.counters()["invalid_attributes"]
    with tracer.start_as_current_span("s", attributes={"ok": 1, "bad": object(), "big": 2**70, 5: "int key"}) as s:
        s.set_attribute("also-bad", object())
        s.set_attribute("", 1)
        s.set_attribute("fine", {"nested": [1, 2], "none": None})
    got = spans_by_name(path)["s"]
    assert got["attributes"] == {"ok": 1, "fine": {"nested": [1, 2], "none": None}}
    assert got["dropped_attributes_count"] == 5
    assert sdk.counters()["invalid_attributes"] - before == 5
    value_warnings = [r for r in sdk_warnings.records if "Invalid value" in r.getMessage()]
    key_warnings = [r for r in sdk_warnings.records if "Invalid attribute key" in r.getMessage()]
    assert len(value_warnings) == 1 and len(key_warnings) == 1


def test_non_dict_mappings_and_sequences_are_accepted(tracer: Any, path: str) -> None:
    from types import MappingProxyType

    with tracer.start_as_current_span("s", attributes=MappingProxyType({"m": 1})) as s:
        s.set_attribute("r", range(3))
        s.set_attributes(MappingProxyType({"t": (1, 2)}))
    got = spans_by_name(path)["s"]
    assert got["attributes"] == {"m": 1, "r": [0, 1, 2], "t": [1, 2]}


def test_telemetry_never_raises(tracer: Any) -> None:
    span = tracer.start_span(None)  # type: ignore[arg-type]
    span.set_status("not a status")  # type: ignore[arg-type]
    span.add_link("not a context")  # type: ignore[arg-type]
    span.add_event(123, attributes="nope")  # type: ignore[arg-type]
    span.end(end_time="soon")  # type: ignore[arg-type]
    tracer.start_span("s", links=[object()], kind="weird", start_time=-5).end()  # type: ignore[list-item]
    with tracer.start_as_current_span("s", attributes=[1, 2]):  # type: ignore[arg-type]
        pass


def test_ids_are_random_and_never_zero(tracer: Any) -> None:
    seen = set()
    for _ in range(2000):
        ctx = tracer.start_span("s").get_span_context()
        assert ctx.trace_id != 0 and ctx.span_id != 0 and ctx.is_valid
        seen.add(ctx.span_id)
    assert len(seen) == 2000


def test_threads_keep_their_own_current_span(tracer: Any, path: str) -> None:
    errors = []

    def worker(i: int) -> None:
        try:
            for j in range(100):
                with tracer.start_as_current_span(f"t{i}-{j}") as parent:
                    with tracer.start_as_current_span(f"t{i}-{j}-child") as child:
                        assert trace.get_current_span() is child
                        assert child.parent.span_id == parent.get_span_context().span_id
                    assert trace.get_current_span() is parent
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    spans = merge_spans(read_all(path)["spans"])
    assert len(spans) == 4 * 100 * 2
    by_name = {s["name"]: s for s in spans.values()}
    for name, span in by_name.items():
        assert span["end"] is not None
        if name.endswith("-child"):
            assert span["parent_span_id"] == by_name[name[: -len("-child")]]["span_id"]


def test_shutdown_stops_recording(make_tracer: Any, path: str) -> None:
    provider = sdk.TracerProvider(path, shutdown_on_exit=False)
    tracer = provider.get_tracer("x")
    with tracer.start_as_current_span("before") as parent:
        assert provider.force_flush()
        provider.shutdown()
        with tracer.start_as_current_span("after") as child:  # keeps the parent's context only
            assert not child.is_recording()
            assert child.get_span_context().span_id == parent.get_span_context().span_id
    provider.shutdown()  # twice is fine
    assert isinstance(provider.get_tracer("y"), trace.NoOpTracer)
    assert list(spans_by_name(path)) == ["before"]


def test_get_tracer_caches_by_scope(path: str) -> None:
    provider = sdk.TracerProvider(path, shutdown_on_exit=False)
    a = provider.get_tracer("lib", "1.0", attributes={"k": "v"})
    assert provider.get_tracer("lib", "1.0", attributes={"k": "v"}) is a
    b = provider.get_tracer("lib", "2.0", schema_url="https://opentelemetry.io/schemas/1.21.0")
    assert b is not a
    b.start_span("s").end()
    from otlp_mmap import Reader

    with Reader(path) as r:
        scope = r.read_scope(r.read_all()["spans"][0]["scope_ref"])
        resource = r.read_resource(scope["resource_ref"])
    assert scope["name"] == "lib" and scope["version"] == "2.0"
    assert scope["schema_url"] == "https://opentelemetry.io/schemas/1.21.0"
    assert resource["attributes"]["telemetry.sdk.name"] == "otlp-mmap"
    provider.shutdown()

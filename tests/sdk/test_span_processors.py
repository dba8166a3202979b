"""TracerProvider.add_span_processor with the official SDK's semantics: custom processors get
on_start(span, parent_context) and on_end(ReadableSpan) with every field; the official
SimpleSpanProcessor / BatchSpanProcessor with an official exporter are extra outputs whose
spans match, field by field, what the official SDK's TracerProvider gives for the same
calls; a processor never breaks the application; the file still receives every span."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from sdk_support import merge_spans, read_all, spans_by_name

from opentelemetry import trace as trace_api

import otlp_mmap.sdk as sdk

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.resources import Resource as SdkResource  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

SCHEMA = "https://opentelemetry.io/schemas/1.21.0"


class Recorder:
    """A custom processor: keeps what it is given."""

    def __init__(self) -> None:
        self.started: List[Tuple[Any, Any]] = []
        self.ended: List[Any] = []
        self.flushes: List[int] = []
        self.shutdowns = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started.append((span, parent_context))

    def on_end(self, span: Any) -> None:
        self.ended.append(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flushes.append(timeout_millis)
        return True

    def shutdown(self) -> None:
        self.shutdowns += 1


class Raising(Recorder):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("on_start fails")

    def on_end(self, span: Any) -> None:
        raise RuntimeError("on_end fails")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        raise RuntimeError("force_flush fails")

    def shutdown(self) -> None:
        raise RuntimeError("shutdown fails")


@pytest.fixture
def provider(path: str) -> Any:
    p = sdk.TracerProvider(path, service_name="proc-test", resource_attributes={"deployment.environment": "t"},
                           shutdown_on_exit=False)  # fmt: skip
    yield p
    p.shutdown()


def by_name(spans: List[Any]) -> Dict[str, Any]:
    return {s.name: s for s in spans}


def test_custom_processor_sees_on_start_and_on_end_with_every_field(provider: Any, path: str) -> None:
    rec = Recorder()
    provider.add_span_processor(rec)
    tracer = provider.get_tracer("proc.lib", "2.1", schema_url=SCHEMA, attributes={"scope.k": "v"})
    remote = trace_api.SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=trace_api.TraceFlags(1))
    with tracer.start_as_current_span("parent", kind=trace_api.SpanKind.SERVER, attributes={"a": 1, "l": [1, 2]},
                                      start_time=1_000) as parent:  # fmt: skip
        parent.set_attribute("later", "set after start")
        parent.add_event("ev", {"k": "v"}, timestamp=1_500)
        explicit = trace_api.set_span_in_context(parent)
        child = tracer.start_span("child", context=explicit, kind=trace_api.SpanKind.CLIENT,
                                  links=[trace_api.Link(remote, {"link.k": 7})])  # fmt: skip
        child.add_link(parent.get_span_context(), {"added": True})
        child.set_status(trace_api.StatusCode.ERROR, "bad")
        child.end(end_time=2_000 + parent.start_time)
        with pytest.raises(ValueError):
            with tracer.start_as_current_span("failing"):
                raise ValueError("boom")
        parent.set_status(trace_api.Status(trace_api.StatusCode.OK))

    # on_start: the span itself (still open), and the context argument given to start_span.
    started = {span.name: (span, ctx) for span, ctx in rec.started}
    assert set(started) == {"parent", "child", "failing"}
    assert started["parent"][0] is parent and started["parent"][1] is None
    assert started["child"][0] is child and started["child"][1] is explicit

    ended = by_name(rec.ended)
    assert [s.name for s in rec.ended] == ["child", "failing", "parent"]
    p, c, f = ended["parent"], ended["child"], ended["failing"]
    assert all(isinstance(s, sdk_trace.ReadableSpan) for s in rec.ended)
    # name, context, parent, kind
    assert p.context == parent.get_span_context() and p.get_span_context() == parent.get_span_context()
    assert p.parent is None
    assert c.parent.span_id == parent.get_span_context().span_id and c.parent.trace_id == p.context.trace_id
    assert f.parent.span_id == p.context.span_id
    assert (p.kind, c.kind, f.kind) == (trace_api.SpanKind.SERVER, trace_api.SpanKind.CLIENT,
                                        trace_api.SpanKind.INTERNAL)  # fmt: skip
    # times
    assert p.start_time == 1_000 and c.end_time == 3_000
    assert p.end_time is not None and p.end_time > f.end_time >= f.start_time > 0
    # attributes, also those set after the start (lists as tuples, as the official SDK keeps them)
    assert dict(p.attributes) == {"a": 1, "l": (1, 2), "later": "set after start"}
    # events, the exception event of the failing span included
    assert [(e.name, dict(e.attributes), e.timestamp) for e in p.events] == [("ev", {"k": "v"}, 1_500)]
    (exc_event,) = f.events
    assert exc_event.name == "exception"
    assert exc_event.attributes["exception.type"] == "ValueError"
    assert exc_event.attributes["exception.message"] == "boom"
    assert "raise ValueError" in exc_event.attributes["exception.stacktrace"]
    # links: at start and added later
    assert [(lk.context.span_id, lk.context.trace_id, dict(lk.attributes)) for lk in c.links] == [
        (0x5678, 0x1234, {"link.k": 7}),
        (p.context.span_id, p.context.trace_id, {"added": True}),
    ]
    # status
    assert p.status.status_code == trace_api.StatusCode.OK
    assert (c.status.status_code, c.status.description) == (trace_api.StatusCode.ERROR, "bad")
    assert f.status.status_code == trace_api.StatusCode.ERROR and f.status.description == "ValueError: boom"
    # resource, scope
    assert isinstance(p.resource, SdkResource)
    assert p.resource.attributes["service.name"] == "proc-test"
    assert p.resource.attributes["deployment.environment"] == "t"
    assert dict(p.resource.attributes) == dict(provider.resource.attributes)
    scope = p.instrumentation_scope
    assert (scope.name, scope.version, scope.schema_url, dict(scope.attributes)) == (
        "proc.lib", "2.1", SCHEMA, {"scope.k": "v"})  # fmt: skip
    # the ReadableSpan serialises as the official one does
    assert '"name": "parent"' in p.to_json()

    # the file got the same spans
    spans = spans_by_name(path)
    assert spans["parent"]["attributes"] == {"a": 1, "l": [1, 2], "later": "set after start"}
    assert [e["name"] for e in spans["failing"]["events"]] == ["exception"]
    assert len(spans["child"]["links"]) == 2


def test_simple_span_processor_matches_the_official_sdk(provider: Any) -> None:
    """The same calls on our provider and on the official SDK's TracerProvider (given our
    resource): the InMemorySpanExporter of SimpleSpanProcessor gets identical spans."""

    def scenario(tracer: Any) -> None:
        remote = trace_api.SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=trace_api.TraceFlags(1))
        with tracer.start_as_current_span("root", kind=trace_api.SpanKind.SERVER,
                                          attributes={"http.method": "GET", "n": 3, "f": 1.5, "b": True,
                                                      "seq": ["x", "y"]},
                                          links=[trace_api.Link(remote, {"why": "batch"})]) as root:  # fmt: skip
            root.set_attribute("http.status_code", 200)
            root.set_attributes({"n": 4, "extra": "e"})
            root.add_event("cache.miss", {"key": "k1"}, timestamp=123_456)
            root.update_name("GET /items")
            with tracer.start_as_current_span("db", kind=trace_api.SpanKind.CLIENT) as db:
                db.set_attribute("db.statement", "SELECT 1")
                db.add_link(root.get_span_context(), {"l": 1})
                db.set_status(trace_api.StatusCode.OK)
            try:
                with tracer.start_as_current_span("raises", kind=trace_api.SpanKind.PRODUCER):
                    raise KeyError("missing")
            except KeyError:
                pass
            s = tracer.start_span("explicit-times", start_time=10, kind=trace_api.SpanKind.CONSUMER)
            s.set_status(trace_api.Status(trace_api.StatusCode.ERROR, "it failed"))
            s.end(end_time=20)

    def user_frames(stacktrace: str) -> List[str]:
        """The stack trace without the frames of the SDK's own code (the official SDK's context
        managers add two: use_span and start_as_current_span; ours adds none)."""
        lines, out, skip = stacktrace.splitlines(), [], False
        for line in lines:
            if line.startswith("  File "):
                skip = "/opentelemetry/" in line or "/otlp_mmap/" in line
            elif not line.startswith("    "):
                skip = False
            if not skip:
                out.append(line)
        return out

    def normal(spans: Any) -> List[Dict[str, Any]]:
        names = {s.context.span_id: s.name for s in spans}
        out = []
        for s in spans:
            out.append({
                "name": s.name,
                "kind": s.kind,
                "attributes": dict(s.attributes),
                "events": [(e.name, {k: v for k, v in e.attributes.items() if k != "exception.stacktrace"},
                            e.timestamp if e.name != "exception" else None) for e in s.events],
                "stacktrace": [user_frames(e.attributes.get("exception.stacktrace", "")) for e in s.events],
                "links": [(names.get(lk.context.span_id, lk.context.span_id), lk.context.is_remote,
                           dict(lk.attributes)) for lk in s.links],
                "status": (s.status.status_code, s.status.description),
                "parent": None if s.parent is None else names.get(s.parent.span_id, s.parent.span_id),
                "same_trace": s.parent is None or s.parent.trace_id == s.context.trace_id,
                "resource": dict(s.resource.attributes),
                "scope": (s.instrumentation_scope.name, s.instrumentation_scope.version,
                          s.instrumentation_scope.schema_url, dict(s.instrumentation_scope.attributes or {})),
                "times": (s.start_time, s.end_time) if s.name == "explicit-times" else s.start_time <= s.end_time,
                "dropped": (s.dropped_attributes, s.dropped_events, s.dropped_links),
            })  # fmt: skip
        return out

    ours = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(ours))
    scenario(provider.get_tracer("diff.lib", "0.3", schema_url=SCHEMA, attributes={"s": 1}))

    official_provider = sdk_trace.TracerProvider(resource=SdkResource(dict(provider.resource.attributes)))
    theirs = InMemorySpanExporter()
    official_provider.add_span_processor(SimpleSpanProcessor(theirs))
    scenario(official_provider.get_tracer("diff.lib", "0.3", schema_url=SCHEMA, attributes={"s": 1}))
    official_provider.shutdown()

    a, b = normal(ours.get_finished_spans()), normal(theirs.get_finished_spans())
    assert [s["name"] for s in a] == [s["name"] for s in b] == ["db", "raises", "explicit-times", "GET /items"]
    for mine, official in zip(a, b):
        for field in official:
            assert mine[field] == official[field], (mine["name"], field, mine[field], official[field])


def test_batch_span_processor_and_force_flush(provider: Any, path: str) -> None:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("batch")
    for i in range(50):
        with tracer.start_as_current_span("b", attributes={"i": i}):
            pass
    assert provider.force_flush(10_000) is True
    got = exporter.get_finished_spans()
    assert sorted(s.attributes["i"] for s in got) == list(range(50))
    assert len(merge_spans(read_all(path)["spans"])) == 50


def test_force_flush_and_shutdown_are_forwarded(provider: Any) -> None:
    first, second = Recorder(), Recorder()
    provider.add_span_processor(first)
    provider.add_span_processor(second)
    assert provider.span_processors == (first, second)
    assert provider.force_flush(5_000) is True
    assert len(first.flushes) == len(second.flushes) == 1 and 0 < first.flushes[0] <= 5_000
    provider.shutdown()
    provider.shutdown()
    assert first.shutdowns == second.shutdowns == 1


def test_tracers_made_before_the_processor_get_it(provider: Any) -> None:
    tracer = provider.get_tracer("early")
    with tracer.start_as_current_span("before"):
        pass
    rec = Recorder()
    provider.add_span_processor(rec)
    with tracer.start_as_current_span("after"):
        pass
    assert [s.name for s in rec.ended] == ["after"]
    assert provider.get_tracer("early") is tracer


def test_a_raising_processor_does_not_break_the_application(provider: Any, path: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    rec = Recorder()
    provider.add_span_processor(Raising())
    provider.add_span_processor(rec)
    tracer = provider.get_tracer("app")
    with caplog.at_level(logging.WARNING, logger="otlp_mmap.sdk"):
        for i in range(20):
            with tracer.start_as_current_span("work", attributes={"i": i}) as span:
                span.add_event("step")
        assert provider.force_flush() is False
        provider.shutdown()
    # the next processor still got everything; the errors were counted and logged once per method
    assert len(rec.ended) == 20 and rec.shutdowns == 1
    assert provider.span_processor_errors == 20 + 20 + 1 + 1
    warnings = [r for r in caplog.records if "span processor" in r.getMessage()]
    assert len(warnings) == 4, [r.getMessage() for r in warnings]
    # the file received every span, whole
    spans = list(merge_spans(read_all(path)["spans"]).values())
    assert sorted(s["attributes"]["i"] for s in spans) == list(range(20))
    assert all(s["end"] is not None and [e["name"] for e in s["events"]] == ["step"] for s in spans)


def test_the_file_gets_the_same_spans_with_and_without_processors(tmp_path: Path) -> None:
    def run(file: str, processor: bool) -> List[Dict[str, Any]]:
        p = sdk.TracerProvider(file, service_name="same", shutdown_on_exit=False)
        if processor:
            p.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        tracer = p.get_tracer("same")
        for i in range(30):
            with tracer.start_as_current_span("s", attributes={"i": i, "long": "x" * 100}) as span:
                span.set_attribute("later", i * 2)
                span.add_event("e", {"i": i}, timestamp=i)
                span.add_link(span.get_span_context(), {"self": True})
                span.set_status(trace_api.StatusCode.OK)
        p.shutdown()
        spans = list(merge_spans(read_all(file)["spans"]).values())
        return sorted(({k: s[k] for k in ("name", "attributes", "status", "kind")} | {
            "events": [(e["name"], e["attributes"], e["time"]) for e in s["events"]],
            "links": [ln["attributes"] for ln in s["links"]]} for s in spans), key=lambda s: s["attributes"]["i"])

    assert run(str(tmp_path / "with.mmap"), True) == run(str(tmp_path / "without.mmap"), False)


def test_spans_show_attributes_resource_and_scope_without_a_processor(provider: Any) -> None:
    tracer = provider.get_tracer("plain", "1.0")
    with tracer.start_as_current_span("open", attributes={"a": 1, "bad": object()}) as span:
        span.set_attribute("b", [1, 2])
        assert dict(span.attributes) == {"a": 1, "b": (1, 2)}
        with pytest.raises(TypeError):
            span.attributes["c"] = 3  # type: ignore[index]
        assert span.events == () and span.links == ()
        assert span.resource.attributes["service.name"] == "proc-test"
        assert span.instrumentation_scope.name == "plain" and span.instrumentation_scope.version == "1.0"
    # Without a processor nothing is retained after end().
    assert dict(span.attributes) == {}


def test_attribute_limits_apply_to_what_processors_see(path: str) -> None:
    limits = sdk.SpanLimits(max_span_attributes=2, max_attribute_length=3, max_events=1, max_links=1)
    p = sdk.TracerProvider(path, span_limits=limits, shutdown_on_exit=False)
    rec = Recorder()
    p.add_span_processor(rec)
    tracer = p.get_tracer("limits")
    ctx = trace_api.SpanContext(1, 2, is_remote=False)
    with tracer.start_as_current_span("l", attributes={"a": "abcdef", "b": ["long", "xy"], "c": 1},
                                      links=[trace_api.Link(ctx), trace_api.Link(ctx)]) as span:  # fmt: skip
        span.set_attribute("d", 2)
        span.add_event("one")
        span.add_event("two")
    p.shutdown()
    (s,) = rec.ended
    assert dict(s.attributes) == {"a": "abc", "b": ("lon", "xy")}
    assert [e.name for e in s.events] == ["one"] and len(s.links) == 1
    assert (s.dropped_attributes, s.dropped_events, s.dropped_links) == (2, 1, 1)


def test_unsampled_spans_are_not_given_to_processors(path: str) -> None:
    p = sdk.TracerProvider(path, sampler=sdk.ALWAYS_OFF, shutdown_on_exit=False)
    rec = Recorder()
    p.add_span_processor(rec)
    with p.get_tracer("off").start_as_current_span("dropped"):
        pass
    p.shutdown()
    assert rec.started == [] and rec.ended == []


def test_a_no_op_provider_accepts_processors(tmp_path: Path) -> None:
    p = sdk.TracerProvider(str(tmp_path / "missing-dir" / "f.mmap"), shutdown_on_exit=False)
    assert p.disabled
    rec = Recorder()
    p.add_span_processor(rec)
    with p.get_tracer("noop").start_as_current_span("nothing"):
        pass
    assert p.force_flush() is True
    p.shutdown()
    assert rec.ended == [] and rec.shutdowns == 1


APP = textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = trace.get_tracer_provider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    tracer = trace.get_tracer("instrumented-app")
    with tracer.start_as_current_span("app-span", attributes={"app.k": "v"}):
        pass
    provider.force_flush()
    print("APP DONE", type(provider).__module__)
    """
)


def test_add_span_processor_under_opentelemetry_instrument(tmp_path: Path, path: str) -> None:
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    if not instrument.exists():
        pytest.skip("opentelemetry-instrumentation is not installed")
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"SDK_MMAP_EXPORTER_FILE": path, "OTEL_SERVICE_NAME": "instrumented", "PYTHONUNBUFFERED": "1"})
    r = subprocess.run([str(instrument), sys.executable, str(app)], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "APP DONE otlp_mmap.sdk.trace" in r.stdout, r.stdout + r.stderr
    assert '"name": "app-span"' in r.stdout and '"app.k": "v"' in r.stdout, r.stdout  # the console exporter
    assert spans_by_name(path)["app-span"]["attributes"] == {"app.k": "v"}


NO_SDK_APP = textwrap.dedent(
    """
    import sys
    # opentelemetry-sdk is an optional dependency: without it, processors get our ReadableSpan.
    for name in ("opentelemetry.sdk", "opentelemetry.sdk.trace", "opentelemetry.sdk.resources",
                 "opentelemetry.sdk.util.instrumentation"):
        sys.modules[name] = None
    from opentelemetry import trace
    import otlp_mmap.sdk as sdk
    from otlp_mmap.sdk import _span_processors

    class Rec:
        def __init__(self):
            self.ended = []
        def on_start(self, span, parent_context=None):
            span.set_attribute("from.on_start", True)
        def on_end(self, span):
            self.ended.append(span)
        def force_flush(self, timeout_millis=30000):
            return True
        def shutdown(self):
            pass

    p = sdk.TracerProvider(sys.argv[1], service_name="no-sdk", shutdown_on_exit=False)
    rec = Rec()
    p.add_span_processor(rec)
    tracer = p.get_tracer("nosdk", "1")
    with tracer.start_as_current_span("outer", attributes={"a": 1}) as outer:
        outer.add_event("e", {"k": "v"}, timestamp=5)
        with tracer.start_as_current_span("inner", links=[trace.Link(outer.get_span_context(), {"l": 1})]):
            pass
    p.shutdown()
    assert not _span_processors.have_official_sdk()
    inner, outer_r = rec.ended
    assert type(outer_r) is _span_processors.ReadableSpan, type(outer_r)
    assert dict(outer_r.attributes) == {"a": 1, "from.on_start": True}
    assert [(e.name, dict(e.attributes), e.timestamp) for e in outer_r.events] == [("e", {"k": "v"}, 5)]
    assert inner.parent.span_id == outer_r.context.span_id
    assert [dict(l.attributes) for l in inner.links] == [{"l": 1}]
    assert outer_r.resource.attributes["service.name"] == "no-sdk"
    assert (outer_r.instrumentation_scope.name, outer_r.instrumentation_scope.version) == ("nosdk", "1")
    assert outer_r.end_time >= outer_r.start_time and outer_r.status.status_code == trace.StatusCode.UNSET
    print("NO SDK OK")
    """
)


def test_processors_without_opentelemetry_sdk(tmp_path: Path, path: str) -> None:
    app = tmp_path / "no_sdk.py"
    app.write_text(NO_SDK_APP)
    r = subprocess.run([sys.executable, str(app), path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "NO SDK OK" in r.stdout, r.stdout + r.stderr
    assert spans_by_name(path)["outer"]["attributes"] == {"a": 1, "from.on_start": True}


def test_importing_the_sdk_does_not_import_opentelemetry_sdk() -> None:
    """The official SDK is loaded on the first processor's span only (start-up time)."""
    code = "import sys, otlp_mmap.sdk; print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_ctrl_c_in_a_processor_is_not_lost(provider: Any) -> None:
    class Interrupting(Recorder):
        def on_end(self, span: Any) -> None:
            raise KeyboardInterrupt

    # Python's own SIGINT handler, as in an interactive program: a process started in the
    # background by a shell without job control inherits SIGINT ignored, and then there is no
    # Ctrl-C to keep (PyErr_SetInterrupt does nothing, as it must).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        provider.add_span_processor(Interrupting())
        tracer = provider.get_tracer("kb")
        with pytest.raises(KeyboardInterrupt):
            with tracer.start_as_current_span("x"):
                pass
            for _ in range(1000):  # the interrupt is raised again at the next check of the interpreter
                pass
    finally:
        signal.signal(signal.SIGINT, previous)


def test_record_only_spans_go_to_processors_but_not_to_the_file(path: str) -> None:
    """As the official SDK: a RECORD_ONLY span is recording, so processors get it (the official
    SimpleSpanProcessor then skips it: not sampled); nothing of it is written."""
    from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

    class RecordOnly:
        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None) -> SamplingResult:  # fmt: skip
            if name == "sampled":
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
            return SamplingResult(Decision.RECORD_ONLY, attributes)

        def get_description(self) -> str:
            return "RecordOnly"

    p = sdk.TracerProvider(path, sampler=RecordOnly(), shutdown_on_exit=False)
    rec, exporter = Recorder(), InMemorySpanExporter()
    p.add_span_processor(rec)
    p.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = p.get_tracer("rec")
    with tracer.start_as_current_span("recorded", attributes={"a": 1}) as span:
        span.add_event("e")
        span.set_attribute("b", 2)
    with tracer.start_as_current_span("sampled", attributes={"c": 3}):
        pass
    p.shutdown()
    assert [s.name for s in rec.ended] == ["recorded", "sampled"]
    recorded = rec.ended[0]
    assert not recorded.context.trace_flags.sampled
    assert dict(recorded.attributes) == {"a": 1, "b": 2} and [e.name for e in recorded.events] == ["e"]
    assert [s.name for s in exporter.get_finished_spans()] == ["sampled"]
    assert list(spans_by_name(path)) == ["sampled"]

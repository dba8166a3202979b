"""The native SDK types hold no reference too many and release none too early: every API is
called many times with the same argument objects, whose reference counts must be the same
afterwards, and the number of live objects must not grow with the number of calls. (A leaked
reference per call would show as +N; a missing one would crash or show as -N.)"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any, Callable, Dict, List

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import otlp_mmap.sdk as sdk

N = 500


class Sampler:
    """A custom sampler (the Python round trip of the native span start)."""

    def should_sample(self, context: Any, trace_id: int, name: str, kind: Any, attributes: Any, links: Any) -> Any:
        from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

        return SamplingResult(Decision.RECORD_AND_SAMPLE, {"sampled.by": "custom"})

    def get_description(self) -> str:
        return "custom"


class Processor:
    def __init__(self) -> None:
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        span.attributes  # noqa: B018  (read the native getters)
        span.parent  # noqa: B018

    def on_end(self, span: Any) -> None:
        self.ended += 1
        span.events  # noqa: B018
        span.links  # noqa: B018
        span.status  # noqa: B018
        span.resource  # noqa: B018

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def live_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


def check(work: Callable[[], None], *tracked: Any) -> None:
    """Runs `work` a few times (caches warm up), then N times: the tracked objects' reference
    counts must be unchanged and the live objects must not have grown with N."""
    for _ in range(20):
        work()
    before = [sys.getrefcount(o) for o in tracked]
    objects = live_objects()
    for _ in range(N):
        work()
    grown = live_objects() - objects
    after = [sys.getrefcount(o) for o in tracked]
    assert after == before, [type(o).__name__ for o, b, a in zip(tracked, before, after) if a != b]
    assert grown < N // 2, f"{grown} more live objects after {N} calls"


@pytest.fixture
def providers(path: str) -> Any:
    made: List[Any] = []

    def make(kind: Callable[..., Any], **kwargs: Any) -> Any:
        provider = kind(path, shutdown_on_exit=False, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.shutdown()


NAME = "span.name"
KEY = "k"
VALUE = "v" * 40
ATTRS: Dict[str, Any] = {KEY: VALUE, "n": 1, "f": 0.5, "list": ["a", "b"], "nested": {"x": [1, 2]}}


@pytest.mark.parametrize("processor", [False, True], ids=["plain", "with-processor"])
def test_spans(providers: Any, processor: bool) -> None:
    provider = providers(sdk.TracerProvider)
    if processor:
        provider.add_span_processor(Processor())
    tracer = provider.get_tracer("refs")
    other = tracer.start_span("other")
    link_attrs = {"link.k": VALUE}
    links = [Link(other.get_span_context(), link_attrs)]
    event_attrs = {"e": VALUE}
    status = Status(StatusCode.ERROR, "bad")
    error = ValueError("boom")
    kind = SpanKind.SERVER

    def work() -> None:
        with tracer.start_as_current_span(NAME, kind=kind, attributes=ATTRS, links=links) as span:
            span.set_attribute(KEY, VALUE)
            span.set_attributes(ATTRS)
            span.add_event(NAME, event_attrs)
            span.add_link(other.get_span_context(), link_attrs)
            span.update_name(NAME)
            span.record_exception(error, event_attrs)
            span.set_status(status)
            with tracer.start_as_current_span("child") as child:
                child.get_span_context()
                child.is_recording()
        s = tracer.start_span(NAME, attributes=ATTRS, context=trace_api.set_span_in_context(other))
        s.set_status(StatusCode.ERROR, VALUE)
        s.end()
        try:
            with tracer.start_as_current_span(NAME):
                raise ValueError(VALUE)  # a new one: a re-raised exception's traceback grows
        except ValueError:
            pass

    check(work, NAME, KEY, VALUE, ATTRS, links, link_attrs, event_attrs, status, error, kind, tracer, other)
    other.end()


def test_spans_with_a_custom_sampler(providers: Any) -> None:
    tracer = providers(sdk.TracerProvider, sampler=Sampler()).get_tracer("refs")

    def work() -> None:
        tracer.start_span(NAME, attributes=ATTRS).end()

    check(work, NAME, ATTRS, tracer)


def test_decorated_function(providers: Any) -> None:
    tracer = providers(sdk.TracerProvider).get_tracer("refs")

    @tracer.start_as_current_span(NAME)
    def handler(x: Any) -> Any:
        return x

    def work() -> None:
        handler(ATTRS)

    check(work, NAME, ATTRS, tracer)


def test_instruments(providers: Any) -> None:
    meter = providers(sdk.MeterProvider, export_interval_millis=3_600_000).get_meter("refs")
    counter = meter.create_counter("c")
    updown = meter.create_up_down_counter("u")
    histogram = meter.create_histogram("h")
    gauge = meter.create_gauge("g")
    attrs = {KEY: VALUE, "n": 1}
    big = 2**70
    tracer = providers(sdk.TracerProvider).get_tracer("refs")

    def work() -> None:
        counter.add(1, attrs)
        counter.add(-1, attrs)  # dropped, warned once
        updown.add(-2.5, attrs)
        histogram.record(3, attrs)
        gauge.set(big, attrs)
        with tracer.start_as_current_span(NAME):
            counter.add(1, attrs, context=context_api.get_current())

    check(work, attrs, VALUE, big, counter, histogram)


def test_logger_emit(providers: Any) -> None:
    logger = providers(sdk.LoggerProvider).get_logger("refs")
    body = {"msg": VALUE, "list": [1, 2]}
    attrs = {KEY: VALUE}
    record = LogRecord(body=body, severity_number=SeverityNumber.WARN, attributes=attrs)
    error = RuntimeError("x")

    def work() -> None:
        logger.emit(record)
        logger.emit(body=body, attributes=attrs, severity_number=SeverityNumber.INFO, event_name=NAME)
        logger.emit(body=VALUE, exception=error)

    check(work, body, attrs, record, error, VALUE, NAME)


def test_logging_handler(providers: Any) -> None:
    provider = providers(sdk.LoggerProvider)
    handler = sdk.LoggingHandler(logger_provider=provider)
    log = logging.getLogger("refs.handler")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    extra = {"user.id": VALUE}
    try:

        def work() -> None:
            log.info("hello %s %d", VALUE, 7)
            log.warning("with extra", extra=extra)
            log.info(ATTRS)
            try:
                raise KeyError(VALUE)
            except KeyError:
                log.exception("failed")

        check(work, VALUE, extra, ATTRS)
    finally:
        log.handlers[:] = []
        handler.close()

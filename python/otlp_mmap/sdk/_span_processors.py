"""Span processors: ``TracerProvider.add_span_processor`` with the official SDK's semantics.

A processor gets ``on_start(span, parent_context=...)`` when a span starts (the native span,
which can still be changed) and ``on_end(readable_span)`` when it ends, with a
``ReadableSpan``: the official ``opentelemetry.sdk.trace.ReadableSpan`` (with its ``Event``,
``Resource`` and ``InstrumentationScope``) when opentelemetry-sdk is installed, else
:class:`ReadableSpan` of this module (the same read-only properties). So the official
``SimpleSpanProcessor`` / ``BatchSpanProcessor`` with any official exporter work as extra
outputs beside the file. ``force_flush`` and ``shutdown`` of the provider are forwarded.

Only a provider with a processor pays: its tracers make spans that keep their attributes,
events and links after encoding (``Tracer._set_processor``); without one the native path is
unchanged. A processor's exception never reaches the application: it is logged once per
processor and method, and counted (``TracerProvider.span_processor_errors``).
"""

from __future__ import annotations

import logging
import threading
import time
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from opentelemetry import trace as trace_api

_logger = logging.getLogger("otlp_mmap.sdk")


class _Official:
    """The classes of opentelemetry-sdk (an optional dependency), imported on first use only:
    importing otlp_mmap.sdk must not import the official SDK (start-up time)."""

    loaded = False
    Resource: Any = None
    Event: Any = None
    ReadableSpan: Any = None
    Scope: Any = None
    Readable: Any = None  # _OfficialReadableSpan


def _official() -> _Official:
    if not _Official.loaded:
        with _official_lock:
            if not _Official.loaded:
                try:
                    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
                    from opentelemetry.sdk.trace import Event, ReadableSpan  # noqa: PLC0415
                    from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: PLC0415
                except ImportError:
                    pass
                else:
                    _Official.Resource, _Official.Event, _Official.ReadableSpan = Resource, Event, ReadableSpan
                    _Official.Scope = InstrumentationScope
                    _Official.Readable = _official_readable_span_class(ReadableSpan)
                _Official.loaded = True
    return _Official


_official_lock = threading.Lock()


def have_official_sdk() -> bool:
    """True when opentelemetry-sdk is installed (processors then get its ReadableSpan)."""
    return _official().ReadableSpan is not None


# ------------------------------------------------------------------ fallbacks without opentelemetry-sdk


class Event:
    """A span event (as ``opentelemetry.sdk.trace.Event``): name, attributes, timestamp."""

    __slots__ = ("_name", "_attributes", "_timestamp")

    def __init__(self, name: str, attributes: Optional[Mapping[str, Any]] = None, timestamp: Optional[int] = None):
        self._name = name
        self._attributes = attributes if attributes is not None else MappingProxyType({})
        self._timestamp = time.time_ns() if timestamp is None else timestamp

    name = property(lambda self: self._name)
    attributes = property(lambda self: self._attributes)
    timestamp = property(lambda self: self._timestamp)
    dropped_attributes = property(lambda self: 0)

    def __repr__(self) -> str:
        return f"Event(name={self._name!r}, attributes={dict(self._attributes)!r}, timestamp={self._timestamp})"


class InstrumentationScope:
    """A tracer's scope (as ``opentelemetry.sdk.util.instrumentation.InstrumentationScope``)."""

    __slots__ = ("_name", "_version", "_schema_url", "_attributes")

    def __init__(self, name: str, version: Optional[str] = None, schema_url: Optional[str] = None,
                 attributes: Optional[Mapping[str, Any]] = None) -> None:  # fmt: skip
        self._name, self._version, self._schema_url = name, version, schema_url or ""
        self._attributes = MappingProxyType(dict(attributes or {}))

    name = property(lambda self: self._name)
    version = property(lambda self: self._version)
    schema_url = property(lambda self: self._schema_url)
    attributes = property(lambda self: self._attributes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstrumentationScope) and (
            (self._name, self._version, self._schema_url, dict(self._attributes))
            == (other._name, other._version, other._schema_url, dict(other._attributes))
        )

    def __hash__(self) -> int:
        return hash((self._name, self._version, self._schema_url))

    def __repr__(self) -> str:
        return f"InstrumentationScope({self._name!r}, {self._version!r}, {self._schema_url!r})"


class ReadableSpan:
    """A finished span, read-only (the properties of ``opentelemetry.sdk.trace.ReadableSpan``);
    used when opentelemetry-sdk is not installed."""

    def __init__(self, name: str, context: Any = None, parent: Any = None, resource: Any = None,
                 attributes: Optional[Mapping[str, Any]] = None, events: Sequence[Any] = (),
                 links: Sequence[Any] = (), kind: Any = trace_api.SpanKind.INTERNAL, status: Any = None,
                 start_time: Optional[int] = None, end_time: Optional[int] = None,
                 instrumentation_scope: Any = None) -> None:  # fmt: skip
        self._name, self._context, self._parent, self._resource = name, context, parent, resource
        self._attributes = attributes if attributes is not None else MappingProxyType({})
        self._events, self._links, self._kind = tuple(events), tuple(links), kind
        self._status = status if status is not None else trace_api.Status(trace_api.StatusCode.UNSET)
        self._start_time, self._end_time, self._instrumentation_scope = start_time, end_time, instrumentation_scope

    name = property(lambda self: self._name)
    context = property(lambda self: self._context)
    parent = property(lambda self: self._parent)
    resource = property(lambda self: self._resource)
    attributes = property(lambda self: self._attributes)
    events = property(lambda self: self._events)
    links = property(lambda self: self._links)
    kind = property(lambda self: self._kind)
    status = property(lambda self: self._status)
    start_time = property(lambda self: self._start_time)
    end_time = property(lambda self: self._end_time)
    instrumentation_scope = property(lambda self: self._instrumentation_scope)
    dropped_attributes = property(lambda self: 0)
    dropped_events = property(lambda self: 0)
    dropped_links = property(lambda self: 0)

    def get_span_context(self) -> Any:
        return self._context

    def __repr__(self) -> str:
        return f"ReadableSpan(name={self._name!r}, context={self._context!r})"


def _official_readable_span_class(base: Any) -> Any:
    class _OfficialReadableSpan(base):  # type: ignore[misc,valid-type]
        """The official ReadableSpan, with the dropped counts of the native span."""

        def __init__(self, dropped: Tuple[int, int, int], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._otlp_mmap_dropped = dropped

        @property
        def dropped_attributes(self) -> int:
            return self._otlp_mmap_dropped[0]

        @property
        def dropped_events(self) -> int:
            return self._otlp_mmap_dropped[1]

        @property
        def dropped_links(self) -> int:
            return self._otlp_mmap_dropped[2]

    return _OfficialReadableSpan


# ------------------------------------------------------------------ what the native spans ask for


class ResourceRef:
    """The provider's resource as the span processors see it: the official Resource (made
    once, on first use) when opentelemetry-sdk is installed, else ours."""

    __slots__ = ("_ours", "_made", "_lock")

    def __init__(self, ours: Any) -> None:
        self._ours = ours
        self._made: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        made = self._made
        if made is None:
            with self._lock:
                if self._made is None:
                    official = _official().Resource
                    if official is not None:
                        # The constructor, not Resource.create(): no detectors, exactly our attributes.
                        self._made = official(dict(self._ours.attributes), self._ours.schema_url)
                    else:
                        self._made = self._ours
                made = self._made
        return made


class TracerInfo:
    """What a native tracer's spans give for ``resource``, ``instrumentation_scope``,
    ``events`` and ``links`` (``Tracer._set_info``). Holds no reference to the provider."""

    __slots__ = ("_resource", "_scope_args", "_scope")

    def __init__(self, resource: ResourceRef, name: str, version: Optional[str], schema_url: Optional[str],
                 attributes: Any) -> None:  # fmt: skip
        self._resource = resource
        self._scope_args = (name, version if isinstance(version, str) else None,
                            schema_url if isinstance(schema_url, str) else None,
                            attributes if isinstance(attributes, Mapping) else None)  # fmt: skip
        self._scope: Any = None

    @property
    def resource(self) -> Any:
        return self._resource.get()

    @property
    def instrumentation_scope(self) -> Any:
        scope = self._scope
        if scope is None:
            name, version, schema_url, attributes = self._scope_args
            official = _official().Scope
            if official is not None:
                scope = official(name, version, schema_url, dict(attributes) if attributes else None)
            else:
                scope = InstrumentationScope(name, version, schema_url, attributes)
            self._scope = scope
        return scope

    @staticmethod
    def events(raw: Tuple[Tuple[str, Mapping[str, Any], int], ...]) -> Tuple[Any, ...]:
        make = _official().Event or Event
        return tuple(make(name, attributes, timestamp) for name, attributes, timestamp in raw)

    @staticmethod
    def links(raw: Tuple[Tuple[Any, Mapping[str, Any]], ...]) -> Tuple[Any, ...]:
        return tuple(trace_api.Link(context, attributes) for context, attributes in raw)


def readable_span(span: Any) -> Any:
    """The ReadableSpan of an ended native span."""
    fields: Dict[str, Any] = {
        "name": span.name,
        "context": span.context,
        "parent": span.parent,
        "resource": span.resource,
        "attributes": span.attributes,
        "events": span.events,
        "links": span.links,
        "kind": span.kind,
        "status": span.status,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "instrumentation_scope": span.instrumentation_scope,
    }
    readable = _official().Readable
    if readable is not None:
        dropped = (span.dropped_attributes, span.dropped_events, span.dropped_links)
        return readable(dropped, **fields)
    return ReadableSpan(**fields)


# ------------------------------------------------------------------ the hub


class SpanProcessors:
    """The processors of one TracerProvider, called in the order they were added (as the
    official SDK's SynchronousMultiSpanProcessor). What the native tracers call."""

    def __init__(self) -> None:
        self._processors: Tuple[Any, ...] = ()
        self._lock = threading.Lock()
        self._warned: set = set()
        self.errors = 0
        self.is_shutdown = False

    @property
    def processors(self) -> Tuple[Any, ...]:
        return self._processors

    def add(self, processor: Any) -> None:
        with self._lock:
            self._processors = self._processors + (processor,)

    def _failed(self, processor: Any, method: str) -> None:
        self.errors += 1
        key = (type(processor), method)
        if key in self._warned:
            _logger.debug("otlp_mmap: span processor %r raised in %s", processor, method, exc_info=True)
            return
        self._warned.add(key)
        _logger.warning(
            "otlp_mmap: the span processor %r raised in %s(); ignored (the span is still written to the "
            "telemetry file; further errors of this processor in %s() are counted, not logged)",
            processor, method, method, exc_info=True,
        )  # fmt: skip

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        for processor in self._processors:
            try:
                processor.on_start(span, parent_context=parent_context)
            except Exception:  # pylint: disable=broad-except  (never into the application)
                self._failed(processor, "on_start")

    def on_end(self, span: Any) -> None:
        processors = self._processors
        if not processors:
            return
        try:
            readable = readable_span(span)
        except Exception:  # pylint: disable=broad-except
            self._failed(self, "on_end")
            return
        for processor in processors:
            try:
                processor.on_end(readable)
            except Exception:  # pylint: disable=broad-except
                self._failed(processor, "on_end")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000.0
        ok = True
        for processor in self._processors:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                if not processor.force_flush(remaining):
                    ok = False
            except Exception:  # pylint: disable=broad-except
                self._failed(processor, "force_flush")
                ok = False
            if time.monotonic() >= deadline:
                return False
        return ok

    def shutdown(self) -> None:
        with self._lock:
            if self.is_shutdown:
                return
            self.is_shutdown = True
        for processor in self._processors:
            try:
                processor.shutdown()
            except Exception:  # pylint: disable=broad-except
                self._failed(processor, "shutdown")


__all__ = ["Event", "InstrumentationScope", "ReadableSpan", "SpanProcessors", "have_official_sdk"]

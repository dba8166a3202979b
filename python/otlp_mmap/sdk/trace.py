"""Tracing: ``TracerProvider`` (an ``opentelemetry.trace.TracerProvider``).

Tracers and spans are native (``otlp_mmap._native.Tracer`` / ``Span``), registered as
virtual subclasses of the API's ``Tracer`` and ``Span``. What a span writes into the file:

* at start, when sampled: a ``start`` record (name, kind, parent, flags, trace state,
  attributes within the limits) and, for ``links=``, one ``link`` record;
* ``add_event`` / ``record_exception``: an ``add_event`` record each (an event on the span);
* ``add_link``: a ``link`` record;
* at ``end()``: ``name`` (if ``update_name`` was called), ``attributes`` (those set after the
  start; the last value of each key), then ``end`` with the status and the dropped counts.

A span that is not sampled writes nothing; ``is_recording()`` is false; its context still
propagates (children, W3C headers). Flags written: the W3C trace flags (sampled 0x01,
random trace id 0x02) plus the OTLP ``SpanFlags`` bits 0x100 (is-remote known) and 0x200
(the parent is remote).

``add_span_processor``: extra outputs with the official SDK's semantics (see
:mod:`otlp_mmap.sdk._span_processors`); the spans of a provider with a processor keep
their attributes, events and links for the processors' ``ReadableSpan``. Spans also give
``attributes``, ``events``, ``links``, ``resource`` and ``instrumentation_scope``
(attributes, events and links are retained after ``end()`` only while a processor is
registered).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Tuple

from opentelemetry import trace as trace_api

from otlp_mmap import _native
from otlp_mmap.sdk import _env, _native_api  # noqa: F401  (_native_api connects the API)
from otlp_mmap.sdk import sampling as _sampling
from otlp_mmap.sdk._span_processors import ResourceRef, SpanProcessors, TracerInfo
from otlp_mmap.sdk._provider import PathLike, ProviderBase, ScopeKey, scope_key

_logger = logging.getLogger("otlp_mmap.sdk")

_DEFAULT_LIMIT = 128


# Id generators whose ids the native generator already gives: random 128-bit trace ids and
# 64-bit span ids (the official SDK's RandomIdGenerator, OTEL_PYTHON_ID_GENERATOR=random).
_RANDOM_ID_GENERATORS = frozenset(("opentelemetry.sdk.trace.id_generator.RandomIdGenerator",))
ID_GENERATOR_GROUP = "opentelemetry_id_generator"


def _generator_from_environment() -> Any:
    """OTEL_PYTHON_ID_GENERATOR, as the official SDK reads it: the name of an entry point of
    group ``opentelemetry_id_generator`` (``random`` is opentelemetry-sdk's RandomIdGenerator;
    packages such as opentelemetry-sdk-extension-aws add ``xray``), instantiated without
    arguments. A name that is not installed, or a generator that cannot be made, gives one
    warning and the default (random) generator: set-up never raises."""
    name = _env.get(_env.OTEL_PYTHON_ID_GENERATOR)
    if not name or name.lower() == "random":
        return None
    try:
        found = _env.entry_points(ID_GENERATOR_GROUP, name)
        if found:
            return found[0].load()()
        available = sorted({"random", *(ep.name for ep in _env.entry_points(ID_GENERATOR_GROUP))})
        _env.warn_once(
            f"id-generator:{name}",
            "otlp_mmap: OTEL_PYTHON_ID_GENERATOR=%r is not an installed id generator (entry point group %s; "
            "available: %s); using random ids",
            name,
            ID_GENERATOR_GROUP,
            ", ".join(available),
        )
    except Exception as exc:  # pylint: disable=broad-except
        _env.warn_once(
            f"id-generator:{name}",
            "otlp_mmap: the id generator OTEL_PYTHON_ID_GENERATOR=%r could not be made (%r); using random ids",
            name,
            exc,
        )
    return None


def _native_generator(id_generator: Any) -> Any:
    """What the native tracers call for ids: None for random ids (made natively, as the
    official SDK's RandomIdGenerator makes them), else the generator, whose
    generate_trace_id() and generate_span_id() give the ids of every span (one Python call
    each; an id that is not valid is replaced by a random one, with one warning)."""
    if id_generator is None:
        return None
    cls = type(id_generator)
    return None if f"{cls.__module__}.{cls.__qualname__}" in _RANDOM_ID_GENERATORS else id_generator


class SpanLimits:
    """Limits of a span, as the official SDK's ``SpanLimits``: arguments first, then the
    environment, then the defaults (128 attributes, events, links, and attributes per event
    and link; no value length limit). ``-1`` means no limit.

    Variables: OTEL_ATTRIBUTE_COUNT_LIMIT (default of every attribute count),
    OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LINK_ATTRIBUTE_COUNT_LIMIT, OTEL_SPAN_EVENT_COUNT_LIMIT, OTEL_SPAN_LINK_COUNT_LIMIT,
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (events, links, and spans by default) and
    OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT. A length limit counts characters of strings.
    """

    def __init__(
        self,
        max_attributes: Optional[int] = None,
        max_events: Optional[int] = None,
        max_links: Optional[int] = None,
        max_span_attributes: Optional[int] = None,
        max_event_attributes: Optional[int] = None,
        max_link_attributes: Optional[int] = None,
        max_attribute_length: Optional[int] = None,
        max_span_attribute_length: Optional[int] = None,
    ) -> None:
        def pick(value: Optional[int], name: str, default: int) -> int:
            if value is not None:
                return -1 if value < 0 else int(value)
            return _env.limit(name, default)

        self.max_attributes = pick(max_attributes, _env.OTEL_ATTRIBUTE_COUNT_LIMIT, _DEFAULT_LIMIT)
        self.max_events = pick(max_events, _env.OTEL_SPAN_EVENT_COUNT_LIMIT, _DEFAULT_LIMIT)
        self.max_links = pick(max_links, _env.OTEL_SPAN_LINK_COUNT_LIMIT, _DEFAULT_LIMIT)
        self.max_span_attributes = pick(
            max_span_attributes, _env.OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, self.max_attributes
        )
        self.max_event_attributes = pick(
            max_event_attributes, _env.OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT, self.max_attributes
        )
        self.max_link_attributes = pick(max_link_attributes, _env.OTEL_LINK_ATTRIBUTE_COUNT_LIMIT, self.max_attributes)
        self.max_attribute_length = pick(max_attribute_length, _env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, -1)
        self.max_span_attribute_length = pick(
            max_span_attribute_length, _env.OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, self.max_attribute_length
        )

    def __repr__(self) -> str:
        return (
            f"SpanLimits(max_span_attributes={self.max_span_attributes}, max_events={self.max_events}, "
            f"max_links={self.max_links}, max_event_attributes={self.max_event_attributes}, "
            f"max_link_attributes={self.max_link_attributes}, max_attribute_length={self.max_attribute_length}, "
            f"max_span_attribute_length={self.max_span_attribute_length})"
        )


class TracerProvider(ProviderBase, trace_api.TracerProvider):
    """A tracer provider writing into an otlp-mmap file.

    Constructible with no arguments: the file comes from ``SDK_MMAP_EXPORTER_FILE``, the
    resource from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``, the sampler from
    ``OTEL_TRACES_SAMPLER`` / ``_ARG``, the limits from the standard variables. With
    ``OTEL_SDK_DISABLED=true`` it hands out no-op tracers, and so it does (after one warning)
    when the file is missing or unusable, unless ``strict=True`` (or ``OTLP_MMAP_STRICT=true``)
    makes that a ConfigurationError.
    """

    def __init__(
        self,
        file: Optional[PathLike] = None,
        *,
        sampler: Any = None,
        span_limits: Optional[SpanLimits] = None,
        id_generator: Any = None,
        service_name: Optional[str] = None,
        resource_attributes: Optional[Mapping[str, Any]] = None,
        schema_url: Optional[str] = None,
        writer: Optional[_native.Writer] = None,
        shutdown_on_exit: bool = True,
        strict: Optional[bool] = None,
        resource: Any = None,
    ) -> None:
        super().__init__(
            file,
            service_name=service_name,
            resource_attributes=resource_attributes,
            schema_url=schema_url,
            writer=writer,
            shutdown_on_exit=shutdown_on_exit,
            strict=strict,
            resource=resource,
        )
        self._sampler = _sampling.resolve(sampler)
        self._id_generator = id_generator if id_generator is not None else _generator_from_environment()
        self._span_limits = span_limits if span_limits is not None else SpanLimits()
        self._tracers: Dict[ScopeKey, Tuple[Any, Tuple[str, Optional[str], Optional[str], Any]]] = {}
        self._span_processors = SpanProcessors()
        self._processor_resource = ResourceRef(self._resource)

    @property
    def sampler(self) -> Any:
        return self._sampler

    @property
    def span_limits(self) -> SpanLimits:
        return self._span_limits

    @property
    def id_generator(self) -> Any:
        """The ``id_generator=`` given, or the one OTEL_PYTHON_ID_GENERATOR names (None: the
        native random generator)."""
        return self._id_generator

    def add_span_processor(self, span_processor: Any) -> None:
        """Adds a span processor (``on_start(span, parent_context)``, ``on_end(readable_span)``,
        ``force_flush``, ``shutdown``), as the official SDK's TracerProvider does: the official
        ``SimpleSpanProcessor`` / ``BatchSpanProcessor`` with any exporter are extra outputs
        beside the telemetry file. Spans started from now on are passed to it. Never raises; a
        processor's exceptions are logged once and counted (``span_processor_errors``)."""
        if span_processor is None:
            return
        try:
            self._span_processors.add(span_processor)
            if self._active():
                with self._lock:
                    for tracer, _ in list(self._tracers.values()):
                        tracer._set_processor(self._span_processors)  # pylint: disable=protected-access
        except Exception:  # pylint: disable=broad-except
            _logger.warning("otlp_mmap: add_span_processor(%r) failed", span_processor, exc_info=True)

    @property
    def span_processors(self) -> Tuple[Any, ...]:
        """The span processors added, in order."""
        return self._span_processors.processors

    @property
    def span_processor_errors(self) -> int:
        """How many times a span processor raised (the exceptions are not propagated)."""
        return self._span_processors.errors

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """The file needs no flush; the span processors are flushed."""
        return self._span_processors.force_flush(timeout_millis)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Any = None,
    ) -> trace_api.Tracer:
        if not self._active():
            if self._is_shutdown:
                _logger.warning("get_tracer() on a TracerProvider that was shut down: returning a no-op tracer")
            return trace_api.NoOpTracer()
        key = scope_key(instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        name = key[0]
        with self._lock:
            entry = self._tracers.get(key)
            if entry is not None:
                return entry[0]
            args = (name, instrumenting_library_version, schema_url, attributes)
            tracer = self._new_tracer(self._scope_of(args), name, instrumenting_library_version)
            self._tracers[key] = (tracer, args)
            tracer._set_info(TracerInfo(self._processor_resource, *args))  # pylint: disable=protected-access
            if self._span_processors.processors:
                tracer._set_processor(self._span_processors)  # pylint: disable=protected-access
            return tracer

    def _new_tracer(self, scope_ref: int, name: str, version: Optional[str]) -> Any:
        limits = self._span_limits
        sampler = self._sampler
        builtin = isinstance(sampler, _sampling.Sampler)
        return _native.Tracer(
            self._w(),
            scope_ref,
            sampler=sampler.native_kind if builtin else 0,
            parent_based=sampler.parent_based if builtin else True,
            ratio=sampler.rate if builtin else 1.0,
            custom_sampler=None if builtin else sampler,
            max_attributes=limits.max_span_attributes,
            max_events=limits.max_events,
            max_links=limits.max_links,
            max_event_attributes=limits.max_event_attributes,
            max_link_attributes=limits.max_link_attributes,
            max_span_attribute_length=limits.max_span_attribute_length,
            max_attribute_length=limits.max_attribute_length,
            name=name,
            version=version if isinstance(version, str) else None,
            id_generator=_native_generator(self._id_generator),
        )

    def _scope_of(self, args: Tuple[str, Optional[str], Optional[str], Any]) -> int:
        name, version, schema_url, attributes = args
        return self._create_scope(name, version, attributes, schema_url)

    def _on_new_resource(self) -> None:
        self._processor_resource = ResourceRef(self._resource)
        for tracer, args in list(self._tracers.values()):
            tracer._set_scope_ref(self._scope_of(args))  # pylint: disable=protected-access
            tracer._set_info(TracerInfo(self._processor_resource, *args))  # pylint: disable=protected-access

    def shutdown(self) -> None:
        """Stops recording; the span processors are shut down (once)."""
        super().shutdown()
        self._span_processors.shutdown()

    def _on_shutdown(self) -> None:
        for tracer, _ in list(self._tracers.values()):
            tracer._set_enabled(False)  # pylint: disable=protected-access


__all__ = ["SpanLimits", "TracerProvider"]

"""Type hints of otlp_mmap._native, the C++ core of otlp-mmap (nanobind)."""

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Optional, Tuple, Union

from opentelemetry.context import Context as _Context
from opentelemetry.trace import Link as _Link
from opentelemetry.trace import SpanContext as _SpanContext
from opentelemetry.trace import SpanKind as _SpanKind
from opentelemetry.trace import Status as _Status
from opentelemetry.trace import StatusCode as _StatusCode

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_Bytes = Union[bytes, bytearray]
_Scalar = Union[str, bool, int, float, bytes, bytearray]
AttributeValue = Union[_Scalar, Sequence[str], Sequence[bool], Sequence[int], Sequence[float], Sequence[bytes]]
Attributes = Optional[Mapping[str, AttributeValue]]
# A log body: OpenTelemetry's AnyValue.
BodyValue = Union[_Scalar, None, Sequence["BodyValue"], Mapping[str, "BodyValue"]]
# {"trace_id": 16 bytes, "span_id": 8 bytes, "flags": int}
SpanContext = Mapping[str, Any]
# {"gauge": {}} | {"sum": {...}} | {"histogram": {...}} | {"exp_histogram": {...}}
Aggregation = Mapping[str, Mapping[str, Any]]
Temporality = Union[Literal[1, 2], Literal["DELTA", "CUMULATIVE"]]
Status = Union[Tuple[int, Optional[str]], Mapping[str, Any]]
RingName = Literal["events", "spans", "measurements"]

class FormatError(ValueError):
    """The file is not a usable otlp-mmap file: corrupt, of an unsupported version, or not initialised yet."""

class NotInitializedError(FormatError):
    """The file exists but no writer has finished initialising it yet; try again later."""

class Writer:
    """Writes telemetry into an otlp-mmap file.

    Starts from the OTLP_MMAP_* environment variables, overridden by the arguments given.
    One core writer per file per process is shared: a second Writer of the same file uses
    the first one's geometry. record_* calls never block and never raise for a full ring:
    they return False and the loss is counted in the file (see counters()).

    Raises ValueError for a bad configuration, FileNotFoundError, PermissionError or
    OSError when the file cannot be opened, FormatError when it is not an otlp-mmap file.
    """

    def __init__(
        self,
        path: _Path,
        *,
        events_slots: Optional[int] = None,
        events_slot_size: Optional[int] = None,
        spans_slots: Optional[int] = None,
        spans_slot_size: Optional[int] = None,
        measurements_slots: Optional[int] = None,
        measurements_slot_size: Optional[int] = None,
        dictionary_initial_bytes: Optional[int] = None,
        dictionary_max_bytes: Optional[int] = None,
        file_mode: Optional[int] = None,
    ) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def geometry(self) -> dict[str, Any]:
        """{events|spans|measurements: {num_buffers, buffer_size, offset}, dictionary_offset,
        dictionary_initial_bytes, dictionary_max_bytes, file_mode, created_file}."""
    @property
    def key_cache_size(self) -> int:
        """Strings cached in front of the dictionary (for diagnostics)."""
    def counters(self) -> dict[str, int]:
        """The file's writer loss counters: dropped_full_{events,spans,measurements},
        dropped_unencodable, truncated_values, dropped_skipped."""
    def after_fork_in_child(self) -> None:
        """Call in a forked child (os.register_at_fork) before writing."""
    def record_string(self, s: str) -> int:
        """Dictionary reference of a string entry (0 if the dictionary is full)."""
    def create_resource(
        self, attributes: Attributes, schema_url: Optional[str] = None, *, lenient: bool = False
    ) -> int:
        """lenient=True: invalid attributes are dropped and counted (the SDK's counters) instead
        of raised about."""
    def create_instrumentation_scope(
        self,
        resource_ref: int,
        name: str,
        version: Optional[str] = None,
        attributes: Attributes = None,
        schema_url: Optional[str] = None,
        *,
        lenient: bool = False,
    ) -> int:
        """lenient=True: invalid attributes are dropped and counted instead of raised about."""
    def create_metric_stream(
        self, scope_ref: int, name: str, description: Optional[str], unit: Optional[str], aggregation: Aggregation
    ) -> int:
        """aggregation has exactly one key:
        {"gauge": {}},
        {"sum": {"aggregation_temporality": 1|2|"DELTA"|"CUMULATIVE", "is_monotonic": bool}},
        {"histogram": {"aggregation_temporality": ..., "bucket_boundaries": [strictly increasing floats]}},
        {"exp_histogram": {"aggregation_temporality": ..., "max_buckets": int > 0, "max_scale": -10..20}}."""
    def record_measurement(
        self,
        metric_ref: int,
        attributes: Attributes,
        time_unix_nano: int,
        value: Union[int, float],
        span_context: Optional[SpanContext] = None,
    ) -> bool:
        """An int (or bool) is written as_long, a float as_double."""
    def record_event(
        self,
        scope_ref: int,
        span_context: Optional[SpanContext],
        event_name_ref: int,
        time_unix_nano: int,
        attributes: Attributes,
        *,
        severity_number: int = 0,
        severity_text: str = "",
        body: BodyValue = None,
        observed_time_unix_nano: int = 0,
        dropped_attributes_count: int = 0,
    ) -> bool:
        """event_name_ref comes from record_string (0: none); severity_number is 0..24;
        body None means no body."""
    def record_span_start(
        self,
        scope_ref: int,
        trace_id: _Bytes,
        span_id: _Bytes,
        parent_span_id: Optional[_Bytes],
        flags: int,
        name: str,
        kind: int,
        start_time_unix_nano: int,
        attributes: Attributes,
        *,
        trace_state: str = "",
    ) -> bool:
        """parent_span_id None or b"" for a root span; kind 0..5 (SpanKind)."""
    def record_span_end(
        self,
        scope_ref: int,
        trace_id: _Bytes,
        span_id: _Bytes,
        end_time_unix_nano: int,
        status: Optional[Status] = None,
        *,
        dropped_attributes_count: int = 0,
        dropped_events_count: int = 0,
        dropped_links_count: int = 0,
    ) -> bool:
        """status: None, (code, message) or {"code": 0|1|2, "message": str}."""
    def record_span_name(self, scope_ref: int, trace_id: _Bytes, span_id: _Bytes, name: str) -> bool: ...
    def record_span_attributes(self, scope_ref: int, trace_id: _Bytes, span_id: _Bytes, attributes: Attributes) -> bool:
        """No attributes: nothing is written, True is returned."""
    def record_span_links(
        self, scope_ref: int, trace_id: _Bytes, span_id: _Bytes, links: Sequence[Mapping[str, Any]]
    ) -> bool:
        """links: {trace_id, span_id, trace_state="", attributes=None, flags=0,
        dropped_attributes_count=0} each. No links: nothing is written, True is returned."""
    def record_span_event(
        self,
        scope_ref: int,
        trace_id: _Bytes,
        span_id: _Bytes,
        name: str,
        time_unix_nano: int,
        attributes: Attributes,
        dropped_attributes_count: int = 0,
    ) -> bool:
        """An event on a span (Span.add_event)."""

class Reader:
    """Reads an otlp-mmap file, decoding records into dicts named as in proto/mmap.proto,
    with dictionary references resolved. One consuming reader per file; a read_only
    reader can only peek."""

    def __init__(
        self, path: _Path, *, torn_grace_seconds: float = 2.0, read_only: bool = False, trust_any_owner: bool = False
    ) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Reader": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...
    def header(self) -> dict[str, int]:
        """version, {events,spans,measurements,dictionary}_offset, start_time_unix_nano,
        dictionary_end, dictionary_entries, file_size, reader_skipped_{torn,corrupt}."""
    def ring_states(self) -> dict[str, dict[str, int]]:
        """{ring: {num_buffers, buffer_size, reader_index, writer_index, unread}}."""
    def writer_counters(self) -> dict[str, int]: ...
    def reader_counters(self) -> dict[str, Any]:
        """{ring: {records, torn, corrupt}}, file_torn_total, file_corrupt_total."""
    def read_string(self, ref: int) -> str: ...
    def read_resource(self, ref: int) -> dict[str, Any]: ...
    def read_scope(self, ref: int) -> dict[str, Any]: ...
    def read_metric_stream(self, ref: int) -> dict[str, Any]: ...
    def read_event(self) -> Optional[dict[str, Any]]: ...
    def read_span_event(self) -> Optional[dict[str, Any]]:
        """"type" is "start", "end", "name", "attributes", "link" or "add_event"."""
    def read_measurement(self) -> Optional[dict[str, Any]]: ...
    def read_all(self) -> dict[str, list[dict[str, Any]]]:
        """Drains every ring: {"events": [...], "spans": [...], "measurements": [...]}."""
    def peek(self, ring_name: RingName, max: int = 100) -> list[dict[str, Any]]:
        """Published, unread records, without consuming them."""
    def skip(self, ring_name: RingName, max: int = ...) -> int:
        """Consumes up to max records without decoding them; returns how many."""
    def dictionary_entries(self, max: int = 1000) -> list[Tuple[int, bytes]]: ...

# ---------------------------------------------------------------------------------------------
# The native half of the OpenTelemetry SDK (otlp_mmap.sdk). These types are made by the SDK's
# providers; applications use them through the opentelemetry-api (they are registered as
# virtual subclasses of the API's Tracer, Span, instruments and Logger).

class Span:
    """A span (opentelemetry.trace.Span) made by Tracer.start_span."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> _SpanKind: ...
    @property
    def start_time(self) -> int: ...
    @property
    def end_time(self) -> Optional[int]: ...
    @property
    def status(self) -> _Status: ...
    @property
    def parent(self) -> Optional[_SpanContext]: ...
    @property
    def context(self) -> _SpanContext: ...
    @property
    def instrumentation_scope_name(self) -> str: ...
    @property
    def dropped_attributes(self) -> int: ...
    @property
    def dropped_events(self) -> int: ...
    @property
    def dropped_links(self) -> int: ...
    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """Read-only; retained after end() only while a span processor is registered."""
    @property
    def events(self) -> Tuple[Any, ...]:
        """Event objects (retained only while a span processor is registered)."""
    @property
    def links(self) -> Tuple[_Link, ...]:
        """Retained only while a span processor is registered."""
    @property
    def resource(self) -> Any: ...
    @property
    def instrumentation_scope(self) -> Any: ...
    def get_span_context(self) -> _SpanContext: ...
    def is_recording(self) -> bool: ...
    def set_attribute(self, key: str, value: Any) -> None: ...
    def set_attributes(self, attributes: Mapping[str, Any]) -> None: ...
    def add_event(self, name: str, attributes: Attributes = None, timestamp: Optional[int] = None) -> None: ...
    def add_link(self, context: _SpanContext, attributes: Attributes = None) -> None: ...
    def update_name(self, name: str) -> None: ...
    def set_status(self, status: Union[_Status, _StatusCode], description: Optional[str] = None) -> None: ...
    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: Optional[int] = None,
        escaped: bool = False,
    ) -> None: ...
    def end(self, end_time: Optional[int] = None) -> None: ...
    def __enter__(self) -> "Span": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class CurrentSpanContextManager:
    """What Tracer.start_as_current_span returns: a context manager, and a decorator."""

    def __enter__(self) -> Span: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    def __call__(self, func: Any) -> Any: ...
    def _recreate(self) -> "CurrentSpanContextManager": ...

class Tracer:
    """opentelemetry.trace.Tracer writing spans into an otlp-mmap file."""

    def __init__(
        self,
        writer: Writer,
        scope_ref: int,
        sampler: int = 0,
        parent_based: bool = True,
        ratio: float = 1.0,
        custom_sampler: Any = None,
        max_attributes: int = 128,
        max_events: int = 128,
        max_links: int = 128,
        max_event_attributes: int = 128,
        max_link_attributes: int = 128,
        max_span_attribute_length: int = -1,
        max_attribute_length: int = -1,
        name: str = "",
        version: Optional[str] = None,
    ) -> None: ...
    @property
    def scope_ref(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> Optional[str]: ...
    @property
    def enabled(self) -> bool: ...
    def start_span(
        self,
        name: str,
        context: Optional[_Context] = None,
        kind: _SpanKind = ...,
        attributes: Attributes = None,
        links: Optional[Sequence[_Link]] = None,
        start_time: Optional[int] = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span: ...
    def start_as_current_span(
        self,
        name: str,
        context: Optional[_Context] = None,
        kind: _SpanKind = ...,
        attributes: Attributes = None,
        links: Optional[Sequence[_Link]] = None,
        start_time: Optional[int] = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> CurrentSpanContextManager: ...
    def _set_scope_ref(self, scope_ref: int) -> None: ...
    def _set_enabled(self, enabled: bool) -> None: ...
    def _set_processor(self, hub: Any) -> None:
        """hub.on_start(span, context) / hub.on_end(span) for later spans, which keep their data; None: off."""
    def _set_info(self, info: Any) -> None:
        """What spans' resource, instrumentation_scope, events and links come from."""

class _Instrument:
    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def metric_ref(self) -> int: ...
    @property
    def enabled(self) -> bool: ...
    def __init__(self, writer: Writer, metric_ref: int, name: str, unit: str = "", description: str = "") -> None: ...
    def _set_metric_ref(self, metric_ref: int) -> None: ...
    def _set_enabled(self, enabled: bool) -> None: ...

_Amount = Union[int, float]

class Counter(_Instrument):
    def add(self, amount: _Amount, attributes: Attributes = None, context: Optional[_Context] = None) -> None: ...

class UpDownCounter(_Instrument):
    def add(self, amount: _Amount, attributes: Attributes = None, context: Optional[_Context] = None) -> None: ...

class Histogram(_Instrument):
    def record(self, amount: _Amount, attributes: Attributes = None, context: Optional[_Context] = None) -> None: ...

class Gauge(_Instrument):
    def set(self, amount: _Amount, attributes: Attributes = None, context: Optional[_Context] = None) -> None: ...

class MetricSink(_Instrument):
    def _record(self, amount: _Amount, attributes: Attributes = None, context: Optional[_Context] = None) -> None: ...

class Logger:
    """opentelemetry._logs.Logger writing log records into an otlp-mmap file."""

    def __init__(
        self,
        writer: Writer,
        scope_ref: int,
        name: str,
        version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Attributes = None,
        max_attributes: int = 128,
        max_attribute_length: int = -1,
    ) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> Optional[str]: ...
    @property
    def schema_url(self) -> Optional[str]: ...
    @property
    def attributes(self) -> Attributes: ...
    @property
    def scope_ref(self) -> int: ...
    def emit(
        self,
        record: Any = None,
        *,
        timestamp: Optional[int] = None,
        observed_timestamp: Optional[int] = None,
        context: Optional[_Context] = None,
        severity_number: Any = None,
        severity_text: Optional[str] = None,
        body: Any = None,
        attributes: Attributes = None,
        event_name: Optional[str] = None,
        exception: Optional[BaseException] = None,
    ) -> None: ...
    def enabled(
        self, *, context: Optional[_Context] = None, severity_number: Any = None, event_name: Optional[str] = None
    ) -> bool: ...
    def _set_scope_ref(self, scope_ref: int) -> None: ...
    def _set_enabled(self, enabled: bool) -> None: ...

class LogBridge:
    """The native core of otlp_mmap.sdk.logs.LoggingHandler."""

    def __init__(
        self,
        writer: Writer,
        resource_ref: int,
        handler: Any,
        filters: Any,
        reserved: frozenset[str],
        max_attributes: int = 128,
        max_attribute_length: int = -1,
        code_attributes: bool = True,
        record_type: Any = None,
        standard_fields: int = 0,
    ) -> None: ...
    def handle(self, record: Any) -> bool: ...
    def emit(self, record: Any) -> None: ...
    def _reset(self, resource_ref: int) -> None: ...
    def _set_enabled(self, enabled: bool) -> None: ...

class LogRecordFactory:
    """A native logging.LogRecord factory (logging.setLogRecordFactory): the records of
    LogRecord.__init__, made faster. otlp_mmap.sdk.logs probes and checks it before use."""

    def __init__(
        self, record_type: type, logging_module: Any, field_order: Tuple[str, ...], ns_mode: bool, int_msecs: bool
    ) -> None: ...
    def __call__(
        self,
        name: str,
        level: int,
        pathname: str,
        lineno: int,
        msg: Any,
        args: Any,
        exc_info: Any,
        func: Optional[str] = None,
        sinfo: Optional[str] = None,
        **kwargs: Any,
    ) -> Any: ...

def _sdk_init(**kwargs: Any) -> None: ...
def _sdk_counters() -> dict[str, int]: ...
def _sdk_reset_warnings() -> None: ...
def _sdk_set_exemplar_filter(filter: int) -> None: ...
def _sdk_new_ids() -> Tuple[bytes, bytes]: ...
def _sdk_time_ns() -> int: ...

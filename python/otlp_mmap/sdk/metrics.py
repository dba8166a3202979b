"""Metrics: ``MeterProvider`` (an ``opentelemetry.metrics.MeterProvider``).

Every instrument declares a metric stream (``MetricRef``) in the file and writes one
``Measurement`` record per measurement; the collector aggregates (docs/FORMAT.md §9.10):

=============================  ==================================================
instrument                     stream
=============================  ==================================================
Counter                        sum, DELTA, monotonic (each add is an increment)
UpDownCounter                  sum, DELTA, not monotonic
Histogram                      explicit-bucket histogram, DELTA; the advisory
                               boundaries, else the specification's defaults
Gauge (create_gauge)           gauge
ObservableCounter              sum, CUMULATIVE, monotonic (each observation is the
                               current total)
ObservableUpDownCounter        sum, CUMULATIVE, not monotonic
ObservableGauge                gauge
=============================  ==================================================

Synchronous instruments are native (``otlp_mmap._native.Counter`` ...); an int stays an
int. Observable callbacks (plain functions taking ``CallbackOptions``, or generators that
receive it through ``send``) run on a collection thread every
``OTEL_METRIC_EXPORT_INTERVAL`` milliseconds (default 60000), on ``force_flush()`` and at
``shutdown()``. Measurements carry the current span context when the exemplar filter
(``OTEL_METRICS_EXEMPLAR_FILTER``: ``trace_based`` by default, ``always_on``,
``always_off``) lets them.

Views (``MeterProvider(views=...)``, see ``otlp_mmap.sdk._views``) change an instrument's
streams when it is created; metric readers (``metric_readers=``, see
``otlp_mmap.sdk._metric_readers``) receive every measurement too.

Instrument names are case-insensitive and written in lower case, as the official SDK does.
Registering an identical instrument (same name, kind, unit and description) returns the
same instrument; a different instrument under an existing name logs a warning and gets a
stream of its own (the specification's duplicate instrument registration).
"""

from __future__ import annotations

import collections.abc
import logging
import math
import re
import threading
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from opentelemetry import metrics as metrics_api
from opentelemetry.metrics import CallbackOptions, Observation

from otlp_mmap import CUMULATIVE, DELTA, _native
from otlp_mmap.sdk import _env, _native_api  # noqa: F401  (_native_api connects the API)
from otlp_mmap.sdk import _metric_readers, _views
from otlp_mmap.sdk._provider import PathLike, ProviderBase, scope_key, text

_logger = logging.getLogger("otlp_mmap.sdk")

# The specification's default explicit bucket boundaries.
DEFAULT_BUCKET_BOUNDARIES: Tuple[float, ...] = (
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
)  # fmt: skip

_NAME = re.compile(r"[a-zA-Z][-_./a-zA-Z0-9]{0,254}\Z")
_UNIT = re.compile(r"[\x00-\x7F]{0,63}\Z")
_EXEMPLAR_FILTERS = {"always_off": 0, "always_on": 1, "trace_based": 2}

_APIGauge = getattr(metrics_api, "Gauge", None) or getattr(metrics_api, "_Gauge")


def _aggregation(kind: str, boundaries: Sequence[float]) -> Dict[str, Dict[str, Any]]:
    if kind == "counter":
        return {"sum": {"aggregation_temporality": DELTA, "is_monotonic": True}}
    if kind == "up_down_counter":
        return {"sum": {"aggregation_temporality": DELTA, "is_monotonic": False}}
    if kind == "histogram":
        return {"histogram": {"aggregation_temporality": DELTA, "bucket_boundaries": list(boundaries)}}
    if kind == "observable_counter":
        return {"sum": {"aggregation_temporality": CUMULATIVE, "is_monotonic": True}}
    if kind == "observable_up_down_counter":
        return {"sum": {"aggregation_temporality": CUMULATIVE, "is_monotonic": False}}
    return {"gauge": {}}  # gauge, observable_gauge


def _boundaries(advisory: Any) -> Tuple[float, ...]:
    if advisory is None:
        return DEFAULT_BUCKET_BOUNDARIES
    try:
        values = tuple(float(b) for b in advisory if not isinstance(b, bool))
        if len(values) != len(advisory):
            raise ValueError("booleans")
        if any(not math.isfinite(b) for b in values) or any(b >= c for b, c in zip(values, values[1:])):
            raise ValueError("not finite and strictly increasing")
    except (TypeError, ValueError):
        _logger.warning(
            "explicit_bucket_boundaries_advisory must be a sequence of strictly increasing finite numbers; "
            "using the default boundaries"
        )
        return DEFAULT_BUCKET_BOUNDARIES
    return values


class _Observable:
    """Callbacks of an observable instrument and the sink its observations go to."""

    def __init__(
        self,
        name: str,
        callbacks: Optional[Sequence[Any]],
        unit: str,
        description: str,
        sink: Any,
    ) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self._sink = sink
        self._callbacks: List[Tuple[Any, bool]] = []
        self._callbacks_lock = threading.Lock()
        for callback in callbacks or ():
            self._add_callback(callback)

    def _add_callback(self, callback: Any) -> None:
        if isinstance(callback, collections.abc.Generator):
            try:
                next(callback)  # to its first yield, where it waits for CallbackOptions
            except StopIteration:
                return
            except Exception:  # pylint: disable=broad-except
                _logger.exception("Callback generator of instrument %s failed to start", self.name)
                return
            self._callbacks.append((callback, True))
        elif callable(callback):
            self._callbacks.append((callback, False))
        else:
            _logger.warning("Callback %r of instrument %s is not callable nor a generator; ignored", callback, self.name)

    def _observe(self, options: CallbackOptions) -> None:
        observations = self._collect(options)
        if isinstance(self._sink, _FanoutSink):
            self._sink._record_batch(observations)
            return
        for observation in observations:
            self._record(observation)

    def _collect(self, options: CallbackOptions) -> List[Any]:
        """Runs the callbacks; their observations (also the metric readers' twin's callback)."""
        observations: List[Any] = []
        with self._callbacks_lock:
            callbacks = list(self._callbacks)
        for callback, is_generator in callbacks:
            try:
                if is_generator:
                    try:
                        result = callback.send(options)
                    except StopIteration:
                        with self._callbacks_lock:
                            if (callback, True) in self._callbacks:
                                self._callbacks.remove((callback, True))
                        continue
                else:
                    result = callback(options)
                if result is None:
                    continue
                for observation in result:
                    observations.append(
                        observation
                        if isinstance(observation, Observation)
                        else Observation(
                            getattr(observation, "value", observation),
                            getattr(observation, "attributes", None),
                            getattr(observation, "context", None),
                        )
                    )
            except Exception:  # pylint: disable=broad-except
                _logger.exception("Callback failed for instrument %s.", self.name)
        return observations

    def _record(self, observation: Observation) -> None:
        self._sink._record(observation.value, observation.attributes, observation.context)


class ObservableCounter(_Observable, metrics_api.ObservableCounter):
    """Observations are the current totals (written CUMULATIVE)."""

    def __init__(self, name: str, callbacks: Any = None, unit: str = "", description: str = "", *, sink: Any = None):
        _Observable.__init__(self, name, callbacks, unit, description, sink)


class ObservableUpDownCounter(_Observable, metrics_api.ObservableUpDownCounter):
    """Observations are the current totals (written CUMULATIVE)."""

    def __init__(self, name: str, callbacks: Any = None, unit: str = "", description: str = "", *, sink: Any = None):
        _Observable.__init__(self, name, callbacks, unit, description, sink)


class ObservableGauge(_Observable, metrics_api.ObservableGauge):
    """Observations are current values."""

    def __init__(self, name: str, callbacks: Any = None, unit: str = "", description: str = "", *, sink: Any = None):
        _Observable.__init__(self, name, callbacks, unit, description, sink)


def _shadow_call(method: Any, amount: Any, attributes: Any, context: Any) -> None:
    try:
        method(amount, attributes, context)
    except Exception:  # pylint: disable=broad-except
        _env.warn_once("metric-reader-record", "otlp_mmap: a metric reader's instrument failed", exc_info=True)


class _Fanout:
    """An instrument with several streams, an attribute filter or metric readers: each
    measurement goes to every stream of the file (its attributes filtered when the stream's
    view says so) and to the metric readers' twin."""

    _method = ""

    def __init__(self, name: str, unit: str, description: str, targets: Any, twin: Any) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self._targets = tuple((getattr(native, self._method), keys) for native, keys in targets)
        self._twin = None if twin is None else getattr(twin, self._method)

    def _measure(self, amount: Any, attributes: Any = None, context: Any = None) -> None:
        for method, keys in self._targets:
            method(amount, attributes if keys is None else _views.filter_attributes(attributes, keys), context)
        if self._twin is not None:
            _shadow_call(self._twin, amount, attributes, context)


class _FanoutCounter(_Fanout, metrics_api.Counter):
    _method = "add"
    add = _Fanout._measure


class _FanoutUpDownCounter(_Fanout, metrics_api.UpDownCounter):
    _method = "add"
    add = _Fanout._measure


class _FanoutHistogram(_Fanout, metrics_api.Histogram):
    _method = "record"
    record = _Fanout._measure


class _FanoutGauge(_Fanout, _APIGauge):  # type: ignore[misc,valid-type]
    _method = "set"
    set = _Fanout._measure


class _FanoutSink(_Fanout):
    """Where an observable instrument with several streams or an attribute filter writes.
    Observations of one collection that the filter maps to the same attribute set are summed
    for a sum stream (each is part of the total, as the official SDK does), the last one kept
    otherwise."""

    _method = "_record"
    _record = _Fanout._measure

    def __init__(self, name: str, unit: str, description: str, targets: Any, sums: Sequence[bool]) -> None:
        super().__init__(name, unit, description, targets, None)
        self._sums = tuple(sums)

    def _record_batch(self, observations: Sequence[Observation]) -> None:
        for (method, keys), is_sum in zip(self._targets, self._sums):
            if keys is None:
                for o in observations:
                    method(o.value, o.attributes, o.context)
                continue
            groups: Dict[Any, List[Any]] = {}
            for o in observations:
                attributes = _views.filter_attributes(o.attributes, keys) or {}
                try:
                    key: Any = tuple(sorted((k, _hashable(v)) for k, v in attributes.items()))
                except TypeError:
                    key = id(o)
                group = groups.get(key)
                if group is None:
                    groups[key] = [o.value, attributes, o.context]
                elif is_sum:
                    group[0] = group[0] + o.value
                    group[2] = o.context
                else:
                    groups[key] = [o.value, attributes, o.context]
            for value, attributes, context in groups.values():
                method(value, attributes, context)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


_FANOUT_TYPES: Dict[str, Callable[..., Any]] = {
    "counter": _FanoutCounter,
    "up_down_counter": _FanoutUpDownCounter,
    "histogram": _FanoutHistogram,
    "gauge": _FanoutGauge,
}

_NOOP_TYPES: Dict[str, Callable[..., Any]] = {
    "counter": metrics_api.NoOpCounter,
    "up_down_counter": metrics_api.NoOpUpDownCounter,
    "histogram": metrics_api.NoOpHistogram,
    "gauge": getattr(metrics_api, "NoOpGauge", None) or getattr(metrics_api, "_NoOpGauge"),
    "observable_counter": metrics_api.NoOpObservableCounter,
    "observable_up_down_counter": metrics_api.NoOpObservableUpDownCounter,
    "observable_gauge": metrics_api.NoOpObservableGauge,
}

_SYNC_TYPES: Dict[str, Callable[..., Any]] = {
    "counter": _native.Counter,
    "up_down_counter": _native.UpDownCounter,
    "histogram": _native.Histogram,
    "gauge": _native.Gauge,
}
_ASYNC_TYPES: Dict[str, Callable[..., Any]] = {
    "observable_counter": ObservableCounter,
    "observable_up_down_counter": ObservableUpDownCounter,
    "observable_gauge": ObservableGauge,
}


class _Entry:
    """One registered instrument and how to re-create its streams: (native instrument or
    sink, stream name, unit, description, aggregation) each."""

    __slots__ = ("instrument", "streams", "advisory")

    def __init__(self, instrument: Any, streams: List[Tuple[Any, str, str, str, Any]], advisory: Any) -> None:
        self.instrument = instrument
        self.streams = streams
        self.advisory = advisory


class Meter(metrics_api.Meter):
    """Creates the instruments of one instrumentation scope."""

    def __init__(
        self,
        provider: "MeterProvider",
        name: str,
        version: Optional[str],
        schema_url: Optional[str],
        attributes: Any,
        scope_ref: int,
    ) -> None:
        super().__init__(name, version=version, schema_url=schema_url)
        self._provider = provider
        self._scope_args = (name, version, schema_url, attributes)
        self._scope_ref = scope_ref
        self._twin_meter: Any = None
        if provider._shadow is not None:  # pylint: disable=protected-access
            self._twin_meter = provider._shadow.meter(name, version, schema_url, attributes)  # noqa: SLF001
        self._entries: Dict[Tuple[str, str, str, str], _Entry] = {}
        self._names: Dict[str, Tuple[str, str, str, str]] = {}
        self._registration_lock = threading.Lock()

    # ---------------------------------------------------------------- registration

    def _register(
        self,
        kind: str,
        name: Any,
        unit: Any,
        description: Any,
        callbacks: Any = None,
        advisory: Any = None,
    ) -> Any:
        if not isinstance(name, str):
            _logger.warning("Instrument name must be a str, got %r", name)
            name = str(name)
        unit = "" if unit is None else str(unit)
        description = "" if description is None else str(description)
        if _NAME.match(name) is None:
            _logger.warning(
                "Instrument name %r is invalid (expected an ASCII letter then up to 254 of [A-Za-z0-9_.-/]); "
                "recorded anyway",
                name,
            )
        if _UNIT.match(unit) is None:
            _logger.warning("Instrument unit %r is invalid (ASCII, at most 63 characters); recorded anyway", unit)
        lname = name.lower()
        identity = (lname, kind, unit, description)
        with self._registration_lock:
            entry = self._entries.get(identity)
            if entry is not None:
                if advisory is not None and entry.advisory != advisory:
                    _logger.warning(
                        "An instrument with name %s, type %s, unit %s and description %s has been created already "
                        "with a different advisory value %s and will be used instead.",
                        lname,
                        kind,
                        unit,
                        description,
                        entry.advisory,
                    )
                if callbacks and isinstance(entry.instrument, _Observable):
                    for callback in callbacks:
                        entry.instrument._add_callback(callback)  # pylint: disable=protected-access
                return entry.instrument
            previous = self._names.get(lname)
            if previous is not None and previous != identity:
                _logger.warning(
                    "Duplicate instrument registration: %r was registered as (%s, unit %r, description %r) and is "
                    "now registered as (%s, unit %r, description %r). Both are recorded as separate streams of the "
                    "same name, which backends may not tell apart; use a different name or a View.",
                    lname,
                    previous[1],
                    previous[2],
                    previous[3],
                    kind,
                    unit,
                    description,
                )
            boundaries = _boundaries(advisory) if kind == "histogram" else ()
            aggregation = _aggregation(kind, boundaries)
            entry = self._create(kind, name, lname, unit, description, aggregation, callbacks, advisory, boundaries)
            self._entries[identity] = entry
            self._names.setdefault(lname, identity)
            return entry.instrument

    def _create(
        self,
        kind: str,
        given_name: str,
        name: str,
        unit: str,
        description: str,
        aggregation: Any,
        callbacks: Any,
        advisory: Any,
        boundaries: Sequence[float],
    ) -> _Entry:
        provider = self._provider
        views = provider._views  # noqa: SLF001
        if views:
            streams = _views.resolve(
                views, kind, name, unit, description, self._scope_args[:3], aggregation,
                boundaries or DEFAULT_BUCKET_BOUNDARIES, _boundaries,
            )  # fmt: skip
        else:
            streams = [_views.Stream(name, description, aggregation, None)]
        native_type = _SYNC_TYPES.get(kind, _native.MetricSink)
        targets = []
        recorded = []
        for stream in streams:
            ref = provider._stream(self._scope_ref, stream.name, unit, stream.description, stream.aggregation)
            # The native instrument carries the instrument's name (warnings, repr); the
            # stream's own name is in its MetricRef.
            native = native_type(provider._w(), ref, name, unit, description)  # noqa: SLF001
            targets.append((native, stream.attribute_keys))
            recorded.append((native, stream.name, unit, stream.description, stream.aggregation))
        shadow = provider._shadow  # noqa: SLF001
        if kind in _SYNC_TYPES:
            twin = None
            if shadow is not None:
                twin = shadow.instrument(self._twin_meter, kind, given_name, unit, description, advisory, None)
            if twin is None and len(targets) == 1 and targets[0][1] is None:
                instrument = targets[0][0]  # the native fast path
            elif twin is None and not targets:
                instrument = _NOOP_TYPES[kind](name, unit, description)
            else:
                instrument = _FANOUT_TYPES[kind](name, unit, description, targets, twin)
            return _Entry(instrument, recorded, advisory)
        if len(targets) == 1 and targets[0][1] is None:
            sink = targets[0][0]
        else:
            sums = [next(iter(r[4])) == "sum" for r in recorded]
            sink = _FanoutSink(name, unit, description, targets, sums)
        instrument = _ASYNC_TYPES[kind](name, callbacks, unit, description, sink=sink)
        twin = None
        if shadow is not None:
            twin = shadow.instrument(self._twin_meter, kind, given_name, unit, description, advisory, instrument._collect)
        if targets:
            provider._add_observable(instrument)  # noqa: SLF001
        elif twin is None:
            instrument = _NOOP_TYPES[kind](name, callbacks, unit, description)
        return _Entry(instrument, recorded, advisory)

    # ---------------------------------------------------------------- API

    def create_counter(self, name: str, unit: str = "", description: str = "") -> metrics_api.Counter:
        return self._register("counter", name, unit, description)  # type: ignore[no-any-return]

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> metrics_api.UpDownCounter:
        return self._register("up_down_counter", name, unit, description)  # type: ignore[no-any-return]

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Optional[Sequence[float]] = None,
    ) -> metrics_api.Histogram:
        advisory: Any = explicit_bucket_boundaries_advisory
        if advisory is not None:
            try:
                advisory = tuple(advisory)
            except TypeError:
                advisory = ("invalid",)
        return self._register("histogram", name, unit, description, advisory=advisory)  # type: ignore[no-any-return]

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._register("gauge", name, unit, description)

    def create_observable_counter(
        self, name: str, callbacks: Optional[Sequence[Any]] = None, unit: str = "", description: str = ""
    ) -> metrics_api.ObservableCounter:
        return self._register("observable_counter", name, unit, description, callbacks)  # type: ignore[no-any-return]

    def create_observable_up_down_counter(
        self, name: str, callbacks: Optional[Sequence[Any]] = None, unit: str = "", description: str = ""
    ) -> metrics_api.ObservableUpDownCounter:
        return self._register(  # type: ignore[no-any-return]
            "observable_up_down_counter", name, unit, description, callbacks
        )

    def create_observable_gauge(
        self, name: str, callbacks: Optional[Sequence[Any]] = None, unit: str = "", description: str = ""
    ) -> metrics_api.ObservableGauge:
        return self._register("observable_gauge", name, unit, description, callbacks)  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- lifecycle

    def _recreate(self, scope_ref: int) -> None:
        self._scope_ref = scope_ref
        for entry in list(self._entries.values()):
            for native, name, unit, description, aggregation in entry.streams:
                ref = self._provider._stream(scope_ref, name, unit, description, aggregation)
                native._set_metric_ref(ref)  # pylint: disable=protected-access

    def _disable(self) -> None:
        for entry in list(self._entries.values()):
            for native, *_ in entry.streams:
                native._set_enabled(False)  # pylint: disable=protected-access


class MeterProvider(ProviderBase, metrics_api.MeterProvider):
    """A meter provider writing into an otlp-mmap file (constructible with no arguments; a
    no-op after one warning when the file is missing or unusable, unless ``strict=True``).

    ``export_interval_millis`` (default ``OTEL_METRIC_EXPORT_INTERVAL``, 60000) is how often
    observable callbacks run; ``exemplar_filter`` (default ``OTEL_METRICS_EXEMPLAR_FILTER``,
    ``trace_based``) which measurements carry the current span context.

    As the official ``opentelemetry.sdk.metrics.MeterProvider``:

    * ``resource=``: an official (or our) ``Resource``, used exactly as given;
    * ``views=[View(...)]``: official ``opentelemetry.sdk.metrics.view.View`` objects
      choosing each instrument's streams (name, description, attribute keys, aggregation)
      when it is created (``otlp_mmap.sdk._views``); a dropped instrument is a no-op;
    * ``metric_readers=[...]``: official MetricReaders that receive the measurements too,
      through a shadow official MeterProvider (``otlp_mmap.sdk._metric_readers``); they keep
      working when the telemetry file cannot be used (not with ``OTEL_SDK_DISABLED=true``).

    An instrument that no view filters or multiplies, of a provider without readers, is the
    native instrument: views and readers cost nothing to those who do not use them.
    """

    def __init__(
        self,
        file: Optional[PathLike] = None,
        *,
        export_interval_millis: Optional[float] = None,
        export_timeout_millis: Optional[float] = None,
        exemplar_filter: Optional[str] = None,
        service_name: Optional[str] = None,
        resource_attributes: Optional[Mapping[str, Any]] = None,
        schema_url: Optional[str] = None,
        writer: Optional[_native.Writer] = None,
        shutdown_on_exit: bool = True,
        strict: Optional[bool] = None,
        resource: Any = None,
        metric_readers: Sequence[Any] = (),
        views: Sequence[Any] = (),
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
        self._interval_ms = (
            float(export_interval_millis)
            if export_interval_millis is not None and export_interval_millis > 0
            else _env.milliseconds(_env.OTEL_METRIC_EXPORT_INTERVAL, 60000.0)
        )
        self._timeout_ms = (
            float(export_timeout_millis)
            if export_timeout_millis is not None and export_timeout_millis > 0
            else _env.milliseconds(_env.OTEL_METRIC_EXPORT_TIMEOUT, 30000.0)
        )
        name = (exemplar_filter or _env.get(_env.OTEL_METRICS_EXEMPLAR_FILTER) or "trace_based").strip().lower()
        if name not in _EXEMPLAR_FILTERS:
            _logger.warning("Unknown exemplar filter %r; using trace_based", name)
            name = "trace_based"
        self._exemplar_filter = name
        _native._sdk_set_exemplar_filter(_EXEMPLAR_FILTERS[name])  # pylint: disable=protected-access
        self._views: List[Any] = _views.check_views(views) if views else []
        self._shadow: Optional[_metric_readers.Shadow] = None
        if metric_readers and not _env.sdk_disabled():
            self._shadow = _metric_readers.make_shadow(
                metric_readers, self._views, self.resource.attributes, self.resource.schema_url, name
            )
        self._meters: Dict[Any, Meter] = {}
        self._observables: List[_Observable] = []
        self._collect_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def export_interval_millis(self) -> float:
        return self._interval_ms

    def get_meter(
        self,
        name: str,
        version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Any = None,
    ) -> metrics_api.Meter:
        if not self._active():
            if self._is_shutdown:
                _logger.warning("get_meter() on a MeterProvider that was shut down: returning a no-op meter")
            elif self._shadow is not None:
                # No usable telemetry file: the metric readers still get the measurements.
                twin_meter = self._shadow.meter(name, version, schema_url, attributes)
                if twin_meter is not None:
                    return twin_meter  # type: ignore[no-any-return]
            return metrics_api.NoOpMeter(name, version=version, schema_url=schema_url)
        key = scope_key(name, version, schema_url, attributes)
        name = key[0]
        with self._lock:
            meter = self._meters.get(key)
            if meter is None:
                scope_ref = self._create_scope(name, version, attributes, schema_url)
                meter = Meter(self, name, version, schema_url, attributes, scope_ref)
                self._meters[key] = meter
            return meter

    def collect(self) -> None:
        """Runs every observable callback now and writes the observations."""
        if self._disabled:
            return
        options = CallbackOptions(timeout_millis=self._timeout_ms)
        with self._collect_lock:
            for observable in list(self._observables):
                observable._observe(options)  # pylint: disable=protected-access

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Runs the observable callbacks (synchronous measurements are already written), and
        the metric readers' force_flush."""
        if self._active():
            self.collect()
        if self._shadow is not None and not self._is_shutdown:
            return self._shadow.force_flush(timeout_millis)
        return True

    # ---------------------------------------------------------------- internals

    def _stream(self, scope_ref: int, name: str, unit: str, description: str, aggregation: Any) -> int:
        writer = self._w()
        try:
            return int(writer.create_metric_stream(scope_ref, text(name), text(description), text(unit), aggregation))
        except (TypeError, ValueError) as exc:
            _logger.warning("otlp_mmap: metric stream %r rejected (%s); its measurements are dropped", name, exc)
            return 0

    def _add_observable(self, observable: _Observable) -> None:
        with self._lock:
            self._observables.append(observable)
            if self._thread is None and self._active():
                self._start_thread()

    def _start_thread(self) -> None:
        self._stop = threading.Event()
        thread = threading.Thread(target=self._run, name="otlp_mmap-metrics", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self._interval_ms / 1000.0):
            try:
                self.collect()
            except Exception:  # pylint: disable=broad-except
                _logger.exception("otlp_mmap: metric collection failed")

    def _on_new_resource(self) -> None:
        for meter in list(self._meters.values()):
            name, version, schema_url, attributes = meter._scope_args  # pylint: disable=protected-access
            meter._recreate(self._create_scope(name, version, attributes, schema_url))  # pylint: disable=W0212

    def _after_fork(self) -> None:
        self._collect_lock = threading.Lock()
        for observable in self._observables:
            observable._callbacks_lock = threading.Lock()  # pylint: disable=protected-access
        super()._after_fork()
        if self._thread is not None and self._active():
            self._start_thread()  # threads do not survive fork

    def _on_shutdown(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(self._timeout_ms / 1000.0, 0.1))
        try:
            if not self._disabled:
                options = CallbackOptions(timeout_millis=self._timeout_ms)
                with self._collect_lock:
                    for observable in list(self._observables):
                        observable._observe(options)  # pylint: disable=protected-access
        finally:
            for meter in list(self._meters.values()):
                meter._disable()  # pylint: disable=protected-access
            if self._shadow is not None:
                self._shadow.shutdown(self._timeout_ms)


__all__ = [
    "DEFAULT_BUCKET_BOUNDARIES",
    "Meter",
    "MeterProvider",
    "ObservableCounter",
    "ObservableGauge",
    "ObservableUpDownCounter",
]

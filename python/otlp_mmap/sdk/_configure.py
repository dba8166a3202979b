"""otlp_mmap.configure(): the SDK set up in one call."""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping, Optional, Union

from opentelemetry import _logs as logs_api
from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api

from otlp_mmap.sdk import _env, _logging_config
from otlp_mmap.sdk._provider import NoWriter, PathLike, open_writer_or_none
from otlp_mmap.sdk.logs import LoggerProvider, LoggingHandler
from otlp_mmap.sdk.metrics import MeterProvider
from otlp_mmap.sdk.trace import SpanLimits, TracerProvider

_logger = logging.getLogger("otlp_mmap.sdk")
_lock = threading.Lock()
_configured: Optional["Telemetry"] = None


class Telemetry:
    """The providers configure() made (None for a signal that was left out)."""

    def __init__(
        self,
        tracer_provider: Optional[TracerProvider],
        meter_provider: Optional[MeterProvider],
        logger_provider: Optional[LoggerProvider],
        logging_handler: Optional[LoggingHandler],
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.logging_handler = logging_handler

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        ok = True
        for provider in (self.tracer_provider, self.meter_provider, self.logger_provider):
            if provider is not None:
                ok = provider.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self) -> None:
        if self.logging_handler is not None:
            _logging_config.detach_from_root(self.logging_handler)
            self.logging_handler.close()
        for provider in (self.meter_provider, self.tracer_provider, self.logger_provider):
            if provider is not None:
                provider.shutdown()

    def __repr__(self) -> str:
        return (
            f"Telemetry(tracer_provider={self.tracer_provider!r}, meter_provider={self.meter_provider!r}, "
            f"logger_provider={self.logger_provider!r}, logging_handler={self.logging_handler!r})"
        )


def configure(
    file: Optional[PathLike] = None,
    service_name: Optional[str] = None,
    resource_attributes: Optional[Mapping[str, Any]] = None,
    *,
    traces: Optional[bool] = None,
    metrics: Optional[bool] = None,
    logs: Optional[bool] = None,
    logging_handler: Union[bool, int, None] = None,
    sampler: Any = None,
    span_limits: Optional[SpanLimits] = None,
    export_interval_millis: Optional[float] = None,
    set_global: bool = True,
    strict: Optional[bool] = None,
) -> Telemetry:
    """Sets up the OpenTelemetry SDK of otlp-mmap and returns its providers.

    ``file``: the telemetry file (default ``SDK_MMAP_EXPORTER_FILE``). ``service_name`` and
    ``resource_attributes`` take precedence over ``OTEL_SERVICE_NAME`` /
    ``OTEL_RESOURCE_ATTRIBUTES``. ``traces``/``metrics``/``logs``: which providers to make
    (default: each one, except a signal whose ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER`` is
    ``none``). ``logging_handler``: attach a :class:`LoggingHandler` to the root logger
    (True, or a level); by default only when
    ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``. The handler stays on the root
    logger through ``logging.config.dictConfig``/``fileConfig`` and ``logging.basicConfig``
    (see :mod:`otlp_mmap.sdk._logging_config`). ``set_global``: install the providers as the
    API's global providers (done once per process; a second call returns the first result
    with a warning).

    Never raises into the application for a missing or unusable telemetry file (or any
    other failure of the set-up): one warning through the ``otlp_mmap.sdk`` logger, and the
    providers are no-ops whose calls succeed and do nothing. ``strict=True`` (default
    ``OTLP_MMAP_STRICT=true``) raises :class:`ConfigurationError` instead.

    With ``OTEL_SDK_DISABLED=true`` the providers are no-ops and no file is needed.
    """
    global _configured  # pylint: disable=global-statement
    is_strict = _env.strict(strict)
    with _lock:
        if set_global and _configured is not None:
            _logger.warning("otlp_mmap.configure() was already called; keeping the first configuration")
            return _configured
        try:
            telemetry = _configure(
                file, service_name, resource_attributes, traces, metrics, logs, logging_handler, sampler,
                span_limits, export_interval_millis, set_global, is_strict,
            )  # fmt: skip
        except Exception as exc:  # pylint: disable=broad-except
            if is_strict:
                raise
            _env.warn_once(
                f"configure:{type(exc).__name__}",
                "otlp_mmap: the telemetry set-up failed (%s: %s); telemetry is OFF for this process (set "
                "OTLP_MMAP_STRICT=true to raise instead)",
                type(exc).__name__,
                exc,
                exc_info=True,
            )
            telemetry = _noop_telemetry(f"the telemetry set-up failed ({type(exc).__name__}: {exc})")
        if set_global:
            _configured = telemetry
        return telemetry


def _noop_telemetry(reason: str) -> Telemetry:
    no_writer: Any = NoWriter(reason)
    return Telemetry(
        TracerProvider(writer=no_writer, shutdown_on_exit=False),
        MeterProvider(writer=no_writer, shutdown_on_exit=False),
        LoggerProvider(writer=no_writer, shutdown_on_exit=False),
        None,
    )


def _configure(  # pylint: disable=too-many-arguments,too-many-locals
    file: Optional[PathLike],
    service_name: Optional[str],
    resource_attributes: Optional[Mapping[str, Any]],
    traces: Optional[bool],
    metrics: Optional[bool],
    logs: Optional[bool],
    logging_handler: Union[bool, int, None],
    sampler: Any,
    span_limits: Optional[SpanLimits],
    export_interval_millis: Optional[float],
    set_global: bool,
    strict: bool,
) -> Telemetry:
    writer: Any = None
    if not _env.sdk_disabled():
        writer, error = open_writer_or_none(file, strict)
        if writer is None:
            writer = NoWriter(error or "no telemetry file")  # warned once already; the providers are no-ops
    common: Any = {
        "service_name": service_name,
        "resource_attributes": resource_attributes,
        "writer": writer,
        "strict": strict,
    }
    wanted = {
        signal: (not _env.exporter_disabled(signal)) if value is None else bool(value)
        for signal, value in (("traces", traces), ("metrics", metrics), ("logs", logs))
    }
    tracer_provider = TracerProvider(sampler=sampler, span_limits=span_limits, **common) if wanted["traces"] else None
    meter_provider = (
        MeterProvider(export_interval_millis=export_interval_millis, **common) if wanted["metrics"] else None
    )
    logger_provider = LoggerProvider(**common) if wanted["logs"] else None
    if set_global:
        if tracer_provider is not None:
            trace_api.set_tracer_provider(tracer_provider)
        if meter_provider is not None:
            metrics_api.set_meter_provider(meter_provider)
        if logger_provider is not None:
            logs_api.set_logger_provider(logger_provider)
    if logging_handler is None:
        logging_handler = _env.flag(_env.OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED)
    handler = None
    if logging_handler is not False and logger_provider is not None and not logger_provider.disabled:
        level = logging.NOTSET if logging_handler is True else int(logging_handler)
        handler = LoggingHandler(level, logger_provider)
        _logging_config.attach_to_root(handler)
    return Telemetry(tracer_provider, meter_provider, logger_provider, handler)

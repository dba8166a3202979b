"""otlp_mmap.configure(): the SDK set up in one call."""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping, Optional, Union

from opentelemetry import _logs as logs_api
from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api

from otlp_mmap.sdk import _env
from otlp_mmap.sdk._provider import PathLike, open_writer
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
            logging.getLogger().removeHandler(self.logging_handler)
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
    traces: bool = True,
    metrics: bool = True,
    logs: bool = True,
    logging_handler: Union[bool, int, None] = None,
    sampler: Any = None,
    span_limits: Optional[SpanLimits] = None,
    export_interval_millis: Optional[float] = None,
    set_global: bool = True,
) -> Telemetry:
    """Sets up the OpenTelemetry SDK of otlp-mmap and returns its providers.

    ``file``: the telemetry file (default ``SDK_MMAP_EXPORTER_FILE``; ConfigurationError if
    neither is given). ``service_name`` and ``resource_attributes`` take precedence over
    ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``. ``traces``/``metrics``/``logs``:
    which providers to make. ``logging_handler``: attach a :class:`LoggingHandler` to the
    root logger (True, or a level); by default only when
    ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``. ``set_global``: install the
    providers as the API's global providers (done once per process; a second call returns
    the first result with a warning).

    With ``OTEL_SDK_DISABLED=true`` the providers are no-ops and no file is needed.
    """
    global _configured  # pylint: disable=global-statement
    with _lock:
        if set_global and _configured is not None:
            _logger.warning("otlp_mmap.configure() was already called; keeping the first configuration")
            return _configured
        writer = None if _env.sdk_disabled() else open_writer(file)
        common: Any = {
            "service_name": service_name,
            "resource_attributes": resource_attributes,
            "writer": writer,
        }
        tracer_provider = TracerProvider(sampler=sampler, span_limits=span_limits, **common) if traces else None
        meter_provider = MeterProvider(export_interval_millis=export_interval_millis, **common) if metrics else None
        logger_provider = LoggerProvider(**common) if logs else None
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
            logging.getLogger().addHandler(handler)
        telemetry = Telemetry(tracer_provider, meter_provider, logger_provider, handler)
        if set_global:
            _configured = telemetry
        return telemetry

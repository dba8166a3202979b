"""otlp-mmap: OpenTelemetry telemetry written to a memory-mapped file.

Applications instrumented with ``opentelemetry-api`` use the SDK in :mod:`otlp_mmap.sdk`:
``otlp_mmap.configure()`` in code, or ``OTEL_PYTHON_TRACER_PROVIDER=otlp_mmap`` /
``opentelemetry-instrument`` by configuration. Underneath, :class:`Writer` writes records
into the file; a separate collector process reads it (:class:`Reader` reads it from
Python, for tests and tools).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otlp_mmap._native import FormatError, NotInitializedError, Reader, Writer

if TYPE_CHECKING:
    from otlp_mmap.sdk import LoggerProvider, LoggingHandler, MeterProvider, Telemetry, TracerProvider

# Names of otlp_mmap.sdk also available here; imported on first use (they import opentelemetry-api).
_SDK_NAMES = ("LoggerProvider", "LoggingHandler", "MeterProvider", "TracerProvider")

__version__ = "0.1.0"

# AggregationTemporality of proto/mmap.proto, for create_metric_stream().
DELTA = 1
CUMULATIVE = 2


def configure(*args: Any, **kwargs: Any) -> "Telemetry":
    """Sets up the OpenTelemetry SDK (traces, metrics, logs) writing into the telemetry file:
    see :func:`otlp_mmap.sdk.configure` for the arguments
    (``file=None, service_name=None, resource_attributes=None, *, traces, metrics, logs,
    logging_handler, sampler, span_limits, export_interval_millis, set_global, strict``).
    Never raises for a missing or unusable file unless ``strict=True`` (or
    ``OTLP_MMAP_STRICT=true``): one warning, and no-op providers."""
    from otlp_mmap.sdk import configure as _configure  # noqa: PLC0415  (imports opentelemetry-api)

    return _configure(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        from otlp_mmap import sdk  # noqa: PLC0415

        return getattr(sdk, name)
    raise AttributeError(f"module 'otlp_mmap' has no attribute {name!r}")


__all__ = [
    "CUMULATIVE",
    "DELTA",
    "FormatError",
    "LoggerProvider",
    "LoggingHandler",
    "MeterProvider",
    "NotInitializedError",
    "Reader",
    "TracerProvider",
    "Writer",
    "__version__",
    "configure",
]

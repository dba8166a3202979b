"""otlp_mmap.sdk: an OpenTelemetry SDK (traces, metrics, logs) that writes into an otlp-mmap
file, for applications instrumented with ``opentelemetry-api``.

Set up in code with :func:`otlp_mmap.configure`, or by configuration alone:

* ``OTEL_PYTHON_TRACER_PROVIDER=otlp_mmap`` (and ``..._METER_PROVIDER``,
  ``..._LOGGER_PROVIDER``): the API builds our providers with no arguments;
* ``opentelemetry-instrument python app.py`` with this package installed: our distro and
  configurator set everything up (see :mod:`otlp_mmap.distro`).

The file comes from ``SDK_MMAP_EXPORTER_FILE`` (or ``file=``). Set-up never raises into the
application: a missing or unusable file gives one warning (through the ``otlp_mmap.sdk``
logger) and no-op providers, unless strict mode (``strict=True``, ``OTLP_MMAP_STRICT=true``)
asks for a ConfigurationError.
"""

from otlp_mmap.sdk import _native_api  # noqa: F401  (connects the native types to the API first)
from otlp_mmap.sdk._configure import Telemetry, configure
from otlp_mmap.sdk._provider import ConfigurationError
from otlp_mmap.sdk.logs import LoggerProvider, LoggingHandler, LogRecordLimits
from otlp_mmap.sdk.metrics import MeterProvider
from otlp_mmap.sdk.resources import Resource, build_resource_attributes
from otlp_mmap.sdk.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from otlp_mmap.sdk.trace import SpanLimits, TracerProvider


def counters() -> "dict[str, int]":
    """What the SDK dropped so far in this process: invalid or limited attributes, events
    and links beyond the limits, invalid measurements, records not written (full ring),
    internal errors."""
    from otlp_mmap import _native  # noqa: PLC0415

    return dict(_native._sdk_counters())  # pylint: disable=protected-access


__all__ = [
    "ALWAYS_OFF",
    "ALWAYS_ON",
    "ConfigurationError",
    "LogRecordLimits",
    "LoggerProvider",
    "LoggingHandler",
    "MeterProvider",
    "ParentBased",
    "Resource",
    "Sampler",
    "SpanLimits",
    "Telemetry",
    "TraceIdRatioBased",
    "TracerProvider",
    "build_resource_attributes",
    "configure",
    "counters",
]

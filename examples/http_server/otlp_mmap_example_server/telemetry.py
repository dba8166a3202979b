"""Telemetry set-up, chosen by environment:

* ``SDK_MMAP_EXPORTER_FILE=path``: our SDK writes to that file (a collector exports it);
* otherwise ``OTEL_EXPORTER_OTLP_ENDPOINT=url``: the official SDK with its standard OTLP
  exporter (batch span and log processors, periodic metric reader), for comparison;
* neither: a clear message and exit status 2.

``OTLP_MMAP_EXAMPLE_TELEMETRY=none`` runs with the OpenTelemetry API alone (no SDK: every
call is a no-op), the baseline of the load benchmark.

Call :func:`configure` once per process (under gunicorn: in each worker, after the fork).
"""

from __future__ import annotations

import logging
import os
import sys

MODE_MMAP = "otlp-mmap"
MODE_OFFICIAL = "official"
MODE_NONE = "none"

_configured: str | None = None


def telemetry_mode() -> str:
    if os.environ.get("OTLP_MMAP_EXAMPLE_TELEMETRY") == MODE_NONE:
        return MODE_NONE
    if os.environ.get("SDK_MMAP_EXPORTER_FILE"):
        return MODE_MMAP
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return MODE_OFFICIAL
    sys.stderr.write(
        "otlp-mmap example server: no telemetry destination.\n"
        "  Set SDK_MMAP_EXPORTER_FILE=/path/to/file to write through otlp-mmap (run `otlp-mmap collect` beside it),\n"
        "  or OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 to use the official OpenTelemetry SDK.\n"
    )
    raise SystemExit(2)


def configure() -> str:
    """Installs the tracer, meter and logger providers and the logging bridge; idempotent."""
    global _configured
    if _configured is not None:
        return _configured
    mode = telemetry_mode()
    os.environ.setdefault("OTEL_SERVICE_NAME", "otlp-mmap-example-server")
    if mode == MODE_NONE:
        _configured = mode
        return mode
    if mode == MODE_MMAP:
        import otlp_mmap

        otlp_mmap.configure()
        handler: logging.Handler = otlp_mmap.LoggingHandler()
    else:
        handler = _configure_official()
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    _configured = mode
    return mode


def _configure_official() -> logging.Handler:
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(
        MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    _logs.set_logger_provider(logger_provider)
    return LoggingHandler(logger_provider=logger_provider)


def shutdown() -> None:
    """Flushes and stops the providers (gunicorn worker exit, end of a test)."""
    from opentelemetry import _logs, metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()):
        stop = getattr(provider, "shutdown", None)
        if stop is not None:
            stop()

"""Telemetry set up in code, the way the two SDKs' documentation shows it, for the runs that
do not use `opentelemetry-instrument` (gunicorn.conf.py, django_serve.py). FRAMEWORKS_SDK
names the SDK: "official" (opentelemetry-sdk with batch processors, a periodic metric reader
and the OTLP/gRPC exporters, configured by the standard OTEL_EXPORTER_OTLP_* variables) or
"ours" (otlp_mmap into SDK_MMAP_EXPORTER_FILE; `otlp-mmap collect` exports it)."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Callable


def configure() -> Callable[[], None]:
    """Sets up the global providers and a logging handler on the root logger; returns the
    shutdown to call when the process ends."""
    if os.environ["FRAMEWORKS_SDK"] == "ours":
        import otlp_mmap

        telemetry = otlp_mmap.configure(logging_handler=True)
        return telemetry.shutdown
    return _configure_official()


def _configure_official() -> Callable[[], None]:
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

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    metrics.set_meter_provider(meter_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    _logs.set_logger_provider(logger_provider)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's handler, still the documented one
        handler = LoggingHandler(logger_provider=logger_provider)
    logging.getLogger().addHandler(handler)

    def shutdown() -> None:
        logging.getLogger().removeHandler(handler)
        tracer_provider.shutdown()
        meter_provider.shutdown()
        logger_provider.shutdown()

    return shutdown

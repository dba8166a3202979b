"""Environment variables of the SDK: names, and lenient parsing (a bad value is warned about
and replaced by the default; configuration never raises at telemetry time)."""

from __future__ import annotations

import logging
import os
from typing import Mapping, Optional

_logger = logging.getLogger("otlp_mmap.sdk")

SDK_MMAP_EXPORTER_FILE = "SDK_MMAP_EXPORTER_FILE"
OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
OTEL_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
OTEL_ATTRIBUTE_COUNT_LIMIT = "OTEL_ATTRIBUTE_COUNT_LIMIT"
OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT = "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"
OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"
OTEL_SPAN_EVENT_COUNT_LIMIT = "OTEL_SPAN_EVENT_COUNT_LIMIT"
OTEL_SPAN_LINK_COUNT_LIMIT = "OTEL_SPAN_LINK_COUNT_LIMIT"
OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT = "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"
OTEL_LINK_ATTRIBUTE_COUNT_LIMIT = "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"
OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT = "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT"
OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT = "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT"
OTEL_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
OTEL_METRIC_EXPORT_TIMEOUT = "OTEL_METRIC_EXPORT_TIMEOUT"
OTEL_METRICS_EXEMPLAR_FILTER = "OTEL_METRICS_EXEMPLAR_FILTER"
OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED = "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"

# An unlimited limit ("no limit"), as the native types take it.
UNLIMITED = -1


def get(name: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """The stripped value of a variable; "" when unset."""
    return (environ if environ is not None else os.environ).get(name, "").strip()


def flag(name: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """A boolean variable: only "true" (any case) is true, as the specification says."""
    return get(name, environ).lower() == "true"


def sdk_disabled(environ: Optional[Mapping[str, str]] = None) -> bool:
    return flag(OTEL_SDK_DISABLED, environ)


def limit(name: str, default: int, environ: Optional[Mapping[str, str]] = None) -> int:
    """A non-negative integer limit; "unset" or "none" means no limit (-1)."""
    raw = get(name, environ)
    if raw == "":
        return default
    if raw.lower() in ("unset", "none", "inf", "infinity"):
        return UNLIMITED
    try:
        value = int(raw)
    except ValueError:
        _logger.warning("%s=%r is not a whole number; using the default (%s)", name, raw, _show(default))
        return default
    if value < 0:
        _logger.warning("%s=%r is negative; using the default (%s)", name, raw, _show(default))
        return default
    return value


def milliseconds(name: str, default: float, environ: Optional[Mapping[str, str]] = None) -> float:
    """A positive duration in milliseconds."""
    raw = get(name, environ)
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        _logger.warning("%s=%r is not a number of milliseconds; using %s", name, raw, default)
        return default
    if not value > 0:
        _logger.warning("%s=%r must be positive; using %s", name, raw, default)
        return default
    return value


def _show(value: int) -> str:
    return "no limit" if value < 0 else str(value)

"""Environment variables of the SDK: names, and lenient parsing (a bad value is warned about
and replaced by the default; configuration never raises at telemetry time)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, List, Mapping, Optional

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
OTEL_PYTHON_ID_GENERATOR = "OTEL_PYTHON_ID_GENERATOR"
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
OTEL_METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
OTEL_LOGS_EXPORTER = "OTEL_LOGS_EXPORTER"
# Strict set-up: a telemetry file that cannot be used raises instead of giving no-op providers.
OTLP_MMAP_STRICT = "OTLP_MMAP_STRICT"

# The exporter variable of each signal.
EXPORTER_VARIABLES = {"traces": OTEL_TRACES_EXPORTER, "metrics": OTEL_METRICS_EXPORTER, "logs": OTEL_LOGS_EXPORTER}

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


def strict(value: Optional[bool] = None, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Strict set-up: the argument when given, else OTLP_MMAP_STRICT=true."""
    if value is not None:
        return bool(value)
    return flag(OTLP_MMAP_STRICT, environ)


def entry_points(group: str, name: Optional[str] = None) -> List[Any]:
    """The installed entry points of `group` (only those called `name` when given)."""
    try:
        from opentelemetry.util._importlib_metadata import entry_points as found  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        from importlib.metadata import entry_points as found  # type: ignore[assignment]  # noqa: PLC0415
    if name is None:
        return list(found(group=group))
    return list(found(group=group, name=name))


_warned: "set[str]" = set()
_warned_lock = threading.Lock()


def warn_once(key: str, message: str, *args: object, **kwargs: Any) -> bool:
    """Logs a warning through the otlp_mmap.sdk logger the first time `key` is seen in this
    process (later ones at debug level). True when this call warned."""
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    _logger.log(logging.WARNING if first else logging.DEBUG, message, *args, **kwargs)
    return first


def exporter_disabled(signal: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none: the application asks for no export of it."""
    return get(EXPORTER_VARIABLES[signal], environ).lower() == "none"


# Exporter values accepted without a word: "otlp" is what the collector does, "none" turns
# the signal off in configure().
_QUIET_EXPORTERS = frozenset(("", "otlp", "none"))


def warn_about_exporter_settings(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """One warning per process when the application's environment holds exporter settings:
    OTEL_*_EXPORTER with a value other than otlp/none (console, zipkin, ..., as
    ``opentelemetry-instrument --traces_exporter console`` sets it) or any OTEL_EXPORTER_*
    variable (endpoint, headers, protocol, ...). Exporting is the collector's job; only the
    names (and the OTEL_*_EXPORTER values, never the others: headers hold secrets) are shown.
    Returns the message when this call warned."""
    if "exporter-settings" in _warned:
        return None
    env = environ if environ is not None else os.environ
    seen = []
    for name in EXPORTER_VARIABLES.values():
        value = get(name, env)
        if value.lower() not in _QUIET_EXPORTERS:
            seen.append(f"{name}={value}")
    seen.extend(sorted(name for name in env if name.startswith("OTEL_EXPORTER_")))
    if not seen:
        return None
    message = (
        "otlp_mmap: exporter settings in the application have no effect here: %s. This SDK writes telemetry "
        "into the file (SDK_MMAP_EXPORTER_FILE); exporting is the collector's job: give these settings to "
        "`otlp-mmap collect`, which reads the file and honours OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, "
        "OTEL_LOGS_EXPORTER (otlp, console, none) and OTEL_EXPORTER_OTLP_*"
    )
    shown = ", ".join(seen)
    if warn_once("exporter-settings", message, shown):
        return message % shown
    return None


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

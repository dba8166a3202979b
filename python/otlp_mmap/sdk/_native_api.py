"""Connects the native SDK types to opentelemetry-api (imported once, by otlp_mmap.sdk).

The native code reads and attaches the OpenTelemetry context through the API's own
``ContextVar`` (when the default ``contextvars`` runtime context is in use), builds the
API's ``SpanContext`` and ``Status`` objects, and calls back into the few hooks below for
rare work that is easier in Python (exception formatting, decorators, warnings).

The native types are registered as virtual subclasses of the API's abstract classes, so
``isinstance(span, opentelemetry.trace.Span)`` holds (``use_span`` and
``get_current_span`` rely on it).
"""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
from typing import Any, Callable, Dict, Optional, TypeVar

from opentelemetry import _logs as _logs_api
from opentelemetry import context as _context_api
from opentelemetry import metrics as _metrics_api
from opentelemetry import trace as _trace_api
from opentelemetry.context.context import Context
from opentelemetry.trace.propagation import _SPAN_KEY

from otlp_mmap import _native

_logger = logging.getLogger("otlp_mmap.sdk")

_F = TypeVar("_F", bound=Callable[..., Any])


def _warn(message: str) -> None:
    _logger.warning("%s", message)


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # pylint: disable=broad-except
        try:
            return repr(value)
        except Exception:  # pylint: disable=broad-except
            return "<unprintable>"


def _exception_type(exc: BaseException) -> str:
    cls = type(exc)
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", cls.__name__)
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


def _exception_attributes(exc: BaseException, escaped: Optional[bool]) -> Dict[str, Any]:
    """exception.type/message/stacktrace (and exception.escaped for span events), as the
    official SDK records them."""
    try:
        stacktrace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # pylint: disable=broad-except
        stacktrace = ""
    attrs: Dict[str, Any] = {
        "exception.type": _exception_type(exc),
        "exception.message": _safe_str(exc),
        "exception.stacktrace": stacktrace,
    }
    if escaped is not None:
        attrs["exception.escaped"] = str(bool(escaped))
    return attrs


def _log_exc_attributes(record: logging.LogRecord) -> Dict[str, Any]:
    """exception.* attributes of a stdlib log record with exc_info (as the logging bridge of
    the official SDK: the class name, the first argument, the formatted traceback)."""
    attrs: Dict[str, Any] = {}
    info = record.exc_info
    if not isinstance(info, tuple) or len(info) != 3:
        return attrs
    exctype, value, tb = info
    if exctype is not None:
        attrs["exception.type"] = getattr(exctype, "__name__", _safe_str(exctype))
    if value is not None and getattr(value, "args", None):
        attrs["exception.message"] = _safe_str(value.args[0])
    if tb is not None:
        try:
            attrs["exception.stacktrace"] = "".join(traceback.format_exception(*info))
        except Exception:  # pylint: disable=broad-except
            pass
    return attrs


def _decorate(cm: Any, func: _F) -> _F:
    """@tracer.start_as_current_span(...): each call runs in a fresh span."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with cm._recreate():  # pylint: disable=protected-access
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with cm._recreate():  # pylint: disable=protected-access
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _context_var() -> Any:
    """The ContextVar of the API's default runtime context, or None (another runtime context
    is configured with OTEL_PYTHON_CONTEXT: the native code then calls the API)."""
    runtime = getattr(_context_api, "_RUNTIME_CONTEXT", None)
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext  # noqa: PLC0415

    if type(runtime) is ContextVarsRuntimeContext:  # pylint: disable=unidiomatic-typecheck
        return getattr(runtime, "_current_context", None)
    return None


def _init() -> None:
    trace_flags = [_trace_api.TraceFlags(i) for i in range(4)]
    _native._sdk_init(  # pylint: disable=protected-access
        context_var=_context_var(),
        get_current=_context_api.get_current,
        attach=_context_api.attach,
        detach=_context_api.detach,
        context_type=Context,
        span_key=_SPAN_KEY,
        span_abc=_trace_api.Span,
        span_context_type=_trace_api.SpanContext,
        trace_flags_type=_trace_api.TraceFlags,
        default_trace_state=_trace_api.DEFAULT_TRACE_STATE,
        status_type=_trace_api.Status,
        span_kinds=[
            _trace_api.SpanKind.INTERNAL,
            _trace_api.SpanKind.SERVER,
            _trace_api.SpanKind.CLIENT,
            _trace_api.SpanKind.PRODUCER,
            _trace_api.SpanKind.CONSUMER,
        ],
        status_codes=[_trace_api.StatusCode.UNSET, _trace_api.StatusCode.OK, _trace_api.StatusCode.ERROR],
        trace_flags=trace_flags,
        warn=_warn,
        exception_attributes=_exception_attributes,
        decorate=_decorate,
        log_exc_attributes=_log_exc_attributes,
    )
    _trace_api.Tracer.register(_native.Tracer)
    _trace_api.Span.register(_native.Span)
    _metrics_api.Counter.register(_native.Counter)
    _metrics_api.UpDownCounter.register(_native.UpDownCounter)
    _metrics_api.Histogram.register(_native.Histogram)
    gauge = getattr(_metrics_api, "Gauge", None) or getattr(_metrics_api, "_Gauge", None)
    if gauge is not None:
        gauge.register(_native.Gauge)
    _logs_api.Logger.register(_native.Logger)


_init()

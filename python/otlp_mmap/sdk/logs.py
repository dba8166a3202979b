"""Logs: ``LoggerProvider`` (an ``opentelemetry._logs.LoggerProvider``) and
``LoggingHandler``, the bridge from the standard library's ``logging``.

``Logger.emit`` (native) takes both call styles of the API: ``logger.emit(LogRecord(...))``
and ``logger.emit(body=..., severity_number=..., event_name=..., ...)``. The body is written
as the record's body (never interned in the dictionary; only event names are), the caller's
attributes are never modified, ``exception=`` adds ``exception.type``/``message``/
``stacktrace`` attributes (the caller's attributes win), and the trace context comes from
the record, the ``context`` argument or the current context. A record without
``timestamp`` has time 0 and the observed time of the call, as in the official SDK.

``LoggingHandler`` writes each ``logging.LogRecord``: the level as severity number (the
specification's mapping: DEBUG 5, INFO 9, WARNING 13, ERROR 17, CRITICAL 21, levels in
between to the sub-levels) and text (``WARN`` and ``FATAL`` for ``WARNING`` and
``CRITICAL``), the formatted message as body (the handler's formatter if it has one), the
record's extra fields as attributes, ``exc_info`` as ``exception.*`` attributes,
optionally the code location (``code.file.path``, ``code.function.name``,
``code.line.number``), and the current span's context. The instrumentation scope is the
logger's name. Its ``handle`` is native: filters run only when the handler has some, and no
lock is taken (writes are thread-safe).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Dict, Mapping, Optional

from opentelemetry import _logs as logs_api

from otlp_mmap import _native
from otlp_mmap.sdk import _env, _logging_config, _native_api  # noqa: F401  (_native_api connects the API)
from otlp_mmap.sdk._provider import PathLike, ProviderBase, scope_key

_logger = logging.getLogger("otlp_mmap.sdk")

_DEFAULT_LIMIT = 128

# Attributes every logging.LogRecord has; the others (extra=...) become log attributes.
RESERVED_LOG_RECORD_ATTRIBUTES = frozenset(
    (
        "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "getMessage", "levelname",
        "levelno", "lineno", "message", "module", "msecs", "msg", "name", "pathname", "process", "processName",
        "relativeCreated", "stack_info", "taskName", "thread", "threadName",
    )
)  # fmt: skip


# ---------------------------------------------------------------------------- fast records

# Fields of logging.LogRecord that the native factory knows how to make.
_KNOWN_FIELDS = frozenset(
    (
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
        "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "taskName",
    )
)  # fmt: skip
_TIME_FIELDS = ("created", "msecs", "relativeCreated")
OTLP_MMAP_FAST_LOG_RECORDS = "OTLP_MMAP_FAST_LOG_RECORDS"

_factory_lock = threading.Lock()
_factory: Any = None
_factory_holders: "weakref.WeakSet[LoggingHandler]" = weakref.WeakSet()


def _make_factory() -> Any:
    """A native LogRecord factory that makes exactly the records of this Python's
    LogRecord.__init__, or None when that cannot be shown (an unknown Python version, a
    field we do not know): the stdlib is probed, and the result compared with its records."""
    try:
        probe = logging.LogRecord("probe", logging.WARNING, "/a/b/c.py", 7, "m %s", ("x",), None, "fn", None)
        order = tuple(vars(probe))
        if not set(order) <= _KNOWN_FIELDS:
            return None
        start = getattr(logging, "_startTime")
        ns_mode = isinstance(start, int)
        int_msecs = ns_mode or float(probe.msecs).is_integer()
        factory = _native.LogRecordFactory(logging.LogRecord, logging, order, ns_mode, int_msecs)
        error = ValueError("boom")
        cases = [
            ("app", logging.INFO, "/srv/app/main.py", 12, "hello %s", ("world",), None, "handler", None),
            ("app.db", 35, "relative.py", 3, "%(a)s and %(b)s", ({"a": 1, "b": 2},), None, None, None),
            ("x", logging.ERROR, "/p/.hidden", 4, 42, (), (ValueError, error, None), "f", "Stack (most recent)"),
            ("x", 5, "/a/b.tar.gz", 0, "m", ({},), None, None, None),
            ("x", 51, "/a/..b", 0, "m %s %s", ("a", "b"), None, None, None),
            ("x", logging.DEBUG, "no_dir", 0, None, None, None, None, None),
        ]
        for args in cases:
            ours, theirs = factory(*args), logging.LogRecord(*args)
            if type(ours) is not type(theirs) or list(vars(ours)) != list(vars(theirs)):
                return None
            for key, value in vars(theirs).items():
                mine = getattr(ours, key)
                if key in _TIME_FIELDS:
                    if type(mine) is not type(value) or abs(mine - value) > (1000.0 if key != "created" else 1.0):
                        return None
                elif mine != value or type(mine) is not type(value):
                    return None
            if _message(ours) != _message(theirs):
                return None
        return factory
    except Exception:  # pylint: disable=broad-except
        _logger.debug("otlp_mmap: the native LogRecord factory is not used", exc_info=True)
        return None


def _standard_fields() -> int:
    """How many attributes logging gives every record (more means extra fields), or 0."""
    try:
        record = logging.LogRecord("probe", logging.INFO, __file__, 1, "m", (), None)
        fields = set(vars(record))
        return len(fields) if fields <= RESERVED_LOG_RECORD_ATTRIBUTES else 0
    except Exception:  # pylint: disable=broad-except
        return 0


def _message(record: logging.LogRecord) -> Any:
    try:
        return record.getMessage()
    except Exception as exc:  # pylint: disable=broad-except
        return type(exc)


def _acquire_fast_log_records(holder: "LoggingHandler") -> bool:
    """Installs the native LogRecord factory (while a LoggingHandler uses it) when the
    stdlib's own factory is in place. OTLP_MMAP_FAST_LOG_RECORDS=false turns this off."""
    global _factory  # pylint: disable=global-statement
    if _env.get(OTLP_MMAP_FAST_LOG_RECORDS).lower() in ("0", "false", "no", "off"):
        return False
    with _factory_lock:
        current = logging.getLogRecordFactory()
        if _factory is not None and current is _factory:
            _factory_holders.add(holder)
            return True
        if current is not logging.LogRecord:
            return False
        factory = _make_factory()
        if factory is None:
            return False
        logging.setLogRecordFactory(factory)
        _factory = factory
        _factory_holders.clear()
        _factory_holders.add(holder)
        return True


def _release_fast_log_records(holder: Optional["LoggingHandler"]) -> None:
    """`holder` no longer needs the factory; nor do handlers that were closed and are
    attached to no logger any more. The stdlib's factory is put back when none is left."""
    global _factory  # pylint: disable=global-statement
    with _factory_lock:
        if holder is not None:
            _factory_holders.discard(holder)
        for other in list(_factory_holders):
            if other._closed_once and not _logging_config.attached_anywhere(other):  # noqa: SLF001
                _factory_holders.discard(other)
        if not _factory_holders and _factory is not None:
            if logging.getLogRecordFactory() is _factory:
                logging.setLogRecordFactory(logging.LogRecord)
            _factory = None


class LogRecordLimits:
    """Attribute limits of log records: OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT (default
    OTEL_ATTRIBUTE_COUNT_LIMIT, else 128) and OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT
    (default OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, else none). -1: no limit."""

    def __init__(self, max_attributes: Optional[int] = None, max_attribute_length: Optional[int] = None) -> None:
        global_count = _env.limit(_env.OTEL_ATTRIBUTE_COUNT_LIMIT, _DEFAULT_LIMIT)
        global_length = _env.limit(_env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, -1)
        self.max_attributes = (
            max_attributes
            if max_attributes is not None
            else _env.limit(_env.OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, global_count)
        )
        self.max_attribute_length = (
            max_attribute_length
            if max_attribute_length is not None
            else _env.limit(_env.OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, global_length)
        )


class LoggerProvider(ProviderBase, logs_api.LoggerProvider):
    """A logger provider writing into an otlp-mmap file (constructible with no arguments; a
    no-op after one warning when the file is missing or unusable, unless ``strict=True``)."""

    def __init__(
        self,
        file: Optional[PathLike] = None,
        *,
        limits: Optional[LogRecordLimits] = None,
        service_name: Optional[str] = None,
        resource_attributes: Optional[Mapping[str, Any]] = None,
        schema_url: Optional[str] = None,
        writer: Optional[_native.Writer] = None,
        shutdown_on_exit: bool = True,
        strict: Optional[bool] = None,
        resource: Any = None,
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
        self._limits = limits if limits is not None else LogRecordLimits()
        self._loggers: Dict[Any, Any] = {}
        self._bridges: "list[Any]" = []
        self._handlers: "list[LoggingHandler]" = []

    @property
    def limits(self) -> LogRecordLimits:
        return self._limits

    def get_logger(
        self,
        name: str,
        version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Any = None,
    ) -> logs_api.Logger:
        if not self._active():
            if self._is_shutdown:
                _logger.warning("get_logger() on a LoggerProvider that was shut down: returning a no-op logger")
            return logs_api.NoOpLogger(name, version=version, schema_url=schema_url)
        key = scope_key(name, version, schema_url, attributes)
        name = key[0]
        with self._lock:
            entry = self._loggers.get(key)
            if entry is not None:
                return entry[0]  # type: ignore[no-any-return]
            args = (name, version, schema_url, attributes)
            logger = _native.Logger(
                self._w(),
                self._create_scope(name, version, attributes, schema_url),
                name,
                version if isinstance(version, str) else None,
                schema_url,
                attributes,
                max_attributes=self._limits.max_attributes,
                max_attribute_length=self._limits.max_attribute_length,
            )
            self._loggers[key] = (logger, args)
            return logger  # type: ignore[return-value]  # a registered virtual subclass

    def _bridge(self, handler: "LoggingHandler", code_attributes: bool) -> Any:
        with self._lock:
            self._handlers.append(handler)
        bridge = _native.LogBridge(
            self._w(),
            self._resource_ref,
            handler,
            handler.filters,
            RESERVED_LOG_RECORD_ATTRIBUTES,
            max_attributes=self._limits.max_attributes,
            max_attribute_length=self._limits.max_attribute_length,
            code_attributes=code_attributes,
            record_type=logging.LogRecord,
            standard_fields=_standard_fields(),
        )
        with self._lock:
            self._bridges.append(bridge)
        return bridge

    def _on_new_resource(self) -> None:
        for logger, args in list(self._loggers.values()):
            name, version, schema_url, attributes = args
            logger._set_scope_ref(self._create_scope(name, version, attributes, schema_url))  # noqa: SLF001
        for bridge in list(self._bridges):
            bridge._reset(self._resource_ref)  # pylint: disable=protected-access

    def _on_shutdown(self) -> None:
        for logger, _ in list(self._loggers.values()):
            logger._set_enabled(False)  # pylint: disable=protected-access
        for bridge in list(self._bridges):
            bridge._set_enabled(False)  # pylint: disable=protected-access
        for handler in list(self._handlers):
            handler._release()  # pylint: disable=protected-access


class LoggingHandler(logging.Handler):
    """A ``logging.Handler`` that writes records into the telemetry file.

    ``logger_provider``: an otlp_mmap ``LoggerProvider`` (default: the global logger
    provider). With another kind of provider, records go through its ``get_logger(name)``
    and ``emit`` (slower). ``code_attributes``: add the code location of each record.

    ``fast_log_records``: while the handler is open, ``logging`` makes its records with a
    native factory (``logging.setLogRecordFactory``) that produces exactly the records of
    the running Python's ``LogRecord`` (same attributes, order and values; checked against
    the stdlib before it is installed), in a fraction of the time. It is installed only when
    the stdlib's default factory is in place, removed when the last handler closes, and
    never used when ``OTLP_MMAP_FAST_LOG_RECORDS=false``.
    """

    def __init__(
        self,
        level: int = logging.NOTSET,
        logger_provider: Optional[logs_api.LoggerProvider] = None,
        *,
        code_attributes: bool = True,
        fast_log_records: bool = True,
    ) -> None:
        super().__init__(level=level)
        provider = logger_provider if logger_provider is not None else logs_api.get_logger_provider()
        self._provider = provider
        self._code_attributes = code_attributes
        self._native_bridge: Any = None
        self._closed_once = False
        _logging_config.register(self)
        self._fast_records = fast_log_records and _acquire_fast_log_records(self)
        if isinstance(provider, LoggerProvider) and provider._active():  # pylint: disable=protected-access
            bridge = provider._bridge(self, code_attributes)  # pylint: disable=protected-access
            self._native_bridge = bridge
            # Instance attributes: logging calls handler.handle(record) straight into native code.
            self.handle = bridge.handle  # type: ignore[method-assign]
            self.emit = bridge.emit  # type: ignore[method-assign]

    def emit(self, record: logging.LogRecord) -> None:  # type: ignore[override]  # pylint: disable=method-hidden
        """The path for a provider that is not ours: the API's Logger.emit."""
        provider = self._provider
        if isinstance(provider, LoggerProvider) and not provider._active():  # pylint: disable=protected-access
            return  # a no-op provider (no usable file, disabled, shut down)
        try:
            from otlp_mmap.sdk._native_api import _log_exc_attributes  # noqa: PLC0415

            attributes = {k: v for k, v in vars(record).items() if k not in RESERVED_LOG_RECORD_ATTRIBUTES}
            if self._code_attributes:
                attributes["code.file.path"] = record.pathname
                attributes["code.function.name"] = record.funcName
                attributes["code.line.number"] = record.lineno
            if record.exc_info:
                attributes.update(_log_exc_attributes(record))
            level = record.levelno
            severity = 0 if level < 10 else 24 if level > 53 else 5 + (level // 10 - 1) * 4 + min(level % 10, 3)
            text = {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(record.levelname, record.levelname)
            body = self.format(record) if self.formatter else record.getMessage()
            self._provider.get_logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                severity_number=logs_api.SeverityNumber(severity),
                severity_text=text,
                body=body,
                attributes=attributes,
            )
        except Exception:  # pylint: disable=broad-except
            self.handleError(record)

    def flush(self) -> None:
        """Records are written as they come: nothing to flush."""

    @property
    def fast_log_records(self) -> bool:
        """Whether this handler installed (or shares) the native LogRecord factory."""
        return self._fast_records

    def _release(self) -> None:
        if self._fast_records:
            self._fast_records = False
            _release_fast_log_records(self)

    def close(self) -> None:
        """Tidies up (``logging.Handler.close``) without switching the handler off.

        ``logging.config.dictConfig``/``fileConfig`` close every handler of the process,
        also those that stay attached; like a stdlib handler, this one keeps writing the
        records it still receives. It ends with the provider's shutdown. The native
        LogRecord factory is given back when the handler is attached to no logger."""
        self._closed_once = True
        try:
            if not _logging_config.attached_anywhere(self):
                self._release()
            else:
                _release_fast_log_records(None)  # prunes closed handlers that were detached since
        finally:
            super().close()


__all__ = ["LogRecordLimits", "LoggerProvider", "LoggingHandler", "RESERVED_LOG_RECORD_ATTRIBUTES"]

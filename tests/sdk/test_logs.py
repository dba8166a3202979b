"""Logs through the opentelemetry-api and the stdlib logging bridge, read back from the file."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
from opentelemetry import _logs as logs_api
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber

from sdk_support import read_all

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader
from otlp_mmap.sdk import logs as sdk_logs


def events(path: str) -> list:
    return read_all(path)["events"]


def test_logger_is_an_api_logger(logger_provider: Any) -> None:
    logger = logger_provider.get_logger("app", "1.0", attributes={"scope": 1})
    assert isinstance(logger, logs_api.Logger)
    assert logger_provider.get_logger("app", "1.0", attributes={"scope": 1}) is logger
    assert logger.enabled()
    assert logger.name == "app" and logger.version == "1.0"


def test_emit_with_keywords(logger_provider: Any, path: str, make_tracer: Any) -> None:
    logger = logger_provider.get_logger("app")
    attributes = {"user": "bob", "n": 2}
    with make_tracer().start_as_current_span("s") as span:
        logger.emit(
            body="hello world",
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes=attributes,
            event_name="user.login",
            timestamp=123,
            observed_timestamp=456,
        )
    logger.emit(body={"structured": [1, 2, {"deep": True}]}, severity_number=SeverityNumber.DEBUG)
    logger.emit(body=b"\x00bytes")
    assert attributes == {"user": "bob", "n": 2}
    first, second, third = events(path)
    ctx = span.get_span_context()
    assert first["body"] == "hello world"
    assert first["event_name"] == "user.login"
    assert first["severity_number"] == 13 and first["severity_text"] == "WARN"
    assert first["attributes"] == {"user": "bob", "n": 2}
    assert first["time_unix_nano"] == 123 and first["observed_time_unix_nano"] == 456
    assert first["span_context"] == {
        "trace_id": ctx.trace_id.to_bytes(16, "big"),
        "span_id": ctx.span_id.to_bytes(8, "big"),
        "flags": 3,
    }
    assert second["body"] == {"structured": [1, 2, {"deep": True}]}
    assert second["event_name"] == "" and second["span_context"] is None
    assert second["time_unix_nano"] == 0 and second["observed_time_unix_nano"] > 0
    assert third["body"] == b"\x00bytes"


def test_emit_with_a_log_record(logger_provider: Any, path: str, make_tracer: Any) -> None:
    logger = logger_provider.get_logger("app")
    tracer = make_tracer()
    with tracer.start_as_current_span("current"):
        other = tracer.start_span("other")
        record = LogRecord(
            timestamp=10,
            context=trace.set_span_in_context(other),
            severity_number=SeverityNumber.ERROR,
            body="from a record",
            attributes={"k": "v"},
            event_name="rec.event",
        )
        logger.emit(record)
        logger.emit(LogRecord(body="current context"))
    other.end()
    first, second = events(path)
    assert first["body"] == "from a record" and first["event_name"] == "rec.event"
    assert first["severity_number"] == 17 and first["time_unix_nano"] == 10
    assert first["attributes"] == {"k": "v"}
    assert first["span_context"]["span_id"] == other.get_span_context().span_id.to_bytes(8, "big")
    assert second["span_context"] is not None and second["body"] == "current context"


def test_bodies_are_not_interned(logger_provider: Any, path: str) -> None:
    logger = logger_provider.get_logger("app")
    logger.emit(body="warm-up", event_name="same.event")
    with Reader(path, read_only=True) as r:
        before = r.header()["dictionary_entries"]
    for i in range(50):
        logger.emit(body=f"unique message {i}", event_name="same.event")
    with Reader(path, read_only=True) as r:
        assert r.header()["dictionary_entries"] == before


def test_exception_attributes_and_caller_attributes_win(logger_provider: Any, path: str) -> None:
    logger = logger_provider.get_logger("app")
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        attributes = {"exception.message": "overridden"}
        logger.emit(body="failed", exception=exc, attributes=attributes)
        assert attributes == {"exception.message": "overridden"}
    (event,) = events(path)
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "overridden"
    assert "bad input" in event["attributes"]["exception.stacktrace"]
    assert "exception.escaped" not in event["attributes"]


def test_unsupported_body_and_attributes_never_raise(logger_provider: Any, path: str) -> None:
    logger = logger_provider.get_logger("app")

    class Thing:
        def __str__(self) -> str:
            return "a thing"

    class Opaque:  # object's own repr only: nothing worth keeping
        pass

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    attributes = {"ok": 1, "thing": Thing(), "opaque": Opaque(), "unprintable": Unprintable(), "in_list": [Thing()]}
    logger.emit(body=Thing(), attributes=attributes, severity_number=99)  # type: ignore[arg-type]
    (event,) = events(path)
    # As the official SDK (1.45): a value of another type is kept as its str() when its type
    # has one; the others are dropped and counted.
    assert event["body"] == "a thing"
    assert event["attributes"] == {"ok": 1, "thing": "a thing", "in_list": ["a thing"]}
    assert event["dropped_attributes_count"] == 2 and event["severity_number"] == 24


def test_log_record_limits(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3")
    provider = sdk.LoggerProvider(path, shutdown_on_exit=False)
    provider.get_logger("app").emit(body="a long body stays", attributes={"a": "abcdef", "b": 1, "c": 2})
    (event,) = events(path)
    assert event["body"] == "a long body stays"
    assert event["attributes"] == {"a": "abc", "b": 1} and event["dropped_attributes_count"] == 1
    provider.shutdown()


@pytest.mark.parametrize(
    "level, number, text",
    [
        (logging.DEBUG, 5, "DEBUG"),
        (logging.INFO, 9, "INFO"),
        (logging.WARNING, 13, "WARN"),
        (logging.ERROR, 17, "ERROR"),
        (logging.CRITICAL, 21, "FATAL"),
        (12, 7, "Level 12"),
        (25, 12, "Level 25"),
        (60, 24, "Level 60"),
    ],
)
def test_handler_severity(pylogger: Any, path: str, level: int, number: int, text: str) -> None:
    pylogger.logger.log(level, "message")
    (event,) = events(path)
    assert (event["severity_number"], event["severity_text"]) == (number, text)


def test_handler_record_mapping(pylogger: Any, path: str, make_tracer: Any) -> None:
    log = pylogger.logger
    with make_tracer().start_as_current_span("request") as span:
        log.info("user %s logged in %d times", "bob", 3, extra={"user.id": 42, "tags": ["a", "b"]})
    log.warning({"structured": True})
    try:
        raise KeyError("k")
    except KeyError:
        log.exception("it failed")
    first, second, third = events(path)
    assert first["body"] == "user bob logged in 3 times"
    assert first["attributes"]["user.id"] == 42 and first["attributes"]["tags"] == ["a", "b"]
    assert first["attributes"]["code.function.name"] == "test_handler_record_mapping"
    assert first["attributes"]["code.file.path"] == __file__
    assert isinstance(first["attributes"]["code.line.number"], int)
    assert set(first["attributes"]) == {"user.id", "tags", "code.file.path", "code.function.name", "code.line.number"}
    assert first["span_context"]["span_id"] == span.get_span_context().span_id.to_bytes(8, "big")
    assert first["time_unix_nano"] > 0 and first["observed_time_unix_nano"] >= first["time_unix_nano"] - 10**9
    assert second["body"] == {"structured": True} and second["span_context"] is None
    assert third["attributes"]["exception.type"] == "KeyError"
    assert third["attributes"]["exception.message"] == "k"
    assert "raise KeyError" in third["attributes"]["exception.stacktrace"]
    with Reader(path, read_only=True) as r:
        assert r.read_scope(first["scope_ref"])["name"] == log.name


def test_handler_options_formatter_and_filters(logger_provider: Any, path: str) -> None:
    handler = sdk.LoggingHandler(logger_provider=logger_provider, code_attributes=False)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    handler.addFilter(lambda record: "secret" not in record.getMessage())
    log = logging.getLogger("tests.sdk.formatter")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    log.info("visible")
    log.info("a secret")
    log.debug("below the level")
    handler.close()  # as logging.config.dictConfig does to every handler: it keeps working while attached
    log.info("after close")
    log.handlers[:] = []
    log.info("after removal")
    first, second = events(path)
    assert first["body"] == "[INFO] visible" and second["body"] == "[INFO] after close"
    assert first["attributes"] == {}


def test_handler_with_another_provider_uses_the_api(path: str) -> None:
    calls = []

    class Recorder(logs_api.Logger):
        def emit(self, record: Any = None, **kwargs: Any) -> None:
            calls.append(kwargs)

        def enabled(self, **kwargs: Any) -> bool:
            return True

    class Provider(logs_api.LoggerProvider):
        def get_logger(self, name: str, *args: Any, **kwargs: Any) -> logs_api.Logger:
            return Recorder(name)

    handler = sdk.LoggingHandler(logger_provider=Provider())
    log = logging.getLogger("tests.sdk.foreign")
    log.handlers[:] = [handler]
    log.propagate = False
    log.warning("to %s", "them")
    log.handlers[:] = []
    handler.close()
    assert calls[0]["body"] == "to them" and calls[0]["severity_text"] == "WARN"


def test_fast_log_records_match_the_stdlib(pylogger: Any) -> None:
    assert pylogger.handler.fast_log_records
    factory = logging.getLogRecordFactory()
    assert factory is not logging.LogRecord
    cases = [
        ("n", logging.INFO, "/srv/app/main.py", 3, "m %s", ("x",), None, "f", None),
        ("n", 35, "name.with.dots.py", 3, "%(a)s", ({"a": 1},), None, None, "stack"),
        ("n", 5, "/dir/.hidden", 1, {"not": "a str"}, (), None, None, None),
    ]
    for args in cases:
        ours, theirs = factory(*args), logging.LogRecord(*args)
        assert type(ours) is logging.LogRecord
        mine, stdlib = vars(ours), vars(theirs)
        assert list(mine) == list(stdlib)
        for key in stdlib:
            if key not in ("created", "msecs", "relativeCreated"):
                assert mine[key] == stdlib[key], key
        assert abs(ours.created - theirs.created) < 1
        assert ours.getMessage() == theirs.getMessage()


def test_fast_log_records_are_removed_and_can_be_disabled(
    logger_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = sdk.LoggingHandler(logger_provider=logger_provider)
    second = sdk.LoggingHandler(logger_provider=logger_provider)
    assert handler.fast_log_records and second.fast_log_records
    handler.close()
    assert logging.getLogRecordFactory() is not logging.LogRecord  # still used by `second`
    second.close()
    assert logging.getLogRecordFactory() is logging.LogRecord
    monkeypatch.setenv("OTLP_MMAP_FAST_LOG_RECORDS", "false")
    third = sdk.LoggingHandler(logger_provider=logger_provider)
    assert not third.fast_log_records and logging.getLogRecordFactory() is logging.LogRecord
    third.close()
    monkeypatch.delenv("OTLP_MMAP_FAST_LOG_RECORDS")

    def custom(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return logging.LogRecord(*args, **kwargs)

    logging.setLogRecordFactory(custom)
    try:
        fourth = sdk.LoggingHandler(logger_provider=logger_provider)
        assert not fourth.fast_log_records and logging.getLogRecordFactory() is custom
        fourth.close()
    finally:
        logging.setLogRecordFactory(logging.LogRecord)


def test_shutdown_stops_logs(path: str) -> None:
    provider = sdk.LoggerProvider(path, shutdown_on_exit=False)
    logger = provider.get_logger("app")
    handler = sdk.LoggingHandler(logger_provider=provider)
    log = logging.getLogger("tests.sdk.shutdown")
    log.handlers[:] = [handler]
    log.propagate = False
    logger.emit(body="before")
    provider.shutdown()
    logger.emit(body="after")
    log.warning("after")
    assert [e["body"] for e in events(path)] == ["before"]
    assert logging.getLogRecordFactory() is logging.LogRecord
    assert isinstance(provider.get_logger("x"), logs_api.NoOpLogger)
    log.handlers[:] = []


def test_reserved_attributes_cover_a_log_record() -> None:
    record = logging.LogRecord("n", logging.INFO, __file__, 1, "m", (), None)
    assert set(vars(record)) <= sdk_logs.RESERVED_LOG_RECORD_ATTRIBUTES


# ---------------------------------------------------------------------------- the fast paths
# The handler formats the common messages natively, reads the fields of a record it has just
# seen made from a memo, and the native LogRecord factory remembers a few answers: none of
# that may show.


class _Str:
    def __str__(self) -> str:
        return "str()"

    def __repr__(self) -> str:
        return "repr()"


class _SubStr(str):
    def __str__(self) -> str:
        return "its str()"


class _SubInt(int):
    pass


BODY_CASES = [
    ("hello %s", ("world",)),
    ("h\u00e9llo %s", ("w\u00f6rld",)),
    ("wide %s", ("\U0001f600",)),
    ("%s%s", ("a", "b")),
    ("%s", ("",)),
    ("%d items", (5,)),
    ("%d %i", (-12, 0)),
    ("%i", (2**70,)),
    ("%d %s", (True, False)),
    ("%s", (7,)),
    ("%s", (1.5,)),
    ("%s", (None,)),
    ("%s %r", (_Str(), _Str())),
    ("%s", (_SubStr("sub"),)),
    ("%d", (_SubInt(4),)),
    ("%d", (logging.INFO,)),
    ("100%%", ()),
    ("100%% of %s", ("x",)),
    ("%5s|%-3d|%.2f|%x|%c", ("ab", 4, 3.14159, 255, 65)),
    ("%(a)s and %(b)s", ({"a": 1, "b": 2},)),
    ("%s", ({"a": 1},)),
    ("%s", ((1, 2),)),
    ("%s and %s", ((1, 2),)),
    ("%s", ([1, 2],)),
    ("plain", ()),
    ("", ()),
    ("x" * 1500 + " %s", ("long",)),
    # getMessage() raises: no body, as before
    ("%s %s", ("only one",)),
    ("no conversions", ("extra",)),
    ("trailing %", ("x",)),
    ("%d", ("not a number",)),
    ("lone \ud800 %s", ("surrogate",)),
]


def test_handler_bodies_are_get_message(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTLP_MMAP_EVENTS_SLOT_SIZE", "4096")  # room for the long message
    path = str(tmp_path / "bodies.mmap")
    provider = sdk.LoggerProvider(path, shutdown_on_exit=False)
    handler = sdk.LoggingHandler(logger_provider=provider)
    log = logging.getLogger("tests.sdk.bodies")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    for msg, args in BODY_CASES:
        log.info(msg, *args)
    handler.close()
    provider.shutdown()
    bodies = [e["body"] for e in events(path)]
    assert len(bodies) == len(BODY_CASES)
    for (msg, args), body in zip(BODY_CASES, bodies):
        record = logging.LogRecord("n", logging.INFO, __file__, 1, msg, args, None)
        try:
            expected = record.getMessage()
            expected.encode()
        except (TypeError, ValueError, UnicodeEncodeError):
            expected = None
        assert body == expected, (msg, args)


def test_handler_sees_what_changes_the_record(pylogger: Any, path: str) -> None:
    log, handler = pylogger.logger, pylogger.handler

    class Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.args == ("secret",):
                record.msg, record.args = "redacted %s", ("!",)
            return True

    held: list = []

    class Hold(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            held[:] = [record]
            return True

    class Meddle:
        def __str__(self) -> str:
            held[0].funcName = "renamed"
            return "meddled"

    handler.addFilter(Redact())
    log.info("a %s", "secret")
    handler.filters.clear()
    redact = Redact()
    log.addFilter(redact)
    log.info("b %s", "secret")
    log.removeFilter(redact)
    hold = Hold()
    log.addFilter(hold)
    log.info("c %s", Meddle())
    log.info("d %s", "after")
    log.removeFilter(hold)
    log.info("e %s", "extra", extra={"user.id": 7})
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(funcName)s"))
    log.warning("f %s", "formatted")
    handler.setFormatter(None)  # type: ignore[arg-type]
    a, b, c, d, e, f = events(path)
    assert a["body"] == b["body"] == "redacted !"
    assert c["body"] == "c meddled" and c["attributes"]["code.function.name"] == "renamed"
    assert d["body"] == "d after" and d["attributes"]["code.function.name"] == "test_handler_sees_what_changes_the_record"
    assert e["body"] == "e extra" and e["attributes"]["user.id"] == 7
    assert f["body"] == "WARNING f formatted test_handler_sees_what_changes_the_record"
    assert f["severity_text"] == "WARN"


def test_handler_scopes_follow_the_logger_names(logger_provider: Any, path: str) -> None:
    handler = sdk.LoggingHandler(logger_provider=logger_provider)
    loggers = [logging.getLogger(f"tests.sdk.scopes.{i}") for i in range(3)]
    for log in loggers:
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)
    for i in (0, 1, 1, 2, 0):
        loggers[i].info("from %d", i)
    handler.close()
    with Reader(path, read_only=True) as r:
        names = [r.read_scope(e["scope_ref"])["name"] for e in events(path)]
    assert names == [loggers[i].name for i in (0, 1, 1, 2, 0)]


def _assert_same_records(ours: logging.LogRecord, theirs: logging.LogRecord) -> None:
    assert type(ours) is type(theirs)
    mine, stdlib = vars(ours), vars(theirs)
    assert list(mine) == list(stdlib)
    for key in stdlib:
        if key not in ("created", "msecs", "relativeCreated"):
            assert mine[key] == stdlib[key], key
            assert type(mine[key]) is type(stdlib[key]), key


def test_fast_log_records_follow_logging_at_each_call(pylogger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = logging.getLogRecordFactory()
    assert factory is not logging.LogRecord

    def both(*args: Any) -> None:
        _assert_same_records(factory(*args), logging.LogRecord(*args))

    cases = [
        ("n", logging.INFO, "/srv/app/main.py", 3, "m %s", ("x",), None, "f", None),
        ("n", logging.INFO, "/srv/app/other.py", 4, "m %s", ({"k": 1},), None, "f", None),
        ("n", logging.INFO, "/srv/app/other.py", 5, "m %s", ({},), None, "f", None),
        ("n", 12, "no_directory", 5, "m", (), None, None, None),
    ]
    for args in cases * 2:  # twice: the second time from what the factory remembers
        both(*args)
    for switch in ("logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, switch, False)
        for args in cases:
            both(*args)
        monkeypatch.setattr(logging, switch, 0)
        both(*cases[0])
        monkeypatch.setattr(logging, switch, True)
        both(*cases[0])
    monkeypatch.setattr(logging, "getLevelName", lambda level: f"L{level}")
    both(*cases[0])
    monkeypatch.undo()
    both(*cases[0])
    logging.addLevelName(13, "THIRTEEN")
    both("n", 13, "/a.py", 1, "m", (), None, None, None)

    results: list = []

    def in_thread() -> None:
        results.append((factory(*cases[0]), logging.LogRecord(*cases[0])))

    worker = threading.Thread(target=in_thread, name="worker-7")
    worker.start()
    worker.join()
    _assert_same_records(*results[0])
    assert results[0][0].threadName == "worker-7"
    both(*cases[0])


def test_fast_log_records_follow_abc_registrations_and_imports(tmp_path: Any) -> None:
    """A lone argument counts as a mapping as collections.abc.Mapping says at each call,
    registrations included, and processName comes from multiprocessing once it is imported
    (in a subprocess: neither can be undone)."""
    script = tmp_path / "abc_case.py"
    script.write_text(
        textwrap.dedent(
            """
            import collections.abc, logging, sys
            import otlp_mmap.sdk as sdk
            provider = sdk.LoggerProvider(sys.argv[1], shutdown_on_exit=False)
            handler = sdk.LoggingHandler(logger_provider=provider)
            factory = logging.getLogRecordFactory()
            assert factory is not logging.LogRecord
            args = ("n", logging.INFO, "/a.py", 1, "m %s", (5,), None, None, None)
            assert "multiprocessing" not in sys.modules
            assert factory(*args).args == logging.LogRecord(*args).args == (5,)
            assert factory(*args).processName == "MainProcess"
            collections.abc.Mapping.register(int)
            assert factory(*args).args == logging.LogRecord(*args).args == 5
            import multiprocessing
            multiprocessing.current_process().name = "Renamed"
            assert factory(*args).processName == logging.LogRecord(*args).processName == "Renamed"
            handler.close()
            provider.shutdown()
            print("ok")
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "t.mmap")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

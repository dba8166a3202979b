"""Telemetry set-up never raises into application code (issue 9 items 1/4, issue 11 item 5):
on every route (configure(), the providers' entry points, the distro and configurator under
`opentelemetry-instrument`), a missing or unusable telemetry file gives ONE warning through
the otlp_mmap logger naming the path, the reason and the fix, and no-op providers whose
calls succeed. Strict mode (configure(strict=True), OTLP_MMAP_STRICT=true) raises instead.

Exporter settings in the application (issue 11 item 4) give one warning naming them."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List

import pytest
from opentelemetry import _logs as logs_api
from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api

from sdk_support import read_all

import otlp_mmap
import otlp_mmap.sdk as sdk
from otlp_mmap.sdk import _provider

OFF = "Telemetry is OFF"

# Everything an application does with the API; must succeed (and do nothing) on no-op providers.
APP_CALLS = """
import logging
from opentelemetry import trace, metrics, _logs
from opentelemetry.metrics import Observation
tracer = trace.get_tracer("app", "1.0")
with tracer.start_as_current_span("request", attributes={"a": 1}) as span:
    span.set_attribute("k", "v")
    span.add_event("e", {"x": 1})
    span.record_exception(ValueError("boom"))
    span.set_status(trace.Status(trace.StatusCode.ERROR))
    with tracer.start_as_current_span("child"):
        pass
@tracer.start_as_current_span("decorated")
def f():
    return 42
assert f() == 42
meter = metrics.get_meter("app")
meter.create_counter("c").add(1, {"k": "v"})
meter.create_up_down_counter("u").add(-1)
meter.create_histogram("h").record(2.5)
meter.create_observable_gauge("g", [lambda o: [Observation(1)]])
_logs.get_logger("app").emit(body="hello", severity_number=_logs.SeverityNumber.INFO)
logging.getLogger("app").warning("a log line of the application")
trace.get_tracer_provider().force_flush()
print("APP-DONE")
"""


def run_python(code: str, env: Dict[str, str], *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SDK_MMAP", "OTLP_MMAP_STRICT"))}
    full_env.update(env)
    return subprocess.run(
        [*argv, sys.executable, "-c", textwrap.dedent(code)] if argv else [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def setup_warnings(records: List[logging.LogRecord]) -> List[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.WARNING and OFF in r.getMessage()]


@pytest.fixture
def warnings_of_sdk(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="otlp_mmap")
    return caplog


def assert_noop(telemetry: Any) -> None:
    """Every provider is a no-op whose calls succeed."""
    for provider in (telemetry.tracer_provider, telemetry.meter_provider, telemetry.logger_provider):
        assert provider.disabled and provider.setup_error
    tracer = telemetry.tracer_provider.get_tracer("t")
    assert isinstance(tracer, trace_api.NoOpTracer)
    with tracer.start_as_current_span("s") as span:
        span.set_attribute("a", 1)
    assert isinstance(telemetry.meter_provider.get_meter("m"), metrics_api.NoOpMeter)
    telemetry.meter_provider.get_meter("m").create_counter("c").add(1)
    assert isinstance(telemetry.logger_provider.get_logger("l"), logs_api.NoOpLogger)
    telemetry.logger_provider.get_logger("l").emit(body="x")
    assert telemetry.force_flush()
    telemetry.shutdown()


# ---------------------------------------------------------------------------- configure()


def foreign_file(tmp_path: Path) -> str:
    bad = tmp_path / "foreign.bin"
    bad.write_bytes(b"not an otlp-mmap file" * 10)
    return str(bad)


def dangling_symlink(tmp_path: Path) -> str:
    link = tmp_path / "link.mmap"
    link.symlink_to(tmp_path / "missing-target")
    return str(link)


def symlink_to_foreign(tmp_path: Path) -> str:
    link = tmp_path / "link.mmap"
    link.symlink_to(foreign_file(tmp_path))
    return str(link)


CASES: Dict[str, Callable[[Path], str]] = {
    "missing directory": lambda tmp: str(tmp / "no-such-dir" / "t.mmap"),
    "foreign file": foreign_file,
    "a directory": lambda tmp: str(tmp),
    "dangling symlink": dangling_symlink,
    "symlink to a foreign file": symlink_to_foreign,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_configure_with_an_unusable_file_warns_once_and_runs_as_noop(
    case: str, tmp_path: Path, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    path = CASES[case](tmp_path)
    before = Path(path).read_bytes() if Path(path).is_file() else None
    telemetry = otlp_mmap.configure(path, set_global=False, logging_handler=True)
    assert telemetry.logging_handler is None  # no handler for a no-op logger provider
    (message,) = setup_warnings(warnings_of_sdk.records)
    assert repr(path) in message  # the path
    assert "(" in message and "." in message.split(OFF)[0]  # the reason and the fix
    assert "OTLP_MMAP_STRICT" in message
    assert all(r.name.startswith("otlp_mmap") for r in warnings_of_sdk.records)
    assert_noop(telemetry)
    if before is not None:
        assert Path(path).read_bytes() == before  # never overwritten


def test_configure_without_a_file_warns_once(warnings_of_sdk: pytest.LogCaptureFixture) -> None:
    telemetry = otlp_mmap.configure(set_global=False)
    (message,) = setup_warnings(warnings_of_sdk.records)
    assert "SDK_MMAP_EXPORTER_FILE" in message and "file=" in message
    assert_noop(telemetry)


def test_bad_setting_warns_and_names_it(
    path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTLP_MMAP_SPANS_SLOTS", "banana")
    telemetry = otlp_mmap.configure(path, set_global=False)
    (message,) = setup_warnings(warnings_of_sdk.records)
    assert "OTLP_MMAP_SPANS_SLOTS" in message and "not valid" in message
    assert_noop(telemetry)
    assert not os.path.exists(path)


@pytest.mark.parametrize(
    "error, reason, fix",
    [
        (PermissionError(errno.EPERM, "untrusted: group-writable"), "not trusted", "0600"),
        (OSError(errno.ENOSPC, "No space left on device"), "no space", "Free space"),
        (OSError("/srv/t.mmap: reserve 26 MiB: No space left on device"), "no space", "Free space"),  # as native
        (otlp_mmap.NotInitializedError("being initialised"), "initialising", "again"),
        (otlp_mmap.FormatError("corrupt"), "not a usable otlp-mmap file", "Remove it"),
    ],
)
def test_each_native_error_is_explained(
    error: Exception,
    reason: str,
    fix: str,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
    warnings_of_sdk: pytest.LogCaptureFixture,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(_provider, "Writer", refuse)
    telemetry = otlp_mmap.configure(path, set_global=False)
    (message,) = setup_warnings(warnings_of_sdk.records)
    assert reason in message and fix in message and repr(path) in message
    assert_noop(telemetry)
    with pytest.raises(sdk.ConfigurationError) as info:
        otlp_mmap.configure(path, set_global=False, strict=True)
    assert info.value.__cause__ is error


def test_strict_mode_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = foreign_file(tmp_path)
    with pytest.raises(sdk.ConfigurationError, match="not a usable otlp-mmap file"):
        otlp_mmap.configure(bad, set_global=False, strict=True)
    monkeypatch.setenv("OTLP_MMAP_STRICT", "true")
    with pytest.raises(sdk.ConfigurationError):
        otlp_mmap.configure(bad, set_global=False)
    with pytest.raises(sdk.ConfigurationError):
        sdk.TracerProvider(bad)
    # strict=False beats the environment
    assert_noop(otlp_mmap.configure(bad, set_global=False, strict=False))


def test_providers_built_directly_never_raise_and_warn_once(
    tmp_path: Path, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    providers = [sdk.TracerProvider(shutdown_on_exit=False), sdk.MeterProvider(shutdown_on_exit=False)]
    providers.append(sdk.LoggerProvider(shutdown_on_exit=False))
    assert len(setup_warnings(warnings_of_sdk.records)) == 1  # once per process for the same cause
    assert all(p.disabled and "SDK_MMAP_EXPORTER_FILE" in (p.setup_error or "") for p in providers)
    handler = sdk.LoggingHandler(logger_provider=providers[2])
    logging.getLogger("tests.noop").addHandler(handler)
    logging.getLogger("tests.noop").error("nothing happens")
    logging.getLogger("tests.noop").removeHandler(handler)
    handler.close()
    bad = foreign_file(tmp_path)
    sdk.TracerProvider(bad, shutdown_on_exit=False)
    sdk.TracerProvider(bad, shutdown_on_exit=False)
    assert len(setup_warnings(warnings_of_sdk.records)) == 2  # another path, another warning, once


def test_unexpected_failure_inside_configure_is_a_warning(
    path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    from otlp_mmap.sdk import _logging_config

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(_logging_config, "attach_to_root", broken)
    telemetry = otlp_mmap.configure(path, set_global=False, logging_handler=True)
    messages = [r.getMessage() for r in warnings_of_sdk.records if r.levelno >= logging.WARNING]
    assert len(messages) == 1 and "something unforeseen" in messages[0]
    assert isinstance(telemetry.tracer_provider.get_tracer("t"), trace_api.NoOpTracer)
    with pytest.raises(RuntimeError):
        otlp_mmap.configure(path, set_global=False, strict=True, logging_handler=True)


def test_a_replaced_file_is_reported_once(warnings_of_sdk: pytest.LogCaptureFixture) -> None:
    """When the native writer moved a broken file aside or replaced a full one (a native
    module that reports it), the old file's new name is logged once; a native module that
    does not report it gives no warning."""
    _provider._report_replaced_file(SimpleNamespace(), "/x/t.mmap")
    _provider._report_replaced_file(SimpleNamespace(), "/x/t.mmap", set())  # /x cannot be listed: nothing new
    _provider._report_replaced_file(SimpleNamespace(moved_aside_path="", rolled_over=False), "/x/t.mmap")
    assert not warnings_of_sdk.records
    moved = SimpleNamespace(moved_aside_path="/x/t.mmap.corrupt-20261202T130000")
    _provider._report_replaced_file(moved, "/x/t.mmap")
    _provider._report_replaced_file(moved, "/x/t.mmap")
    full = SimpleNamespace(geometry={"rolled_over": True, "full_file_path": "/x/t.mmap.full-20261202T130001"})
    _provider._report_replaced_file(full, "/x/t.mmap")
    warned = [r.getMessage() for r in warnings_of_sdk.records if r.levelno >= logging.WARNING]
    assert len(warned) == 2
    assert "/x/t.mmap.corrupt-20261202T130000" in warned[0] and "broken" in warned[0]
    assert "/x/t.mmap.full-20261202T130001" in warned[1] and "full" in warned[1]


def test_a_broken_leftover_file_does_not_stop_the_application(
    tmp_path: Path, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    """A file of ours cut short (a crash while it was created, a bad copy): configure()
    never raises; with a native writer that moves it aside, telemetry works and the new
    name is logged, else one warning and no-op providers."""
    good = str(tmp_path / "good.mmap")
    otlp_mmap.Writer(good)
    broken = tmp_path / "t.mmap"
    broken.write_bytes(Path(good).read_bytes()[:100])
    telemetry = otlp_mmap.configure(str(broken), set_global=False)
    messages = [r.getMessage() for r in warnings_of_sdk.records if r.levelno >= logging.WARNING]
    if telemetry.tracer_provider.disabled:
        assert len(messages) == 1, messages
        assert OFF in messages[0] and repr(str(broken)) in messages[0]
        assert_noop(telemetry)
    else:
        (moved,) = [p for p in tmp_path.iterdir() if p.name.startswith("t.mmap.corrupt-")]
        assert len(messages) == 1, messages
        assert "kept as" in messages[0] and str(moved) in messages[0]
        assert moved.read_bytes() == Path(good).read_bytes()[:100]  # unchanged
        telemetry.tracer_provider.get_tracer("t").start_span("after-move").end()
        telemetry.shutdown()
        assert [s["name"] for s in read_all(str(broken))["spans"] if s["type"] == "start"] == ["after-move"]


# ---------------------------------------------------------------------------- other routes


@pytest.mark.parametrize("file_env", ["unset", "foreign"])
def test_entry_points_without_a_usable_file_run_the_application(file_env: str, tmp_path: Path) -> None:
    env = {
        "OTEL_PYTHON_TRACER_PROVIDER": "otlp_mmap",
        "OTEL_PYTHON_METER_PROVIDER": "otlp_mmap",
        "OTEL_PYTHON_LOGGER_PROVIDER": "otlp_mmap",
    }
    if file_env == "foreign":
        env["SDK_MMAP_EXPORTER_FILE"] = foreign_file(tmp_path)
    result = run_python(APP_CALLS, env)
    assert result.returncode == 0, result.stderr
    assert "APP-DONE" in result.stdout
    assert result.stderr.count(OFF) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert ("SDK_MMAP_EXPORTER_FILE" if file_env == "unset" else env.get("SDK_MMAP_EXPORTER_FILE", "")) in result.stderr


def test_entry_points_in_strict_mode_raise(tmp_path: Path) -> None:
    result = run_python(
        "from opentelemetry import trace; trace.get_tracer('x')",
        {"OTEL_PYTHON_TRACER_PROVIDER": "otlp_mmap", "OTLP_MMAP_STRICT": "true"},
    )
    assert result.returncode != 0 and "ConfigurationError" in result.stderr


def instrument() -> str:
    path = Path(sys.executable).with_name("opentelemetry-instrument")
    if not path.exists():
        pytest.skip("opentelemetry-instrumentation is not installed")
    return str(path)


def test_opentelemetry_instrument_without_a_file_runs_the_application() -> None:
    result = run_python(APP_CALLS, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask"}, instrument())
    assert result.returncode == 0, result.stderr
    assert "APP-DONE" in result.stdout
    assert result.stderr.count(OFF) == 1, result.stderr
    assert "Traceback" not in result.stderr and "failed" not in result.stderr.lower()


def test_configure_in_a_subprocess_sets_noop_globals() -> None:
    result = run_python(
        "import otlp_mmap\nt = otlp_mmap.configure(logging_handler=True)\n"
        "from opentelemetry import trace\nassert trace.get_tracer_provider() is t.tracer_provider\n" + APP_CALLS,
        {"SDK_MMAP_EXPORTER_FILE": "/nonexistent-dir/t.mmap"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(OFF) == 1 and "/nonexistent-dir/t.mmap" in result.stderr
    assert "a log line of the application" in result.stderr  # the app's logging is untouched (lastResort)


# ---------------------------------------------------------------------------- exporter settings


def exporter_warnings(records: List[logging.LogRecord]) -> List[str]:
    return [r.getMessage() for r in records if "exporter settings" in r.getMessage() and r.levelno >= logging.WARNING]


def test_exporter_settings_in_the_application_give_one_warning(
    path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://backend:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=secret-token")
    telemetry = otlp_mmap.configure(path, set_global=False)
    sdk.TracerProvider(path, shutdown_on_exit=False).shutdown()
    (message,) = exporter_warnings(warnings_of_sdk.records)
    assert "OTEL_TRACES_EXPORTER=console" in message
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in message and "OTEL_EXPORTER_OTLP_HEADERS" in message
    assert "secret-token" not in message and "backend" not in message  # names only
    assert "OTEL_METRICS_EXPORTER" not in message.split("have no effect here:")[1].split(".")[0]  # otlp: quiet
    assert "otlp-mmap collect" in message
    # the file still receives everything
    telemetry.tracer_provider.get_tracer("t").start_span("still-written").end()
    telemetry.shutdown()
    assert [s["name"] for s in read_all(path)["spans"] if s["type"] == "start"] == ["still-written"]


def test_exporter_none_and_otlp_are_quiet_and_none_turns_the_signal_off(
    path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    telemetry = otlp_mmap.configure(path, set_global=False)
    assert not exporter_warnings(warnings_of_sdk.records)
    assert telemetry.logger_provider is None and telemetry.tracer_provider is not None
    telemetry.shutdown()
    telemetry = otlp_mmap.configure(path, set_global=False, logs=True)  # an explicit argument wins
    assert telemetry.logger_provider is not None
    telemetry.shutdown()


def test_opentelemetry_instrument_traces_exporter_console_warns(path: str) -> None:
    result = run_python(
        "from opentelemetry import trace\ntrace.get_tracer('x').start_span('via-instrument').end()\n",
        {"SDK_MMAP_EXPORTER_FILE": path, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask"},
        instrument(),
        "--traces_exporter",
        "console",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("exporter settings in the application") == 1, result.stderr
    assert "OTEL_TRACES_EXPORTER=console" in result.stderr and "otlp-mmap collect" in result.stderr
    assert [s["name"] for s in read_all(path)["spans"] if s["type"] == "start"] == ["via-instrument"]


def test_any_native_failure_while_opening_is_a_warning(
    path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("native trouble")

    monkeypatch.setattr(_provider, "Writer", broken)
    provider = sdk.TracerProvider(path, shutdown_on_exit=False)
    assert provider.disabled and "native trouble" in (provider.setup_error or "")
    (message,) = setup_warnings(warnings_of_sdk.records)
    assert "RuntimeError: native trouble" in message
    with pytest.raises(RuntimeError):
        sdk.TracerProvider(path, strict=True)


def test_files_set_aside_are_found_without_native_attributes(
    tmp_path: Path, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    """A native Writer that does not tell: the files it set aside next to the path while it
    was opened are reported (those that were there before are not)."""
    path = str(tmp_path / "t.mmap")
    (tmp_path / "t.mmap.corrupt-20261201T000000Z").write_bytes(b"old")
    before = _provider._set_aside_files(path)
    assert before == {"t.mmap.corrupt-20261201T000000Z"}
    (tmp_path / "t.mmap.full-20261202T130001Z").write_bytes(b"full")
    (tmp_path / "other.mmap.corrupt-20261202T130001Z").write_bytes(b"not ours")
    # A binding that tells (Writer.geometry) is believed: here it says nothing was set aside.
    told = {"moved_aside_path": None, "moved_aside_reason": None, "rolled_over": False, "full_file_path": None}
    _provider._report_replaced_file(SimpleNamespace(geometry=told), path, before)
    assert not warnings_of_sdk.records
    _provider._report_replaced_file(SimpleNamespace(), path, before)
    (message,) = [r.getMessage() for r in warnings_of_sdk.records if r.levelno >= logging.WARNING]
    assert "was full" in message and str(tmp_path / "t.mmap.full-20261202T130001Z") in message

"""Configuration: resource, environment variables, configure(), entry points (subprocesses:
the API's global providers can be set once per process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Dict

import pytest

from sdk_support import read_all

import otlp_mmap
import otlp_mmap.sdk as sdk
from otlp_mmap import Reader
from otlp_mmap.sdk.resources import build_resource_attributes, parse_resource_attributes


def run_python(code: str, env: Dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SDK_MMAP"))}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def resource_of(path: str, ring: str = "spans") -> Dict[str, Any]:
    with Reader(path) as r:
        records = r.read_all()[ring]
        ref = records[0]["scope_ref"] if ring != "measurements" else None
        if ref is None:
            ref = r.read_metric_stream(records[0]["metric_ref"])["scope_ref"]
        return r.read_resource(r.read_scope(ref)["resource_ref"])["attributes"]


def test_default_resource() -> None:
    attrs = build_resource_attributes(environ={})
    assert attrs["service.name"] == "unknown_service"
    assert attrs["telemetry.sdk.name"] == "otlp-mmap"
    assert attrs["telemetry.sdk.language"] == "python"
    assert attrs["telemetry.sdk.version"] == otlp_mmap.__version__
    assert attrs["process.pid"] == os.getpid()
    assert attrs["process.runtime.name"] == sys.implementation.name
    assert attrs["process.runtime.version"] == "%d.%d.%d" % sys.version_info[:3]


def test_resource_precedence_and_percent_decoding() -> None:
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs, deployment.environment=prod%20eu,k%3Dey=v%2Cal",
        "OTEL_SERVICE_NAME": "from-env",
    }
    attrs = build_resource_attributes(environ=env)
    assert attrs["service.name"] == "from-env"
    assert attrs["deployment.environment"] == "prod eu"
    assert attrs["k=ey"] == "v,al"
    code = build_resource_attributes(
        service_name="from-code", attributes={"deployment.environment": "dev"}, environ=env
    )
    assert code["service.name"] == "from-code" and code["deployment.environment"] == "dev"


@pytest.mark.parametrize("value", ["novalue", "=x", "a=%zz", "a=%ff"])
def test_malformed_resource_attributes_are_discarded(value: str, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises((ValueError, UnicodeDecodeError)):
        parse_resource_attributes(value)
    attrs = build_resource_attributes(environ={"OTEL_RESOURCE_ATTRIBUTES": f"ok=1,{value}"})
    assert "ok" not in attrs
    assert any("OTEL_RESOURCE_ATTRIBUTES" in r.getMessage() for r in caplog.records)


def test_providers_take_the_file_from_the_environment(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDK_MMAP_EXPORTER_FILE", path)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-service")
    provider = sdk.TracerProvider(shutdown_on_exit=False)
    provider.get_tracer("t").start_span("s").end()
    provider.shutdown()
    assert resource_of(path)["service.name"] == "env-service"


def test_missing_file_is_a_clear_error_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(sdk.ConfigurationError, match="SDK_MMAP_EXPORTER_FILE"):
        sdk.TracerProvider(strict=True)
    with pytest.raises(sdk.ConfigurationError, match="SDK_MMAP_EXPORTER_FILE"):
        otlp_mmap.configure(set_global=False, strict=True)
    monkeypatch.setenv("OTLP_MMAP_STRICT", "true")
    with pytest.raises(sdk.ConfigurationError, match="SDK_MMAP_EXPORTER_FILE"):
        sdk.LoggerProvider()


def test_unusable_file_is_a_clear_error_in_strict_mode(tmp_path: Any) -> None:
    bad = tmp_path / "not-mmap"
    bad.write_bytes(b"x" * 100)
    with pytest.raises(sdk.ConfigurationError, match="cannot open") as info:
        sdk.MeterProvider(str(bad), strict=True)
    assert isinstance(info.value.__cause__, otlp_mmap.FormatError)
    assert bad.read_bytes() == b"x" * 100


def test_sdk_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import _logs, metrics, trace

    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = otlp_mmap.configure(set_global=False)  # no file needed
    assert isinstance(telemetry.tracer_provider.get_tracer("t"), trace.NoOpTracer)
    assert isinstance(telemetry.meter_provider.get_meter("m"), metrics.NoOpMeter)
    assert isinstance(telemetry.logger_provider.get_logger("l"), _logs.NoOpLogger)
    assert telemetry.tracer_provider.disabled
    telemetry.shutdown()


def test_configure_without_globals(path: str) -> None:
    telemetry = otlp_mmap.configure(path, service_name="svc", resource_attributes={"team": "a"}, set_global=False)
    telemetry.tracer_provider.get_tracer("t").start_span("s").end()
    assert telemetry.force_flush()
    telemetry.shutdown()
    attrs = resource_of(path)
    assert attrs["service.name"] == "svc" and attrs["team"] == "a"


def test_configure_sets_the_global_providers_and_logging(path: str) -> None:
    result = run_python(
        """
        import logging, otlp_mmap
        from opentelemetry import trace, metrics, _logs
        early_tracer = trace.get_tracer("early")  # a ProxyTracer until the SDK is configured
        early_counter = metrics.get_meter("early").create_counter("early.c")
        t = otlp_mmap.configure(logging_handler=True)
        with early_tracer.start_as_current_span("through-the-proxy"):
            early_counter.add(3)
        assert trace.get_tracer_provider() is t.tracer_provider
        assert metrics.get_meter_provider() is t.meter_provider
        assert _logs.get_logger_provider() is t.logger_provider
        assert otlp_mmap.configure() is t  # once per process
        logging.getLogger().setLevel(logging.INFO)
        with trace.get_tracer("app").start_as_current_span("configured"):
            logging.getLogger("app").info("hello")
            metrics.get_meter("app").create_counter("c").add(1)
        """,
        {"SDK_MMAP_EXPORTER_FILE": path, "OTEL_SERVICE_NAME": "sub"},
    )
    assert result.returncode == 0, result.stderr
    data = read_all(path)
    assert [s["name"] for s in data["spans"] if s["type"] == "start"] == ["through-the-proxy", "configured"]
    assert [e["body"] for e in data["events"]][-1] == "hello"  # after our own warning about the 2nd call
    assert [m["value"] for m in data["measurements"]] == [3, 1]


def test_entry_points_load_with_no_arguments(path: str) -> None:
    result = run_python(
        """
        import logging
        from opentelemetry import trace, metrics, _logs
        tp = trace.get_tracer_provider()
        assert type(tp).__module__ == "otlp_mmap.sdk.trace", type(tp)
        assert type(metrics.get_meter_provider()).__module__ == "otlp_mmap.sdk.metrics"
        assert type(_logs.get_logger_provider()).__module__ == "otlp_mmap.sdk.logs"
        with trace.get_tracer("ep").start_as_current_span("from-entry-point"):
            metrics.get_meter("ep").create_counter("c").add(2)
            _logs.get_logger("ep").emit(body="entry")
        """,
        {
            "SDK_MMAP_EXPORTER_FILE": path,
            "OTEL_PYTHON_TRACER_PROVIDER": "otlp_mmap",
            "OTEL_PYTHON_METER_PROVIDER": "otlp_mmap",
            "OTEL_PYTHON_LOGGER_PROVIDER": "otlp_mmap",
        },
    )
    assert result.returncode == 0, result.stderr
    data = read_all(path)
    assert [s["name"] for s in data["spans"] if s["type"] == "start"] == ["from-entry-point"]
    assert [m["value"] for m in data["measurements"]] == [2]
    assert [e["body"] for e in data["events"]] == ["entry"]


def test_entry_point_without_a_file_fails_clearly_in_strict_mode() -> None:
    result = run_python(
        "from opentelemetry import trace; trace.get_tracer_provider()",
        {"OTEL_PYTHON_TRACER_PROVIDER": "otlp_mmap", "OTLP_MMAP_STRICT": "true"},
    )
    assert result.returncode != 0
    assert "SDK_MMAP_EXPORTER_FILE" in result.stderr


def test_distro_and_configurator(path: str) -> None:
    result = run_python(
        """
        import os
        from opentelemetry.instrumentation.auto_instrumentation import _load
        distro = _load._load_distro()
        assert type(distro).__name__ == "OtlpMmapDistro", type(distro)
        distro.configure()
        assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "otlp_mmap"
        _load._load_configurators()
        from opentelemetry import trace
        assert type(trace.get_tracer_provider()).__module__ == "otlp_mmap.sdk.trace"
        trace.get_tracer("d").start_span("distro").end()
        """,
        {"SDK_MMAP_EXPORTER_FILE": path},
    )
    assert result.returncode == 0, result.stderr
    assert [s["name"] for s in read_all(path)["spans"] if s["type"] == "start"] == ["distro"]


def test_atexit_shutdown_runs_a_final_collection(path: str) -> None:
    result = run_python(
        """
        import otlp_mmap
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
        otlp_mmap.configure()
        metrics.get_meter("m").create_observable_gauge("g", [lambda o: [Observation(7)]])
        """,
        {"SDK_MMAP_EXPORTER_FILE": path},
    )
    assert result.returncode == 0, result.stderr
    assert [m["value"] for m in read_all(path)["measurements"]] == [7]

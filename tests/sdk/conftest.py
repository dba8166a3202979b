"""Fixtures of the otlp_mmap.sdk tests: each test writes into its own file through providers
it owns (the API's global providers can be set once per process; tests that need them run
a subprocess)."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from sdk_support import SMALL_RINGS

import otlp_mmap.sdk as sdk
from otlp_mmap.sdk import _env as sdk_env
from otlp_mmap import _native


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the SDK's defaults, whatever the developer's environment says."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "OTLP_MMAP_")) or name == "SDK_MMAP_EXPORTER_FILE":
            monkeypatch.delenv(name)
    for name, value in SMALL_RINGS.items():
        monkeypatch.setenv(name, value)
    _native._sdk_reset_warnings()
    sdk_env._warned.clear()  # pylint: disable=protected-access  (warnings once per process)


@pytest.fixture
def path(tmp_path: Any) -> str:
    return str(tmp_path / "telemetry.mmap")


@pytest.fixture
def make_tracer(path: str) -> Iterator[Any]:
    """make_tracer(**TracerProvider kwargs) -> a tracer of a fresh provider on `path`."""
    providers = []

    def make(**kwargs: Any) -> Any:
        provider = sdk.TracerProvider(path, shutdown_on_exit=False, **kwargs)
        providers.append(provider)
        return provider.get_tracer("tests", "1.0")

    yield make
    for provider in providers:
        provider.shutdown()


@pytest.fixture
def tracer(make_tracer: Any) -> Any:
    return make_tracer()


@pytest.fixture
def meter_provider(path: str) -> Iterator[sdk.MeterProvider]:
    provider = sdk.MeterProvider(path, shutdown_on_exit=False, export_interval_millis=3_600_000)
    yield provider
    provider.shutdown()


@pytest.fixture
def meter(meter_provider: sdk.MeterProvider) -> Any:
    return meter_provider.get_meter("tests", "1.0")


@pytest.fixture
def logger_provider(path: str) -> Iterator[sdk.LoggerProvider]:
    provider = sdk.LoggerProvider(path, shutdown_on_exit=False)
    yield provider
    provider.shutdown()


@pytest.fixture
def pylogger(logger_provider: sdk.LoggerProvider) -> Iterator[SimpleNamespace]:
    """A stdlib logger whose only handler is a LoggingHandler of logger_provider."""
    handler = sdk.LoggingHandler(logger_provider=logger_provider)
    logger = logging.getLogger(f"tests.sdk.{id(handler)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield SimpleNamespace(logger=logger, handler=handler)
    logger.handlers[:] = []
    handler.close()


@pytest.fixture
def sdk_warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="otlp_mmap.sdk")
    return caplog

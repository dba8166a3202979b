"""Shared set-up for tests/otlp (OTLP protocol files and the real-collector end-to-end tests)."""

import pytest

import otelcol


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "otelcol_e2e: needs the collector built by scripts/build-otelcol.sh; skipped when it is "
        f"missing and {otelcol.E2E_ENV} is unset, a failure when it is missing and {otelcol.E2E_ENV}=1",
    )


@pytest.fixture
def otelcol_bin():
    """Path of the test collector; fails (never skips) when missing with OTLP_MMAP_E2E set."""
    if not otelcol.binary_available():
        msg = f"collector not built: {otelcol.default_binary()} (run scripts/build-otelcol.sh)"
        if otelcol.e2e_required():
            pytest.fail(f"{otelcol.E2E_ENV} is set but the {msg}")
        pytest.skip(msg)
    return otelcol.default_binary()


@pytest.fixture
def collector(otelcol_bin, tmp_path):
    """A started collector (free 127.0.0.1 ports, JSON files in tmp_path); stopped afterwards."""
    col = otelcol.OtelCol(otelcol_bin, tmp_path / "otelcol")
    col.start()
    try:
        yield col
    finally:
        col.close()

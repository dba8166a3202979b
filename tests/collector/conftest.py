"""Fixtures shared by the collector's Python tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def collector_bin() -> Path:
    """$OTLP_MMAP_BIN, else build/dev/collector/otlp-mmap; skipped when missing, a failure with OTLP_MMAP_E2E=1."""
    path = Path(os.environ.get("OTLP_MMAP_BIN") or ROOT / "build" / "dev" / "collector" / "otlp-mmap")
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = f"otlp-mmap not built: {path} (make build, or set OTLP_MMAP_BIN)"
        if os.environ.get("OTLP_MMAP_E2E"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path

"""Shared fixtures of the otlp_mmap._native tests."""

import os

import pytest

from native_support import SMALL

from otlp_mmap import Reader, Writer


@pytest.fixture(autouse=True)
def _no_otlp_mmap_env(monkeypatch):
    """Tests start from the built-in defaults, whatever the developer's environment says."""
    for name in list(os.environ):
        if name.startswith("OTLP_MMAP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "telemetry.mmap")


@pytest.fixture
def writer(path):
    return Writer(path, **SMALL)


@pytest.fixture
def reader(writer, path):
    return Reader(path, torn_grace_seconds=0.0)


@pytest.fixture
def scope(writer):
    resource = writer.create_resource({"service.name": "tests"})
    return writer.create_instrumentation_scope(resource, "tests", "1.0")


class Snapshot:
    """What a call may change in the file: ring writer indices and the dictionary's end."""

    def __init__(self, reader):
        self.reader = reader
        self.before = self._take()

    def _take(self):
        states = self.reader.ring_states()
        return (
            {ring: state["writer_index"] for ring, state in states.items()},
            self.reader.header()["dictionary_end"],
        )

    def unchanged(self):
        return self._take() == self.before


@pytest.fixture
def snapshot(reader):
    return lambda: Snapshot(reader)

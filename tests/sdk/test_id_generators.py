"""Id generators: TracerProvider(id_generator=...) and OTEL_PYTHON_ID_GENERATOR, with the
official SDK's semantics. A custom generator's ids are the ids of the spans the native tracer
writes (in the file, in the span contexts, for children and span processors); the official
RandomIdGenerator, and 'random', keep the native generator (no Python call per span); a name
that is not installed, or a generator that fails, gives one warning and random ids, never an
exception in the application."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List

import pytest
from opentelemetry import trace as trace_api

from sdk_support import merge_spans, read_all

import otlp_mmap.sdk as sdk

official_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator  # noqa: E402


@pytest.fixture
def warnings_of_sdk(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="otlp_mmap")
    return caplog


def warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


class Sequential(IdGenerator):
    """Ids 0x1000.., 0x2000.. in order: the test knows each one."""

    def __init__(self) -> None:
        self.traces = 0
        self.spans = 0

    def generate_trace_id(self) -> int:
        self.traces += 1
        return 0x1000 + self.traces

    def generate_span_id(self) -> int:
        self.spans += 1
        return 0x2000 + self.spans


def test_custom_generator_ids_are_written_natively(path: str, warnings_of_sdk: pytest.LogCaptureFixture) -> None:
    generator = Sequential()
    provider = sdk.TracerProvider(path, id_generator=generator, shutdown_on_exit=False)
    assert provider.id_generator is generator
    tracer = provider.get_tracer("ids")
    with tracer.start_as_current_span("root") as root:
        child = tracer.start_span("child")
        child.end()
    remote_parent = trace_api.set_span_in_context(
        trace_api.NonRecordingSpan(
            trace_api.SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=trace_api.TraceFlags(1))
        )
    )
    tracer.start_span("under a remote parent", context=remote_parent).end()
    provider.shutdown()

    ctx, child_ctx = root.get_span_context(), child.get_span_context()
    assert (ctx.trace_id, ctx.span_id) == (0x1001, 0x2001)
    assert (child_ctx.trace_id, child_ctx.span_id) == (0x1001, 0x2002)  # the parent's trace: no trace id asked
    assert generator.traces == 1 and generator.spans == 3
    # Not random ids: the W3C random-trace-id flag (0x02) is not set; sampled (0x01) is.
    assert int(ctx.trace_flags) == 0x01
    spans = {s["name"]: s for s in merge_spans(read_all(path)["spans"]).values()}
    assert spans["root"]["trace_id"] == (0x1001).to_bytes(16, "big")
    assert spans["root"]["span_id"] == (0x2001).to_bytes(8, "big")
    assert spans["child"]["parent_span_id"] == (0x2001).to_bytes(8, "big")
    assert spans["under a remote parent"]["trace_id"] == (0xABC).to_bytes(16, "big")
    assert spans["under a remote parent"]["span_id"] == (0x2003).to_bytes(8, "big")
    assert spans["root"]["flags"] & 0xFF == 0x01
    assert not warnings(warnings_of_sdk)


def test_span_processors_see_the_generator_ids(path: str) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider(path, id_generator=Sequential(), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("ids").start_span("s").end()
    provider.shutdown()
    (span,) = exporter.get_finished_spans()
    assert (span.context.trace_id, span.context.span_id) == (0x1001, 0x2001)


class Broken(IdGenerator):
    def __init__(self, trace_id: Any, span_id: Any) -> None:
        self.trace_id, self.span_id = trace_id, span_id

    def generate_trace_id(self) -> int:
        if isinstance(self.trace_id, Exception):
            raise self.trace_id
        return self.trace_id

    def generate_span_id(self) -> int:
        if isinstance(self.span_id, Exception):
            raise self.span_id
        return self.span_id


@pytest.mark.parametrize(
    "trace_id,span_id",
    [(RuntimeError("no ids today"), 7), (5, ValueError("nope")), (0, 7), (5, 0), (2**128, 7), (5, 2**64), ("5", 7),
     (5, None)],
    ids=["trace-raises", "span-raises", "trace-zero", "span-zero", "trace-too-big", "span-too-big", "trace-str",
         "span-none"],
)
def test_a_failing_generator_gives_random_ids_and_one_warning(
    path: str, warnings_of_sdk: pytest.LogCaptureFixture, trace_id: Any, span_id: Any
) -> None:
    provider = sdk.TracerProvider(path, id_generator=Broken(trace_id, span_id), shutdown_on_exit=False)
    tracer = provider.get_tracer("ids")
    contexts = []
    for _ in range(3):
        with tracer.start_as_current_span("s") as span:
            contexts.append(span.get_span_context())
    provider.shutdown()
    assert all(c.is_valid for c in contexts)
    good_trace = isinstance(trace_id, int) and 0 < trace_id < 2**128
    good_span = isinstance(span_id, int) and 0 < span_id < 2**64
    for c in contexts:
        assert (c.trace_id == trace_id) == good_trace
        assert (c.span_id == span_id) == good_span
    assert len({c.trace_id for c in contexts}) == (1 if good_trace else 3)  # random where it failed
    assert len(merge_spans(read_all(path)["spans"])) == (3 if not good_span else 1)  # same span id: merged
    assert len(warnings(warnings_of_sdk)) == 1, warnings(warnings_of_sdk)


def test_official_random_generator_keeps_the_native_ids(
    path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    def not_called(self: Any) -> int:
        raise AssertionError("the native generator makes random ids: RandomIdGenerator is not called")

    monkeypatch.setattr(RandomIdGenerator, "generate_trace_id", not_called)
    monkeypatch.setattr(RandomIdGenerator, "generate_span_id", not_called)
    generator = RandomIdGenerator()
    provider = sdk.TracerProvider(path, id_generator=generator, shutdown_on_exit=False)
    assert provider.id_generator is generator
    span = provider.get_tracer("t").start_span("s")
    assert span.get_span_context().is_valid and int(span.get_span_context().trace_flags) & 0x02
    span.end()
    provider.shutdown()
    assert not warnings(warnings_of_sdk)


def test_environment_random_is_quiet(path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: Any) -> None:
    monkeypatch.setenv("OTEL_PYTHON_ID_GENERATOR", "random")
    provider = sdk.TracerProvider(path, shutdown_on_exit=False)
    assert provider.id_generator is None
    provider.get_tracer("t").start_span("s").end()
    provider.shutdown()
    assert not warnings(warnings_of_sdk)


def test_environment_bogus_name_is_one_warning_and_random_ids(
    path: str, monkeypatch: pytest.MonkeyPatch, warnings_of_sdk: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_ID_GENERATOR", "bogus")
    providers = [sdk.TracerProvider(path, shutdown_on_exit=False) for _ in range(2)]
    for provider in providers:
        assert provider.id_generator is None
        span = provider.get_tracer("t").start_span("s")
        assert span.get_span_context().is_valid and int(span.get_span_context().trace_flags) & 0x02
        span.end()
        provider.shutdown()
    (message,) = warnings(warnings_of_sdk)
    assert "OTEL_PYTHON_ID_GENERATOR='bogus'" in message and "random" in message


def test_environment_names_an_installed_generator(tmp_path: Path) -> None:
    """An entry point of group opentelemetry_id_generator (as opentelemetry-sdk-extension-aws
    installs 'xray'), named by OTEL_PYTHON_ID_GENERATOR, through the API's entry point route."""
    site = tmp_path / "site"
    dist = site / "fixed_ids-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fixed-ids\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[opentelemetry_id_generator]\nfixed = fixed_ids:Fixed\n")
    (site / "fixed_ids.py").write_text(
        textwrap.dedent(
            """
            from opentelemetry.sdk.trace.id_generator import IdGenerator

            class Fixed(IdGenerator):
                def generate_trace_id(self):
                    return 0xFEED

                def generate_span_id(self):
                    return 0xBEEF
            """
        )
    )
    path = str(tmp_path / "t.mmap")
    env = dict(os.environ, SDK_MMAP_EXPORTER_FILE=path, OTEL_PYTHON_TRACER_PROVIDER="otlp_mmap",
               OTEL_PYTHON_ID_GENERATOR="fixed", PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    code = (
        "from opentelemetry import trace\n"
        "with trace.get_tracer('x').start_as_current_span('s') as s:\n"
        "    c = s.get_span_context()\n"
        "    print(hex(c.trace_id), hex(c.span_id))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0xfeed", "0xbeef"]
    (span,) = merge_spans(read_all(path)["spans"]).values()
    assert span["span_id"] == (0xBEEF).to_bytes(8, "big")

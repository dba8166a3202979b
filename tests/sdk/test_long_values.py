"""Long values through the whole pipeline: our SDK writes them into the file, `otlp-mmap
collect` reads it and exports OTLP/gRPC to a real OpenTelemetry Collector, whose JSON output is
read back. With the defaults a value up to 64 KiB arrives whole — a record larger than a slot
continues in the following slots of its ring (docs/FORMAT.md §9.17) — and a longer one arrives
with its first 64 KiB, counted in the file's truncated_values. With OTLP_MMAP_EXTENSIONS=none
(the plain protocol, for other readers) every record fits one slot: long values are shortened
there, counted (FORMAT.md §9.5)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from opentelemetry._logs import SeverityNumber

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))
import otelcol  # noqa: E402

COLLECTOR = Path(os.environ.get("OTLP_MMAP_BIN", ROOT / "build" / "dev" / "collector" / "otlp-mmap"))
E2E_REQUIRED = otelcol.e2e_required()

SQL = "SELECT " + ", ".join(f"orders.column_{i:04d}" for i in range(160)) + " FROM orders WHERE id = ?"
BODY = "".join(f"line {i:04d}: the request handler reported a long diagnostic message. " for i in range(80))
HUGE = "".join(chr(ord("a") + i % 26) for i in range(70 * 1024))
WIDE = {f"app.attribute.{i:03d}": f"value {i:03d} " + "x" * 40 for i in range(120)}
LONG_LIST = [f"item-{i:05d}" for i in range(1000)]


# Two functions calling each other: Python does not fold alternating frames, so the stack
# trace grows by one frame per call, like a real application's (ORM, framework, handler).
def _outer(n: int) -> None:
    if n == 0:
        raise ValueError("the innermost frame failed")
    _inner(n - 1)


def _inner(n: int) -> None:
    _outer(n)


def deep_exception() -> ValueError:
    try:
        _outer(20)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def stacktrace(exc: BaseException) -> str:
    """What both SDKs record as exception.stacktrace."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def write(tracer: Any, logger_provider: Any, log: logging.Logger, exc: BaseException) -> None:
    """Every record is in the file when its call returns: the spans at their end."""
    with tracer.start_as_current_span("failing") as span:
        span.record_exception(exc)
    with tracer.start_as_current_span("query", attributes={"db.statement": SQL}):
        pass
    with tracer.start_as_current_span("huge", attributes={"blob": HUGE, "small": 1}):
        pass
    with tracer.start_as_current_span("wide", attributes={**WIDE, "list": LONG_LIST}):
        pass
    log.info(BODY)
    logger_provider.get_logger("long").emit(body=BODY, severity_number=SeverityNumber.WARN, attributes={"kind": "emit"})


def collect(path: str, work: Path, spans: int, logs: int) -> Tuple[Dict[str, Dict[str, Any]], List[Dict[str, Any]]]:
    """Runs `otlp-mmap collect` on the file into a real Collector until it has `spans` spans
    and `logs` log records; returns the spans by name and the log records."""
    if not COLLECTOR.exists() or not otelcol.binary_available():
        message = f"needs {COLLECTOR} (make build) and {otelcol.default_binary()} (scripts/build-otelcol.sh)"
        if E2E_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTLP_MMAP_", "SDK_MMAP_"))}
    stderr_path = work / "collect.stderr"
    with otelcol.OtelCol(otelcol.default_binary(), work / "otelcol", debug_verbosity=None) as col:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [str(COLLECTOR), "collect", "--file", path, "--endpoint", f"http://{col.grpc_endpoint}",
                 "--protocol", "grpc", "--stats-interval", "0"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
            try:
                col.wait_for(lambda k: len(k.spans()) >= spans and len(k.logs()) >= logs, timeout=30)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    assert proc.wait(timeout=30) == 0, stderr_path.read_text()
                finally:
                    if proc.poll() is None:
                        proc.kill()
        col.stop()
        spans_in = {s["name"]: s for s in col.spans()}
        logs_in = col.logs()
    return spans_in, logs_in


def attributes(item: Dict[str, Any]) -> Dict[str, Any]:
    return otelcol.plain_attributes(item)


def file_counters(path: str) -> Tuple[Dict[str, int], Dict[str, int]]:
    with Reader(path, read_only=True) as r:
        return r.writer_counters(), r.header()


def test_long_values_arrive_whole_through_the_pipeline(tmp_path: Path, path: str, tracer: Any,
                                                       logger_provider: Any, pylogger: Any) -> None:
    exc = deep_exception()
    trace = stacktrace(exc)
    assert 3000 <= len(trace) <= 6000, len(trace)  # a real application's range, and more
    write(tracer, logger_provider, pylogger.logger, exc)
    spans, logs = collect(path, tmp_path, spans=4, logs=2)

    (event,) = spans["failing"]["events"]
    assert event["name"] == "exception"
    assert attributes(event)["exception.stacktrace"] == trace  # whole, not dropped
    assert attributes(event)["exception.type"] == "ValueError"
    assert int(event.get("droppedAttributesCount", 0)) == 0

    assert attributes(spans["query"])["db.statement"] == SQL
    assert len(SQL) >= 3000

    blob = attributes(spans["huge"])
    assert blob["small"] == 1
    assert blob["blob"] == HUGE[: 64 * 1024]  # cut at the per-value limit, not dropped

    wide = attributes(spans["wide"])
    assert wide == {**WIDE, "list": LONG_LIST}
    assert int(spans["wide"].get("droppedAttributesCount", 0)) == 0

    bodies = sorted(((otelcol.any_value(l["body"]), attributes(l).get("kind")) for l in logs), key=str)
    assert bodies == sorted([(BODY, None), (BODY, "emit")], key=str)
    assert len(BODY) >= 5000

    writer, header = file_counters(path)
    assert writer["truncated_values"] == 1  # the 70 KiB value
    assert writer["dropped_unencodable"] == 0
    assert header["reader_skipped_torn"] == header["reader_skipped_corrupt"] == 0


def test_plain_protocol_shortens_long_values_and_counts_them(tmp_path: Path, path: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTLP_MMAP_EXTENSIONS", "none")
    tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    lp = sdk.LoggerProvider(path, shutdown_on_exit=False)
    try:
        with tp.get_tracer("long").start_as_current_span("query", attributes={"db.statement": SQL}):
            pass
        lp.get_logger("long").emit(body=BODY, severity_number=SeverityNumber.WARN)
    finally:
        tp.shutdown()
        lp.shutdown()
    spans, logs = collect(path, tmp_path, spans=1, logs=1)

    statement = attributes(spans["query"])["db.statement"]
    assert 100 < len(statement) < 512 and SQL.startswith(statement)
    (log,) = logs
    body = otelcol.any_value(log["body"])
    assert 100 < len(body) < 512 and BODY.startswith(body)

    writer, header = file_counters(path)
    assert writer["truncated_values"] == 2
    assert header["reader_skipped_torn"] == header["reader_skipped_corrupt"] == 0
    # One slot per record: nothing a plain-protocol reader
    # could not take.
    with Reader(path, read_only=True) as r:
        states = r.ring_states()
    assert states["spans"]["writer_index"] <= 2  # start, an attribute update with the SQL, end
    assert states["events"]["writer_index"] == 0

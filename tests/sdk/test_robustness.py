"""Telemetry never blocks and never raises into the application."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from sdk_support import read_all

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader


def test_a_full_ring_drops_and_never_blocks(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTLP_MMAP_SPANS_SLOTS", "16")
    monkeypatch.setenv("OTLP_MMAP_MEASUREMENTS_SLOTS", "16")
    tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    mp = sdk.MeterProvider(path, shutdown_on_exit=False)
    tracer, counter = tp.get_tracer("t"), mp.get_meter("m").create_counter("c")
    before = sdk.counters()["not_written"]
    started = time.monotonic()
    for _ in range(2000):
        with tracer.start_as_current_span("s", attributes={"a": 1}):
            counter.add(1)
    elapsed = time.monotonic() - started
    assert elapsed < 10  # bounded retries, then dropped: no waiting for a reader
    with Reader(path, read_only=True) as r:
        counters = r.writer_counters()
    assert counters["dropped_full_spans"] > 0 and counters["dropped_full_measurements"] > 0
    assert sdk.counters()["not_written"] - before == counters["dropped_full_spans"] + counters[
        "dropped_full_measurements"
    ]
    tp.shutdown()
    mp.shutdown()


def test_oversized_values_are_truncated_not_raised(tracer: Any, path: str, pylogger: Any) -> None:
    huge = "x" * 100_000
    with tracer.start_as_current_span("big", attributes={"huge": huge, "small": 1}) as span:
        span.add_event("e", {"huge": huge})
        span.set_attribute("later", huge)
    pylogger.logger.info(huge)
    data = read_all(path)
    starts = [r for r in data["spans"] if r["type"] == "start"]
    assert starts and starts[0]["name"] == "big"
    merged_attrs = {}
    for r in data["spans"]:
        if r["type"] in ("start", "attributes"):
            merged_attrs.update(r["attributes"])
    assert merged_attrs["small"] == 1 and 0 < len(merged_attrs["huge"]) < len(huge)
    assert data["spans"][-1]["type"] == "end"
    assert len(data["events"]) == 1 and 0 < len(data["events"][0]["body"]) < len(huge)


def test_our_own_warnings_through_our_handler_do_not_loop(path: str) -> None:
    provider = sdk.LoggerProvider(path, shutdown_on_exit=False)
    tracer_provider = sdk.TracerProvider(path, shutdown_on_exit=False)
    handler = sdk.LoggingHandler(logger_provider=provider)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        span = tracer_provider.get_tracer("t").start_span("s", attributes={"bad": object()})
        span.end()
        span.end()
    finally:
        root.removeHandler(handler)
        handler.close()
        provider.shutdown()
        tracer_provider.shutdown()
    bodies = [e["body"] for e in read_all(path)["events"]]
    assert any("Invalid value" in str(b) for b in bodies)


def test_writes_after_shutdown_and_strange_inputs_are_harmless(path: str) -> None:
    tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    mp = sdk.MeterProvider(path, shutdown_on_exit=False)
    lp = sdk.LoggerProvider(path, shutdown_on_exit=False)
    tracer, meter, logger = tp.get_tracer("t"), mp.get_meter("m"), lp.get_logger("l")
    counter = meter.create_counter("c")
    span = tracer.start_span("open")
    for provider in (tp, mp, lp):
        provider.shutdown()
    span.set_attribute("k", "v")
    span.end()
    counter.add(1, attributes={"weird": object()})
    logger.emit(body=object(), attributes=42)  # type: ignore[arg-type]
    assert tp.force_flush() and mp.force_flush() and lp.force_flush()


def test_names_that_cannot_be_encoded_never_raise(path: str) -> None:
    tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    mp = sdk.MeterProvider(path, shutdown_on_exit=False)
    lp = sdk.LoggerProvider(path, shutdown_on_exit=False)
    bad = "lone \ud800 surrogate"
    tp.get_tracer(bad, bad).start_span(bad, attributes={bad: bad, "ok": 1}).end()
    mp.get_meter(bad).create_counter(bad, unit=bad, description=bad).add(1, {bad: 1})
    lp.get_logger(bad).emit(body=bad, event_name=bad)
    data = read_all(path)
    start = data["spans"][0]
    assert start["name"] == "" and start["attributes"] == {"ok": 1}
    assert len(data["measurements"]) == 1 and len(data["events"]) == 1
    for provider in (tp, mp, lp):
        provider.shutdown()

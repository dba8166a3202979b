#!/usr/bin/env python3
"""Cost of the OpenTelemetry API calls on our SDK (otlp_mmap.sdk) and on the official
opentelemetry-sdk, in one run, with the ratios (`.venv/bin/python bench/sdk_bench.py`).

Operations (issue 4's targets):

* ``with tracer.start_as_current_span("op", attributes={3 attributes}): pass``   >= 10x
* a nested parent/child pair of start_as_current_span                            >= 10x
* ``counter.add(1, {2 attributes})``                                             >= 10x
* ``histogram.record(v, {2 attributes})``                                        >= 10x
* ``logger.info("hello %s", "world")`` through a logging handler                 >= 5x

Set-ups, each measured alone (the previous one shut down first):

* otlp-mmap: ``otlp_mmap.sdk`` providers writing into a temporary file;
* official, BSP + discard: TracerProvider + BatchSpanProcessor, MeterProvider +
  PeriodicExportingMetricReader, LoggerProvider + BatchLogRecordProcessor + LoggingHandler,
  all with exporters that discard;
* official, BSP + OTLP gRPC: the same with the OTLP gRPC exporters sending to a real
  OpenTelemetry Collector on 127.0.0.1 (tests/otlp/otelcol.py; binary from
  scripts/build-otelcol.sh; skipped with a note when it is missing);
* no SDK: the API alone (no-op), for scale.

Each figure is the median over many timed batches of the per-operation time, in
microseconds. Between batches (untimed) our rings are drained by a reader and the official
processors are flushed, so every batch starts from the same state; the official SDK's
export threads run during the batches, as they do in an application. Figures are printed,
never asserted; the machine is described at the top.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]

ATTRS3 = {"http.request.method": "GET", "url.path": "/api/users", "http.response.status_code": 200}

TARGETS = {"span3": 10.0, "nested": 10.0, "counter": 10.0, "histogram": 10.0, "logging": 5.0}
LABELS = {
    "span3": 'start_as_current_span("op", attributes={3})',
    "nested": "nested parent/child start_as_current_span",
    "counter": "counter.add(1, {2 attributes})",
    "histogram": "histogram.record(v, {2 attributes})",
    "logging": 'logging: logger.info("hello %s", "world")',
}


# ---------------------------------------------------------------------------- machine


def machine() -> Dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-grpc", "otlp-mmap"):
        try:
            from importlib.metadata import version  # noqa: PLC0415

            versions[dist] = version(dist)
        except Exception:  # pylint: disable=broad-except
            versions[dist] = "not installed"
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "packages": versions,
    }


# ---------------------------------------------------------------------------- timing


def timed(loop: Callable[[int], None], batch: int, rounds: int, between: Optional[Callable[[], Any]]) -> float:
    """Median microseconds per operation over `rounds` batches of `batch` operations."""
    loop(min(batch, 200))  # warm-up
    per_op = []
    for _ in range(rounds):
        if between is not None:
            between()
        t0 = time.perf_counter_ns()
        loop(batch)
        per_op.append((time.perf_counter_ns() - t0) / batch / 1000.0)
    return statistics.median(per_op)


def workloads(tracer: Any, counter: Any, histogram: Any, pylogger: logging.Logger) -> Dict[str, Callable[[int], None]]:
    span = tracer.start_as_current_span

    def span3(n: int) -> None:
        for _ in range(n):
            with span("op", attributes={"http.request.method": "GET", "url.path": "/api/users",
                                        "http.response.status_code": 200}):
                pass

    def nested(n: int) -> None:
        for _ in range(n):
            with span("parent"):
                with span("child"):
                    pass

    def count(n: int) -> None:
        add = counter.add
        for _ in range(n):
            add(1, {"http.request.method": "GET", "http.response.status_code": 200})

    def hist(n: int) -> None:
        record = histogram.record
        for i in range(n):
            record(12.5, {"http.request.method": "GET", "http.response.status_code": 200})

    def log(n: int) -> None:
        info = pylogger.info
        for _ in range(n):
            info("hello %s", "world")

    return {"span3": span3, "nested": nested, "counter": count, "histogram": hist, "logging": log}


def python_logger(name: str, handler: Optional[logging.Handler]) -> logging.Logger:
    lg = logging.getLogger(name)
    lg.handlers[:] = [handler] if handler is not None else []
    lg.propagate = False
    lg.setLevel(logging.INFO)
    return lg


# ---------------------------------------------------------------------------- set-ups


class Setup:
    name = ""

    def start(self) -> Tuple[Any, Any, Any, logging.Logger]:
        raise NotImplementedError

    def between(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Ours(Setup):
    name = "otlp-mmap"

    def start(self) -> Tuple[Any, Any, Any, logging.Logger]:
        from otlp_mmap import Reader  # noqa: PLC0415
        from otlp_mmap.sdk import LoggerProvider, LoggingHandler, MeterProvider, TracerProvider  # noqa: PLC0415

        self._tmp = tempfile.TemporaryDirectory(prefix="otlp-mmap-sdk-bench-")
        path = os.path.join(self._tmp.name, "bench.mmap")
        self.tp = TracerProvider(path, service_name="bench", shutdown_on_exit=False, strict=True)
        self.mp = MeterProvider(path, service_name="bench", shutdown_on_exit=False, strict=True)
        self.lp = LoggerProvider(path, service_name="bench", shutdown_on_exit=False, strict=True)
        self.reader = Reader(path)
        self._prefault()
        handler = LoggingHandler(logger_provider=self.lp)
        meter = self.mp.get_meter("bench")
        return (
            self.tp.get_tracer("bench"),
            meter.create_counter("requests"),
            meter.create_histogram("latency", unit="ms"),
            python_logger("bench.ours", handler),
        )

    def _prefault(self) -> None:
        """Writes through every ring once, so that the timed calls measure the steady state,
        not the first touch of the file's pages (as bench/python_native_bench.py does)."""
        w = self.tp.writer
        scope = w.create_instrumentation_scope(w.create_resource({}), "prefault")
        metric = w.create_metric_stream(scope, "prefault", "", "", {"gauge": {}})
        tid, sid = bytes(range(1, 17)), bytes(range(1, 9))
        writes = {
            "events": lambda: w.record_event(scope, None, 0, 1, None),
            "spans": lambda: w.record_span_end(scope, tid, sid, 1),
            "measurements": lambda: w.record_measurement(metric, None, 1, 1),
        }
        for ring, write in writes.items():
            for i in range(w.geometry[ring]["num_buffers"]):
                write()
                if i % 1024 == 1023:
                    self.reader.skip(ring)
            self.reader.skip(ring)

    def between(self) -> None:
        for ring in ("events", "spans", "measurements"):
            self.reader.skip(ring)

    def stop(self) -> None:
        dropped = self.reader.writer_counters()
        if any(dropped.values()):
            print(f"  note: otlp-mmap writer counters {dropped}", file=sys.stderr)
        self.tp.shutdown()
        self.mp.shutdown()
        self.lp.shutdown()
        self.reader.close()
        self._tmp.cleanup()


class Official(Setup):
    def __init__(self, otlp_endpoint: Optional[str]) -> None:
        self.endpoint = otlp_endpoint
        self.name = "official, BSP + OTLP gRPC" if otlp_endpoint else "official, BSP + discard"

    def start(self) -> Tuple[Any, Any, Any, logging.Logger]:
        # pylint: disable=import-outside-toplevel
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            MetricExporter,
            MetricExportResult,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class NullSpans(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        class NullMetrics(MetricExporter):
            def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
                return MetricExportResult.SUCCESS

            def force_flush(self, timeout_millis: float = 10_000) -> bool:
                return True

            def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
                pass

        class NullLogs(LogRecordExporter):
            def export(self, batch: Any) -> LogRecordExportResult:
                return LogRecordExportResult.SUCCESS

            def shutdown(self) -> None:
                pass

            def force_flush(self, timeout_millis: int = 30000) -> bool:
                return True

        if self.endpoint:
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            spans: Any = OTLPSpanExporter(endpoint=self.endpoint, insecure=True)
            metrics: Any = OTLPMetricExporter(endpoint=self.endpoint, insecure=True)
            logs: Any = OTLPLogExporter(endpoint=self.endpoint, insecure=True)
        else:
            spans, metrics, logs = NullSpans(), NullMetrics(), NullLogs()
        resource = Resource.create({"service.name": "bench"})
        self.tp = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.tp.add_span_processor(BatchSpanProcessor(spans))
        self.mp = MeterProvider(
            metric_readers=[PeriodicExportingMetricReader(metrics)], resource=resource, shutdown_on_exit=False
        )
        self.lp = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self.lp.add_log_record_processor(BatchLogRecordProcessor(logs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            handler = LoggingHandler(logger_provider=self.lp)
        meter = self.mp.get_meter("bench")
        return (
            self.tp.get_tracer("bench"),
            meter.create_counter("requests"),
            meter.create_histogram("latency", unit="ms"),
            python_logger("bench.official." + ("otlp" if self.endpoint else "null"), handler),
        )

    def between(self) -> None:
        self.tp.force_flush()
        self.lp.force_flush()

    def stop(self) -> None:
        self.tp.shutdown()
        self.mp.shutdown()
        self.lp.shutdown()


class NoSdk(Setup):
    name = "no SDK (API no-op)"

    def start(self) -> Tuple[Any, Any, Any, logging.Logger]:
        from opentelemetry import metrics, trace  # noqa: PLC0415

        meter = metrics.NoOpMeter("bench")
        return (
            trace.NoOpTracer(),
            meter.create_counter("requests"),
            meter.create_histogram("latency"),
            python_logger("bench.none", logging.NullHandler()),
        )


# ---------------------------------------------------------------------------- main


def run(setup: Setup, batch: int, rounds: int, only: Optional[List[str]] = None) -> Dict[str, float]:
    tracer, counter, histogram, pylogger = setup.start()
    try:
        results = {}
        for name, loop in workloads(tracer, counter, histogram, pylogger).items():
            if only and name not in only:
                continue
            gc.collect()
            results[name] = timed(loop, batch, rounds, setup.between)
        return results
    finally:
        setup.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=40, help="timed batches per operation (default 40)")
    ap.add_argument("--batch", type=int, default=1000, help="operations per batch (default 1000)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="run every set-up this many times, in alternating order, and keep the median (default 2)")
    ap.add_argument("--quick", action="store_true", help="a few small batches (smoke test)")
    ap.add_argument("--no-collector", action="store_true", help="skip the set-up with a real Collector")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    ap.add_argument("--only", action="append", choices=sorted(LABELS), metavar="OPERATION",
                    help="measure only this operation (repeatable; one of: %(choices)s)")
    args = ap.parse_args()
    ops = [op for op in LABELS if not args.only or op in args.only]
    if args.quick:
        args.rounds, args.batch, args.repeat = 5, 200, 1

    info = machine()
    print("otlp_mmap.sdk vs opentelemetry-sdk: microseconds per operation (median of batches)")
    for key, value in info.items():
        if key == "packages":
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"  {key}: {value}")
    print(f"  {args.rounds} batches of {args.batch} operations per figure; every set-up run {args.repeat} time(s), "
          "in alternating order, median kept\n")

    setups: List[Setup] = [Ours(), Official(None)]
    collector = None
    if not args.no_collector:
        sys.path.insert(0, str(ROOT / "tests" / "otlp"))
        try:
            from otelcol import OtelCol, binary_available  # noqa: PLC0415

            if binary_available():
                collector = OtelCol(debug_verbosity=None).start()
                setups.append(Official(collector.grpc_endpoint))
            else:
                print("  note: no Collector binary (scripts/build-otelcol.sh): OTLP gRPC set-up skipped\n")
        except Exception as exc:  # pylint: disable=broad-except
            print(f"  note: the Collector did not start ({exc}): OTLP gRPC set-up skipped\n")
    setups.append(NoSdk())

    runs: Dict[str, List[Dict[str, float]]] = {setup.name: [] for setup in setups}
    try:
        for i in range(max(1, args.repeat)):
            for setup in setups if i % 2 == 0 else list(reversed(setups)):
                print(f"  measuring: {setup.name} (run {i + 1}) ...", file=sys.stderr)
                runs[setup.name].append(run(setup, args.batch, args.rounds, args.only))
    finally:
        if collector is not None:
            collector.stop()
    results = {
        name: {op: statistics.median(r[op] for r in measured) for op in ops} for name, measured in runs.items()
    }

    ours = results["otlp-mmap"]
    officials = [s.name for s in setups if isinstance(s, Official)]
    header = f"{'operation':<46}{'otlp-mmap':>10}"
    for name in officials:
        header += f"{name:>28}{'ratio':>7}"
    header += f"{'no SDK':>9}{'target':>8}"
    print(header)
    for op in ops:
        label = LABELS[op]
        line = f"{label:<46}{ours[op]:>10.2f}"
        for name in officials:
            theirs = results[name][op]
            line += f"{theirs:>28.2f}{theirs / ours[op]:>6.1f}x"
        line += f"{results['no SDK (API no-op)'][op]:>9.2f}{'>=' + format(TARGETS[op], 'g') + 'x':>8}"
        print(line)
    print("\nratio = official / otlp-mmap (higher is better for otlp-mmap); 'no SDK' is the API alone.")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "microseconds": results, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

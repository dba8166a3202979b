#!/usr/bin/env python3
"""The whole pipeline against the official SDK, in one run, into one real OpenTelemetry
Collector (`make bench-pipeline`; figures and ratios printed, never asserted).

Part 1, CPU per item through the whole pipeline. A Python application (a child process) writes
at full speed through the OpenTelemetry API:

* spans: ``start_as_current_span("op", attributes=...)`` with 10 attributes of 20-character
  keys and values (the OpenTelemetry specification's SDK benchmark shape);
* logs: ``logger.info("order %s accepted", ...)`` through the SDK's logging handler;
* measurements: ``counter.add(1, {2 attributes})``.

otlp-mmap: our SDK writes into a file while ``otlp-mmap collect`` (started first) drains it and
exports OTLP/gRPC to the Collector. Figures: the application's CPU per item, the collector's
CPU per item (its whole process, start to exit, over the items it exported), their sum, the
records the writer dropped (full ring) or the reader skipped (torn), the collector's RSS
(sampled during the run).
official: the official SDK with BatchSpanProcessor / BatchLogRecordProcessor /
PeriodicExportingMetricReader and the OTLP/gRPC exporters, sending to the same Collector; its
CPU is the whole application process (the exporter threads included), its queues sized so
that it drops nothing (a dropped item would cost it nothing).

Part 2, the API calls in the application while the collector drains the file at the same time
(the real deployment): median microseconds per call over timed batches (bench/sdk_bench.py's
workloads), ours, the official SDK exporting OTLP/gRPC to the Collector, and the API's no-op.

    .venv/bin/python bench/pipeline_bench.py [--spans N] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))
sys.path.insert(0, str(ROOT / "bench"))

import otelcol  # noqa: E402

# 10 attributes, 20-character keys and values.
ATTRS10 = {f"attribute.key.{i:06d}": f"attribute.value.{i:04d}" for i in range(10)}
SIGNALS = ("spans", "logs", "measurements")

# The application, run in a child process so that its CPU is its own.
APP = r"""
import json, logging, os, resource, sys, time
kind, signal_name, n, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
attrs = json.loads(sys.argv[5])
if kind == "ours":
    from otlp_mmap.sdk import LoggerProvider, LoggingHandler, MeterProvider, TracerProvider
    tp = TracerProvider(target, service_name="bench", shutdown_on_exit=False, strict=True)
    mp = MeterProvider(target, service_name="bench", shutdown_on_exit=False, strict=True)
    lp = LoggerProvider(target, service_name="bench", shutdown_on_exit=False, strict=True)
    handler = LoggingHandler(logger_provider=lp)
else:
    import warnings
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    res = Resource.create({"service.name": "bench"})
    tp = TracerProvider(resource=res, shutdown_on_exit=False)
    # Queues that hold every item: what the official SDK drops would cost it nothing.
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=target, insecure=True), max_queue_size=n + 1))
    mp = MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=target, insecure=True),
                                                                     export_interval_millis=1000)],
                       resource=res, shutdown_on_exit=False)
    lp = LoggerProvider(resource=res, shutdown_on_exit=False)
    lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=target, insecure=True),
                                                        max_queue_size=n + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handler = LoggingHandler(logger_provider=lp)
logger = logging.getLogger("bench.app")
logger.handlers[:] = [handler]
logger.propagate = False
logger.setLevel(logging.INFO)
tracer = tp.get_tracer("bench")
counter = mp.get_meter("bench").create_counter("requests")
span = tracer.start_as_current_span
info = logger.info
add = counter.add
pair = {"http.request.method": "GET", "http.response.status_code": 200}
print("ready", flush=True)
sys.stdin.readline()
t0, c0 = time.perf_counter(), time.process_time()
if signal_name == "spans":
    for _ in range(n):
        with span("op", attributes=attrs):
            pass
elif signal_name == "logs":
    for i in range(n):
        info("order %s accepted", i)
else:
    for i in range(n):
        add(1, pair)
loop_wall, loop_cpu = time.perf_counter() - t0, time.process_time() - c0
tp.shutdown(); lp.shutdown(); mp.shutdown()   # the official SDK exports what it holds here
total = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"loop_wall": loop_wall, "loop_cpu": loop_cpu, "cpu_end": time.process_time() - c0}), flush=True)
"""


@dataclass
class Figures:
    items: int = 0
    app_cpu: float = 0.0  # seconds, the application process from the first call to its exit
    app_wall: float = 0.0  # seconds of the write loop
    collector_cpu: Optional[float] = None  # seconds, otlp-mmap collect start to exit
    exported: int = 0
    writer_dropped: int = 0
    torn: int = 0
    rss_mb: List[float] = field(default_factory=list)
    backend_cpu: Optional[float] = None  # seconds, the receiving Collector over the run

    def per(self, seconds: Optional[float]) -> Optional[float]:
        """Microseconds per item the application made."""
        return None if seconds is None or not self.items else seconds / self.items * 1e6

    def collector_per(self) -> Optional[float]:
        """The collector's microseconds per item it exported (what it dropped cost it nothing)."""
        return None if self.collector_cpu is None or not self.exported else self.collector_cpu / self.exported * 1e6


# ---------------------------------------------------------------------------- the collector

STATS_FIELDS = {
    "spans": re.compile(r"exported spans=(\d+)"),
    "logs": re.compile(r"exported spans=\d+ logs=(\d+)"),
    "measurements": re.compile(r"read logs=\d+ spans=\d+ measurements=(\d+)"),
}
DROPPED = re.compile(r"dropped writer=(\d+) exporter=(\d+) reader=(\d+)")  # the final stats line


def collector_binary() -> Path:
    return Path(os.environ.get("OTLP_MMAP_BIN") or ROOT / "build/dev/collector/otlp-mmap")


class Collect:
    """`otlp-mmap collect` on one file, exporting OTLP/gRPC, with its stats line every 50 ms."""

    def __init__(self, path: Path, endpoint: str, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.log = log
        self._err = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(collector_binary()), "collect", "--file", str(path), "--endpoint", f"http://{endpoint}",
             "--protocol", "grpc", "--stats-interval", "0.05", "--schedule-delay", "200",
             "--metric-export-interval", "1000"],
            stdout=subprocess.DEVNULL, stderr=self._err, env=env)
        self.rss: List[float] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while not self._stop.wait(0.1):
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.rss.append(int(line.split()[1]) / 1024)
            except OSError:
                return

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, signal_name: str, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = STATS_FIELDS[signal_name].findall(self.text())
            if found and int(found[-1]) >= n:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"collect exited:\n{self.text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> float:
        """Stops it (SIGTERM); its CPU seconds from start to exit."""
        self._stop.set()
        self.proc.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        self._err.close()
        return usage.ru_utime + usage.ru_stime


def last_stats(text: str) -> str:
    lines = [line for line in text.splitlines() if "stats: read" in line]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------- one run


def run_app(kind: str, signal_name: str, n: int, target: str) -> Dict[str, float]:
    p = subprocess.Popen([sys.executable, "-c", APP, kind, signal_name, str(n), target, json.dumps(ATTRS10)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdin is not None and p.stdout is not None
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("the application did not start")
    p.stdin.write("go\n")
    p.stdin.flush()
    out = json.loads(p.stdout.readline())
    p.wait(timeout=600)
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ours(signal_name: str, n: int, col: otelcol.OtelCol, work: Path) -> Figures:
    path = work / f"{signal_name}.otlp"
    backend0 = process_cpu(col.proc.pid)
    collect = Collect(path, col.grpc_endpoint, work / f"collect-{signal_name}.log")
    try:
        app = run_app("ours", signal_name, n, str(path))
        collect.wait_for(signal_name, 1, 30)
        # Everything the application wrote is read (or counted as dropped) and exported.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stats = last_stats(collect.text())
            m = STATS_FIELDS[signal_name].search(stats)
            d = DROPPED.search(stats)
            if m and d and int(m.group(1)) + int(d.group(1)) + int(d.group(3)) >= n:
                break
            time.sleep(0.05)
        cpu = collect.stop()
    finally:
        if collect.proc.poll() is None:
            collect.stop()
    m = STATS_FIELDS[signal_name].search(last_stats(collect.text()))
    f = Figures(items=n, app_cpu=app["cpu_end"], app_wall=app["loop_wall"], collector_cpu=cpu,
                exported=int(m.group(1)) if m else 0, rss_mb=collect.rss,
                backend_cpu=process_cpu(col.proc.pid) - backend0)
    # The file's own counters: what the writer dropped, what readers skipped as torn.
    from otlp_mmap import Reader  # noqa: PLC0415

    with Reader(str(path), read_only=True) as r:
        c = r.writer_counters()
        f.writer_dropped = sum(v for k, v in c.items() if k.startswith("dropped"))
        f.torn = r.header()["reader_skipped_torn"]
    return f


def official(signal_name: str, n: int, col: otelcol.OtelCol) -> Figures:
    app = run_app("official", signal_name, n, col.grpc_endpoint)
    return Figures(items=n, app_cpu=app["cpu_end"], app_wall=app["loop_wall"], exported=n)


# ---------------------------------------------------------------------------- part 2


def api_calls(col: otelcol.OtelCol, work: Path, quick: bool) -> Dict[str, Dict[str, float]]:
    import sdk_bench  # noqa: PLC0415

    class OursLive(sdk_bench.Ours):
        name = "otlp-mmap (collector draining)"

        def start(self) -> Any:
            handles = super().start()
            self.reader.close()  # the collector is the file's reader now
            self.collect = Collect(Path(self._tmp.name) / "bench.mmap", col.grpc_endpoint, work / "collect-api.log")
            return handles

        def between(self) -> None:
            pass

        def stop(self) -> None:
            self.collect.stop()
            self.tp.shutdown()
            self.mp.shutdown()
            self.lp.shutdown()
            self._tmp.cleanup()

    rounds, batch = (5, 500) if quick else (40, 1000)
    setups = [OursLive(), sdk_bench.Official(col.grpc_endpoint), sdk_bench.NoSdk()]
    ops = ["span3", "counter", "histogram"]
    runs: Dict[str, List[Dict[str, float]]] = {s.name: [] for s in setups}
    for i in range(1 if quick else 2):
        for setup in setups if i % 2 == 0 else list(reversed(setups)):
            runs[setup.name].append(sdk_bench.run(setup, batch, rounds, ops))
    return {name: {op: statistics.median(r[op] for r in rs) for op in ops} for name, rs in runs.items()}


# ---------------------------------------------------------------------------- report


def us(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:8.2f}"


def report(results: Dict[str, Dict[str, Figures]], calls: Dict[str, Dict[str, float]]) -> List[str]:
    out = []
    out.append(f"{'':32}{'app us':>9}{'collector us':>14}{'pipeline us':>13}{'ratio':>8}"
               f"{'writer drops':>14}{'torn':>6}{'exported':>10}{'RSS MB':>14}")
    for signal_name in SIGNALS:
        o, t = results["ours"][signal_name], results["official"][signal_name]
        ours_total = (o.per(o.app_cpu) or 0) + (o.collector_per() or 0)
        theirs = t.per(t.app_cpu)
        rss = ""
        if o.rss_mb:
            tail = o.rss_mb[len(o.rss_mb) // 3:] or o.rss_mb
            rss = f"{min(tail):.0f}..{max(tail):.0f}"
        label = {"spans": "span, 10 attributes", "logs": "log record", "measurements": "counter.add, 2 attributes"}
        out.append(f"{'otlp-mmap  ' + label[signal_name]:32}{us(o.per(o.app_cpu)):>9}{us(o.collector_per()):>14}"
                   f"{us(ours_total):>13}{theirs / ours_total:>7.1f}x{o.writer_dropped:>14}{o.torn:>6}"
                   f"{o.exported:>10}{rss:>14}")
        out.append(f"{'official   ' + label[signal_name]:32}{us(theirs):>9}{'':>14}{us(theirs):>13}")
        out.append(f"{'':32}collector/app = {(o.collector_per() or 0) / (o.per(o.app_cpu) or 1):.2f} (target <= 1); "
                   f"ours at {o.items / o.app_wall:,.0f}/s from one Python thread")
        if o.backend_cpu is not None and o.exported:
            # The receiving Collector shares the machine. Keeping up with the application's
            # write rate takes (app + collector + backend CPU per item) x rate CPUs: more than
            # the machine has, and the ring fills whatever the collector costs.
            backend = o.backend_cpu / o.exported * 1e6
            need = (o.items / o.app_wall) * ((o.per(o.app_cpu) or 0) + (o.collector_per() or 0) + backend) / 1e6
            out.append(f"{'':32}receiving Collector: {backend:.2f} us per item; keeping up with the write rate "
                       f"takes {need:.2f} CPUs of {os.cpu_count()}")
    m = results["ours"]["measurements"]
    out.append("")
    out.append("ratio = official pipeline / ours; writer drops = records (a span is two: start and end)")
    out.append("targets: spans collector/app <= 1, pipeline ratio >= 25x, zero writer drops and torn skips; "
               f">= 1M measurements/s per collector core: {1e6 / (m.collector_per() or 1e6):,.0f}/s")
    if calls:
        out.append("")
        names = list(calls)
        out.append(f"{'API call, collector draining (us)':44}" + "".join(f"{n[:26]:>28}" for n in names)
                   + f"{'official/ours':>15}{'ours/no-op':>12}")
        for op, label in (("span3", 'start_as_current_span("op", {3})'), ("counter", "counter.add(1, {2})"),
                          ("histogram", "histogram.record(v, {2})")):
            row = [calls[n][op] for n in names]
            out.append(f"{label:44}" + "".join(f"{v:>28.3f}" for v in row) + f"{row[1] / row[0]:>14.1f}x"
                       f"{row[0] / row[2]:>11.2f}x")
        out.append("targets: counter and histogram official/ours >= 10x and ours/no-op <= 2.5x; span unchanged or better")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=200_000, help="spans, log records: measurements are 5x as many")
    ap.add_argument("--official-share", type=int, default=10, help="the official SDK writes 1/N as many items")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-api", action="store_true", help="skip part 2")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    if args.quick:
        args.spans = 20_000
    if not os.access(collector_binary(), os.X_OK) or not otelcol.binary_available():
        print("needs otlp-mmap (make build) and the Collector (scripts/build-otelcol.sh)", file=sys.stderr)
        return 1
    counts = {"spans": args.spans, "logs": args.spans, "measurements": 5 * args.spans}
    print("pipeline: Python application -> (otlp-mmap file -> otlp-mmap collect | official SDK) -> OTLP/gRPC -> "
          "OpenTelemetry Collector")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs; "
          "CPU microseconds per item (user + system)\n")
    results: Dict[str, Dict[str, Figures]] = {"ours": {}, "official": {}}
    calls: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="otlp-mmap-pipeline-bench-") as tmp:
        work = Path(tmp)
        with otelcol.OtelCol(workdir=work / "otelcol", debug_verbosity="basic", file_exporter=False) as col:
            for signal_name in SIGNALS:
                print(f"  measuring {signal_name} ...", file=sys.stderr)
                results["ours"][signal_name] = ours(signal_name, counts[signal_name], col, work)
                results["official"][signal_name] = official(signal_name,
                                                            max(1000, counts[signal_name] // args.official_share), col)
            if not args.no_api:
                print("  measuring API calls ...", file=sys.stderr)
                calls = api_calls(col, work, args.quick)
    lines = report(results, calls)
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "figures": {k: {s: vars(f) for s, f in v.items()} for k, v in results.items()}, "api_calls": calls},
            indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

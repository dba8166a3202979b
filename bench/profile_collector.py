#!/usr/bin/env python3
"""Where `otlp-mmap collect` spends its CPU exporting spans over OTLP/gRPC (`perf`, printed).

A file is pre-filled through our SDK with --spans spans of 10 attributes (20-character keys and
values, bench/pipeline_bench.py's shape; the span ring sized to hold them all), then
`otlp-mmap collect` runs under `perf record` exporting it to a real OpenTelemetry Collector
(tests/otlp/otelcol.py, debug exporter only) until every span was acknowledged. Prints the
collector's last stats line and the top of `perf report` (self time per symbol).

    .venv/bin/python bench/profile_collector.py [--spans 200000] [--top 40] [--callers] [--frequency 2000]
        [--keep perf.data]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "otlp"))

import otelcol  # noqa: E402
import pipeline_bench  # noqa: E402

FILL = r"""
import json, sys
from otlp_mmap.sdk import TracerProvider
tp = TracerProvider(sys.argv[1], service_name="bench", shutdown_on_exit=False, strict=True)
attrs = json.loads(sys.argv[3])
span = tp.get_tracer("bench").start_as_current_span
for _ in range(int(sys.argv[2])):
    with span("op", attributes=attrs):
        pass
"""


def perf_report(perf: str, data: Path, sort: str, callers: bool) -> list[str]:
    cmd = [perf, "report", "-i", str(data), "--stdio", "--no-children", "--percent-limit", "0.3", "--sort", sort]
    if not callers:
        cmd += ["-g", "none"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    lines = []
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        # perf pads every column to the longest symbol: collapse the padding.
        lines.append(" ".join(line.split())[:150])
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--callers", action="store_true", help="record call graphs (dwarf) and show them")
    ap.add_argument("--frequency", type=int, default=2000, help="samples per second (perf record -F)")
    ap.add_argument("--keep", type=Path, help="copy perf.data here, for perf report of your own")
    args = ap.parse_args()
    perf = shutil.which("perf")
    if perf is None:
        print("needs perf (apt-get install linux-perf)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="otlp-mmap-profile-") as tmp:
        work = Path(tmp)
        path = work / "spans.otlp"
        env = dict(os.environ, OTLP_MMAP_SPANS_SLOTS=str(1 << (2 * args.spans - 1).bit_length()))
        subprocess.run([sys.executable, "-c", FILL, str(path), str(args.spans), pipeline_bench.json.dumps(
            pipeline_bench.ATTRS10)], check=True, env=env, stdout=subprocess.DEVNULL)
        data = work / "perf.data"
        with otelcol.OtelCol(workdir=work / "otelcol", debug_verbosity="basic", file_exporter=False) as col:
            log = work / "collect.log"
            graph = ["--call-graph", "dwarf,16384"] if args.callers else []
            cmd = [perf, "record", "-q", "-F", str(args.frequency), *graph, "-o", str(data), "--",
                   str(pipeline_bench.collector_binary()), "collect", "--file", str(path), "--endpoint",
                   f"http://{col.grpc_endpoint}", "--protocol", "grpc", "--stats-interval", "0.05",
                   "--schedule-delay", "200"]
            t0 = time.monotonic()
            with open(log, "wb") as err:
                p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            try:
                while time.monotonic() - t0 < 300:
                    found = pipeline_bench.STATS_FIELDS["spans"].findall(log.read_text(errors="replace"))
                    if found and int(found[-1]) >= args.spans:
                        break
                    if p.poll() is not None:
                        raise RuntimeError(log.read_text(errors="replace")[-2000:])
                    time.sleep(0.05)
            finally:
                # perf passes SIGINT on to the collector, which drains, flushes and exits.
                p.send_signal(signal.SIGINT)
                p.wait(timeout=60)
        stats = pipeline_bench.last_stats(log.read_text(errors="replace"))
        print(f"collector: {stats[:160]}")
        print(f"profile of otlp-mmap collect ({args.spans} spans), self time:")
        if args.keep:
            shutil.copyfile(data, args.keep)
        for sort, top in (("dso", 12), ("dso,symbol", args.top)):
            print(f"\n-- by {sort}")
            print("\n".join(perf_report(perf, data, sort, args.callers)[:top]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

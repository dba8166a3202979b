#!/usr/bin/env python3
"""Instructions per SDK call, counted by valgrind's callgrind: a regression check that the
shared machine's noise cannot blur (bench/sdk_bench.py's timings move by 30% between runs
here; these counts by well under 1%).

    .venv/bin/python bench/sdk_instructions.py                      # this checkout
    .venv/bin/python bench/sdk_instructions.py --baseline ../other  # and another checkout

Each operation is run twice in a fresh process on our SDK (writing into a temporary file,
nothing reading it): once with 0 timed calls and once with N, after the same warm-up; the
difference over N is the cost of one call. A baseline is another checkout of this
repository with its own .venv (its native module built: scripts/build-python.sh). Figures
are printed, never asserted. Needs valgrind (apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ["span3", "span10", "counter", "histogram", "logging"]

# Runs inside the measured process: argv = operation, number of timed calls.
WORKLOAD = r"""
import logging, os, sys, tempfile
op, n = sys.argv[1], int(sys.argv[2])
os.environ["SDK_MMAP_EXPORTER_FILE"] = os.path.join(tempfile.mkdtemp(), "telemetry.otlp")
import otlp_mmap.sdk as sdk
sdk.configure(logging_handler=True)
from opentelemetry import metrics, trace
tracer = trace.get_tracer("bench")
meter = metrics.get_meter("bench")
counter = meter.create_counter("c")
histogram = meter.create_histogram("h")
log = logging.getLogger("bench")
log.setLevel(logging.INFO)
A3 = {"http.request.method": "GET", "url.path": "/api/users", "http.response.status_code": 200}
A10 = {f"attribute.key.{i:06d}": f"attribute.value.{i:04d}" for i in range(10)}  # bench/pipeline_bench.py's
A2 = {"a": "x", "b": 2}
def span3():
    with tracer.start_as_current_span("op", attributes=A3):
        pass
def span10():
    with tracer.start_as_current_span("op", attributes=A10):
        pass
calls = {
    "span3": span3,
    "span10": span10,
    "counter": lambda: counter.add(1, A2),
    "histogram": lambda: histogram.record(3.5, A2),
    "logging": lambda: log.info("hello %s", "world"),
}
call = calls[op]
for _ in range(200):
    call()
for _ in range(n):
    call()
"""


def instructions(python: Path, op: str, n: int, workdir: Path) -> int:
    script = workdir / "workload.py"
    script.write_text(WORKLOAD)
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir / 'callgrind.out'}", str(python),
         str(script), op, str(n)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"Collected : (\d+)", out.stderr)
    if not match:
        raise RuntimeError(f"callgrind gave no count:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def per_call(checkout: Path, calls: int) -> Dict[str, float]:
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"sdk_instructions: {python} is missing (run make setup python in {checkout})")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        return {op: (instructions(python, op, calls, work) - instructions(python, op, 0, work)) / calls
                for op in OPERATIONS}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=4000, help="timed calls per operation (default 4000)")
    ap.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("sdk_instructions: valgrind is not installed (apt-get install valgrind)")
    checkouts: List[Path] = ([args.baseline.resolve()] if args.baseline else []) + [ROOT]
    figures = [per_call(c, args.calls) for c in checkouts]
    print(f"instructions per call (callgrind, {args.calls} calls, warm), otlp_mmap.sdk")
    header = f"{'operation':12s}" + "".join(f"{c.name:>14s}" for c in checkouts)
    print(header + ("      change" if args.baseline else ""))
    for op in OPERATIONS:
        row = f"{op:12s}" + "".join(f"{f[op]:14.0f}" for f in figures)
        if args.baseline:
            row += f"  {100.0 * (figures[1][op] / figures[0][op] - 1.0):+9.1f}%"
        print(row)


if __name__ == "__main__":
    main()

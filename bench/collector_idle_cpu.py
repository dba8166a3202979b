"""CPU used by an idle `otlp-mmap collect`, in % of one core (printed, never asserted).

Three idle states are measured, each for --seconds (default 10) after a warm-up:
  * following a file that nothing writes to;
  * the same after a burst of records (the wait has backed off again);
  * waiting for a file that does not exist yet.

    python bench/collector_idle_cpu.py [--seconds 10] [--bin build/dev/collector/otlp-mmap]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process (all threads). /proc/<pid>/task/*/schedstat counts nanoseconds
    exactly; utime/stime are sampled at the clock tick and badly mis-charge a process that
    wakes up on a timer, so they are only the fallback."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


def measure(pid: int, seconds: float) -> float:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    return 100.0 * (c1 - c0) / (t1 - t0)


def start(binary: Path, path: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.Popen([str(binary), "collect", "--file", str(path), "--stats-interval", "0", "--format", "json",
                             "--output", os.devnull], stdout=subprocess.DEVNULL, stderr=open(log, "wb"), env=env)


def stop(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bin", default=os.environ.get("OTLP_MMAP_BIN") or str(ROOT / "build/dev/collector/otlp-mmap"))
    args = ap.parse_args()
    binary = Path(args.bin)
    if not os.access(binary, os.X_OK):
        print(f"otlp-mmap not found: {binary}", file=sys.stderr)
        return 1
    from otlp_mmap._native import Writer

    with tempfile.TemporaryDirectory(prefix="otlp-mmap-idle-") as tmp:
        tmp = Path(tmp)
        path = tmp / "telemetry.mmap"
        w = Writer(str(path))
        scope = w.create_instrumentation_scope(w.create_resource({"service.name": "idle"}), "idle")

        p = start(binary, path, tmp / "collect.log")
        try:
            time.sleep(2.0)
            idle = measure(p.pid, args.seconds)
            print(f"otlp-mmap collect, idle file:                {idle:6.3f} % of a core over {args.seconds:.0f} s")
            for i in range(5000):
                sid = (i + 1).to_bytes(8, "little")
                w.record_span_start(scope, bytes(16 * [1]), sid, None, 1, "burst", 1, time.time_ns(), None)
                w.record_span_end(scope, bytes(16 * [1]), sid, time.time_ns(), None)
            time.sleep(2.0)
            after = measure(p.pid, args.seconds)
            print(f"otlp-mmap collect, idle again after a burst: {after:6.3f} % of a core over {args.seconds:.0f} s")
        finally:
            stop(p)

        p = start(binary, tmp / "not-yet.mmap", tmp / "wait.log")
        try:
            time.sleep(2.0)
            waiting = measure(p.pid, args.seconds)
            print(f"otlp-mmap collect, waiting for the file:     {waiting:6.3f} % of a core over {args.seconds:.0f} s")
        finally:
            stop(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of `otlp-mmap collect` into a real OpenTelemetry Collector (printed, never asserted).

A file is pre-filled with --spans spans (start + end, six attributes each) through the native
module; `otlp-mmap collect` then exports it to the collector of tests/otlp/otelcol.py (OTLP
receiver, file exporter, 127.0.0.1) over each protocol. The time runs from the start of
`collect` until the collector has acknowledged every span (the `exported` count of the
collector's own stats line).

    python bench/collector_otelcol_bench.py [--spans 100000] [--bin build/dev/collector/otlp-mmap]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))

import otelcol  # noqa: E402

EXPORTED = re.compile(r"exported spans=(\d+)")


def fill(path: Path, spans: int) -> None:
    from otlp_mmap._native import Writer

    slots = 1 << max(10, (2 * spans - 1).bit_length())
    w = Writer(str(path), spans_slots=slots)
    scope = w.create_instrumentation_scope(w.create_resource({"service.name": "bench", "process.pid": os.getpid()}),
                                           "bench", "1.0")
    trace = bytes(range(16))
    t0 = time.time_ns()
    for i in range(spans):
        sid = (i + 1).to_bytes(8, "little")
        w.record_span_start(scope, trace, sid, None, 1, "GET /users/{id}", 2, t0 + i,
                            {"http.request.method": "GET", "http.route": "/users/{id}",
                             "http.response.status_code": 200, "server.address": "api.example.com",
                             "user.id": i % 1000, "cache.hit": i % 3 == 0})
        w.record_span_end(scope, trace, sid, t0 + i + 1000, (1, None))


def run(binary: Path, path: Path, col: otelcol.OtelCol, protocol: str, spans: int, tmp: Path) -> tuple[float, float]:
    """(wall seconds until every span was acknowledged, CPU seconds the collector used in all)."""
    endpoint = f"http://{col.grpc_endpoint}" if protocol == "grpc" else col.http_endpoint
    err = tmp / f"collect-{protocol.replace('/', '-')}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    t0 = time.monotonic()
    wall = 0.0
    p = subprocess.Popen([str(binary), "collect", "--file", str(path), "--endpoint", endpoint, "--protocol", protocol,
                          "--stats-interval", "0.05", "--schedule-delay", "200"],
                         stdout=subprocess.DEVNULL, stderr=open(err, "wb"), env=env)
    try:
        while True:
            found = EXPORTED.findall(err.read_text(errors="replace"))
            if found and int(found[-1]) >= spans:
                wall = time.monotonic() - t0
                break
            if p.poll() is not None or time.monotonic() - t0 > 300:
                raise RuntimeError(f"collect stopped or timed out:\n{err.read_text(errors='replace')[-2000:]}")
            time.sleep(0.02)
    finally:
        p.send_signal(signal.SIGTERM)
        if wall == 0.0:
            p.wait(timeout=30)
    _, _, usage = os.wait4(p.pid, 0)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--bin", default=os.environ.get("OTLP_MMAP_BIN") or str(ROOT / "build/dev/collector/otlp-mmap"))
    args = ap.parse_args()
    binary = Path(args.bin)
    if not os.access(binary, os.X_OK) or not otelcol.binary_available():
        print("needs otlp-mmap (make build) and the collector (scripts/build-otelcol.sh)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="otlp-mmap-otelcol-bench-") as tmp:
        tmp = Path(tmp)
        for protocol in ("grpc", "http/protobuf", "http/json"):
            path = tmp / f"{protocol.replace('/', '-')}.mmap"
            fill(path, args.spans)
            with otelcol.OtelCol(workdir=tmp / f"otelcol-{protocol.replace('/', '-')}", debug_verbosity=None) as col:
                secs, cpu = run(binary, path, col, protocol, args.spans, tmp)
            print(f"otlp-mmap collect -> OpenTelemetry Collector, {protocol:13s}: {args.spans} spans in {secs:6.2f} s "
                  f"= {args.spans / secs:9.0f} spans/s (includes start-up); collector CPU "
                  f"{cpu / args.spans * 1e6:5.2f} us/span")
    return 0


if __name__ == "__main__":
    sys.exit(main())

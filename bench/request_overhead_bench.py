#!/usr/bin/env python3
"""What telemetry adds to one request of the example server, measured in-process
(`.venv/bin/python bench/request_overhead_bench.py`; printed, never asserted).

The example Flask application (examples/http_server, with opentelemetry-instrumentation-flask)
serves the load benchmark's mix of routes (/, /fib/15, /log, /) through Flask's test client:
no sockets, no other process competing for the CPU, so the figure is the CPU time a request
pays in the application itself. Configurations, each in a fresh interpreter:

* none: the OpenTelemetry API alone (every call a no-op), the baseline;
* otlp-mmap: our SDK writing into a file (nothing reads it: the application's cost only);
* official: the official SDK with batch processors and a periodic reader exporting OTLP/gRPC to
  a real OpenTelemetry Collector on 127.0.0.1 (skipped when scripts/build-otelcol.sh has not
  built it).

Each configuration reports the best of --rounds timed runs of --requests requests (µs per
request) and, from one extra run under cProfile, the share of the profiled time spent in
otlp_mmap's code, in the OpenTelemetry instrumentation libraries, and in the rest of the
opentelemetry packages (API, official SDK, exporters).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["/", "/fib/15", "/log", "/"]

CHILD = r"""
import cProfile, json, os, pstats, sys, time
sys.path.insert(0, sys.argv[1])
requests, rounds = int(sys.argv[2]), int(sys.argv[3])
paths = json.loads(sys.argv[4])
from otlp_mmap_example_server import telemetry
from otlp_mmap_example_server.app import create_app
client = create_app().test_client()

def serve(n):
    for i in range(n):
        client.get(paths[i % len(paths)])

serve(max(500, requests // 10))  # warm-up: imports, caches, first metric streams
times = []
for _ in range(rounds):
    t0 = time.perf_counter()
    serve(requests)
    times.append((time.perf_counter() - t0) / requests * 1e6)
profile = cProfile.Profile()
profile.enable()
serve(requests)
profile.disable()
stats = pstats.Stats(profile).stats
total = sum(v[2] for v in stats.values()) or 1.0

def share(pred):
    return 100.0 * sum(v[2] for k, v in stats.items() if pred(k)) / total

ours = share(lambda k: ("/otlp_mmap/" in k[0] and "example_server" not in k[0]) or "otlp_mmap._native" in k[2])
instr = share(lambda k: "/opentelemetry/instrumentation/" in k[0])
other = share(lambda k: "/opentelemetry/" in k[0] and "/opentelemetry/instrumentation/" not in k[0])
telemetry.shutdown()
print(json.dumps({"us": min(times), "all": times, "ours": ours, "instrumentation": instr, "opentelemetry": other}))
"""


def run(config: str, args: argparse.Namespace, work: Path, endpoint: str | None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "OTLP_MMAP_", "SDK_MMAP_"))}
    env["OTEL_SERVICE_NAME"] = "request-overhead-bench"
    if config == "none":
        env["OTLP_MMAP_EXAMPLE_TELEMETRY"] = "none"
    elif config == "otlp-mmap":
        env["SDK_MMAP_EXPORTER_FILE"] = str(work / "requests.otlp")
        # Large enough that nothing is dropped while nothing reads the file.
        env["OTLP_MMAP_SPANS_SLOTS"] = str(1 << 20)
        env["OTLP_MMAP_EVENTS_SLOTS"] = str(1 << 18)
        env["OTLP_MMAP_MEASUREMENTS_SLOTS"] = str(1 << 20)
    else:
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint or "", OTEL_EXPORTER_OTLP_INSECURE="true")
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "examples" / "http_server"), str(args.requests),
                          str(args.rounds), json.dumps(PATHS)], env=env, capture_output=True, text=True,
                         timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"request_overhead_bench: {config} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20_000, help="requests per timed run (default 20000)")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per configuration; the best counts (default 3)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "otlp"))
    import otelcol

    print(f"request_overhead_bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; routes "
          f"{', '.join(PATHS)} through Flask's test client, {args.requests} requests x {args.rounds} runs, best run")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="otlp-mmap-request-bench-") as d:
        work = Path(d)
        results["none"] = run("none", args, work, None)
        results["otlp-mmap"] = run("otlp-mmap", args, work, None)
        if otelcol.binary_available():
            with otelcol.OtelCol(workdir=work / "otelcol", debug_verbosity=None) as col:
                results["official"] = run("official", args, work, f"http://{col.grpc_endpoint}")
        else:
            print("  (official skipped: no OpenTelemetry Collector; run scripts/build-otelcol.sh)")
    base = results["none"]["us"]
    print(f"{'configuration':13s} {'µs/request':>10s} {'vs none':>8s} {'added µs':>9s}   profiled time in: "
          f"otlp_mmap / instrumentation libs / other opentelemetry")
    for name, r in results.items():
        print(f"{name:13s} {r['us']:10.1f} {r['us'] / base:7.3f}x {r['us'] - base:9.1f}   "
              f"{r['ours']:5.1f}% / {r['instrumentation']:5.1f}% / {r['opentelemetry']:5.1f}%")
    if "official" in results:
        ours_added = results["otlp-mmap"]["us"] - base
        official_added = results["official"]["us"] - base
        if ours_added > 0:
            print(f"added per request: official {official_added:.1f} µs vs otlp-mmap {ours_added:.1f} µs = "
                  f"{official_added / ours_added:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

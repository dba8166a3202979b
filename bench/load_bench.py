"""Load benchmark: wrk against the example server under gunicorn, three configurations in one run.

1. ``none``: the OpenTelemetry API alone (no SDK), the baseline;
2. ``official``: the official SDK (BatchSpanProcessor, periodic metric reader, batch log
   processor) exporting OTLP/gRPC to a local OpenTelemetry Collector;
3. ``otlp-mmap``: our SDK writing the file, our collector exporting OTLP/gRPC to the same kind
   of Collector.

The configurations run in interleaved rounds (--rounds, default 3: none, official, otlp-mmap,
none, ...) and the table gives each figure's median over the rounds, with every round's
requests/s beside it: on a shared 2-core machine one run of one configuration can be 15% off.

For each it reports requests/s, latency p50/p90/p99, CPU seconds and peak RSS of the
application (gunicorn master + workers), of the exporter process (our collector) and of the
Collector, and the telemetry that reached the Collector, so that no configuration wins by
dropping data. Results: bench/results/load-<timestamp>.md and .png, and the table in README.md
between the load-bench markers. Run with ``make bench-load``. Figures are printed, never
asserted; everything listens on 127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))
from otelcol import OtelCol, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
MARK_START, MARK_END = "<!-- load-bench:start -->", "<!-- load-bench:end -->"
PATHS = ["/", "/fib/15", "/log", "/"]
CONFIGS = ["none", "official", "otlp-mmap"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcStats:
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0


@dataclass
class Result:
    config: str
    requests: int = 0  # served, from the access log (readiness probe included)
    rps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    # Light load (one connection, requests one after another): latency without CPU contention.
    light_rps: float = 0.0
    light_latency_ms: dict[str, float] = field(default_factory=dict)
    app: ProcStats = field(default_factory=ProcStats)
    exporter: ProcStats | None = None
    collector: ProcStats = field(default_factory=ProcStats)
    server_spans: int = 0
    spans: int = 0
    metric_points: int = 0
    logs: int = 0
    errors: int = 0


def collector_binary() -> Path:
    path = Path(os.environ.get("OTLP_MMAP_BIN", ROOT / "build" / "dev" / "collector" / "otlp-mmap"))
    if not path.exists():
        raise SystemExit(f"load_bench: {path} not found; run `make build` first")
    return path


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree_stats(pid: int) -> ProcStats:
    """CPU seconds and the sum of peak RSS of a process and its descendants, read from /proc."""
    stats = ProcStats()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            stats.cpu_seconds += (int(fields[11]) + int(fields[12])) / CLK_TCK
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        stats.peak_rss_mb += int(line.split()[1]) / 1024
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(p)
    return stats


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def parse_wrk(text: str) -> tuple[int, float, dict[str, float], int]:
    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]

    requests = int(re.search(r"(\d+) requests in", text).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    latency = {f"p{p}": ms(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        errors += sum(int(x) for x in m.groups())
    return requests, rps, latency, errors


def run_config(config: str, args: argparse.Namespace, work: Path) -> Result:
    result = Result(config)
    port = free_port()
    env = dict(os.environ)
    for key in ("SDK_MMAP_EXPORTER_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP_MMAP_EXAMPLE_TELEMETRY"):
        env.pop(key, None)
    access_log = work / f"access-{config}.log"
    env.update(HTTP_ENDPOINT_PORT=str(port), GUNICORN_WORKERS=str(args.workers), OTEL_SERVICE_NAME="load-bench",
               PYTHONPATH=str(ROOT / "examples" / "http_server"), GUNICORN_ACCESSLOG=str(access_log))
    col = OtelCol(workdir=work / f"otelcol-{config}") if config != "none" else None
    exporter = None
    app = None
    try:
        if col is not None:
            col.start()
        if config == "none":
            env["OTLP_MMAP_EXAMPLE_TELEMETRY"] = "none"
        elif config == "official":
            env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{col.grpc_endpoint}", OTEL_EXPORTER_OTLP_INSECURE="true",
                       OTEL_METRIC_EXPORT_INTERVAL="5000")
        else:
            file = work / "load.otlp"
            env["SDK_MMAP_EXPORTER_FILE"] = str(file)
            cenv = dict(env, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{col.grpc_endpoint}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
                        OTEL_METRIC_EXPORT_INTERVAL="5000")
            exporter = subprocess.Popen([str(collector_binary()), "collect", "--file", str(file)], env=cenv,
                                        stdout=subprocess.DEVNULL, stderr=open(work / "collector.log", "w"))
        app = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:otlp_mmap_example_server.gunicorn_conf",
                                "otlp_mmap_example_server.wsgi:app"], env=env, stdout=subprocess.DEVNULL,
                               stderr=open(work / f"app-{config}.log", "w"))
        wait_http(f"http://127.0.0.1:{port}/")
        script = work / "mix.lua"
        script.write_text("local paths = {" + ",".join(f'"{p}"' for p in PATHS) + "}\nlocal i = 0\n"
                          "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n")
        out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
                              "-s", str(script), f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                             timeout=args.duration + 60, check=True).stdout
        _, result.rps, result.latency_ms, result.errors = parse_wrk(out)
        if args.light_duration > 0:
            light = subprocess.run(["wrk", "-t1", "-c1", f"-d{args.light_duration}s", "--latency", "-s", str(script),
                                    f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                                   timeout=args.light_duration + 60, check=True).stdout
            _, result.light_rps, result.light_latency_ms, light_errors = parse_wrk(light)
            result.errors += light_errors
        result.app = tree_stats(app.pid)
        if exporter is not None:
            result.exporter = tree_stats(exporter.pid)
        # Stop the application first (its SDK flushes), then our collector (it flushes too).
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=60)
        # Requests served, exactly (wrk counts only those completed inside its window).
        result.requests = sum(1 for _ in access_log.open())
        if exporter is not None:
            exporter.send_signal(signal.SIGTERM)  # drains the file, collects metrics a last time, flushes
            exporter.wait(timeout=60)
        if col is not None:
            # The Collector's file exporter writes asynchronously: wait (bounded) until one server
            # span per request has arrived; a shortfall is then reported as it is.
            try:
                col.wait_for(lambda c: sum(1 for s in c.spans() if s.get("kind") == 2) >= result.requests,
                             timeout=30, interval=1.0)
            except TimeoutError:
                pass
            result.collector = tree_stats(col.proc.pid) if getattr(col, "proc", None) else ProcStats()
            spans = col.spans()
            result.spans = len(spans)
            result.server_spans = sum(1 for s in spans if s.get("kind") == 2)
            result.metric_points = sum(len(m.get(k, {}).get("dataPoints", [])) for m in col.metrics()
                                       for k in ("sum", "gauge", "histogram", "exponentialHistogram"))
            result.logs = len(col.logs())
        return result
    finally:
        for p in (app, exporter):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if col is not None:
            col.close()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def combine(rounds: list[Result]) -> Result:
    """One configuration over its rounds: medians of rates, latencies and CPU seconds, the
    largest peak RSS, and the sums of what was served and delivered (all must arrive)."""
    out = Result(rounds[0].config)
    out.rps = median([r.rps for r in rounds])
    out.light_rps = median([r.light_rps for r in rounds])
    for attr in ("latency_ms", "light_latency_ms"):
        keys = set().union(*(getattr(r, attr).keys() for r in rounds))
        setattr(out, attr, {k: median([getattr(r, attr).get(k, 0.0) for r in rounds]) for k in sorted(keys)})

    def proc(stats: list[ProcStats]) -> ProcStats:
        return ProcStats(median([p.cpu_seconds for p in stats]), max(p.peak_rss_mb for p in stats))

    out.app = proc([r.app for r in rounds])
    out.collector = proc([r.collector for r in rounds])
    exporters = [r.exporter for r in rounds if r.exporter is not None]
    out.exporter = proc(exporters) if exporters else None
    for attr in ("requests", "server_spans", "spans", "metric_points", "logs", "errors"):
        setattr(out, attr, sum(getattr(r, attr) for r in rounds))
    return out


def table(results: list[Result]) -> str:
    base = next((r for r in results if r.config == "none"), None)
    official = next((r for r in results if r.config == "official"), None)
    lines = ["| configuration | requests/s | p50 ms | p90 ms | p99 ms | 1-connection p50 / p99 ms | app CPU s "
             "| app peak RSS MB | exporter CPU s | exporter peak RSS MB | Collector CPU s | server spans delivered |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        exp = f"{r.exporter.cpu_seconds:.1f} | {r.exporter.peak_rss_mb:.0f}" if r.exporter else "— | —"
        delivered = "—" if r.config == "none" else f"{r.server_spans} / {r.requests}"
        lines.append(f"| {r.config} | {r.rps:.0f} | {r.latency_ms.get('p50', 0):.2f} | {r.latency_ms.get('p90', 0):.2f} "
                     f"| {r.latency_ms.get('p99', 0):.2f} "
                     f"| {r.light_latency_ms.get('p50', 0):.2f} / {r.light_latency_ms.get('p99', 0):.2f} "
                     f"| {r.app.cpu_seconds:.1f} | {r.app.peak_rss_mb:.0f} | {exp} "
                     f"| {r.collector.cpu_seconds:.1f} | {delivered} |")
    notes = []
    ours = next((r for r in results if r.config == "otlp-mmap"), None)
    if ours and base and base.latency_ms.get("p99"):
        notes.append(f"otlp-mmap p99 vs no telemetry: {ours.latency_ms['p99'] / base.latency_ms['p99']:.2f}x saturated, "
                     f"{ours.light_latency_ms.get('p99', 0) / max(base.light_latency_ms.get('p99', 0), 1e-9):.2f}x "
                     f"at one connection")
    if ours and official and official.rps:
        notes.append(f"otlp-mmap throughput vs official SDK: {ours.rps / official.rps:.2f}x")
    return "\n".join(lines) + ("\n\n" + "; ".join(notes) + "." if notes else "")


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.config for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.bar(names, [r.rps for r in results], color=["#999999", "#d95f02", "#1b9e77"][: len(results)])
    a.set_title("throughput (requests/s, higher is better)")
    width = 0.25
    for i, p in enumerate(("p50", "p90", "p99")):
        b.bar([x + (i - 1) * width for x in range(len(results))], [r.latency_ms.get(p, 0) for r in results], width,
              label=p)
    b.set_xticks(range(len(results)), names)
    b.set_title("latency (ms, lower is better)")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=20, help="seconds of load per configuration (default 20)")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    ap.add_argument("--light-duration", type=int, default=10,
                    help="seconds of light load (1 connection) after the saturating run; 0 = skip (default 10)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of " + ",".join(CONFIGS))
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every configuration (default 3)")
    ap.add_argument("--no-readme", action="store_true", help="do not update the table in README.md")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("load_bench: wrk not found (Debian package wrk; scripts/setup.sh installs it)")
    configs = args.configs.split(",")
    rounds: dict[str, list[Result]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="otlp-mmap-load-") as d:
        for n in range(1, max(1, args.rounds) + 1):
            for config in configs:
                print(f"load_bench: round {n}, {config}: {args.duration} s of wrk -c{args.connections} against "
                      f"{args.workers} workers", flush=True)
                work = Path(d) / f"round-{n}"
                work.mkdir(exist_ok=True)
                rounds[config].append(run_config(config, args, work))
                print("  " + json.dumps(asdict(rounds[config][-1])), flush=True)
    results = [combine(rounds[c]) for c in configs]
    per_round = "; ".join(f"{c} " + ", ".join(f"{r.rps:.0f}" for r in rounds[c]) for c in configs)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = RESULTS / f"load-{stamp}.md"
    png = RESULTS / f"load-{stamp}.png"
    machine = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    text = (f"Load benchmark {stamp} ({machine}; wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
            f"gunicorn {args.workers} workers, routes {', '.join(PATHS)}; then {args.light_duration} s at one "
            f"connection). Every process shares the same 2 CPUs: the saturating run measures throughput and CPU "
            f"cost, the one-connection run the latency a request pays without contention. Medians of "
            f"{args.rounds} interleaved rounds (requests/s per round: {per_round}); spans delivered are summed "
            f"over the rounds.\n\n{table(results)}\n\n![load benchmark]({png.name})\n")
    md.write_text(text)
    chart(results, png)
    print(text)
    if not args.no_readme and README.exists():
        body = README.read_text()
        if MARK_START in body and MARK_END in body:
            rel = png.relative_to(ROOT)
            new = (f"{MARK_START}\n{text.replace(f'({png.name})', f'({rel})')}{MARK_END}")
            README.write_text(re.sub(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), lambda _: new, body, flags=re.S))
    print(f"load_bench: results in {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

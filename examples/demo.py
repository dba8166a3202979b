"""The one-command demo (`make demo`).

Starts our collector on a fresh telemetry file, starts the example HTTP server under gunicorn
with 2 workers on our SDK (both workers write the same file), sends a few hundred requests
across all routes, stops everything cleanly and prints a summary: spans per route, one trace
drawn as a tree, metric values, and log lines with their trace ids.

The collector prints OTLP/JSON to a file that this script reads back (console exporter).
With OTEL_EXPORTER_OTLP_ENDPOINT set, it exports OTLP there instead, and the summary is the
collector's own account of what it sent.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR = Path(os.environ.get("OTLP_MMAP_BIN", ROOT / "build" / "dev" / "collector" / "otlp-mmap"))
REQUESTS = [("/", 120), ("/fib/{n}", 90), ("/log", 60), ("/error", 30)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def send_requests(port: int) -> Counter[str]:
    paths = [p.replace("{n}", str(random.randint(5, 20))) for p, count in REQUESTS for _ in range(count)]
    random.shuffle(paths)
    status: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(chunk: list[str]) -> None:
        for p in chunk:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{p}", timeout=10) as r:
                    code = r.status
            except urllib.error.HTTPError as e:
                code = e.code
            with lock:
                status[str(code)] += 1

    threads = [threading.Thread(target=worker, args=(paths[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return status


def stop(proc: subprocess.Popen, name: str, timeout: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"demo: {name} did not stop within {timeout:.0f} s; killing it", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def attrs(item: dict) -> dict:
    out = {}
    for kv in item.get("attributes", []):
        v = kv.get("value", {})
        out[kv["key"]] = next(iter(v.values()), None) if v else None
    return out


def load_output(path: Path) -> tuple[list[dict], list[tuple[dict, dict]], list[dict]]:
    spans, metrics, logs = [], [], []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        for rs in doc.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    s["_resource"] = attrs(rs.get("resource", {}))
                    spans.append(s)
        for rm in doc.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    metrics.append((attrs(rm.get("resource", {})), m))
        for rl in doc.get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                logs.extend(sl.get("logRecords", []))
    return spans, metrics, logs


def draw_tree(spans: list[dict]) -> list[str]:
    by_parent: dict[str, list[dict]] = defaultdict(list)
    ids = {s["spanId"] for s in spans}
    for s in spans:
        parent = s.get("parentSpanId", "")
        by_parent[parent if parent in ids else ""].append(s)
    lines: list[str] = []

    def walk(s: dict, prefix: str, last: bool, root: bool) -> None:
        ms = (int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])) / 1e6
        a = attrs(s)
        detail = ", ".join(f"{k}={a[k]}" for k in ("http.route", "fib.n", "fib.value") if k in a)
        label = f"{s['name']}  {ms:.2f} ms" + (f"  ({detail})" if detail else "")
        lines.append(label if root else f"{prefix}{'└─ ' if last else '├─ '}{label}")
        kids = sorted(by_parent.get(s["spanId"], []), key=lambda k: int(k["startTimeUnixNano"]))
        for i, k in enumerate(kids):
            walk(k, prefix + ("" if root else ("   " if last else "│  ")), i == len(kids) - 1, False)

    for r in sorted(by_parent[""], key=lambda k: int(k["startTimeUnixNano"])):
        walk(r, "", True, True)
    return lines


def summarize(out: Path, status: Counter[str]) -> None:
    spans, metrics, logs = load_output(out)
    print(f"\nrequests sent: {sum(status.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(status.items()))})")
    server = [s for s in spans if s.get("kind") == 2]
    pids = {s["_resource"].get("process.pid") for s in server}
    print(f"\nspans received: {len(spans)} ({len(server)} server spans from {len(pids)} worker processes)")
    per_route = Counter(attrs(s).get("http.route", s["name"]) for s in server)
    for route, n in sorted(per_route.items()):
        print(f"  {route:12s} {n:5d}")
    by_trace: dict[str, list[dict]] = defaultdict(list)
    for s in spans:
        by_trace[s["traceId"]].append(s)
    fib = [t for t in by_trace.values() if any(s["name"] == "fib" for s in t)]
    if fib:
        trace = max(fib, key=len)
        print(f"\none trace, {trace[0]['traceId']}:")
        for line in draw_tree(trace):
            print("  " + line)
    # Each worker process is its own resource (its own process.pid): take the latest point of
    # every (worker, series) and add them up across workers.
    print("\nmetrics (latest cumulative values, summed over the worker processes):")
    shown_keys = ("http.route", "http.target", "http.status_code", "error.type")
    latest: dict[tuple, tuple[str, dict, str]] = {}
    for resource, m in metrics:
        for kind in ("sum", "histogram"):
            for p in m.get(kind, {}).get("dataPoints", []):
                a = tuple(sorted((k, v) for k, v in attrs(p).items() if k in shown_keys))
                latest[(resource.get("process.pid"), m["name"], a)] = (kind, p, m.get("unit", ""))
    totals: dict[tuple, list] = {}
    for (_, name, a), (kind, p, unit) in latest.items():
        t = totals.setdefault((name, a), [kind, 0, 0.0, unit])
        if kind == "histogram":
            t[1] += int(p.get("count", 0))
            t[2] += float(p.get("sum", 0))
        else:
            t[1] += int(p.get("asInt", 0))
            t[2] += float(p.get("asDouble", 0))
    for (name, a), (kind, count, total, unit) in sorted(totals.items()):
        label = ", ".join(f"{k}={v}" for k, v in a) or "-"
        if kind == "histogram":
            value = f"count={count} sum={total:.2f} {unit}"
        else:
            value = f"{int(count) + total:g} {unit}"
        print(f"  {name:28s} {label:45s} {value}")
    print(f"\nlog records: {len(logs)}; a few with their trace ids:")
    shown = 0
    for rec in logs:
        body = rec.get("body", {}).get("stringValue", "")
        if not rec.get("traceId") or not body or shown >= 5:
            continue
        print(f"  {rec.get('severityText', ''):7s} trace {rec['traceId']}  {body[:70]}")
        shown += 1


def main() -> int:
    if not COLLECTOR.exists():
        print(f"demo: {COLLECTOR} not found (make build)", file=sys.stderr)
        return 1
    otlp = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    with tempfile.TemporaryDirectory(prefix="otlp-mmap-demo-") as d:
        work = Path(d)
        file, out = work / "telemetry.otlp", work / "collector-output.jsonl"
        port = free_port()
        cmd = [str(COLLECTOR), "collect", "--file", str(file), "--metric-export-interval", "1000",
               "--schedule-delay", "200", "--stats-interval", "0"]
        if not otlp:
            cmd += ["--format", "json", "--output", str(out)]
        env = dict(os.environ, SDK_MMAP_EXPORTER_FILE=str(file), HTTP_ENDPOINT_PORT=str(port), GUNICORN_WORKERS="2",
                   OTEL_SERVICE_NAME="otlp-mmap-demo", OTEL_METRIC_EXPORT_INTERVAL="1000",
                   PYTHONPATH=str(ROOT / "examples" / "http_server"))
        print(f"demo: collector  {' '.join(cmd[1:4])}  ->  {'OTLP ' + otlp if otlp else 'OTLP/JSON file'}")
        collector = subprocess.Popen(cmd, env=env, stderr=open(work / "collector.log", "w"), start_new_session=True)
        app = None
        try:
            print(f"demo: example server under gunicorn, 2 workers, http://127.0.0.1:{port}")
            app = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:otlp_mmap_example_server.gunicorn_conf",
                                    "otlp_mmap_example_server.wsgi:app"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=open(work / "app.log", "w"), start_new_session=True)
            wait_http(f"http://127.0.0.1:{port}/")
            t0 = time.monotonic()
            status = send_requests(port)
            print(f"demo: {sum(status.values())} requests in {time.monotonic() - t0:.1f} s")
            stop(app, "example server")
            stop(collector, "collector")  # drains the file, collects metrics a last time, flushes
            if otlp:
                print("\ncollector report:\n" + (work / "collector.log").read_text()[-2000:])
            else:
                summarize(out, status)
        finally:
            for p in (app, collector):
                if p is not None and p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

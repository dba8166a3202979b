"""Soak test (`make soak`, not part of `make test`): sustained load through the whole pipeline,
with the memory of the application and of the collector watched.

The example Flask server runs under gunicorn (SOAK_WORKERS workers, default 2) on our SDK,
writing one otlp-mmap file; `otlp-mmap collect` exports it over OTLP/gRPC to a real
OpenTelemetry Collector (debug exporter only, so that nothing piles up on disk). A paced client
(8 threads on 127.0.0.1) sends SOAK_RPS requests a second (default 300; a mix of /, /fib/12, /log
and /error) for SOAK_SECONDS (default 600). Every SOAK_SAMPLE_SECONDS (default 5) the resident
set size of the application (gunicorn master and workers together) and of the collector is
sampled from /proc (with its anonymous part, RssAnon: the heap, which is what a leak grows; the
rest is mostly the telemetry file's pages, which every process maps and which stop growing once
each ring has wrapped), with the collector's own counters (--stats-interval).

After the warm-up (SOAK_WARMUP_SECONDS, default 20% of the run, at least 30 s) the baseline of
each process is the median of its first five samples; every later sample must stay within
+-10% of it (SOAK_TOLERANCE=0.10). The figures are printed; the exit status is 1 when a bound
is broken. Everything listens on 127.0.0.1; the run is bounded in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reliability_support import (  # noqa: E402
    BIN,
    EXAMPLE_SERVER,
    STATS_RE,
    clean_env,
    otelcol,
    rss_kib,
    tree_rss_kib,
)

SECONDS = float(os.environ.get("SOAK_SECONDS") or 600)
RPS = float(os.environ.get("SOAK_RPS") or 300)
WORKERS = int(os.environ.get("SOAK_WORKERS") or 2)
SAMPLE = float(os.environ.get("SOAK_SAMPLE_SECONDS") or 5)
WARMUP = float(os.environ.get("SOAK_WARMUP_SECONDS") or max(30.0, SECONDS * 0.2))
TOLERANCE = float(os.environ.get("SOAK_TOLERANCE") or 0.10)
PATHS = ["/", "/fib/12", "/log", "/", "/error"]
CLIENTS = 8


class DebugOnlyCollector(otelcol.OtelCol):
    """The test Collector with its debug exporter only (basic verbosity: one line per batch)."""

    def _config(self, out_file: Path) -> dict:
        cfg = super()._config(out_file)
        cfg["exporters"] = {"debug": {"verbosity": "basic"}}
        for p in cfg["service"]["pipelines"].values():
            p["exporters"] = ["debug"]
        return cfg


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code
    except OSError:
        return -1


class Load:
    """CLIENTS threads sending RPS requests a second in all, until stop()."""

    def __init__(self, port: int):
        self.port = port
        self.sent = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(CLIENTS)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _run(self, i: int) -> None:
        period = CLIENTS / RPS
        nxt = time.monotonic() + i * period / CLIENTS
        k = i
        while not self._stop.is_set():
            delay = nxt - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            nxt = max(nxt + period, time.monotonic() - 1.0)  # no catch-up bursts after a stall
            code = get(f"http://127.0.0.1:{self.port}{PATHS[k % len(PATHS)]}")
            k += 1
            with self._lock:
                self.sent += 1
                self.errors += code not in (200, 500)


def band(samples: list[tuple[float, int]], name: str) -> tuple[bool, str]:
    after = [v for t, v in samples if t >= WARMUP]
    if len(after) < 6:
        return False, f"{name}: only {len(after)} samples after the warm-up; run longer"
    base = statistics.median(after[:5])
    lo, hi = min(after), max(after)
    ok = lo >= base * (1 - TOLERANCE) and hi <= base * (1 + TOLERANCE)
    return ok, (f"{name}: baseline {base / 1024:.1f} MB, after warm-up min {lo / 1024:.1f} / max {hi / 1024:.1f} MB "
                f"({(lo / base - 1) * 100:+.1f}% / {(hi / base - 1) * 100:+.1f}%), bound +-{TOLERANCE * 100:.0f}%: "
                f"{'ok' if ok else 'EXCEEDED'}")


def main() -> int:
    if not BIN.exists():
        print(f"soak: {BIN} not found (make build)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="otlp-mmap-soak-"))
    f = work / "soak.otlp"
    access_log = work / "access.log"
    port = otelcol.free_port()
    print(f"soak: {SECONDS:.0f} s at {RPS:.0f} req/s, gunicorn {WORKERS} workers, samples every {SAMPLE:.0f} s, "
          f"warm-up {WARMUP:.0f} s, bound +-{TOLERANCE * 100:.0f}%; work dir {work}", flush=True)
    col = DebugOnlyCollector(workdir=work / "otelcol")
    col.start()
    collector = app = None
    load = None
    samples_app: list[tuple[float, int]] = []
    samples_col: list[tuple[float, int]] = []
    samples_otelcol: list[tuple[float, int]] = []
    anon_app: list[tuple[float, int]] = []
    anon_col: list[tuple[float, int]] = []
    try:
        cerr = open(work / "collector.stderr", "wb")
        collector = subprocess.Popen(
            [str(BIN), "collect", "--file", str(f), "--stats-interval", str(max(1, int(SAMPLE))),
             "--metric-export-interval", "10000"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=cerr,
            env=clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{col.grpc_endpoint}",
                          OTEL_EXPORTER_OTLP_PROTOCOL="grpc"))
        env = clean_env(SDK_MMAP_EXPORTER_FILE=str(f), HTTP_ENDPOINT_PORT=str(port), GUNICORN_WORKERS=str(WORKERS),
                        GUNICORN_ACCESSLOG=str(access_log), PYTHONPATH=str(EXAMPLE_SERVER),
                        OTEL_SERVICE_NAME="otlp-mmap-soak")
        app = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:otlp_mmap_example_server.gunicorn_conf",
                                "otlp_mmap_example_server.wsgi:app"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=open(work / "gunicorn.log", "wb"))
        deadline = time.monotonic() + 60
        while get(f"http://127.0.0.1:{port}/") != 200:
            if time.monotonic() > deadline or app.poll() is not None:
                print("soak: the example server did not start:\n" + (work / "gunicorn.log").read_text()[-3000:])
                return 2
            time.sleep(0.2)
        load = Load(port)
        t0 = time.monotonic()
        load.start()
        print(f"{'t (s)':>6} {'app MB (anon)':>15} {'collector MB (anon)':>20} {'otelcol MB':>11} {'requests':>9} "
              f"{'exported spans':>15} {'dropped w/e/r':>14}", flush=True)
        while True:
            t = time.monotonic() - t0
            a, c, o = tree_rss_kib(app.pid), rss_kib(collector.pid), rss_kib(col.proc.pid)
            a_anon, c_anon = tree_rss_kib(app.pid, "RssAnon"), rss_kib(collector.pid, "RssAnon")
            samples_app.append((t, a))
            samples_col.append((t, c))
            samples_otelcol.append((t, o))
            anon_app.append((t, a_anon))
            anon_col.append((t, c_anon))
            st = list(STATS_RE.finditer((work / "collector.stderr").read_text(errors="replace")))
            s = st[-1].groupdict() if st else {}
            dropped = f"{s.get('dropped_writer', '-')}/{s.get('dropped_exporter', '-')}/{s.get('dropped_reader', '-')}"
            print(f"{t:6.0f} {a / 1024:7.1f} ({a_anon / 1024:5.1f}) {c / 1024:12.1f} ({c_anon / 1024:5.1f}) "
                  f"{o / 1024:11.1f} {load.sent:9d} {s.get('exported_spans', '-'):>15} {dropped:>14}", flush=True)
            if app.poll() is not None or collector.poll() is not None:
                print("soak: a process exited during the run")
                return 1
            if t >= SECONDS:
                break
            time.sleep(max(0.0, SAMPLE - (time.monotonic() - t0 - t)))
        load.stop()
        elapsed = time.monotonic() - t0
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=60)
        time.sleep(1.0)
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=60)
        cerr.close()
        served = sum(1 for _ in access_log.open())
        final = list(STATS_RE.finditer((work / "collector.stderr").read_text(errors="replace")))[-1].groupdict()
        ok_app, line_app = band(samples_app, "application (gunicorn master + workers)")
        ok_col, line_col = band(samples_col, "collector (otlp-mmap collect)")
        _, line_otelcol = band(samples_otelcol, "OpenTelemetry Collector (printed only)")
        _, line_anon_app = band(anon_app, "application, anonymous memory only (printed only)")
        _, line_anon_col = band(anon_col, "collector, anonymous memory only (printed only)")
        print("\nsoak summary")
        print(f"  duration {elapsed:.0f} s, requests sent {load.sent} ({load.sent / elapsed:.0f}/s), served "
              f"{served} (access log), client errors {load.errors}")
        print(f"  collector: read spans={final['read_spans']} logs={final['read_logs']} "
              f"measurements={final['read_measurements']}; exported spans={final['exported_spans']} "
              f"logs={final['exported_logs']} points={final['exported_points']}; dropped writer="
              f"{final['dropped_writer']} exporter={final['dropped_exporter']} reader={final['dropped_reader']}")
        print(f"  {line_app}\n  {line_col}\n  {line_anon_app}\n  {line_anon_col}\n  {line_otelcol}")
        ok = ok_app and ok_col
        print(f"soak: {'passed' if ok else 'FAILED (logs kept in ' + str(work) + ')'}")
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        return 0 if ok else 1
    finally:
        if load is not None:
            load.stop()
        for p in (app, collector):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        col.close()


if __name__ == "__main__":
    sys.exit(main())

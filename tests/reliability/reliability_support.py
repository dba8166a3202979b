"""Helpers of the reliability tests (tests/reliability): running the collector, the
application of rel_app.py and reading back what each of them did.

The collector binary is $OTLP_MMAP_BIN, else build/dev/collector/otlp-mmap; the real
OpenTelemetry Collector comes from tests/otlp/otelcol.py. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))

import otelcol  # noqa: E402

from rel_app import (  # noqa: E402  (same directory)
    BEGIN,
    DONE,
    ENDING,
    KIND_CHILD,
    KIND_LOG,
    KIND_METRIC,
    KIND_OUTER,
    LEDGER,
    STARTED,
    split_id,
)

BIN = Path(os.environ.get("OTLP_MMAP_BIN") or ROOT / "build" / "dev" / "collector" / "otlp-mmap")
APP = HERE / "rel_app.py"
EXAMPLE_SERVER = ROOT / "examples" / "http_server"

needs_otelcol = pytest.mark.skipif(
    not otelcol.binary_available() and not otelcol.e2e_required(),
    reason=f"collector not built (scripts/build-otelcol.sh) and {otelcol.E2E_ENV} unset")


def require_binary() -> Path:
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        msg = f"otlp-mmap not built: {BIN} (make build, or set OTLP_MMAP_BIN)"
        if otelcol.e2e_required():
            pytest.fail(msg)
        pytest.skip(msg)
    return BIN


def require_otelcol() -> None:
    if not otelcol.binary_available():
        pytest.fail(f"{otelcol.E2E_ENV} is set but the collector is not built: {otelcol.default_binary()}")


def clean_env(**overrides: str) -> dict:
    """The environment without OTEL_*, OTLP_MMAP_* (except OTLP_MMAP_BIN), SDK_MMAP_* and proxies."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("OTEL_", "SDK_MMAP_")) or (k.startswith("OTLP_MMAP_") and k != "OTLP_MMAP_BIN"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(overrides)
    return env


def wait_for(probe: Callable[[], Any], timeout: float, what: str, diag: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{diag()}" if diag else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------- collector


STATS_RE = re.compile(
    r"stats: read logs=(?P<read_logs>\d+) spans=(?P<read_spans>\d+) measurements=(?P<read_measurements>\d+)"
    r" \| exported spans=(?P<exported_spans>\d+) logs=(?P<exported_logs>\d+) points=(?P<exported_points>\d+)"
    r" \| dropped writer=(?P<dropped_writer>\d+) exporter=(?P<dropped_exporter>\d+) reader=(?P<dropped_reader>\d+)"
    r" \| in_flight_spans=(?P<in_flight_spans>\d+) incomplete_spans=(?P<incomplete_spans>\d+)"
    r" errors=(?P<errors>\d+)")


class Collect:
    """`otlp-mmap collect` as a subprocess; stderr goes to a file (the stats lines are parsed)."""

    def __init__(self, tmp: Path, file: Path, *args: str, env: dict | None = None, name: str = "collect",
                 stats_interval: float = 0):
        self.stderr_path = tmp / f"{name}-{time.monotonic_ns()}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        full_env = clean_env(OTEL_BSP_SCHEDULE_DELAY="100", OTEL_BLRP_SCHEDULE_DELAY="100")
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [str(require_binary()), "collect", "--file", str(file), "--stats-interval", str(stats_interval), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, env=full_env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (drain, flush, final stats line) and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"collector did not stop within {timeout}s:\n{self.stderr()[-4000:]}")
        self._stderr.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()

    def stats_lines(self) -> list[dict[str, int]]:
        """Every stats line so far (printed every stats_interval, and at shutdown)."""
        return [{k: int(v) for k, v in m.groupdict().items()} for m in STATS_RE.finditer(self.stderr())]

    def latest_stats(self) -> dict[str, int] | None:
        lines = self.stats_lines()
        return lines[-1] if lines else None

    def wait_stats(self, pred: Callable[[dict[str, int]], bool], timeout: float, what: str) -> dict[str, int]:
        """Waits for a stats line printed after this call that satisfies pred (older lines may be stale)."""
        seen = len(self.stats_lines())

        def probe():
            lines = self.stats_lines()
            return next((s for s in lines[seen:] if pred(s)), None)

        return wait_for(probe, timeout, what, diag=lambda: self.stderr()[-3000:])

    def final_stats(self) -> dict[str, int]:
        """The last stats line (written at shutdown), as integers."""
        matches = list(STATS_RE.finditer(self.stderr()))
        assert matches, f"no stats line in the collector's stderr:\n{self.stderr()[-4000:]}"
        return {k: int(v) for k, v in matches[-1].groupdict().items()}


def inspect_json(file: Path, *extra: str) -> dict:
    """`otlp-mmap inspect --json` (read-only; safe while writers and a collector run)."""
    r = subprocess.run([str(require_binary()), "inspect", str(file), "--json", *extra], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def file_losses(file: Path) -> dict[str, int]:
    """The loss counters kept in the file: writers' drops per ring and readers' skips."""
    doc = inspect_json(file, "--max-records", "0", "--max-entries", "0")
    out = dict(doc["writer_counters"])
    out.update({f"reader_{k}": v for k, v in doc["reader_counters"].items()})
    return out


# ---------------------------------------------------------------------------------------- OTLP/JSON


def settle(col: "otelcol.OtelCol", quiet: float = 1.0, timeout: float = 30.0) -> None:
    """Waits until the Collector's export files stop growing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        size = sum(p.stat().st_size for p in col.export_files())
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


json_lines = otelcol.json_lines
items = otelcol.items


def attrs(item: dict) -> dict:
    return otelcol.attributes(item)


point_value = otelcol.point_value


def latest_sum_points(metric_items: Iterable[tuple[dict, dict, dict]], name: str,
                      key: Callable[[dict], Any]) -> dict[Any, float]:
    """The latest (largest time) data point of each series of the sum `name`, by
    (process.pid of the resource, key(point attributes))."""
    best: dict[Any, tuple[int, float]] = {}
    for resource, _, m in metric_items:
        if m.get("name") != name:
            continue
        pid = attrs(resource).get("process.pid")
        for p in m.get("sum", {}).get("dataPoints", []):
            k = (pid, key(attrs(p)))
            t = int(p.get("timeUnixNano", 0))
            if k not in best or t >= best[k][0]:
                best[k] = (t, point_value(p))
    return {k: v for k, (_, v) in best.items()}


# ---------------------------------------------------------------------------------------- ledger


@dataclass
class Ledger:
    """What rel_app.py did, from its ledger: the highest phase reached by every operation."""

    phase: dict[tuple[int, int, int, int], int] = field(default_factory=dict)  # (kind, run, thread, seq) -> phase
    records: int = 0

    @classmethod
    def read(cls, *paths: Path) -> "Ledger":
        led = cls()
        for path in paths:
            data = path.read_bytes()
            assert len(data) % LEDGER.size == 0, f"{path}: torn ledger record ({len(data)} bytes)"
            for kind, phase, thread, run, seq in LEDGER.iter_unpack(data):
                key = (kind, run, thread, seq)
                if phase > led.phase.get(key, -1):
                    led.phase[key] = phase
                led.records += 1
        return led

    def count(self, kind: int, phase: int, exact: bool = True) -> int:
        return sum(1 for (k, *_), p in self.phase.items() if k == kind and (p == phase if exact else p >= phase))

    def keys(self, kind: int, phases: Iterable[int]) -> set[tuple[int, int, int]]:
        ps = set(phases)
        return {(r, t, s) for (k, r, t, s), p in self.phase.items() if k == kind and p in ps}

    def per_series(self, kind: int) -> dict[tuple[int, int], tuple[int, int]]:
        """(run, thread) -> (operations DONE, operations in flight) of one kind."""
        out: dict[tuple[int, int], list[int]] = collections.defaultdict(lambda: [0, 0])
        for (k, r, t, _), p in self.phase.items():
            if k == kind:
                out[(r, t)][0 if p == DONE else 1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}


def exported_span_ids(span_items: Iterable[tuple[dict, dict, dict]]) -> dict[tuple, list[str | None]]:
    """(run, thread, seq, outer) -> the incomplete reason (None when complete) of every export of it."""
    out: dict[tuple[int, int, int, bool], list[str | None]] = collections.defaultdict(list)
    for _, _, s in span_items:
        a = attrs(s)
        if "rel.id" not in a:
            continue
        run, thread, seq, outer = split_id(a["rel.id"])
        assert s["name"] == ("rel.outer" if outer else "rel.child"), s
        reason = a.get("otlp_mmap.incomplete.reason") if a.get("otlp_mmap.incomplete") is True else None
        out[(run, thread, seq, outer)].append(reason)
    return out


def exported_log_ids(log_items: Iterable[tuple[dict, dict, dict]]) -> collections.Counter:
    c: collections.Counter = collections.Counter()
    for _, _, rec in log_items:
        a = attrs(rec)
        if "rel.id" in a:
            run, thread, seq, _ = split_id(a["rel.id"])
            c[(run, thread, seq)] += 1
    return c


def check_spans(led: Ledger, exported: dict, *, lost_ok: set | None = None,
                incomplete_reason: str | None = "writer_exited") -> dict[str, int]:
    """Asserts every span's fate from the ledger; returns the figures.

    ended (DONE)              exported exactly once, complete
    end in flight (ENDING)    exported exactly once, complete or incomplete
    open (STARTED)            exported exactly once, incomplete (with `incomplete_reason`)
    start in flight (BEGIN)   exported at most once, incomplete
    never begun               not exported

    `lost_ok`: (run, thread, seq, outer) keys allowed to be missing (the collector-kill test).
    """
    lost_ok = lost_ok or set()
    fig = collections.Counter()
    problems: list[str] = []
    seen = set()
    for kind, outer in ((KIND_CHILD, False), (KIND_OUTER, True)):
        word = "outer" if outer else "child"
        for (k, run, thread, seq), phase in led.phase.items():
            if k != kind:
                continue
            key = (run, thread, seq, outer)
            seen.add(key)
            got = exported.get(key, [])
            fig[f"{word}_written"] += phase == DONE
            fig[f"{word}_open"] += phase in (STARTED, ENDING)
            fig[f"{word}_in_flight"] += phase == BEGIN
            if len(got) > 1:
                fig["duplicates"] += len(got) - 1
                problems.append(f"{word} {key} exported {len(got)} times")
                continue
            if not got:
                if phase == BEGIN:
                    continue
                if key in lost_ok:
                    fig["lost"] += 1
                    continue
                problems.append(f"{word} {key} (phase {phase}) not exported")
                continue
            reason = got[0]
            fig[f"{word}_exported"] += 1
            fig["incomplete"] += reason is not None
            if phase == DONE and reason is not None:
                problems.append(f"{word} {key} ended but exported incomplete ({reason})")
            if phase in (STARTED, BEGIN) and reason is None:
                problems.append(f"{word} {key} never ended but exported complete")
            if phase == STARTED and incomplete_reason and reason != incomplete_reason:
                problems.append(f"{word} {key} open at the kill: reason {reason}, expected {incomplete_reason}")
    for key in exported:
        if key not in seen:
            problems.append(f"span {key} exported but never begun")
    assert not problems, f"{len(problems)} span problem(s), first: " + "; ".join(problems[:10])
    return dict(fig)


def check_logs(led: Ledger, exported: collections.Counter, *, lost_ok: set | None = None) -> dict[str, int]:
    """done: exactly once; in flight: at most once; never begun: never."""
    lost_ok = lost_ok or set()
    fig = collections.Counter()
    problems: list[str] = []
    seen = set()
    for (k, run, thread, seq), phase in led.phase.items():
        if k != KIND_LOG:
            continue
        key = (run, thread, seq)
        seen.add(key)
        got = exported.get(key, 0)
        fig["logs_written"] += phase == DONE
        fig["logs_in_flight"] += phase == BEGIN
        fig["logs_exported"] += min(got, 1)
        if got > 1:
            fig["duplicates"] += got - 1
            problems.append(f"log {key} exported {got} times")
        elif got == 0 and phase == DONE:
            if key in lost_ok:
                fig["lost"] += 1
            else:
                problems.append(f"log {key} written but not exported")
    for key in exported:
        if key not in seen:
            problems.append(f"log {key} exported but never begun")
    assert not problems, f"{len(problems)} log problem(s), first: " + "; ".join(problems[:10])
    return dict(fig)


# ---------------------------------------------------------------------------------------- processes


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of one process in KiB (0 when it is gone); `field` "RssAnon" gives
    its private anonymous part (the heap: what a leak grows), "RssFile"/"RssShmem" the mapped
    files (the telemetry file's pages count here once a process has touched them)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree_rss_kib(pid: int, field: str = "VmRSS") -> int:
    """RSS (or another field of rss_kib) of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss_kib(p, field)
        todo += children(p)
    return total


def start_app(tmp: Path, file: Path, *args: str, env: dict | None = None, name: str = "app") -> subprocess.Popen:
    """rel_app.py as a subprocess (stdout: "ready"; stderr to a file)."""
    e = clean_env()
    e.update(env or {})
    err = open(tmp / f"{name}-{time.monotonic_ns()}.stderr", "wb")
    p = subprocess.Popen([sys.executable, str(APP), "--file", str(file), *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=err, env=e, text=True)
    p.stderr_path = Path(err.name)  # type: ignore[attr-defined]
    err.close()
    line = p.stdout.readline().strip()
    if line != "ready":
        p.wait(timeout=30)
        raise AssertionError(f"the application did not start ({p.returncode}):\n{Path(err.name).read_text()[-4000:]}")
    return p


def finish(p: subprocess.Popen, timeout: float) -> int:
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError(f"process {p.args} did not finish within {timeout}s")


def reap(*procs: subprocess.Popen | None) -> None:
    """Kills what the test started and is still running (by pid, never by name)."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


def latency_figures(latency: dict, seconds: Callable[[int], bool]) -> dict[str, float]:
    """Percentiles (us) of the SDK calls in the wall-clock seconds selected, from rel_app's summary."""
    hist: collections.Counter = collections.Counter()
    worst = total = calls = 0
    for sec, (mx, tot, n, h) in latency.items():
        if not seconds(int(sec)):
            continue
        worst = max(worst, mx)
        total += tot
        calls += n
        for b, k in h.items():
            hist[int(b)] += k
    if not calls:
        return {"calls": 0}
    out = {"calls": calls, "mean_us": round(total / calls / 1e3, 2)}
    for q in (0.5, 0.99, 0.999):
        need, acc = q * calls, 0
        for b in sorted(hist):
            acc += hist[b]
            if acc >= need:
                out[f"p{q * 100:g}_us"] = round(2 ** ((b + 1) / 4) / 1e3, 2)  # upper edge of the bucket
                break
    out["max_us"] = round(worst / 1e3, 1)
    return out


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (mount's syntax: "8m") mounted at `path` for the block; needs root."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def print_figures(title: str, figures: dict[str, Any]) -> None:
    width = max(len(k) for k in figures)
    print(f"\n[{title}]")
    for k, v in figures.items():
        print(f"  {k:<{width}}  {v}")

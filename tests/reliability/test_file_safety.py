"""The file never kills or clobbers, through the whole product: the Python SDK in a real
application process (fill_app.py), real filesystems and the real collector.

* No room for a new file (a 4 MiB tmpfs, the default file needs about 26 MiB): the
  application starts, its telemetry calls work and do nothing, it logs one warning that
  names the path, and nothing is left in the directory.
* The filesystem fills up while the dictionary grows (a 64 MiB tmpfs, the size of Docker's
  default /dev/shm, with keys of 16,000 bytes): no SIGBUS; the spans that need a new entry are
  dropped and counted in the file; everything that needs no new entry is still written.
* A full dictionary is not forever: the application fills it, restarts, and everything of
  its second run arrives complete at the collector, which followed the writer's rollover to a
  fresh file (docs/FORMAT.md, dictionary-full recovery).
* A million distinct attribute keys grow the application's heap by a bounded amount.
* A corrupt leftover file (an otlp-mmap header of an unsupported version) does not stop the
  application: it is moved aside unchanged, a fresh file takes its place, and the collector
  exports what the application writes into the fresh file.

Mounting needs root; CI runs as root, so these tests run there (elsewhere they are skipped).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reliability_support import (
    Collect,
    attrs,
    clean_env,
    file_losses,
    inspect_json,
    items,
    json_lines,
    print_figures,
    require_binary,
    tmpfs,
    wait_for,
)

native = pytest.importorskip("otlp_mmap._native")

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)"),
]

HERE = Path(__file__).resolve().parent
APP = HERE / "fill_app.py"


def run_app(file: Path, *args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    e = clean_env()
    e.update(env or {})
    return subprocess.run([sys.executable, str(APP), "--file", str(file), *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def otlp_mmap_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "otlp_mmap" in line or "otlp-mmap" in line]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_room_for_a_new_file_leaves_the_application_running(tmp_path):
    with tmpfs(tmp_path / "small", "4m") as mnt:
        f = mnt / "app.otlp"
        r = run_app(f, "--plain", "200")
        left = sorted(p.name for p in mnt.iterdir())
    warnings = otlp_mmap_warnings(r.stderr)
    print_figures("no room for a new file", {
        "tmpfs": "4 MiB", "exit status": r.returncode, "otlp_mmap warnings": len(warnings),
        "warning": warnings[0] if warnings else None, "files left in the directory": left})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "done"
    assert len(warnings) == 1, r.stderr[-3000:]
    assert str(f) in warnings[0] and "space" in warnings[0].lower(), warnings[0]
    assert left == [], left


def _plain_records(f: Path) -> dict[str, int]:
    """Counts, in the file, what fill_app's plain phase wrote (fill.seq >= 0)."""
    out = {"span_starts": 0, "span_ends": 0, "logs": 0, "measurements": 0}
    with native.Reader(f) as r:
        data = r.read_all()
    starts = set()
    for s in data["spans"]:
        if s["type"] == "start" and s.get("name") == "fill.plain":
            if s["attributes"].get("fill.seq", -1) >= 0:
                out["span_starts"] += 1
                starts.add(s["span_id"])
        elif s["type"] == "end" and s["span_id"] in starts:
            out["span_ends"] += 1
    for e in data["events"]:
        if e["attributes"].get("fill.seq", -1) >= 0:
            out["logs"] += 1
    out["measurements"] = len(data["measurements"])
    return out


def test_full_filesystem_while_the_dictionary_grows_drops_and_counts(tmp_path):
    plain = 2000
    with tmpfs(tmp_path / "shm", "64m") as mnt:
        f = mnt / "app.otlp"
        t0 = time.monotonic()
        r = run_app(f, "--distinct", "5000", "--key-bytes", "16000", "--plain", str(plain))
        took = time.monotonic() - t0
        df = os.statvfs(mnt)
        free = df.f_bavail * df.f_frsize
        size = f.stat().st_size
        losses = file_losses(f)
        got = _plain_records(f)
    print_figures("full filesystem during dictionary growth", {
        "tmpfs": "64 MiB", "exit status": r.returncode, "seconds": round(took, 1), "file bytes": size,
        "free bytes left": free, "dropped_unencodable (dictionary full)": losses.get("dropped_unencodable"),
        "plain spans/logs/measurements written": (got["span_starts"], got["logs"], got["measurements"])})
    assert r.returncode == 0, f"the application died ({r.returncode}):\n{r.stderr[-3000:]}"
    assert r.stdout.strip() == "done"
    assert losses["dropped_unencodable"] > 0, losses
    # Everything that needed no new entry is in the file: 2,000 spans (start and end), 2,000
    # logs, and the 2,001 adds (one of them in the warm-up).
    assert got["span_starts"] == plain and got["span_ends"] == plain, got
    assert got["logs"] == plain, got
    assert got["measurements"] == plain + 1, got


def _exported(out: Path, run: int) -> dict[str, object]:
    records = json_lines(out) if out.exists() else []
    spans = [s for res, _, s in items(records, "resourceSpans")
             if s["name"] == "fill.plain" and attrs(s).get("fill.run") == run and attrs(s).get("fill.seq", -1) >= 0]
    span_resources = {attrs(res).get("service.name") for res, _, s in items(records, "resourceSpans")
                      if s["name"] == "fill.plain" and attrs(s).get("fill.run") == run}
    logs = [rec for _, _, rec in items(records, "resourceLogs")
            if attrs(rec).get("fill.run") == run and attrs(rec).get("fill.seq", -1) >= 0]
    log_resources = {attrs(res).get("service.name") for res, _, rec in items(records, "resourceLogs")
                     if attrs(rec).get("fill.run") == run}
    total = 0.0
    best_t = -1
    for _, _, m in items(records, "resourceMetrics"):
        if m.get("name") != "fill.ops":
            continue
        for p in m.get("sum", {}).get("dataPoints", []):
            if attrs(p).get("fill.run") == run and int(p.get("timeUnixNano", 0)) >= best_t:
                best_t = int(p.get("timeUnixNano", 0))
                total = float(p.get("asInt", p.get("asDouble", 0)))
    incomplete = sum(1 for s in spans if attrs(s).get("otlp_mmap.incomplete") is True)
    return {"spans": len({s["spanId"] for s in spans}), "span_exports": len(spans), "incomplete": incomplete,
            "logs": len(logs), "sum": total, "span_resources": span_resources, "log_resources": log_resources}


def test_full_dictionary_recovers_when_the_application_restarts(tmp_path):
    require_binary()
    f = tmp_path / "app.otlp"
    out = tmp_path / "export.jsonl"
    env = {"OTLP_MMAP_DICTIONARY_INITIAL_BYTES": "64k", "OTLP_MMAP_DICTIONARY_MAX_BYTES": "256k"}
    c = Collect(tmp_path, f, "--format", "json", "--output", str(out), "--metric-export-interval", "500",
                stats_interval=1)
    try:
        r1 = run_app(f, "--run", "1", "--distinct", "3000", "--key-bytes", "200", "--plain", "100", env=env)
        assert r1.returncode == 0, r1.stderr[-3000:]
        full = file_losses(f)["dropped_unencodable"]
        inode_before = f.stat().st_ino
        r2 = run_app(f, "--run", "2", "--plain", "500", env=env)
        assert r2.returncode == 0, r2.stderr[-3000:]
        inode_after = f.stat().st_ino
        wait_for(lambda: _exported(out, 2)["spans"] == 500 and _exported(out, 2)["sum"] == 501, timeout=60,
                 what="the second run's telemetry", diag=lambda: c.stderr()[-3000:])
        assert c.stop() == 0, c.stderr()[-3000:]
    finally:
        c.kill()
    second = _exported(out, 2)
    after = file_losses(f)["dropped_unencodable"]
    aside = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("app.otlp."))
    print_figures("dictionary full, then a restart", {
        "dictionary max": "256 KiB", "run 1: records dropped, dictionary full": full,
        "file replaced at restart": inode_before != inode_after, "files kept aside": aside,
        "run 2: spans/logs/sum exported": (second["spans"], second["logs"], second["sum"]),
        "run 2: drops in the new file": after})
    assert full > 0, "run 1 did not fill the dictionary"
    assert inode_before != inode_after, "the restarted writer kept the full file"
    assert after == 0
    assert second["spans"] == 500 and second["span_exports"] == 500 and second["incomplete"] == 0, second
    assert second["logs"] == 500, second
    assert second["sum"] == 501, second
    assert second["span_resources"] == {"fill-app"} and second["log_resources"] == {"fill-app"}, second


def test_corrupt_leftover_is_moved_aside_and_a_fresh_file_used(tmp_path):
    require_binary()
    f = tmp_path / "app.otlp"
    out = tmp_path / "export.jsonl"
    # A file of ours from an earlier run, then damaged: its version is one we do not know.
    assert run_app(f, "--run", "1", "--plain", "10").returncode == 0
    with open(f, "r+b") as fh:
        fh.write(struct.pack("<q", 7))
    digest = sha256(f)
    c = Collect(tmp_path, f, "--format", "json", "--output", str(out), "--metric-export-interval", "500",
                stats_interval=1)
    try:
        r = run_app(f, "--run", "2", "--plain", "300")
        assert r.returncode == 0, r.stderr[-3000:]
        wait_for(lambda: _exported(out, 2)["spans"] == 300, timeout=60, what="the telemetry of the fresh file",
                 diag=lambda: c.stderr()[-3000:])
        assert c.stop() == 0, c.stderr()[-3000:]
    finally:
        c.kill()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("app.otlp.corrupt-")]
    warnings = otlp_mmap_warnings(r.stderr)
    inspected = subprocess.run([str(require_binary()), "inspect", str(aside[0]) if aside else str(f)],
                               capture_output=True, text=True, timeout=60)
    second = _exported(out, 2)
    print_figures("corrupt leftover", {
        "moved aside as": [p.name for p in aside], "bytes unchanged": bool(aside) and sha256(aside[0]) == digest,
        "warnings": warnings, "run 2 spans/logs exported": (second["spans"], second["logs"]),
        "inspect of the old file: exit status": inspected.returncode})
    assert len(aside) == 1, sorted(p.name for p in tmp_path.iterdir())
    assert sha256(aside[0]) == digest
    assert any(aside[0].name in w for w in warnings), r.stderr[-3000:]
    assert inspect_json(f, "--max-records", "0", "--max-entries", "0")["file"]["version"] == 1
    assert inspected.returncode in (0, 1), inspected  # an error, never a signal
    assert second["spans"] == 300 and second["logs"] == 300 and second["incomplete"] == 0, second


def test_a_million_distinct_keys_leave_the_application_memory_bounded(tmp_path):
    """The interning caches are bounded: the Writer's by OTLP_MMAP_INTERN_CACHE_BYTES (16 MiB),
    the native SDK's key cache by 65,536 keys of at most 1 KiB and 4 Mi characters. What one
    million distinct attribute keys add to the heap stays within those bounds (the file's own
    pages are shared memory and not counted)."""
    summary = tmp_path / "summary.json"
    f = tmp_path / "app.otlp"
    r = run_app(f, "--distinct", "1000000", "--key-bytes", "40", "--summary", str(summary))
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(summary.read_text())
    growth_mib = (s["rss_anon_after_kib"] - s["rss_anon_before_kib"]) / 1024
    print_figures("one million distinct keys", {
        "heap before (RssAnon)": f"{s['rss_anon_before_kib'] / 1024:.1f} MiB",
        "heap after": f"{s['rss_anon_after_kib'] / 1024:.1f} MiB", "growth": f"{growth_mib:.1f} MiB",
        "bound asserted": "48 MiB (16 MiB writer cache + key cache + allocator slack)"})
    assert growth_mib < 48, s

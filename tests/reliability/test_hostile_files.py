"""Guarantee 6 (the executable's half; the libFuzzer targets in fuzz/ cover the reader library):
a hostile telemetry file cannot crash, hang or bloat the collector.

* Corrupted files: a valid file with every kind of record (unread records in every ring,
  dictionary entries of every type) is copied 300 times with random, seeded corruption: bit
  flips, random byte ranges, interesting values written into the header, ring and dictionary
  headers (indices, offsets, sizes, counters), garbage length prefixes in slots and entries,
  availability flags, truncation. On each copy `otlp-mmap inspect --json` and `otlp-mmap collect`
  (console exporter, short torn-slot grace; stopped with SIGTERM after it has read) must exit by
  themselves with 0 or 1, never by a signal, never hang, and their memory must stay under a
  bound: the kernel enforces it (RLIMIT_DATA through prlimit: an allocation beyond it fails and
  the tool dies by a signal) and the peak RSS seen in /proc is printed.
* Caps: a writer that misbehaves on purpose while the collector follows the file (tens of
  thousands of spans that never end, a counter with a new attribute set on every measurement,
  thousands of distinct dictionary strings) leaves the collector's memory bounded by its caps
  (--max-in-flight-spans, --cardinality-limit, the resolver's cache sizes): spans beyond the cap
  are exported as incomplete (reason evicted), measurements beyond the cardinality limit go to the
  overflow series, and the peak RSS stays under the bound.

The seed is printed (and can be set with RELIABILITY_FUZZ_SEED) so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reliability_support import (
    Collect,
    clean_env,
    items,
    json_lines,
    print_figures,
    require_binary,
    wait_for,
)

native = pytest.importorskip("otlp_mmap._native")

pytestmark = pytest.mark.timeout(300)

COPIES = 300
SEED = int(os.environ.get("RELIABILITY_FUZZ_SEED") or time.time_ns() % 1_000_000)
RSS_BOUND_MB = 256  # a healthy collector on these files peaks near 20 MB
GEOMETRY = dict(events_slots=64, spans_slots=64, measurements_slots=64, dictionary_initial_bytes=8192)
T0 = 1_700_000_000_000_000_000
INTERESTING64 = [0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, -(2**63), 2**40, 63, 64, 65, 4096]


def _valid_file(path: Path) -> None:
    """Every record kind, unread, and dictionary entries of every type."""
    w = native.Writer(str(path), **GEOMETRY)
    res = w.create_resource({"service.name": "hostile", "process.pid": 1, "k": [1, 2, 3]}, "https://s")
    scope = w.create_instrumentation_scope(res, "hostile.lib", "1.0", {"scope.attr": [1.5, 2.5]})
    trace = bytes(range(16))
    for i in range(12):
        span = (i + 1).to_bytes(8, "big")
        w.record_span_start(scope, trace, span, None if i == 0 else (1).to_bytes(8, "big"), 0x301, f"span {i}", i % 6,
                            T0 + i, {"i": i, "s": "x" * i, "b": b"\x00\xff", "f": 0.5, "l": ["a", "b"]},
                            trace_state="k=v")
        w.record_span_attributes(scope, trace, span, {"later": i})
        w.record_span_name(scope, trace, span, f"renamed {i}")
        w.record_span_links(scope, trace, span, [{"trace_id": trace, "span_id": span, "attributes": {"l": 1},
                                                  "flags": 1}])
        w.record_span_event(scope, trace, span, "ev", T0 + i, {"e": i})
        if i % 3:
            w.record_span_end(scope, trace, span, T0 + 100 + i, (2, "bad") if i % 2 else None)
    name = w.record_string("an.event")
    for i in range(20):
        w.record_event(scope, {"trace_id": trace, "span_id": (1).to_bytes(8, "big"), "flags": 1}, name, T0 + i,
                       {"i": i}, severity_number=9, severity_text="INFO",
                       body={"msg": "m" * i, "list": [1, "two", None, {"x": b"y"}]})
    streams = [
        w.create_metric_stream(scope, "c", "d", "1", {"sum": {"aggregation_temporality": "DELTA",
                                                              "is_monotonic": True}}),
        w.create_metric_stream(scope, "t", None, "s", {"sum": {"aggregation_temporality": "CUMULATIVE",
                                                               "is_monotonic": True}}),
        w.create_metric_stream(scope, "g", None, None, {"gauge": {}}),
        w.create_metric_stream(scope, "h", None, "ms", {"histogram": {"aggregation_temporality": "DELTA",
                                                                      "bucket_boundaries": [1.0, 10.0]}}),
        w.create_metric_stream(scope, "e", None, "ms", {"exp_histogram": {"aggregation_temporality": "DELTA",
                                                                          "max_buckets": 20, "max_scale": 5}}),
    ]
    for i in range(40):
        w.record_measurement(streams[i % len(streams)], {"k": i % 4}, T0 + i, i if i % 2 else float(i) / 3)


def _layout(data: bytes) -> dict:
    """Offsets of the sections (from the valid file's header)."""
    ev, sp, me, di = struct.unpack_from("<qqqq", data, 8)
    return {"events": ev, "spans": sp, "measurements": me, "dictionary": di}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _corrupt(data: bytes, rnd: random.Random) -> tuple[bytes, list[str]]:
    buf = bytearray(data)
    lay = _layout(data)
    what = []
    for _ in range(rnd.randint(1, 3)):
        kind = rnd.randrange(8)
        if kind == 0:
            for _ in range(rnd.randint(1, 64)):
                buf[rnd.randrange(len(buf))] ^= 1 << rnd.randrange(8)
            what.append("bit flips")
        elif kind == 1:
            at, n = rnd.randrange(len(buf)), rnd.randint(1, 256)
            buf[at:at + n] = rnd.randbytes(min(n, len(buf) - at))
            what.append(f"random bytes at {at}")
        elif kind == 2:  # an 8-byte field of a header
            base = rnd.choice([0] + [lay[k] for k in ("events", "spans", "measurements", "dictionary")])
            off = base + 8 * rnd.randrange(8)
            v = rnd.choice(INTERESTING64 + [len(buf), len(buf) + 1, rnd.getrandbits(64) - 2**63])
            struct.pack_into("<q", buf, off, v)
            what.append(f"int64 {v} at {off}")
        elif kind == 3:  # availability flags
            ring = rnd.choice(["events", "spans", "measurements"])
            n = struct.unpack_from("<q", data, lay[ring])[0]
            k = rnd.randrange(n)
            struct.pack_into("<i", buf, lay[ring] + 32 + 4 * k, rnd.choice([-1, 0, 1, 2, 2**31 - 1, -(2**31)]))
            what.append(f"flag {ring}[{k}]")
        elif kind == 4:  # a slot's length prefix
            ring = rnd.choice(["events", "spans", "measurements"])
            n, b = struct.unpack_from("<qq", data, lay[ring])
            slot = lay[ring] + 32 + 4 * n + b * rnd.randrange(n)
            v = _varint(rnd.choice([0, 1, b - 1, b, b + 1, 2**32, 2**63, rnd.getrandbits(20)]))
            buf[slot:slot + len(v)] = v
            what.append(f"slot prefix {ring}")
        elif kind == 5:  # a dictionary entry's length prefix
            first = lay["dictionary"] + 64
            end = struct.unpack_from("<q", data, lay["dictionary"])[0]
            at = rnd.randrange(first, max(first + 1, end))
            v = _varint(rnd.choice([0, 2**24, 2**24 + 1, 2**31, 2**62, rnd.getrandbits(16)]))
            buf[at:at + len(v)] = v
            what.append(f"entry prefix at {at}")
        elif kind == 6:  # a ref inside a record: random int64 at a random slot offset
            ring = rnd.choice(["events", "spans", "measurements"])
            n, b = struct.unpack_from("<qq", data, lay[ring])
            slot = lay[ring] + 32 + 4 * n + b * rnd.randrange(n) + rnd.randrange(1, 32)
            buf[slot:slot + 8] = rnd.randbytes(8)
            what.append(f"record bytes {ring}")
        else:
            cut = rnd.randrange(len(buf))
            del buf[cut:]
            what.append(f"truncated to {cut}")
            break
    return bytes(buf), what


def _wait(p: subprocess.Popen, timeout: float) -> tuple[int, int]:
    """(exit status as Popen reports it, peak RSS in KiB seen in /proc while it ran)."""
    deadline = time.monotonic() + timeout
    peak = 0
    while p.poll() is None:
        peak = max(peak, _vm_hwm_kib(p.pid))
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            raise TimeoutError(f"{p.args} did not exit within {timeout}s")
        time.sleep(0.01)
    return p.returncode, peak


# The kernel enforces the bound on the tools' private memory (RLIMIT_DATA, through util-linux's
# prlimit, which execs the tool in place): growing beyond it fails an allocation, and the
# process dies by a signal, which the test reports. The peak RSS figures come from /proc.
LIMIT = ["prlimit", f"--data={RSS_BOUND_MB << 20}"] if shutil.which("prlimit") else []


def _run_inspect(binary: Path, f: Path) -> tuple[int, int]:
    p = subprocess.Popen([*LIMIT, str(binary), "inspect", str(f), "--json"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _wait(p, 30)


def _run_collect(binary: Path, f: Path) -> tuple[int, int, str]:
    err = f.with_suffix(".stderr")
    with open(err, "wb") as e:
        p = subprocess.Popen([*LIMIT, str(binary), "collect", "--file", str(f), "--format", "json",
                              "--output", os.devnull, "--torn-grace", "0.2", "--stats-interval", "0",
                              "--metric-export-interval", "100"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=e,
                             env=clean_env(OTEL_BSP_SCHEDULE_DELAY="50", OTEL_BLRP_SCHEDULE_DELAY="50"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and p.poll() is None:
        text = err.read_text(errors="replace")
        if "reading " in text or "will retry" in text or "waiting for" in text:
            break
        time.sleep(0.02)
    peak = 0
    for _ in range(40):  # read, skip torn slots after the grace period, export
        peak = max(peak, _vm_hwm_kib(p.pid))
        time.sleep(0.01)
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    rc, rss = _wait(p, 30)
    rss = max(rss, peak)
    return rc, rss, err.read_text(errors="replace")


def test_corrupted_files_never_crash_hang_or_bloat_the_tools(tmp_path):
    binary = require_binary()
    base = tmp_path / "valid.otlp"
    _valid_file(base)
    data = base.read_bytes()
    rc, base_rss = _run_inspect(binary, base)
    assert rc == 0
    rc, base_collect_rss, err = _run_collect(binary, base)
    assert rc == 0, err
    rnd = random.Random(SEED)
    copies = []
    for i in range(COPIES):
        bad, what = _corrupt(data, rnd)
        f = tmp_path / f"bad-{i:03d}.otlp"
        f.write_bytes(bad)
        os.chmod(f, 0o600)
        copies.append((f, what))

    t0 = time.monotonic()
    inspect_results = [(f, what, *_run_inspect(binary, f)) for f, what in copies]
    t_inspect = time.monotonic() - t0
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=12) as pool:
        collect_results = list(pool.map(lambda fw: (fw[0], fw[1], *_run_collect(binary, fw[0])), copies))
    t_collect = time.monotonic() - t0

    problems = []
    for f, what, rc, rss in inspect_results:
        if rc not in (0, 1):
            problems.append(f"inspect {f.name} ({', '.join(what)}): exit {rc}")
        if rss > RSS_BOUND_MB * 1024:
            problems.append(f"inspect {f.name} ({', '.join(what)}): peak RSS {rss // 1024} MB")
    for f, what, rc, rss, err in collect_results:
        if rc not in (0, 1):
            problems.append(f"collect {f.name} ({', '.join(what)}): exit {rc}\n{err[-1500:]}")
        if rss > RSS_BOUND_MB * 1024:
            problems.append(f"collect {f.name} ({', '.join(what)}): peak RSS {rss // 1024} MB")
    inspect_rc = [r[2] for r in inspect_results]
    collect_rc = [r[2] for r in collect_results]
    collect_rss = sorted(r[3] for r in collect_results)
    inspect_rss = sorted(r[3] for r in inspect_results)
    figures = {
        "seed (RELIABILITY_FUZZ_SEED)": SEED,
        "corrupted copies": COPIES,
        "inspect: exit 0 / exit 1 / other": (inspect_rc.count(0), inspect_rc.count(1),
                                             len(inspect_rc) - inspect_rc.count(0) - inspect_rc.count(1)),
        "collect: exit 0 / exit 1 / other": (collect_rc.count(0), collect_rc.count(1),
                                             len(collect_rc) - collect_rc.count(0) - collect_rc.count(1)),
        "collect: copies it read / refused-or-retried": (sum("reading " in r[4] for r in collect_results),
                                                         sum("reading " not in r[4] for r in collect_results)),
        "memory bound enforced (RLIMIT_DATA, MB)": RSS_BOUND_MB if LIMIT else "no prlimit: not enforced",
        "peak RSS inspect, valid file / max corrupted (MB; sampled, inspect is short)": (
            round(base_rss / 1024, 1), round(inspect_rss[-1] / 1024, 1)),
        "peak RSS collect, valid file / median / max corrupted (MB)": (
            round(base_collect_rss / 1024, 1), round(collect_rss[len(collect_rss) // 2] / 1024, 1),
            round(collect_rss[-1] / 1024, 1)),
        "seconds: inspect all / collect all (12 at a time)": (round(t_inspect, 1), round(t_collect, 1)),
    }
    print_figures("hostile files", figures)
    assert not problems, f"{len(problems)} problem(s) (seed {SEED}):\n" + "\n".join(problems[:10])


def test_a_misbehaving_writer_cannot_make_the_collector_grow_without_bound(tmp_path):
    """Caps: in-flight spans, metric series, dictionary caches."""
    require_binary()
    f = tmp_path / "greedy.otlp"
    out = tmp_path / "out.jsonl"
    w = native.Writer(str(f), spans_slots=65536, measurements_slots=65536, events_slots=1024)
    scope = w.create_instrumentation_scope(w.create_resource({"service.name": "greedy"}), "greedy")
    stream = w.create_metric_stream(scope, "greedy.count", None, "1",
                                    {"sum": {"aggregation_temporality": "DELTA", "is_monotonic": True}})
    c = Collect(tmp_path, f, "--format", "json", "--output", str(out), "--max-in-flight-spans", "1000",
                "--cardinality-limit", "100", "--metric-export-interval", "500", stats_interval=1)
    spans = series = 30000
    peak = 0
    try:
        trace = os.urandom(16)
        for rnd in range(3):  # three waves, reading in between
            for i in range(spans // 3):
                k = rnd * (spans // 3) + i
                key = w.record_string(f"key.{k}")  # a new dictionary string for every span
                assert w.record_span_start(scope, trace, (k + 1).to_bytes(8, "big"), None, 1, f"never ends {k}", 1,
                                           time.time_ns(), {f"attr.{k}": k, "big": "v" * 200})
                assert key
                assert w.record_measurement(stream, {"series": k}, time.time_ns(), 1)
            wait_for(lambda: (c.latest_stats() or {}).get("read_spans", 0) >= (rnd + 1) * (spans // 3), timeout=60,
                     what="the collector to read the wave", diag=lambda: c.stderr()[-2000:])
            peak = max(peak, _vm_hwm_kib(c.pid))
        time.sleep(1.2)  # a metric export with every series
        peak = max(peak, _vm_hwm_kib(c.pid))
        stats_before_stop = c.latest_stats()
        assert c.stop() == 0, c.stderr()[-3000:]
    finally:
        c.kill()
    records = json_lines(out)
    exported = [s for _, _, s in items(records, "resourceSpans")]
    reasons = {}
    for s in exported:
        a = {kv["key"]: kv["value"].get("stringValue") for kv in s.get("attributes", [])
             if kv["key"].startswith("otlp")}
        r = a.get("otlp_mmap.incomplete.reason")
        reasons[r] = reasons.get(r, 0) + 1
    points = set()
    for _, _, m in items(records, "resourceMetrics"):
        if m["name"] == "greedy.count":
            for p in m["sum"]["dataPoints"]:
                points.add(tuple((kv["key"], str(kv["value"])) for kv in p.get("attributes", [])))
    figures = {
        "spans started, never ended": spans,
        "in flight at most (--max-in-flight-spans)": 1000,
        "in flight before stop": stats_before_stop["in_flight_spans"],
        "exported incomplete by reason": reasons,
        "distinct dictionary strings written": spans,
        "measurements / distinct attribute sets": (series, series),
        "series exported (--cardinality-limit 100 + overflow)": len(points),
        "collector peak RSS (MB)": round(peak / 1024, 1),
    }
    print_figures("misbehaving writer against the collector's caps", figures)
    assert stats_before_stop["in_flight_spans"] <= 1000
    assert len(exported) == spans
    assert reasons.get("evicted", 0) >= spans - 1000
    assert len(points) <= 101
    assert peak < RSS_BOUND_MB * 1024


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

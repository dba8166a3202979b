"""Readers survive what happens to the file under them, and one collector reads a file at a time.

* Truncation under `otlp-mmap collect` (to half and to 64 bytes): no signal, the file is
  dropped with one logged error (files_failed=1), the collector keeps running and reads the
  next valid file put at the path; every span exported exactly once.
* A dictionary ref into a hole of a sparse file on a full tmpfs: the page cannot be
  allocated, so reading it faults (SIGBUS): collect drops the file and goes on, inspect
  exits 1 with an error, never a signal.
* `inspect` and `stats` on a truncated file: exit 1 and an error, never a signal.
* The Python Reader on a truncated file: FormatError, never a signal.
* Two collectors on one file: the second is a hot standby (logged), exports nothing while
  the first runs, takes over when the first is stopped while writing continues: 20,000
  spans, each exported exactly once across both.
* The Python Reader with exclusive=True takes the same lock (OSError naming it when held).
* A replaced path: the old file is still read while a writer keeps writing it, then closed
  once quiet; the new one is read at once.
* Trust: 0666 and 0620 files refused by collect (the message names --allow-shared-writable),
  accepted with it; a symbolic link refused, followed with --follow-symlinks; the console
  --output created 0600 whatever the umask.

The tmpfs tests mount small file systems and need root (CI runs as root).
"""

from __future__ import annotations

import collections
import ctypes
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reliability_support import (
    Collect,
    clean_env,
    items,
    json_lines,
    print_figures,
    require_binary,
    tmpfs,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")

# Writes spans `start`..`start+n-1` (span ids i+1, start and end adjacent) with the native
# writer; a full ring is waited out, never dropped. Prints the scope's dictionary ref.
WRITER = textwrap.dedent("""
    import os, sys, time
    from otlp_mmap import Writer
    path, n, start, pace = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    small = os.environ.get("H2_SMALL") == "1"
    kw = dict(events_slots=64, spans_slots=2048, measurements_slots=64, dictionary_initial_bytes=65536) if small else {}
    w = Writer(path, **kw)
    res = w.create_resource({"service.name": "reader-safety"})
    scope = w.create_instrumentation_scope(res, "reader-safety-scope")
    print("scope", scope, flush=True)
    tid = bytes(range(1, 17))
    for i in range(start, start + n):
        sid = (i + 1).to_bytes(8, "big")
        t = time.time_ns()
        while not w.record_span_start(scope, tid, sid, None, 1, "s", 1, t, {"i": i}):
            time.sleep(0.001)
        while not w.record_span_end(scope, tid, sid, t + 1, None):
            time.sleep(0.001)
        if pace and i % 100 == 99:
            time.sleep(pace)
    print("wrote", n, flush=True)
""")


def _writer_script(tmp: Path) -> Path:
    p = tmp / "writer.py"
    if not p.exists():
        p.write_text(WRITER)
    return p


def write_spans(tmp: Path, path: Path, n: int, start: int = 0, pace: float = 0.0, small: bool = False) -> int:
    """Writes n spans; returns the scope's dictionary ref."""
    env = clean_env(**({"H2_SMALL": "1"} if small else {}))
    r = subprocess.run([sys.executable, str(_writer_script(tmp)), str(path), str(n), str(start), str(pace)],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr
    return int(re.search(r"scope (\d+)", r.stdout).group(1))


def start_writer(tmp: Path, path: Path, n: int, start: int = 0, pace: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(_writer_script(tmp)), str(path), str(n), str(start), str(pace)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exported_span_ids(out: Path) -> collections.Counter:
    return collections.Counter(span["spanId"] for _, _, span in items(json_lines(out), "resourceSpans"))


def expected_ids(start: int, n: int) -> set[str]:
    return {(i + 1).to_bytes(8, "big").hex() for i in range(start, start + n)}


def wait_exported(out: Path, count: int, what: str, col: Collect | None = None, timeout: float = 60) -> None:
    wait_for(lambda: sum(exported_span_ids(out).values()) >= count, timeout, what,
             diag=(lambda: col.stderr()[-3000:]) if col else None)


def counter(stderr: str, name: str) -> int:
    found = re.findall(rf"\b{name}=(\d+)", stderr)
    return int(found[-1]) if found else -1


def replace_path(tmp: Path, path: Path, n: int, start: int, small: bool = False) -> None:
    """A fresh file with n spans written beside the path and renamed over it."""
    fresh = path.with_name(path.name + ".fresh")
    write_spans(tmp, fresh, n, start, small=small)
    os.rename(fresh, path)


@pytest.fixture
def small_tmpfs(tmp_path):
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        yield mnt


def punch_hole(path: Path, offset: int, length: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    fd = os.open(path, os.O_RDWR)
    try:
        FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
        if libc.fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, offset, length) != 0:
            raise OSError(ctypes.get_errno(), "fallocate(PUNCH_HOLE)")
    finally:
        os.close(fd)


def fill(directory: Path) -> int:
    """Fills the file system of `directory`; returns the bytes written."""
    n = 0
    with open(directory / "filler", "wb") as f:
        chunk = b"x" * 65536
        try:
            while True:
                f.write(chunk)
                f.flush()
                n += len(chunk)
        except OSError:
            pass
    return n


# ------------------------------------------------------------------------------ truncation


@pytest.mark.parametrize("cut", ["half", "64"])
def test_collect_survives_truncation_and_reads_the_next_file(tmp_path, cut):
    f = tmp_path / "t.otlp"
    out = tmp_path / "out.json"
    write_spans(tmp_path, f, 2000)
    col = Collect(tmp_path, f, "--format", "json", "--output", str(out), stats_interval=1)
    try:
        wait_exported(out, 2000, "2000 spans before the cut", col)
        before = exported_span_ids(out)
        size = f.stat().st_size
        new_size = size // 2 if cut == "half" else 64
        os.truncate(f, new_size)
        wait_for(lambda: "shrank" in col.stderr(), 30, "the truncation to be noticed", diag=col.stderr)
        time.sleep(0.5)
        assert col.alive(), col.stderr()
        replace_path(tmp_path, f, 500, 2000)
        wait_exported(out, 2500, "500 spans of the next file", col)
    finally:
        rc = col.stop()
    ids = exported_span_ids(out)
    err = col.stderr()
    assert rc == 0, err
    assert sum(before.values()) == 2000 and set(before) == expected_ids(0, 2000)
    assert set(ids) == expected_ids(0, 2500) and max(ids.values()) == 1, "every span exactly once"
    assert counter(err, "files_failed") == 1, err
    assert err.count("dropped the file") == 1, err  # logged once
    print_figures(f"collect, file cut to {cut} under it", {
        "file size": f"{size} -> {new_size} bytes",
        "exported before the cut": sum(before.values()),
        "exported from the next file": sum(ids.values()) - sum(before.values()),
        "duplicates": sum(v - 1 for v in ids.values()),
        "files_failed": counter(err, "files_failed"),
        "collector exit": rc,
    })


@pytest.mark.parametrize("cut", ["half", "64"])
def test_inspect_and_stats_on_a_truncated_file_exit_1_without_a_signal(tmp_path, cut):
    f = tmp_path / "t.otlp"
    write_spans(tmp_path, f, 100)
    size = f.stat().st_size
    os.truncate(f, size // 2 if cut == "half" else 64)
    binary = require_binary()
    figures = {}
    for tool, extra in (("inspect", ["--json"]), ("stats", ["--count", "1"])):
        r = subprocess.run([str(binary), tool, str(f), *extra], capture_output=True, text=True, timeout=60,
                           env=clean_env())
        assert r.returncode == 1, (tool, r.returncode, r.stderr)
        assert str(f) in r.stderr and ("not a valid otlp-mmap file" in r.stderr or "shrank" in r.stderr), r.stderr
        figures[tool] = f"exit {r.returncode}: {r.stderr.strip()[:110]}"
    print_figures(f"inspect/stats on a file cut to {cut}", figures)


READER_SCRIPT = textwrap.dedent("""
    import os, sys
    from otlp_mmap import Reader, FormatError
    path = sys.argv[1]
    r = Reader(path)
    first = r.read_span_event()
    assert first is not None
    os.truncate(path, int(sys.argv[2]))
    n = 0
    try:
        while r.read_span_event() is not None:
            n += 1
        r.header()
        print("no error", n)
    except FormatError as e:
        print("FormatError:", e, "after", n)
    try:
        r.ring_states()
        print("no error again")
    except FormatError as e:
        print("FormatError again:", e)
""")


@pytest.mark.parametrize("cut", ["half", "64"])
def test_python_reader_on_a_truncated_file_raises(tmp_path, cut):
    f = tmp_path / "t.otlp"
    write_spans(tmp_path, f, 100)
    script = tmp_path / "reader.py"
    script.write_text(READER_SCRIPT)
    new_size = f.stat().st_size // 2 if cut == "half" else 64
    r = subprocess.run([sys.executable, str(script), str(f), str(new_size)], capture_output=True, text=True,
                       timeout=60, env=clean_env())
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)  # a signal would be negative
    assert "FormatError:" in r.stdout and "FormatError again:" in r.stdout, r.stdout
    assert "shrank" in r.stdout, r.stdout
    print_figures(f"Python Reader, file cut to {cut}", {"outcome": r.stdout.strip().splitlines()[0][:140]})


# ------------------------------------------------------------------------------ holes


@needs_root
def test_a_dictionary_ref_into_a_hole_on_a_full_tmpfs(tmp_path, small_tmpfs):
    f = small_tmpfs / "t.otlp"
    out = tmp_path / "out.json"
    scope = write_spans(tmp_path, f, 100, small=True)
    page = os.sysconf("SC_PAGE_SIZE")
    punch_hole(f, scope - scope % page, page)
    filled = fill(small_tmpfs)
    binary = require_binary()
    ins = subprocess.run([str(binary), "inspect", str(f), "--json"], capture_output=True, text=True, timeout=60,
                         env=clean_env())
    assert ins.returncode == 1, (ins.returncode, ins.stderr)
    assert "hole" in ins.stderr, ins.stderr
    col = Collect(tmp_path, f, "--format", "json", "--output", str(out), stats_interval=1)
    try:
        wait_for(lambda: "dropped the file" in col.stderr(), 30, "the fault to be noticed", diag=col.stderr)
        assert col.alive(), col.stderr()
        os.unlink(small_tmpfs / "filler")  # room again: a new file can be created
        replace_path(tmp_path, f, 50, 1000, small=True)
        wait_exported(out, 50, "the spans of the next file", col)
    finally:
        rc = col.stop()
    err = col.stderr()
    ids = exported_span_ids(out)
    assert rc == 0, err
    # The span whose scope faulted had its start read: it stays open in memory and is
    # exported as incomplete at shutdown (nothing else of the holed file is read).
    from_holed = set(ids) - expected_ids(1000, 50)
    assert from_holed <= expected_ids(0, 1), from_holed
    assert set(ids) >= expected_ids(1000, 50) and max(ids.values()) == 1
    assert counter(err, "files_failed") == 1, err
    assert "SIGBUS" in err, err
    print_figures("dictionary ref into a hole of a full 8 MiB tmpfs", {
        "scope ref (in the hole)": scope,
        "filler bytes": filled,
        "inspect": f"exit {ins.returncode}: {ins.stderr.strip()[:100]}",
        "collect files_failed": counter(err, "files_failed"),
        "spans of the holed file exported (open, as incomplete)": len(from_holed),
        "spans of the next file exported": sum(ids.values()) - len(from_holed),
        "collector exit": rc,
    })


# ------------------------------------------------------------------------------ one reader per file


def test_two_collectors_one_file_and_a_hand_over(tmp_path):
    f = tmp_path / "t.otlp"
    out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
    total = 20000
    writer = start_writer(tmp_path, f, total, pace=0.01)
    wait_for(lambda: f.exists() and f.stat().st_size > 0, 30, "the file")
    a = Collect(tmp_path, f, "--format", "json", "--output", str(out_a), name="a", stats_interval=1)
    wait_for(lambda: "reading " in a.stderr(), 30, "collector a to read", diag=a.stderr)
    b = Collect(tmp_path, f, "--format", "json", "--output", str(out_b), name="b", stats_interval=1)
    try:
        wait_for(lambda: "hot standby" in b.stderr(), 30, "b to be a standby", diag=b.stderr)
        wait_exported(out_a, total // 4, "a quarter of the spans through a", a)
        assert sum(exported_span_ids(out_b).values()) == 0
        rc_a = a.stop()  # the restart overlap: a drains and exits while writing goes on
        wait_for(lambda: "took over" in b.stderr(), 30, "b to take over", diag=b.stderr)
        assert writer.wait(timeout=180) == 0, writer.stderr.read()
        wait_for(lambda: sum(exported_span_ids(out_a).values()) + sum(exported_span_ids(out_b).values()) >= total,
                 90, "every span", diag=lambda: b.stderr()[-3000:])
        # A third collector is a standby behind b: its CPU while it waits, and SIGTERM just ends it.
        out_c = tmp_path / "c.json"
        c = Collect(tmp_path, f, "--format", "json", "--output", str(out_c), name="c")
        wait_for(lambda: "hot standby" in c.stderr(), 30, "c to be a standby", diag=c.stderr)
        cpu0, t0 = cpu_seconds(c.pid), time.monotonic()
        time.sleep(2.0)
        standby_cpu = (cpu_seconds(c.pid) - cpu0) / (time.monotonic() - t0)
        t_stop = time.monotonic()
        rc_c = c.stop()
        standby_stop = time.monotonic() - t_stop
    finally:
        a.stop()
        rc_b = b.stop()
        if writer.poll() is None:
            writer.kill()
    ids_a, ids_b = exported_span_ids(out_a), exported_span_ids(out_b)
    both = ids_a + ids_b
    assert rc_a == 0 and rc_b == 0 and rc_c == 0
    assert sum(exported_span_ids(out_c).values()) == 0
    assert standby_cpu < 0.05, standby_cpu  # a lock attempt every 150 ms, nothing more
    assert set(both) == expected_ids(0, total), "none lost"
    assert max(both.values()) == 1, f"{sum(v - 1 for v in both.values())} exported twice"
    m = re.search(r"another collector.* reads (\S+); waiting as a hot standby", b.stderr())
    assert m and m.group(1) == str(f), b.stderr()
    print_figures("two collectors on one file, hand-over while writing", {
        "spans written": total,
        "exported by a (then SIGTERM)": sum(ids_a.values()),
        "exported by b (standby, took over)": sum(ids_b.values()),
        "exported twice": sum(v - 1 for v in both.values()),
        "lost": total - len(both),
        "standby CPU while waiting": f"{standby_cpu * 100:.2f} % of a core",
        "standby: SIGTERM to exit": f"{standby_stop:.2f} s, exit {rc_c}",
    })


def test_a_replaced_path_old_file_read_until_quiet(tmp_path):
    f = tmp_path / "t.otlp"
    out = tmp_path / "out.json"
    write_spans(tmp_path, f, 100)
    col = Collect(tmp_path, f, "--format", "json", "--output", str(out), stats_interval=1)
    try:
        wait_exported(out, 100, "the first 100", col)
        # A sibling process keeps writing the old file after the path is replaced.
        # 100 spans every 0.25 s: still writing for ~2.5 s, longer than the follow interval (1 s).
        sibling = start_writer(tmp_path, f, 1000, start=100, pace=0.25)
        time.sleep(0.3)
        replace_path(tmp_path, f, 500, 10000)
        assert sibling.wait(timeout=120) == 0, sibling.stderr.read()
        wait_exported(out, 1600, "old and new spans", col)
        wait_for(lambda: "finished the old file" in col.stderr(), 30, "the old file to be closed", diag=col.stderr)
    finally:
        rc = col.stop()
    ids = exported_span_ids(out)
    err = col.stderr()
    assert rc == 0, err
    assert set(ids) == expected_ids(0, 1100) | expected_ids(10000, 500) and max(ids.values()) == 1
    after = int(re.search(r"\((\d+) records read from it after the switch", err).group(1))
    assert after > 0, err  # records that arrived in the old file after the switch were read
    print_figures("path replaced while a sibling writer is still on the old file", {
        "old file spans": 1100,
        "new file spans": 500,
        "records read from the old file after the switch": after,
        "exported": sum(ids.values()),
        "duplicates": sum(v - 1 for v in ids.values()),
    })


# ------------------------------------------------------------------------------ trust


@pytest.mark.parametrize("mode", [0o666, 0o620])
def test_collect_refuses_a_shared_writable_file_unless_allowed(tmp_path, mode):
    f = tmp_path / "t.otlp"
    out = tmp_path / "out.json"
    write_spans(tmp_path, f, 10)
    os.chmod(f, mode)
    binary = require_binary()
    r = subprocess.run([str(binary), "collect", "--file", str(f), "--stats-interval", "0"], capture_output=True,
                       text=True, timeout=60, env=clean_env())
    assert r.returncode == 1, r.stderr
    assert f"mode {mode:04o}" in r.stderr and "--allow-shared-writable" in r.stderr, r.stderr
    col = Collect(tmp_path, f, "--allow-shared-writable", "--format", "json", "--output", str(out))
    try:
        wait_exported(out, 10, "the spans with --allow-shared-writable", col)
    finally:
        col.stop()
    print_figures(f"collect on a {mode:04o} file", {"refused": r.stderr.strip().splitlines()[-1][-160:],
                                                     "with --allow-shared-writable": "10 spans exported"})


def test_symlink_refused_and_followed_with_the_flag(tmp_path):
    f = tmp_path / "t.otlp"
    link = tmp_path / "link.otlp"
    out = tmp_path / "out.json"
    write_spans(tmp_path, f, 10)
    link.symlink_to(f)
    binary = require_binary()
    r = subprocess.run([str(binary), "collect", "--file", str(link), "--stats-interval", "0"], capture_output=True,
                       text=True, timeout=60, env=clean_env())
    assert r.returncode == 1 and "symbolic link" in r.stderr and "--follow-symlinks" in r.stderr, r.stderr
    ins = subprocess.run([str(binary), "inspect", str(link)], capture_output=True, text=True, timeout=60,
                         env=clean_env())
    assert ins.returncode == 1 and "--follow-symlinks" in ins.stderr, ins.stderr
    col = Collect(tmp_path, link, "--follow-symlinks", "--format", "json", "--output", str(out))
    try:
        wait_exported(out, 10, "the spans through the link", col)
    finally:
        col.stop()
    env_ok = subprocess.run([str(binary), "inspect", str(link)], capture_output=True, text=True, timeout=60,
                            env=clean_env(OTLP_MMAP_FOLLOW_SYMLINKS="1"))
    assert env_ok.returncode == 0, env_ok.stderr
    print_figures("symbolic link at the path", {"collect": r.stderr.strip().splitlines()[-1][-140:],
                                                "--follow-symlinks": "10 spans",
                                                "OTLP_MMAP_FOLLOW_SYMLINKS=1 inspect": "exit 0"})


def test_console_output_is_created_0600(tmp_path):
    f = tmp_path / "t.otlp"
    out = tmp_path / "out.json"
    write_spans(tmp_path, f, 5)
    binary = require_binary()
    # umask 0: a file created with the default mode would be 0666.
    proc = subprocess.Popen([str(binary), "collect", "--file", str(f), "--format", "json", "--output", str(out),
                             "--stats-interval", "0"], stderr=subprocess.PIPE, text=True, env=clean_env(),
                            preexec_fn=lambda: os.umask(0))
    try:
        wait_exported(out, 5, "5 spans")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    mode = stat.S_IMODE(out.stat().st_mode)
    assert mode == 0o600, oct(mode)
    print_figures("console --output", {"mode (umask 0)": f"{mode:04o}"})


LOCK_SCRIPT = textwrap.dedent("""
    import sys
    from otlp_mmap import Reader
    path = sys.argv[1]
    first = Reader(path, exclusive=True)
    try:
        Reader(path, exclusive=True)
        print("second exclusive reader accepted")
    except OSError as e:
        print("refused:", e)
    Reader(path, read_only=True).header()  # inspectors take no lock
    first.close()
    Reader(path, exclusive=True).close()
    print("after close: taken")
""")


def test_python_reader_takes_the_reader_lock_when_asked(tmp_path):
    f = tmp_path / "t.otlp"
    write_spans(tmp_path, f, 10)
    script = tmp_path / "lock.py"
    script.write_text(LOCK_SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(f)], capture_output=True, text=True, timeout=60,
                       env=clean_env())
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "reader lock" in r.stdout and "after close: taken" in r.stdout, r.stdout
    # And against a running collector.
    col = Collect(tmp_path, f)
    try:
        wait_for(lambda: "reading " in col.stderr(), 30, "the collector to read", diag=col.stderr)
        probe = subprocess.run([sys.executable, "-c", "import sys\nfrom otlp_mmap import Reader\n"
                                "try:\n    Reader(sys.argv[1], exclusive=True)\n    print('accepted')\n"
                                "except OSError as e:\n    print('refused:', e)", str(f)],
                               capture_output=True, text=True, timeout=60, env=clean_env())
    finally:
        col.stop()
    assert "refused:" in probe.stdout, (probe.stdout, probe.stderr)
    print_figures("Python Reader(exclusive=True)", {"second reader": r.stdout.splitlines()[0][:140],
                                                    "beside a collector": probe.stdout.strip()[:140]})

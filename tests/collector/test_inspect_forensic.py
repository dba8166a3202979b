"""`otlp-mmap inspect` on a file the reader refuses as a whole (issue 9, item 4): a corrupt leftover
file is moved aside by the writer, and inspect still reads it as far as it can.

Each case damages a valid file on purpose (an unsupported version, truncation, a garbage dictionary
offset, an all-zero file, inconsistent ring indices), runs inspect under a timeout and checks that it
exits 1 by itself (never a signal), prints the error, and then a forensic readout (`"forensic":
true` and `"errors"` with --json) with everything that is still in bounds: the header field by field,
the rings, their unread records decoded, the dictionary. The file's bytes never change.

The binary is $OTLP_MMAP_BIN, else build/dev/collector/otlp-mmap. When it is missing the tests
are skipped, unless OTLP_MMAP_E2E is set (then they fail).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest


native = pytest.importorskip("otlp_mmap._native")

pytestmark = [pytest.mark.timeout(120)]

T0 = 1_700_000_000_000_000_000
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SMALL = dict(events_slots=64, spans_slots=64, measurements_slots=64, dictionary_initial_bytes=8192)


@pytest.fixture(scope="module")
def binary(collector_bin: Path) -> Path:
    """The collector binary, found by conftest.py's collector_bin."""
    return collector_bin


def _valid_file(path: Path, **geometry) -> dict:
    """5 span starts, 3 log records, 4 measurements, all unread. Returns the section offsets."""
    w = native.Writer(str(path), **geometry)
    res = w.create_resource({"service.name": "forensic"}, None)
    scope = w.create_instrumentation_scope(res, "forensic.lib", "1.0", {})
    for i in range(5):
        assert w.record_span_start(scope, TRACE, (i + 1).to_bytes(8, "big"), None, 1, f"span {i}", 1, T0 + i,
                                   {"i": i})
    name = w.record_string("an.event")
    for i in range(3):
        assert w.record_event(scope, None, name, T0 + i, {"n": i}, severity_number=9, severity_text="INFO",
                              body=f"message {i}")
    stream = w.create_metric_stream(scope, "requests", "d", "1",
                                    {"sum": {"aggregation_temporality": "DELTA", "is_monotonic": True}})
    for i in range(4):
        assert w.record_measurement(stream, {"k": i}, T0 + i, i + 1)
    del w
    ev, sp, me, di = struct.unpack_from("<qqqq", path.read_bytes(), 8)
    return {"events": ev, "spans": sp, "measurements": me, "dictionary": di}


def _patch(path: Path, offset: int, value: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack("<q", value))


def _inspect(binary: Path, path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    r = subprocess.run([str(binary), "inspect", str(path), *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1, f"exit {r.returncode} (negative: a signal)\n{r.stderr}\n{r.stdout[-2000:]}"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, "inspect changed the file"
    assert r.stderr.startswith("otlp-mmap inspect: "), r.stderr
    doc = json.loads(r.stdout) if "--json" in args else None
    if doc is not None:
        assert doc["forensic"] is True
        assert isinstance(doc["errors"], list) and doc["errors"]
    return r, doc


def _published(doc: dict, ring: str) -> list[dict]:
    return [r for r in doc["records"][ring] if r["state"] == "published" and "record" in r]


def test_unsupported_version_still_shows_header_rings_and_records(binary, tmp_path):
    f = tmp_path / "v7.otlp"
    _valid_file(f, **SMALL)
    _patch(f, 0, 7)
    r, doc = _inspect(binary, f, "--json")
    assert "version 7 is not supported" in r.stderr
    assert doc["header"]["version"]["value"] == 7
    assert "unsupported version 7" in doc["header"]["version"]["error"]
    assert any("unsupported version 7" in e for e in doc["errors"])
    assert "error" not in doc["header"]["spans_offset"]
    assert doc["rings"]["spans"]["unread"] == 5 and doc["rings"]["events"]["unread"] == 3
    spans = _published(doc, "spans")
    assert [s["record"]["name"] for s in spans] == [f"span {i}" for i in range(5)]
    assert spans[0]["record"]["scope"] == "forensic.lib@1.0"  # refs resolved through the dictionary
    events = _published(doc, "events")
    assert [e["record"]["body"] for e in events] == [f"message {i}" for i in range(3)]
    assert [m["record"]["metric"] for m in _published(doc, "measurements")] == ["requests"] * 4
    assert doc["dictionary"]["listed"] > 0 and "error" not in doc["dictionary"]
    assert doc["writer_counters"]["dropped_unencodable"] == 0
    # --max-records bounds the records shown, as for a valid file.
    _, doc = _inspect(binary, f, "--json", "--max-records", "2", "--max-entries", "1")
    assert len(doc["records"]["spans"]) == 2 and doc["dictionary"]["listed"] == 1
    # Text: the same readout after the error.
    r, _ = _inspect(binary, f)
    assert "FORENSIC READOUT" in r.stdout and "unsupported version 7" in r.stdout
    assert "span 3" in r.stdout and "message 2" in r.stdout
    print(f"\nversion 7: {len(spans)} spans, {len(events)} events decoded; errors: {doc['errors']}")


def test_truncated_file_shows_the_header_and_reports_the_rings_beyond_the_end(binary, tmp_path):
    f = tmp_path / "short.otlp"
    lay = _valid_file(f)  # default geometry: the events ring alone is 4 MiB
    os.truncate(f, 100 * 1024)
    r, doc = _inspect(binary, f, "--json")
    assert doc["file"]["size"] == 100 * 1024
    assert doc["header"]["version"]["value"] == 1 and "error" not in doc["header"]["version"]
    assert doc["header"]["events_offset"]["value"] == lay["events"]
    ev = doc["rings"]["events"]
    assert ev["slots"] == 8192 and ev["unread"] == 3 and "beyond the end of the file" in ev["error"]
    for ring in ("spans", "measurements"):
        assert "outside the file" in doc["rings"][ring]["error"]
        assert "outside the file" in doc["header"][f"{ring}_offset"]["error"]
        assert doc["records"][ring] == []
    assert doc["records"]["events"] == []  # the ring is not whole: its slots are not read
    assert "outside the file" in doc["header"]["dictionary_offset"]["error"]
    assert "error" in doc["dictionary"] and "entries" not in doc["dictionary"]
    print(f"\ntruncated to 100 KiB: errors: {doc['errors']}")


def test_garbage_dictionary_offset_keeps_the_rings_readable(binary, tmp_path):
    f = tmp_path / "dict.otlp"
    _valid_file(f, **SMALL)
    _patch(f, 32, 0x7F12_3456_789A_BCD8)
    r, doc = _inspect(binary, f, "--json")
    assert "not a valid otlp-mmap file" in r.stderr
    assert "error" in doc["header"]["dictionary_offset"] and "error" in doc["dictionary"]
    assert [s["record"]["name"] for s in _published(doc, "spans")] == [f"span {i}" for i in range(5)]
    assert len(_published(doc, "events")) == 3 and len(_published(doc, "measurements")) == 4
    assert doc["writer_counters"] == {}


def test_all_zero_and_empty_files_are_reported_as_uninitialised(binary, tmp_path):
    f = tmp_path / "zero.otlp"
    f.write_bytes(bytes(65536))
    os.chmod(f, 0o600)
    r, doc = _inspect(binary, f, "--json")
    assert "not initialised" in r.stderr
    assert any("all zero" in e for e in doc["errors"])
    assert "not initialised" in doc["header"]["version"]["error"]
    assert all(doc["records"][k] == [] for k in ("events", "spans", "measurements"))
    r, _ = _inspect(binary, f)
    assert "all zero" in r.stdout
    e = tmp_path / "empty.otlp"
    e.write_bytes(b"")
    os.chmod(e, 0o600)
    _, doc = _inspect(binary, e, "--json")
    assert doc["file"]["size"] == 0 and doc["header"]["version"]["value"] is None
    assert any("shorter than the 64-byte header" in x for x in doc["errors"])


def test_inconsistent_indices_are_reported_and_the_other_rings_still_read(binary, tmp_path):
    f = tmp_path / "idx.otlp"
    lay = _valid_file(f, **SMALL)
    _patch(f, lay["spans"] + 24, 1_000_000)  # writer_index far beyond N slots
    _patch(f, 0, 2)  # and a version the reader refuses, so that inspect reads it forensically
    _, doc = _inspect(binary, f, "--json")
    assert "inconsistent indices" in doc["rings"]["spans"]["error"]
    assert doc["records"]["spans"] == []
    assert len(_published(doc, "events")) == 3 and len(_published(doc, "measurements")) == 4


def test_geometry_that_overlaps_the_next_section_is_refused_but_shown(binary, tmp_path):
    f = tmp_path / "geom.otlp"
    lay = _valid_file(f, **SMALL)
    _patch(f, lay["events"], 3)  # N not a power of two
    r, doc = _inspect(binary, f, "--json")
    assert "power of two" in doc["rings"]["events"]["error"] and doc["records"]["events"] == []
    assert len(_published(doc, "spans")) == 5


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
def test_a_fault_while_reading_is_an_error_in_the_readout(binary, tmp_path):
    """A dictionary page punched out of a file on a full tmpfs: reading it raises SIGBUS. The
    normal readout fails (exit 1), the forensic one lists the fault and what it still read."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        f = mnt / "holed.otlp"
        w = native.Writer(str(f), **SMALL)
        w.record_string("p" * 6000)  # the entries below start on a page of their own
        scope = w.create_instrumentation_scope(w.create_resource({"service.name": "holed"}, None), "holed.lib",
                                               None, {})
        for i in range(5):
            assert w.record_span_start(scope, TRACE, (i + 1).to_bytes(8, "big"), None, 1, f"span {i}", 1, T0 + i, {})
        del w
        page = os.sysconf("SC_PAGE_SIZE")
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
        fd = os.open(f, os.O_RDWR)
        try:
            assert libc.fallocate(fd, 1 | 2, scope - scope % page, page) == 0  # KEEP_SIZE | PUNCH_HOLE
        finally:
            os.close(fd)
        with open(mnt / "filler", "wb") as filler:  # the file system full: the hole cannot be backed
            try:
                while True:
                    filler.write(b"x" * 65536)
                    filler.flush()
            except OSError:
                pass
        r = subprocess.run([str(binary), "inspect", str(f), "--json"], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "hole" in r.stderr, r.stderr
        doc = json.loads(r.stdout)
        assert doc["forensic"] is True and any("SIGBUS" in e for e in doc["errors"]), doc["errors"]
        spans = _published(doc, "spans")
        assert [s["record"]["name"] for s in spans] == [f"span {i}" for i in range(5)]
        assert "unreadable scope ref" in spans[0]["record"]["scope"]
        assert doc["dictionary"]["end"] > scope
        print(f"\nfault while reading: errors: {doc['errors'][:3]}")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)

"""Guarantee 8: the file is private by default, and nobody is fooled into trusting a file.

* The SDK creates the file with mode 0600 exactly, whatever the umask; OTLP_MMAP_FILE_MODE
  changes it (0640 here), again exactly.
* The SDK refuses to write into an existing file owned by another user: by default the
  application goes on (exit 0) after ONE warning that names the file, with no-op providers,
  and the other user's file is left byte for byte as it was; in strict mode
  (``configure(strict=True)``) the refusal is a ConfigurationError.
* `otlp-mmap collect` refuses, with a message that names the file and the reason and a
  non-zero exit status, a path that is a directory, a FIFO, a file owned by another user, or
  a symbolic link (without --follow-symlinks); `otlp-mmap inspect` does the same (and must not hang on a
  FIFO). With --trust-any-owner both accept the other user's file, and the collector exports it.

Changing the owner needs root; those cases are skipped otherwise.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time

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

pytestmark = pytest.mark.timeout(120)

OTHER_UID = 54321
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")

SDK_SCRIPT = textwrap.dedent("""
    import logging, os, sys
    os.umask(int(sys.argv[2], 8))
    strict = len(sys.argv) > 3 and sys.argv[3] == "strict"

    class Count(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []
        def emit(self, record):
            self.messages.append(record.getMessage())

    count = Count()
    logging.getLogger("otlp_mmap.sdk").addHandler(count)
    import otlp_mmap
    from opentelemetry import trace
    try:
        t = otlp_mmap.configure(sys.argv[1], service_name="perm", strict=strict)
    except otlp_mmap.sdk.ConfigurationError as e:
        print("refused:", e)
        sys.exit(3)
    with trace.get_tracer("perm").start_as_current_span("perm-span"):
        pass
    t.shutdown()
    for m in count.messages:
        print("warning:", m.replace(chr(10), " "))
    print("disabled:", t.tracer_provider.disabled)
""")


def _sdk_write(tmp_path, path, umask: str = "022", strict: bool = False, **env) -> subprocess.CompletedProcess:
    script = tmp_path / "sdk_write.py"
    script.write_text(SDK_SCRIPT)
    argv = [sys.executable, str(script), str(path), umask] + (["strict"] if strict else [])
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean_env(**env))


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sdk_creates_the_file_0600_by_default_and_as_configured(tmp_path):
    figures = {}
    for umask in ("000", "077", "022"):
        f = tmp_path / f"default-{umask}.otlp"
        r = _sdk_write(tmp_path, f, umask)
        assert r.returncode == 0, r.stderr
        assert _mode(f) == 0o600, oct(_mode(f))
        figures[f"default, umask {umask}"] = oct(_mode(f))
    for umask in ("000", "077"):
        f = tmp_path / f"configured-{umask}.otlp"
        r = _sdk_write(tmp_path, f, umask, OTLP_MMAP_FILE_MODE="0640")
        assert r.returncode == 0, r.stderr
        assert _mode(f) == 0o640, oct(_mode(f))
        figures[f"OTLP_MMAP_FILE_MODE=0640, umask {umask}"] = oct(_mode(f))
    print_figures("file mode of a new file", figures)


@needs_root
def test_sdk_refuses_a_file_owned_by_another_user(tmp_path):
    f = tmp_path / "foreign.otlp"
    assert _sdk_write(tmp_path, f).returncode == 0
    os.chown(f, OTHER_UID, OTHER_UID)
    before = f.read_bytes()
    stat_before = os.stat(f)

    # Default: the application goes on, after one warning naming the file; nothing is written.
    r = _sdk_write(tmp_path, f)
    assert r.returncode == 0, (r.stdout, r.stderr)
    warnings = [line for line in r.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, r.stdout
    assert str(f) in warnings[0] and "owned by uid" in warnings[0], warnings
    assert "disabled: True" in r.stdout, r.stdout
    assert f.read_bytes() == before, "the SDK wrote into the other user's file"
    assert os.stat(f).st_uid == OTHER_UID and os.stat(f).st_size == stat_before.st_size

    # Strict mode: the refusal is a ConfigurationError.
    s = _sdk_write(tmp_path, f, strict=True)
    assert s.returncode == 3, (s.stdout, s.stderr)
    assert "refused:" in s.stdout and str(f) in s.stdout and "owned by uid" in s.stdout, s.stdout
    assert f.read_bytes() == before, "the SDK (strict) wrote into the other user's file"
    print_figures("SDK on a file owned by another user", {
        "default": f"exit 0, {warnings[0][len('warning: '):][:160]}",
        "strict": s.stdout.strip()[:160],
        "file bytes": f"unchanged ({len(before)} bytes)",
    })


def _untrusted_paths(tmp_path) -> dict[str, tuple]:
    """name -> (path, words the message must contain); the other user's cases only as root."""
    d = tmp_path / "a-directory"
    d.mkdir()
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    out = {"directory": (d, ("a-directory",)), "fifo": (fifo, ("a-fifo", "not a regular file"))}
    if os.geteuid() == 0:
        foreign = tmp_path / "foreign.otlp"
        assert _sdk_write(tmp_path, foreign).returncode == 0
        os.chown(foreign, OTHER_UID, OTHER_UID)
        link = tmp_path / "link-to-foreign.otlp"
        link.symlink_to(foreign)
        out["other owner"] = (foreign, ("foreign.otlp", f"owned by uid {OTHER_UID}"))
        # A symbolic link at the path is refused as such (O_NOFOLLOW) before its target is looked at.
        out["symlink to other owner"] = (link, ("link-to-foreign.otlp", "symbolic link", "--follow-symlinks"))
    return out


def test_collector_refuses_files_it_cannot_trust(tmp_path):
    binary = require_binary()
    figures = {}
    for name, (path, words) in _untrusted_paths(tmp_path).items():
        t0 = time.monotonic()
        try:
            r = subprocess.run([str(binary), "collect", "--file", str(path), "--format", "json", "--output",
                                str(tmp_path / "never.jsonl")], capture_output=True, text=True, timeout=10,
                               env=clean_env())
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"collect kept running on {name} ({path}) instead of refusing it; stderr:\n"
                        f"{(e.stderr or b'').decode(errors='replace')}")
        assert r.returncode != 0 and r.returncode > 0, (name, r.returncode, r.stderr)
        for w in words:
            assert w in r.stderr, (name, w, r.stderr)
        assert "refus" in r.stderr, (name, r.stderr)
        figures[f"collect, {name}"] = f"exit {r.returncode} after {time.monotonic() - t0:.2f}s: " + \
            r.stderr.strip().splitlines()[-1][:140]
    print_figures("collector on files it cannot trust", figures)


def test_inspect_refuses_files_it_cannot_trust(tmp_path):
    binary = require_binary()
    figures = {}
    for name, (path, words) in _untrusted_paths(tmp_path).items():
        try:
            r = subprocess.run([str(binary), "inspect", str(path)], capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"inspect hangs on {name} ({path})")
        assert r.returncode == 1, (name, r.returncode, r.stderr)
        for w in words:
            assert w in r.stderr, (name, w, r.stderr)
        figures[f"inspect, {name}"] = r.stderr.strip()[:140]
    print_figures("inspect on files it cannot trust", figures)


@needs_root
def test_trust_any_owner_accepts_another_users_file(tmp_path):
    binary = require_binary()
    f = tmp_path / "foreign.otlp"
    assert _sdk_write(tmp_path, f).returncode == 0
    os.chown(f, OTHER_UID, OTHER_UID)
    r = subprocess.run([str(binary), "inspect", str(f), "--trust-any-owner", "--json"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.jsonl"
    c = Collect(tmp_path, f, "--trust-any-owner", "--format", "json", "--output", str(out))
    try:
        wait_for(lambda: any(s["name"] == "perm-span" for _, _, s in items(json_lines(out), "resourceSpans")),
                 timeout=30, what="the span of the other user's file", diag=c.stderr)
    finally:
        assert c.stop() == 0, c.stderr()
    assert os.stat(f).st_uid == OTHER_UID
    print_figures("--trust-any-owner", {"inspect": "exit 0", "collect": "exported perm-span"})


def test_python_reader_refuses_a_fifo_and_a_directory_without_hanging(tmp_path):
    """The read-only open of a FIFO used to wait for a writer to appear (no timeout)."""
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    code = textwrap.dedent(f"""
        from otlp_mmap import Reader
        for path in ({str(fifo)!r}, {str(tmp_path)!r}):
            for ro in (True, False):
                try:
                    Reader(path, read_only=ro)
                except PermissionError as e:
                    print("refused:", e)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("refused:") == 4 and r.stdout.count("not a regular file") == 4, r.stdout

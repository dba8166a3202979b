"""The `otlp-mmap` console script (otlp_mmap/_collector.py): it execs the collector the package
carries, or, in a package built without one, says why and how to get it.

The installed wheels themselves are checked by scripts/wheel_check.py (`make wheel`, `make wheels`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from otlp_mmap import _collector

SCRIPT = Path(sys.executable).parent / "otlp-mmap"


def test_the_installed_script_runs_the_collector_or_explains_its_absence():
    assert SCRIPT.is_file(), f"no console script {SCRIPT}: is otlp_mmap installed into this interpreter?"
    r = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
    if _collector.executable() is None:  # `make python`: built with OTLP_MMAP_WHEEL_COLLECTOR=OFF
        assert r.returncode == _collector.EXIT_NO_COLLECTOR, r
        assert "has no collector" in r.stderr and "To get the collector" in r.stderr, r.stderr
        assert "OTLP_MMAP_WHEEL_COLLECTOR=OFF" in r.stderr, r.stderr  # the reason CMake recorded
    else:
        assert r.returncode == 0 and r.stdout.startswith("otlp-mmap "), r


def test_the_script_execs_the_executable_in_place(tmp_path):
    """Same process (so signals and the exit status are the collector's), argv passed on."""
    fake = tmp_path / "_bin" / "otlp-mmap"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "pid=$$ argv0=$0 args=$*"\nexit 7\n')
    fake.chmod(0o755)
    code = textwrap.dedent(f"""
        import os, sys, otlp_mmap
        otlp_mmap.__path__.insert(0, {str(tmp_path)!r})
        from otlp_mmap._collector import main
        print(f"pid={{os.getpid()}}", flush=True)
        sys.argv = ["otlp-mmap", "inspect", "--json", "a file"]
        main()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    python_pid, collector_line = r.stdout.splitlines()
    assert r.returncode == 7, r
    assert collector_line.startswith(python_pid + " "), r.stdout
    assert collector_line.endswith(" args=inspect --json a file"), r.stdout


def test_without_an_executable_the_note_cmake_wrote_is_the_reason(tmp_path, monkeypatch):
    (tmp_path / "_bin").mkdir()
    (tmp_path / "_bin" / "missing.txt").write_text("built without gRPC (libgrpc++-dev)\n")
    monkeypatch.setattr(_collector.otlp_mmap, "__path__", [str(tmp_path)])
    assert _collector.executable() is None
    message = _collector.missing_message()
    assert message.startswith("otlp-mmap: this installation of otlp_mmap has no collector: built without gRPC")
    assert "OTLP_MMAP_WHEEL_COLLECTOR=ON" in message and "make wheels" in message
    assert os.fspath(tmp_path) not in message  # the note, not the search path

"""The `otlp-mmap` console script: runs the collector executable the wheel carries.

The executable is otlp_mmap/_bin/otlp-mmap (cmake/wheel_collector.cmake). The script replaces
itself with it (exec: same process, so signals, exit status and standard streams are the
collector's own). A package built without the collector has otlp_mmap/_bin/missing.txt
instead, and the script says why and how to get one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import otlp_mmap

# Distinct from the collector's own statuses (1: an untrusted file, 2: bad configuration).
EXIT_NO_COLLECTOR = 127

HOW_TO_GET_IT = """\
To get the collector, either
  * install a wheel of otlp-mmap (`make wheels` in the source tree builds manylinux wheels that
    carry it, with its libraries), or
  * install the collector's libraries (Debian/Ubuntu: apt-get install g++ cmake libprotobuf-dev
    protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libcurl4-openssl-dev zlib1g-dev
    libcli11-dev libjemalloc-dev) and install from source again:
    pip install --force-reinstall --no-deps -Ccmake.define.OTLP_MMAP_WHEEL_COLLECTOR=ON <source>
    (ON: the build fails when a library is missing, instead of leaving the collector out).
The SDK (import otlp_mmap) works without the collector.
"""


def bin_dirs() -> list[Path]:
    """_bin in each directory of the package: one for an installed wheel; an editable install
    has the sources' and the installed files' (where CMake put _bin)."""
    return [Path(p) / "_bin" for p in otlp_mmap.__path__]


def executable() -> Path | None:
    for d in bin_dirs():
        if os.access(d / "otlp-mmap", os.X_OK):
            return d / "otlp-mmap"
    return None


def missing_message() -> str:
    """What the script prints when the package has no collector."""
    reason = f"no executable otlp-mmap in {', '.join(map(str, bin_dirs()))}"
    for d in bin_dirs():
        try:
            reason = (d / "missing.txt").read_text(encoding="utf-8").strip()
            break
        except OSError:
            continue
    return f"otlp-mmap: this installation of otlp_mmap has no collector: {reason}.\n{HOW_TO_GET_IT}"


def main() -> NoReturn:
    path = executable()
    if path is None:
        sys.stderr.write(missing_message())
        sys.exit(EXIT_NO_COLLECTOR)
    # argv[0] "otlp-mmap": the collector's usage lines name the command the user typed.
    os.execv(path, ["otlp-mmap", *sys.argv[1:]])


if __name__ == "__main__":
    main()

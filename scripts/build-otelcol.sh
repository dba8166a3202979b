#!/usr/bin/env bash
# Builds the OpenTelemetry Collector used by the end-to-end tests, from the Go
# module proxy, with the OpenTelemetry Collector Builder (ocb), as described by
# tools/otelcol/builder-config.yaml. No prebuilt binary is downloaded.
#
#   scripts/build-otelcol.sh          build once (skipped when already built); prints the binary path
#   scripts/build-otelcol.sh --path   print where the binary is (or will be) and exit: 0 built, 1 not built
#
# Output: .cache/otelcol/<first 16 hex of sha256(builder-config.yaml)>/otelcol-test
# (tests/otlp/otelcol.py computes the same path). Go's module cache, build cache and
# the ocb binary live under .cache/go so that a CI cache of .cache/ covers everything.
# Idempotent and safe to run concurrently (flock); a failed build leaves no binary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

CONFIG=tools/otelcol/builder-config.yaml
HASH=$(sha256sum "$CONFIG" | cut -c1-16)
OUT=$ROOT/.cache/otelcol/$HASH
BIN=$OUT/otelcol-test

if [[ ${1:-} == --path ]]; then
  echo "$BIN"
  [[ -x $BIN ]]
  exit
fi

if [[ -x $BIN ]]; then
  echo "otelcol: already built: $BIN"
  exit 0
fi

command -v go >/dev/null || { echo "otelcol: 'go' not found on PATH" >&2; exit 1; }

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
if ! flock -w 3600 9; then
  echo "otelcol: timed out waiting for another build to finish" >&2
  exit 1
fi
if [[ -x $BIN ]]; then # built by a concurrent run while we waited
  echo "otelcol: already built: $BIN"
  exit 0
fi

export GOPATH=$ROOT/.cache/go
export GOMODCACHE=$ROOT/.cache/go/pkg/mod
export GOCACHE=$ROOT/.cache/go/build-cache
# -mod=mod: let the go command update the generated go.mod/go.sum.
# -e (only known to 'go mod tidy', ignored by build/download): ocb runs 'go mod tidy',
# which also wants the modules imported by the *tests* of our components; the proxy
# does not serve all of them (e.g. a contrib encoding extension only used by the
# fileexporter's tests), and they are never compiled into the binary.
export GOFLAGS="-mod=mod -e"
export GOTOOLCHAIN=local # never fetch another Go toolchain
# Modules only through the configured proxy: no 'direct' fallback to VCS hosts.
proxy=$(go env GOPROXY)
proxy=${proxy//,direct/}
proxy=${proxy//|direct/}
[[ -z $proxy || $proxy == direct || $proxy == off ]] && { echo "otelcol: no Go module proxy configured (GOPROXY=$(go env GOPROXY))" >&2; exit 1; }
export GOPROXY=$proxy

BUILDER_VERSION=$(sed -n 's/^# BUILDER_VERSION: *\(v[0-9.]*\) *$/\1/p' "$CONFIG")
[[ -n $BUILDER_VERSION ]] || { echo "otelcol: no '# BUILDER_VERSION: vX.Y.Z' line in $CONFIG" >&2; exit 1; }

start=$(date +%s)
echo "otelcol: building with $(go version) on $(nproc) cores; ocb $BUILDER_VERSION; config hash $HASH"

OCB_DIR=$GOPATH/bin/ocb-$BUILDER_VERSION
OCB=$OCB_DIR/builder
if [[ ! -x $OCB ]]; then
  echo "otelcol: installing ocb $BUILDER_VERSION"
  GOBIN=$OCB_DIR timeout 900 go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
fi

WORK=$OUT/build
rm -rf "$WORK"
mkdir -p "$WORK"
sed "s|^\( *output_path:\).*|\1 $WORK/src|" "$CONFIG" >"$WORK/builder-config.yaml"

echo "otelcol: generating and compiling in $WORK/src (log: $WORK/ocb.log)"
if ! timeout 2400 "$OCB" --config="$WORK/builder-config.yaml" >"$WORK/ocb.log" 2>&1; then
  tail -n 40 "$WORK/ocb.log" >&2
  echo "otelcol: build failed (full log: $WORK/ocb.log)" >&2
  exit 1
fi

"$WORK/src/otelcol-test" --version >/dev/null
"$WORK/src/otelcol-test" components >"$WORK/components.yaml"
mv -f "$WORK/src/otelcol-test" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN" # atomic: the binary appears only when complete

secs=$(($(date +%s) - start))
echo "otelcol: built in ${secs}s, $(du -h "$BIN" | cut -f1): $BIN"

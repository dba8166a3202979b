#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from the committed seed corpus.
# New inputs go to build/fuzz/work/<target>; a crash leaves its input in build/fuzz/.
#   scripts/run-fuzz.sh TARGET SEED_CORPUS_DIR SECONDS
set -euo pipefail
target=$1 seeds=$2 seconds=$3
fuzz=build/fuzz
mkdir -p "$fuzz/work/$target"
log="$fuzz/$target.log"
echo "fuzz: $target for ${seconds}s (seeds: $seeds)"
if ! "$fuzz/fuzz/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$fuzz/" "$fuzz/work/$target" "$seeds" >"$log" 2>&1; then
  tail -40 "$log"
  echo "fuzz: $target FAILED (input saved in $fuzz/)"
  exit 1
fi
runs=$(grep -oP 'stat::number_of_executed_units:\s*\K\d+' "$log" || echo "?")
rss=$(grep -oP 'stat::peak_rss_mb:\s*\K\d+' "$log" || echo "?")
echo "fuzz: $target ok: $runs inputs, peak RSS ${rss} MB"

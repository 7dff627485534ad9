#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a bounded time, seeded by its
# committed corpus (fuzz/corpus/<target>); new inputs go to a scratch folder so the
# committed corpus changes only on purpose. A crash fails the run and leaves its
# input in fuzz/artifacts/<target>/: make it a regression test, then fix it.
#   scripts/fuzz.sh [SECONDS-PER-TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${1:-60}
TARGETS=(protocol_lines sdk_requests profiles label_filters)
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
# No sanitizer: the stable toolchain has none; coverage guidance and Rust's own
# checks (debug assertions on, overflow checks) remain.
cargo fuzz build --sanitizer none -O
for t in "${TARGETS[@]}"; do
  echo "[fuzz] $t for ${SECONDS_EACH}s"
  mkdir -p "$SCRATCH/$t"
  status=0
  cargo fuzz run --sanitizer none -O "$t" "$SCRATCH/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 \
    >"$SCRATCH/$t.log" 2>&1 || status=$?
  grep -E '^(Done|stat::number_of_executed_units|thread|SUMMARY|artifact|==)|panicked' "$SCRATCH/$t.log" || true
  if [ "$status" != 0 ]; then
    tail -20 "$SCRATCH/$t.log" >&2
    echo "[fuzz] $t failed (exit $status); a failing input is kept in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done

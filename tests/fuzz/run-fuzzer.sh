#!/usr/bin/env bash
# run-fuzzer.sh EXE SEED_DIR RUNS: replays every seed file (regressions included), then fuzzes
# for RUNS inputs starting from the seeds, writing new inputs only into a scratch directory (the
# source tree stays untouched). Non-zero on a crash, leak or sanitizer report.
set -euo pipefail
exe=$1 seeds=$2 runs=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pcdn-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
shopt -s nullglob
files=("$seeds"/*)
[ ${#files[@]} -gt 0 ] || { echo "run-fuzzer.sh: no seeds in $seeds" >&2; exit 1; }
"$exe" -artifact_prefix="$scratch/" "${files[@]}"
"$exe" -runs="$runs" -max_total_time=120 -artifact_prefix="$scratch/" "$scratch" "$seeds"

#!/usr/bin/env bash
# scripts/pgo-build.sh [DIR [MESON-OPTION...]]: a profile-guided release build (GCC
# -fprofile-generate, a training run, -fprofile-use) in DIR, default build-pgo/: every program,
# pcdn-cacherd's workers included (they are the same objects pcdn-bench links).
#
# The training is the cacherd benchmark's three set-ups, shortened and with other parameters than
# scripts/bench.sh cacherd measures with (16 clients, a window of 32, 4 MiB of content, 2 s
# each), so no figure is measured on the load its profile came from. Code the training never
# runs keeps a normal optimisation (-fprofile-partial-training): the control path, the miss path
# and IPv6 are not traded for size.
#
# The build is redone from scratch whenever anything in it is out of date, or meson options are
# given: a profile taken from other sources would not match them (GCC refuses such a profile).
# Needs root for the training (DPDK hugepages or --no-huge, as the benchmark does).
#
# Environment: PCDN_MARCH (default native), as scripts/bench.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build-pgo}
[ $# -gt 0 ] && shift
extra=("$@") # more meson options, e.g. --prefix=/usr for an install from DIR
march=${PCDN_MARCH:-native}
log=$dir/pgo-build.log
# meson's, ninja's and the training's output go to the log (profile feedback changes inlining,
# and with it what GCC's flow warnings believe); its tail is shown when a step fails
step() {
	"$@" >>"$log" 2>&1 || {
		tail -40 "$log" >&2
		echo "pgo-build: failed: $* (log: $log)" >&2
		exit 1
	}
}

if [ ${#extra[@]} -eq 0 ] && [ -f "$dir/build.ninja" ] &&
	meson introspect --buildoptions "$dir" 2>/dev/null | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
sys.exit(0 if o.get("b_pgo") == "use" else 1)' &&
	ninja -C "$dir" -n 2>/dev/null | grep -q 'no work to do'; then
	echo "pgo-build: $dir is up to date" >&2
	exit 0
fi

echo "pgo-build: instrumented build in $dir" >&2
mkdir -p "$dir"
: >"$log"
if [ -f "$dir/build.ninja" ]; then
	step meson configure "$dir" -Db_pgo=generate -Dc_args= -Dmarch="$march" "${extra[@]}"
else
	step meson setup "$dir" --buildtype=release -Dmarch="$march" -Db_pgo=generate "${extra[@]}"
fi
# counts of an earlier training, or of other sources, would be merged into this one's
find "$dir" -name '*.gcda' -delete
step ninja -C "$dir"

echo "pgo-build: training (the cacherd benchmark, shortened, other parameters)" >&2
step env PCDN_BENCH_BUILD="$dir" PCDN_BENCH_SECONDS=2 PCDN_BENCH_CLIENTS=16 PCDN_BENCH_WINDOW=32 \
	PCDN_BENCH_CONTENT_MIB=4 "$top/scripts/bench/cacherd.sh"
n=$(find "$dir" -name '*.gcda' | wc -l)
[ "$n" -gt 0 ] || { echo "pgo-build: the training wrote no profile" >&2; exit 1; }

echo "pgo-build: optimised build from $n profiles" >&2
step meson configure "$dir" -Db_pgo=use -Dc_args="-fprofile-partial-training -Wno-missing-profile"
step ninja -C "$dir"
echo "pgo-build: done: $dir" >&2

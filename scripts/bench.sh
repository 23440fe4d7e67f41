#!/usr/bin/env bash
# One entry point for every benchmark: scripts/bench.sh NAME runs scripts/bench/NAME.sh on a
# build made with -march (default native) and prints one JSON object on its last line.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
name=${1:-}
if [ -z "$name" ] || [ ! -x "$top/scripts/bench/$name.sh" ]; then
	echo "usage: scripts/bench.sh NAME   (one of: $(cd "$top/scripts/bench" 2>/dev/null && ls *.sh | sed 's/\.sh$//' | tr '\n' ' '))" >&2
	exit 2
fi
shift
"$top/scripts/deps.sh" >&2
export PCDN_BENCH_BUILD="$top/build-bench"
if [ ! -f "$PCDN_BENCH_BUILD/build.ninja" ]; then
	meson setup "$PCDN_BENCH_BUILD" --buildtype=release -Dmarch="${PCDN_MARCH:-native}" >&2
fi
ninja -C "$PCDN_BENCH_BUILD" >&2
exec "$top/scripts/bench/$name.sh" "$@"

#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the main build (warnings as errors),
# the unit suites again under ASan+UBSan, and every libFuzzer target over its corpus.
# Ends with "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
tally() { # build dir: adds that run's results from meson's JSON log
	local log="$1/meson-logs/testlog.json" p f
	[ -f "$log" ] || { failed=$((failed + 1)); return; }
	p=$(grep -c '"result": "OK"' "$log" || true)
	f=$(grep -vc '"result": "OK"' "$log" || true)
	passed=$((passed + p))
	failed=$((failed + f))
}
run_build() { # dir, meson test args..., then -- setup args
	local dir="$1"; shift
	local targs=() sargs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do targs+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	sargs=("$@")
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "${sargs[@]}" >/dev/null || { failed=$((failed + 1)); return; }
	else
		meson configure "$dir" "${sargs[@]}" >/dev/null || true
	fi
	if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
		tail -40 "$dir.ninja.log"
		echo "test.sh: build $dir failed"
		failed=$((failed + 1))
		return
	fi
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs "${targs[@]}"
	tally "$dir"
}

echo "== main build: every suite"
run_build build -- -Dwerror=true
echo "== ASan+UBSan build: unit suites"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_build build-asan --suite unit -- -Db_sanitize=address,undefined -Db_lundef=false \
	-Dwerror=true -Ddpdk=disabled
echo "== TSan build: concurrency suites"
TSAN_OPTIONS=halt_on_error=1 run_build build-tsan --suite tsan -- -Db_sanitize=thread -Db_lundef=false \
	-Dwerror=true -Ddpdk=disabled
echo "== libFuzzer targets over their corpora (clang)"
CC=clang run_build build-fuzz --suite fuzz -- -Dfuzz=true -Db_lundef=false -Ddpdk=disabled -Dtests=true

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Suite bench: pcdn-bench cache on a small key set, with and without hugepages: every rate
# measured (lib/cache with one and two readers, cds_lfht, DPDK rte_hash in its own EAL), the
# last line one JSON object, and nothing of the EAL left behind (runtime directory, hugepage
# files), which the rte_hash baseline used to leave on every run.
# usage: test_cache_smoke.sh PCDN_BENCH
set -euo pipefail
exe=$1
tmp=$(mktemp -d)
# shellcheck source=scripts/lib/hugepages.sh
. "$(dirname "$0")/../../../scripts/lib/hugepages.sh"
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	hugepages_restore
	rm -rf "$tmp"
}
trap cleanup EXIT

# Hugepages for the second run (root, as the suite runs): 512 for rte_hash's socket memory,
# the rest for the cache region; given back at exit.
need=640
hugepages_reserve "$need"
hugepages_mount
free=$(hugepages_free)
[ "${free:-0}" -ge "$need" ] || { echo "FAIL: only $free hugepages could be reserved"; exit 1; }

fail=0
for mode in --no-hugepages ""; do
	# shellcheck disable=SC2086
	"$exe" cache --chunks 65536 --lookups 1000000 --repeat 1 --no-miss-ratio $mode \
		>"$tmp/out.json" 2>"$tmp/err.log" &
	pid=$!
	if ! wait "$pid"; then
		echo "FAIL: pcdn-bench cache ${mode:-(hugepages)} exited non-zero"
		cat "$tmp/err.log"
		exit 1
	fi
	tail -3 "$tmp/err.log"
	tail -1 "$tmp/out.json"
	python3 - "$tmp/out.json" "${mode:-hugepages}" <<'PY' || fail=1
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
checks = [
    ("bench is cache", r["bench"] == "cache"),
    ("hugepages as asked", r["hugepages"] == (sys.argv[2] == "hugepages")),
    ("lib/cache 1 and 2 readers", r["lookups_per_sec_1t"] > 0 and r["lookups_per_sec_2t"] > 0),
    ("cds_lfht baseline", r["lfht_lookups_per_sec_1t"] > 0),
    ("rte_hash baseline", r["rte_hash_lookups_per_sec_1t"] > 0),
]
bad = [n for n, ok in checks if not ok]
print("FAIL: " + ", ".join(bad) if bad else "ok: " + sys.argv[2])
sys.exit(1 if bad else 0)
PY
	if [ -e "/var/run/dpdk/pcdn-bench-$pid" ]; then
		echo "FAIL: /var/run/dpdk/pcdn-bench-$pid left behind"
		fail=1
	fi
	if compgen -G "/dev/hugepages/pcdn-bench-${pid}map_*" >/dev/null; then
		echo "FAIL: hugepage files of pcdn-bench-$pid left behind"
		fail=1
	fi
done
exit $fail

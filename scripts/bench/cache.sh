#!/usr/bin/env bash
# Chunk cache benchmark: lookup rate on 1 M cached chunks with 1 and 2 readers, against
# cds_lfht and DPDK rte_hash (lock-free) on the same keys in the same run, and S3-FIFO vs LRU
# miss ratios on Zipf (alpha 0.8, 1.0, 1.2) and scan-heavy traces, 1 M objects, 20 M requests,
# cache at 1% and 10%. Extra arguments go to `pcdn-bench cache` (e.g. --quick).
# Hugepages: when running as root and fewer than needed are free, this reserves them (and
# mounts hugetlbfs for DPDK), and gives them back at exit; otherwise the bench falls back to
# normal pages and says so in its JSON ("hugepages": false).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PCDN_BENCH_BUILD:-$top/build-bench}
bench="$build/app/pcdn-bench/pcdn-bench"
if [ ! -x "$bench" ]; then
	echo "cache.sh: $bench not built (run scripts/bench.sh cache)" >&2
	exit 1
fi

need_pages=1800 # 1.1 GiB cache region + 1 GiB EAL socket memory, 2 MiB pages
# shellcheck source=scripts/lib/hugepages.sh
. "$top/scripts/lib/hugepages.sh"
if [ "$(id -u)" -eq 0 ]; then
	hugepages_reserve "$need_pages"
	hugepages_mount || true
fi
cleanup() { hugepages_restore; }
trap cleanup EXIT

{
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "hugepages free: $(hugepages_free) x $(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo) kB"
} >&2
"$bench" cache "$@"

#!/usr/bin/env bash
# Cacher data-plane bench (issue 4): emulated CSCs (pcdn-bench dp) against pcdn-cacherd's own
# worker code, 1 KiB chunks, SHA-256 Merkle tree, every DATA zero-copy from lib/cache:
#   1. net_ring pair in one process (the data plane's own cost), then in the same process the
#      I/O ceiling of such a ring pair (bare mbufs forwarded);
#   2. net_memif between two processes (memif copies payloads into its rings);
#   3. the same CSC load on kernel UDP (pcdn-bench dp-kernel, recvmmsg/sendmmsg) against
#      pcdn-source serve, with recvmmsg/sendmmsg batching only (kernel_mpps) and with UDP GSO/GRO
#      as well (kernel_gso_mpps).
# Per-core figures are DATA per core-second of packet work: each worker thread's CPU time
# (schedstat) minus its idle polling, so they hold on a shared machine; wall rates are printed
# beside them. Run through scripts/bench.sh cacherd, which builds with profile feedback
# (scripts/pgo-build.sh; PCDN_PGO=0: the plain release build); "build" in the JSON says which
# (read from the build directory's options).
# Last line: one JSON object.
# Environment: PCDN_BENCH_SECONDS (default 5), PCDN_BENCH_CLIENTS (64), PCDN_BENCH_WINDOW (chunks
# each client requests ahead, 64), PCDN_BENCH_CONTENT_MIB (16),
# PCDN_BENCH_NO_HUGE=1 (--no-huge even when hugepages are there).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PCDN_BENCH_BUILD:-$top/build-bench}
secs=${PCDN_BENCH_SECONDS:-5}
clients=${PCDN_BENCH_CLIENTS:-64}
window=${PCDN_BENCH_WINDOW:-64}
mib=${PCDN_BENCH_CONTENT_MIB:-16}
bench=$build/app/pcdn-bench/pcdn-bench
src=$build/app/pcdn-source/pcdn-source
for p in "$bench" "$src"; do
	[ -x "$p" ] || { echo "cacherd bench: $p missing (build $build first)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/pcdn-bench-cacherd.XXXXXX)
spids=()
cleanup() {
	for p in "${spids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${spids[@]}"; do wait "$p" 2>/dev/null || true; done
	# The EAL leaves its hugepage files behind (the next EAL start clears unused ones): the
	# memif processes run last and would hold 2 GiB of hugepages until then.
	rm -rf "$tmp" /var/run/dpdk/pcdn_bc_*_$$ /dev/hugepages/pcdn_bc_*_$$map_*
}
trap cleanup EXIT
load_start=$(cut -d' ' -f1 /proc/loadavg)

# Hugepages when they can be had (BUILD-NOTES: 165 vs 69 Mpps for mbuf traffic), else --no-huge.
need_pages=1536 # 3 GiB: the ring set-up and the two memif processes, 1 GiB each
# shellcheck source=scripts/lib/hugepages.sh
. "$top/scripts/lib/hugepages.sh"
if [ "${PCDN_BENCH_NO_HUGE:-0}" = 1 ]; then
	free_pages=0
else
	hugepages_reserve "$need_pages" # kept after the run: the next runs of a set need them too
	hugepages_mount || true # a fresh machine has the pages but no hugetlbfs mounted
	free_pages=$(hugepages_free)
fi
if [ "${free_pages:-0}" -ge "$need_pages" ] && mountpoint -q /dev/hugepages; then
	huge=true
	mem=(--huge-dir=/dev/hugepages -m 1024)
else
	huge=false
	echo "cacherd bench: no $need_pages free hugepages (or PCDN_BENCH_NO_HUGE): running with --no-huge" >&2
	mem=(--no-huge -m 1024)
fi
eal() { echo "${mem[@]}" --no-pci --log-level=error --file-prefix="pcdn_bc_$1_$$"; }
common=(--clients "$clients" --window "$window" --content-mib "$mib" --chunk-size 1024 --hash sha256)

# 1. net_ring: main lcore and generator on CPU 0, the cacher worker on CPU 1
echo "== net_ring set-up (one process) + I/O ceiling" >&2
# shellcheck disable=SC2046
"$bench" dp $(eal ring) --lcores=0@0,1@1,2@0 -- "${common[@]}" --seconds "$secs" --warmup 1 \
	--io-limit-seconds 2 >"$tmp/ring.json" 2>"$tmp/ring.log" || { tail -30 "$tmp/ring.log" >&2; exit 1; }
grep -v '^msgs\|^bytes\|^dgrams\|^malformed' "$tmp/ring.log" | tail -20 >&2

# 2. net_memif: the cacher worker on CPU 1 in one process, the generator on CPU 0 in another
echo "== net_memif set-up (two processes)" >&2
sock=$tmp/memif.sock
# shellcheck disable=SC2046
"$bench" dp $(eal ms) --lcores=0@0,1@1 -- "${common[@]}" --setup memif-server \
	--memif-socket "$sock" --seconds $((secs + 3)) --warmup 1 >"$tmp/ms.json" 2>"$tmp/ms.log" &
spids+=($!)
for _ in $(seq 1 200); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { tail -20 "$tmp/ms.log" >&2; echo "cacherd bench: memif server did not start" >&2; exit 1; }
# shellcheck disable=SC2046
"$bench" dp $(eal mc) --lcores=0@0,1@0 -- "${common[@]}" --setup memif-client \
	--memif-socket "$sock" --seconds "$secs" --warmup 1 >"$tmp/mc.json" 2>"$tmp/mc.log" ||
	{ tail -20 "$tmp/mc.log" >&2; exit 1; }
wait "${spids[0]}" || { tail -20 "$tmp/ms.log" >&2; exit 1; }
spids=()
grep -v '^msgs\|^bytes\|^dgrams\|^malformed' "$tmp/mc.log" | tail -6 >&2
grep 'per working' "$tmp/ms.log" | tail -3 >&2

# 3. kernel UDP: pcdn-source serve (one thread) and the same CSC load on a socket, twice: with
# recvmmsg/sendmmsg batching only (kernel_mpps, the issue's baseline) and with UDP GSO/GRO on top
# (kernel_gso_mpps, the best the kernel path here does)
head -c $((mib * 1024 * 1024)) /dev/urandom >"$tmp/content"
swarm=$("$src" hash "$tmp/content" --hash sha256)
kernel_run() { # $1: output name, $2: 1 = no UDP offload (PCDN_NO_UDP_OFFLOAD), 0 = offload
	local noff=()
	[ "$2" = 1 ] && noff=(PCDN_NO_UDP_OFFLOAD=1)
	echo "== kernel UDP (pcdn-source serve, $1)" >&2
	env "${noff[@]}" taskset -c 1 "$src" serve "$tmp/content" --hash sha256 \
		--listen 127.0.0.1:47970 2>"$tmp/src-$1.log" &
	spids+=($!)
	for _ in $(seq 1 200); do grep -q serving "$tmp/src-$1.log" && break; sleep 0.05; done
	taskset -c 0 "$bench" dp-kernel --server 127.0.0.1:47970 --swarm "$swarm" --hash sha256 \
		--clients "$clients" --window "$window" --seconds "$secs" --warmup 1 --server-pid "${spids[0]}" \
		>"$tmp/$1.json" 2>"$tmp/$1.log" || { tail -20 "$tmp/$1.log" >&2; exit 1; }
	kill -TERM "${spids[0]}"; wait "${spids[0]}" || true
	spids=()
	tail -3 "$tmp/$1.log" >&2
}
if [ -n "${PCDN_NO_UDP_OFFLOAD:-}" ]; then
	echo "cacherd bench: PCDN_NO_UDP_OFFLOAD is set in the environment; unset it" >&2
	exit 1
fi
kernel_run kernel 1
kernel_run kernel_gso 0
load_end=$(cut -d' ' -f1 /proc/loadavg)

python3 - "$tmp/ring.json" "$tmp/ms.json" "$tmp/mc.json" "$tmp/kernel.json" "$tmp/kernel_gso.json" \
	"$huge" "$load_start" "$load_end" "$(nproc)" \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
	"$build/meson-info/intro-buildoptions.json" <<'PY'
import json, sys
ring, ms, mc, kern, kgso = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:6])
huge, l0, l1, ncpu, cpu = sys.argv[6:11]
try: # what the measured binaries were built as: pgo (scripts/pgo-build.sh), else the buildtype
    opts = {o["name"]: o["value"] for o in json.load(open(sys.argv[11]))}
except (OSError, ValueError):
    opts = {}
build = {"use": "pgo", "generate": "pgo-instrumented"}.get(opts.get("b_pgo"), opts.get("buildtype", "unknown"))
def r(x, n=3): return round(x, n)
ratio = lambda a, b: r(a / b, 2) if b else 0
out = {
    "bench": "cacherd",
    "data_mpps_per_core": ring["data_mpps_per_core"],
    "data_mpps_wall": ring["data_mpps_wall"],
    "memif_mpps_per_core": ms["data_mpps_per_core"],
    "memif_mpps_wall": mc["data_mpps_wall"],
    "payload_gbps": ring["payload_gbps_per_core"],
    "payload_gbps_wall": ring["payload_gbps"],
    "p50_us": ring["p50_us"],
    "p99_us": ring["p99_us"],
    "memif_p99_us": mc["p99_us"],
    "io_limit_mpps": ring.get("io_limit_mpps", 0),
    "io_limit_mpps_wall": ring.get("io_limit_mpps_wall", 0),
    "kernel_mpps": kern["kernel_mpps_per_server_cpu_s"],
    "kernel_mpps_wall": kern["kernel_mpps"],
    "kernel_p99_us": kern["p99_us"],
    "kernel_gso_mpps": kgso["kernel_mpps_per_server_cpu_s"],
    "kernel_gso_mpps_wall": kgso["kernel_mpps"],
    "data_vs_kernel": ratio(ring["data_mpps_per_core"], kern["kernel_mpps_per_server_cpu_s"]),
    "data_vs_kernel_wall": ratio(ring["data_mpps_wall"], kern["kernel_mpps"]),
    "data_vs_kernel_gso": ratio(ring["data_mpps_per_core"], kgso["kernel_mpps_per_server_cpu_s"]),
    "data_vs_io_limit": ratio(ring["data_mpps_per_core"], ring.get("io_limit_mpps", 0)),
    "verified": ring["verified"] + mc["verified"] + kern["verified"] + kgso["verified"],
    "verify_failed": ring["verify_failed"] + mc["verify_failed"] + kern["verify_failed"] + kgso["verify_failed"],
    "worker_cpu_share": ring["worker_cpu"],
    # where the host had put the worker's and the generator's CPUs (see pcdn-bench dp):
    # ~100 ns when close, ~450 ns when apart; the ring figure follows
    "xcore_rtt_ns_before": ring.get("xcore_rtt_ns_before", -1),
    "xcore_rtt_ns_after": ring.get("xcore_rtt_ns_after", -1),
    "chunk_size": ring["chunk_size"], "clients": ring["clients"], "seconds": ring["seconds"],
    "hugepages": huge == "true",
    "build": build,
    "cpus": int(ncpu), "loadavg_start": float(l0), "loadavg_end": float(l1),
}
w = sys.stderr.write
w("cacherd bench on %s (%s CPUs, load average %s at start, %s at end, hugepages %s, %s build)\n" % (cpu, ncpu, l0, l1, huge, out["build"]))
w("%-52s %10s %10s\n" % ("what", "per core", "wall"))
w("%-52s %10.3f %10.3f\n" % ("DATA Mpps, net_ring, 1 process (data_mpps_per_core)", out["data_mpps_per_core"], out["data_mpps_wall"]))
w("%-52s %10.3f %10.3f\n" % ("DATA Mpps, net_memif, 2 processes", out["memif_mpps_per_core"], out["memif_mpps_wall"]))
w("%-52s %10.3f %10.3f\n" % ("I/O ceiling Mpps, net_ring pair, bare mbufs", out["io_limit_mpps"], out["io_limit_mpps_wall"]))
w("%-52s %10.3f %10.3f\n" % ("DATA Mpps, kernel UDP, sendmmsg (kernel_mpps)", out["kernel_mpps"], out["kernel_mpps_wall"]))
w("%-52s %10.3f %10.3f\n" % ("DATA Mpps, kernel UDP, sendmmsg + GSO/GRO", out["kernel_gso_mpps"], out["kernel_gso_mpps_wall"]))
w("%-52s %10.2f %10.2f\n" % ("DPDK / kernel (sendmmsg)", out["data_vs_kernel"], out["data_vs_kernel_wall"]))
w("%-52s %10.2f\n" % ("DPDK / kernel (sendmmsg + GSO)", out["data_vs_kernel_gso"]))
w("payload %.2f Gbps per core (%.2f wall); request->DATA latency p50 %.0f us, p99 %.0f us (net_ring); verified %d chunks, %d failed\n" % (
    out["payload_gbps"], out["payload_gbps_wall"], out["p50_us"], out["p99_us"], out["verified"], out["verify_failed"]))
w("cache line round trip between the worker's and the generator's CPU: %.0f ns before the ring run, %.0f ns after (this host: ~100 close, ~450 apart)\n" % (
    out["xcore_rtt_ns_before"], out["xcore_rtt_ns_after"]))
print(json.dumps(out))
PY

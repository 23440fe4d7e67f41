#!/usr/bin/env bash
# PPSPP bench: one download of a 256 MiB random file over loopback (pcdn-source -> pcdn-get,
# SHA-1 Merkle tree, 1 KiB chunks, every chunk verified) and, in the same run, the kernel UDP
# ceiling (udp_blast: sendmmsg/recvmmsg, 1 KiB datagrams; and the same through UDP GSO/GRO,
# which the programs use). Run through scripts/bench.sh ppspp.
# Last line: one JSON object.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PCDN_BENCH_BUILD:-$top/build-bench}
mb=${PCDN_BENCH_PPSPP_MB:-256}
src=$build/app/pcdn-source/pcdn-source
get=$build/app/pcdn-get/pcdn-get
blast=$build/tests/bench/udp_blast
for p in "$src" "$get" "$blast"; do
	[ -x "$p" ] || { echo "ppspp bench: $p missing (build $build first)" >&2; exit 1; }
done
# A network and protocol bench, not a disk bench: the files live in RAM (tmpfs) when it can,
# so the downloader's writes never stall on the disk's dirty-page throttling.
tmpbase=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmpbase=/dev/shm
tmp=$(mktemp -d "$tmpbase/pcdn-bench-ppspp.XXXXXX")
spid=
stop_seeder() { # the seeder runs in a subshell that reports its CPU time: signal the seeder
	kill -TERM "$(cat "$tmp/src.pid" 2>/dev/null || echo "$spid")" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	spid=
}
cleanup() {
	[ -n "$spid" ] && stop_seeder
	rm -rf "$tmp"
}
trap cleanup EXIT

head -c $((mb * 1024 * 1024)) /dev/urandom >"$tmp/in"
t0=$(date +%s.%N)
swarm=$("$src" hash "$tmp/in")
t1=$(date +%s.%N)
# CPU time of each side from bash's `times` in a subshell (children's user and system time)
(
	"$src" serve "$tmp/in" --listen 127.0.0.1:47950 2>"$tmp/src.log" &
	echo $! >"$tmp/src.pid"
	wait $!
	times >"$tmp/src.times"
) &
spid=$!
for _ in $(seq 1 600); do grep -q serving "$tmp/src.log" && break; sleep 0.05; done
(
	"$get" --peer 127.0.0.1:47950 --swarm "$swarm" -o "$tmp/out" --log-level info \
		2>"$tmp/get.log" || exit 1
	times >"$tmp/get.times"
) || { tail -30 "$tmp/get.log" >&2; exit 1; }
cmp "$tmp/in" "$tmp/out" || { echo "ppspp bench: downloaded file differs" >&2; exit 1; }
stop_seeder
rm -f "$tmp/out"
secs=$(sed -n 's/.*downloaded [0-9]* bytes in \([0-9.]*\) s.*/\1/p' "$tmp/get.log")
rej=$(sed -n 's/.*rejected chunks \([0-9]*\).*/\1/p' "$tmp/get.log")
ctr() { awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }' "$1"; }
retx=$(ctr "$tmp/src.log" retransmits)
lost=$(ctr "$tmp/src.log" data_lost)
ints=$(ctr "$tmp/src.log" msgs_out.integrity)
sends=$(sed -n 's/.*sendmmsg_calls \([0-9]*\).*/\1/p' "$tmp/src.log")
cpu_of() { # the children line of `times`: "0m1.234s 0m0.567s"
	tail -1 "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]);
		t += p[1] * 60 + p[2] } printf "%.2f", t }'
}
get_cpu=$(cpu_of "$tmp/get.times")
src_cpu=$(cpu_of "$tmp/src.times")
cpu_s=$(awk -v a="$get_cpu" -v b="$src_cpu" 'BEGIN { printf "%.2f", a + b }')
# what two otherwise idle cores would sustain: the downloader is the busier side
per_cpu=$(awk -v b=$((mb * 1024 * 1024)) -v c="$get_cpu" 'BEGIN { printf "%.1f", (c > 0 ? b / 1e6 / c : 0) }')
dl=$(awk -v b=$((mb * 1024 * 1024)) -v s="$secs" 'BEGIN { printf "%.1f", b / 1e6 / s }')
hash_mbs=$(awk -v b=$((mb * 1024 * 1024)) -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / 1e6 / (z - a) }')

"$blast" -p 47951 -t 3 >"$tmp/blast.log"
udp=$(sed -n 's/^kernel_udp_mb_per_s \(.*\)/\1/p' "$tmp/blast.log")
# the same datagrams through segmentation offload, as pcdn-source/pcdn-get send and receive them
"$blast" -g -p 47952 -t 3 >"$tmp/blast-gso.log"
udp_gso=$(sed -n 's/^kernel_udp_gso_mb_per_s \(.*\)/\1/p' "$tmp/blast-gso.log")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ncpu=$(nproc)
load=$(cut -d' ' -f1 /proc/loadavg)

echo "ppspp bench on $cpu ($ncpu CPUs, load average $load at the end), files in $tmpbase" >&2
printf '%-44s %10s\n' "what" "MB/s" >&2
printf '%-44s %10s\n' "pcdn-source hash (SHA-1 tree, $mb MiB)" "$hash_mbs" >&2
printf '%-44s %10s\n' "PPSPP download, $mb MiB, loopback, verified" "$dl" >&2
printf '%-44s %10s\n' "kernel UDP ceiling (1 KiB, sendmmsg/recvmmsg)" "$udp" >&2
printf '%-44s %10s\n' "kernel UDP, 1 KiB datagrams via GSO/GRO" "$udp_gso" >&2
cat "$tmp/blast.log" "$tmp/blast-gso.log" >&2
echo "download: $secs s; CPU-seconds: downloader $get_cpu, seeder $src_cpu (incl. hashing its file at start); downloader alone: $per_cpu MB per CPU-second; rejected $rej; source retransmits $retx, lost $lost, INTEGRITY $ints, sendmmsg calls $sends" >&2
printf '{"bench":"ppspp","file_mib":%s,"download_mb_per_s":%s,"download_seconds":%s,"kernel_udp_mb_per_s":%s,"kernel_udp_gso_mb_per_s":%s,"download_vs_udp_ceiling":%s,"hash_mb_per_s":%s,"cpu_seconds":%s,"downloader_cpu_seconds":%s,"seeder_cpu_seconds":%s,"download_mb_per_downloader_cpu_s":%s,"rejected_chunks":%s,"source_retransmits":%s,"integrity_msgs":%s,"cpus":%s,"loadavg":%s}\n' \
	"$mb" "$dl" "$secs" "$udp" "$udp_gso" "$(awk -v a="$dl" -v b="$udp" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
	"$hash_mbs" "$cpu_s" "$get_cpu" "$src_cpu" "$per_cpu" "${rej:-0}" "$retx" "$ints" "$ncpu" "$load"

#!/usr/bin/env bash
# The main job as it exists now: a small CDN on this one machine.
#  A. A content source hashes a generated file (the swarm ID) and two seeders serve it; the
#     Content Sharing Client (CSC) downloads from both at once over PPSPP (RFC 7574), verified.
#  B. Four pcdn-node peers form a RELOAD overlay (RFC 6940, CHORD-RELOAD, architecture 2: every
#     node tracker and storer); one stores "swarm X is served by cacher A:P" (content-location
#     Kind), another fetches it: that record is the CSCs' peer list.
#  C. In network namespaces: pcdn-source upstream, pcdn-cacherd (DPDK, net_af_packet on a veth,
#     pull-through), two CSCs. CSC 1 fills the cache from the source; the source is stopped; CSC 2
#     is served from the cache alone. Both byte-identical; the cacher's counters are shown.
# Needs root (network namespaces, DPDK). Everything is removed on exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces and DPDK); run: sudo $0" >&2
	exit 1
fi
"$top/scripts/deps.sh"
build=$top/build-demo
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >/dev/null
fi
echo "demo: building (ninja -C build-demo)..."
# The checkout may be mid-edit by others (a half-saved file): a failed build is retried twice.
built=false
for attempt in 1 2 3; do
	if ninja -C "$build" app/pcdn-source/pcdn-source app/pcdn-get/pcdn-get \
		app/pcdn-node/pcdn-node app/pcdn-cacherd/pcdn-cacherd app/pcdn-ctl/pcdn-ctl \
		>"$build/demo-build.log" 2>&1; then
		built=true
		break
	fi
	[ "$attempt" -lt 3 ] && echo "demo: the build failed (attempt $attempt), retrying in 5 s..." && sleep 5
done
if ! $built; then
	grep -E 'error|FAILED' "$build/demo-build.log" | head -10 >&2 || true
	echo "demo: FAILED: the build failed (log: $build/demo-build.log)" >&2
	exit 1
fi

src=$build/app/pcdn-source/pcdn-source
get=$build/app/pcdn-get/pcdn-get
node=$build/app/pcdn-node/pcdn-node
cacherd=$build/app/pcdn-cacherd/pcdn-cacherd
pctl=$build/app/pcdn-ctl/pcdn-ctl
txcsum_off=$top/tests/integration/cacherd/txcsum_off.py

id=$$
nsc=pcdn-demo-c-$id # CSCs
nsd=pcdn-demo-d-$id # the cacher
nsu=pcdn-demo-u-$id # the source (upstream)
vc=dmc$id
vd=dmd$id
vk=dmk$id
vu=dmu$id
prefix=pcdn_demo_$id
tmp=$(mktemp -d /tmp/pcdn-demo.XXXXXX)
pids=()
netns_made=false

cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if $netns_made; then
		ip netns del "$nsc" 2>/dev/null || true
		ip netns del "$nsd" 2>/dev/null || true
		ip netns del "$nsu" 2>/dev/null || true
	fi
	if [ -n "${KEEP:-}" ]; then
		echo "demo: kept $tmp (KEEP is set)" >&2
	else
		rm -rf "$tmp"
	fi
	rm -rf "/var/run/dpdk/$prefix"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo
	echo "demo: FAILED: $*" >&2
	exit 1
}
# fail with the tail of a log
fail_log() {
	local log=$1
	shift
	echo "--- $log" >&2
	tail -20 "$tmp/$log" >&2 2>/dev/null || true
	fail "$@"
}
counter() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/stats" 2>/dev/null || true; }
# waits (bounded) until the cacher's counter $1 reaches $2 (its stats file is rewritten every
# 100 ms)
wait_counter() {
	local v=
	for _ in $(seq 1 200); do
		v=$(counter "$1")
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		kill -0 "$cpid" 2>/dev/null || fail_log cacherd.err "pcdn-cacherd died"
		sleep 0.1
	done
	fail_log cacherd.err "the cacher's $1 is ${v:-missing}, expected >= $2"
}
fresh_stats() {
	local before
	before=$(counter uptime_ms)
	for _ in $(seq 1 100); do
		[ "$(counter uptime_ms)" != "$before" ] && return 0
		sleep 0.05
	done
	fail_log cacherd.err "the cacher's stats file is not rewritten"
}
get_summary() { sed -n 's/^pcdn-get: /      /p' "$1"; }

# ---------------------------------------------------------------------------------------------
echo
echo "== A. A swarm, two seeders, one verified download =="
size=$((4 * 1024 * 1024 + 517))
head -c "$size" /dev/urandom >"$tmp/content.bin"
chunks=$(((size + 1023) / 1024))
swarm=$("$src" hash "$tmp/content.bin" --chunk-size 1024) || fail "pcdn-source hash"
echo "A1. A 4 MiB file of random bytes (plus an odd 517-byte tail) was generated: $chunks chunks"
echo "    of 1 KiB. pcdn-source hashed it into a Merkle tree (SHA-1); its root hash is the swarm"
echo "    ID, the only thing a downloader must trust:"
echo "      $swarm"
"$src" serve "$tmp/content.bin" --chunk-size 1024 --listen 127.0.0.1:47801 2>"$tmp/seeder1.log" &
pids+=($!)
s1=$!
"$src" serve "$tmp/content.bin" --chunk-size 1024 --listen "[::1]:47802" 2>"$tmp/seeder2.log" &
pids+=($!)
s2=$!
for _ in $(seq 1 200); do
	grep -q serving "$tmp/seeder1.log" && grep -q serving "$tmp/seeder2.log" && break
	sleep 0.05
done
grep -q serving "$tmp/seeder1.log" || fail_log seeder1.log "seeder 1 did not start"
grep -q serving "$tmp/seeder2.log" || fail_log seeder2.log "seeder 2 did not start"
echo "A2. Two seeders serve it: 127.0.0.1:47801 (IPv4) and [::1]:47802 (IPv6). pcdn-get downloads"
echo "    from both at once, checking every chunk against the root hash:"
"$get" --peer 127.0.0.1:47801 --peer "[::1]:47802" --swarm "$swarm" --chunk-size 1024 \
	-o "$tmp/download0.bin" --timeout 20 2>"$tmp/get0.log" || fail_log get0.log "download A"
get_summary "$tmp/get0.log"
cmp -s "$tmp/content.bin" "$tmp/download0.bin" || fail "download A differs from the original"
kill -TERM "$s1" "$s2"
wait "$s1" || true
wait "$s2" || true
pids=()
ctr() { awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }' "$1"; }
echo "    Byte-identical to the original. What the seeders saw:"
for s in 1 2; do
	echo "      seeder $s: $(ctr "$tmp/seeder$s.log" msgs_in.request) REQUESTs in," \
		"$(ctr "$tmp/seeder$s.log" msgs_out.data) DATA out," \
		"$(ctr "$tmp/seeder$s.log" msgs_in.ack) ACKs in," \
		"$(ctr "$tmp/seeder$s.log" malformed_total) malformed datagrams"
done

# ---------------------------------------------------------------------------------------------
echo
echo "== B. The RELOAD overlay: who serves this swarm? =="
cacher_ep=10.78.0.2:6778
echo "B1. 4 pcdn-node peers start on loopback and form a CHORD-RELOAD overlay (architecture 2:"
echo "    every node is tracker and storer):"
python3 "$top/scripts/demo/overlay.py" "$node" "$tmp/overlay" "$swarm" "$cacher_ep" \
	"$tmp/peers" 4 &
opid=$!
pids+=("$opid")
wait "$opid" || { tail -5 "$tmp"/overlay/n*.log 2>/dev/null >&2 || true; fail "overlay step"; }
pids=()
mapfile -t peers <"$tmp/peers"
[ "${#peers[@]}" -ge 1 ] || fail "no peer fetched from the overlay"
echo "B2. The overlay nodes were stopped. The CSCs' peer list is the fetched record:"
peer_args=()
for p in "${peers[@]}"; do
	echo "      $p"
	peer_args+=(--peer "$p")
done

# ---------------------------------------------------------------------------------------------
echo
echo "== C. Source, DPDK cacher and CSCs in network namespaces =="
netns_made=true
# shellcheck source=../tests/integration/cacherd/topology.sh
. "$top/tests/integration/cacherd/topology.sh"
cacherd_topology_up "$nsd" "$nsc" "$nsu" "$vc" "$vd" "$vk" "$vu"
echo "C1. Three network namespaces, joined by veth pairs:"
echo "      $nsu  the source, 10.79.0.2"
echo "      $nsd  the cacher: DPDK port 10.78.0.2; kernel 10.79.0.1 to the source"
echo "      $nsc  the CSCs, 10.78.0.1"

ip netns exec "$nsu" "$src" serve "$tmp/content.bin" --listen 10.79.0.2:7000 --chunk-size 1024 \
	2>"$tmp/src.log" &
spid=$!
pids+=("$spid")
for _ in $(seq 1 200); do
	grep -q serving "$tmp/src.log" && break
	sleep 0.05
done
grep -q serving "$tmp/src.log" || fail_log src.log "the source did not start"
echo "C2. pcdn-source serves the file upstream at 10.79.0.2:7000."

cat >"$tmp/cacherd.conf" <<CONF
log_level = "notice";
ppspp_port = 6778;
workers = [ 1 ];
control_socket = "$tmp/ctl.sock";
mempool = { mbufs = 4095; cache = 32; ext_mbufs = 4095; };
upstreams = [ "10.79.0.2:7000" ];
cache = { classes = ( { slot_size = 1024; slots = 8192; } ); max_swarms = 16; meta_mb = 1;
          hugepages = false; };
serve = { max_swarms = 8; max_channels = 64; max_peers = 0; };
fill = { max_outstanding = 256; timeout_ms = 5000; background = false; readahead = 64; };
ports = (
  {
    device = "net_af_packet_demo$id,iface=$vd";
    mtu = 1500;
    rx_desc = 512;
    tx_desc = 512;
    addresses = [ "10.78.0.2/24" ];
  }
);
CONF
ip netns exec "$nsd" "$cacherd" -l 0-1 --no-huge -m 512 --no-pci --file-prefix="$prefix" -- \
	-c "$tmp/cacherd.conf" --stats-file "$tmp/stats" --stats-interval-ms 100 \
	>"$tmp/cacherd.out" 2>"$tmp/cacherd.err" &
cpid=$!
pids+=("$cpid")
wait_counter uptime_ms 0
for _ in $(seq 1 100); do
	[ -S "$tmp/ctl.sock" ] && break
	sleep 0.05
done
[ -S "$tmp/ctl.sock" ] || fail_log cacherd.err "no control socket $tmp/ctl.sock"
# The CSCs' veth: a veth leaves UDP checksums to "hardware" and net_af_packet passes such frames
# on unfinished, so the kernel side must compute them itself (TX checksum offload off).
ip netns exec "$nsc" ip link set lo up
ip netns exec "$nsc" python3 "$txcsum_off" "$vc"
ip -n "$nsc" addr add 10.78.0.1/24 dev "$vc"
ip -n "$nsc" link set "$vc" up
echo "C3. pcdn-cacherd runs: one DPDK worker (--no-huge, --no-pci, net_af_packet on the veth),"
echo "    PPSPP on $cacher_ep, pull-through from upstream 10.79.0.2:7000, read-ahead of 64 chunks"
echo "    per miss, an empty cache of 8192 slots of 1 KiB."

echo "C4. CSC 1 (pcdn-get in the CSCs' namespace, peers from the overlay record) downloads"
echo "    through the cacher; the cacher misses and fills its cache from the source:"
ip netns exec "$nsc" "$get" "${peer_args[@]}" --swarm "$swarm" --chunk-size 1024 \
	-o "$tmp/download1.bin" --timeout 30 2>"$tmp/get1.log" || fail_log get1.log "download by CSC 1"
get_summary "$tmp/get1.log"
cmp -s "$tmp/content.bin" "$tmp/download1.bin" || fail "CSC 1's download differs from the original"
echo "    Byte-identical to the original."
wait_counter serve.chunks_served "$chunks"
fresh_stats
served1=$(counter serve.chunks_served)
hits1=$(counter serve.hits)
misses1=$(counter serve.misses)
filled1=$(counter fill.done)
verified1=$(counter fill.chunks_verified)
echo "    The cacher: $served1 chunks served; $misses1 misses (requests that found the chunk not"
echo "    cached yet), $hits1 hits; $filled1 upstream fetches done (fill.done) brought"
echo "    $verified1 chunks, each verified against the swarm ID (read-ahead fetches the next 64)."

kill -TERM "$spid"
wait "$spid" 2>/dev/null || true
pids=("$cpid")
echo "C5. The source is stopped. CSC 2 downloads the same swarm through the cacher:"
ip netns exec "$nsc" "$get" "${peer_args[@]}" --swarm "$swarm" --chunk-size 1024 \
	-o "$tmp/download2.bin" --timeout 30 2>"$tmp/get2.log" || fail_log get2.log "download by CSC 2"
get_summary "$tmp/get2.log"
cmp -s "$tmp/content.bin" "$tmp/download2.bin" || fail "CSC 2's download differs from the original"
wait_counter serve.chunks_served $((served1 + chunks))
fresh_stats
served2=$(($(counter serve.chunks_served) - served1))
hits2=$(($(counter serve.hits) - hits1))
misses2=$(($(counter serve.misses) - misses1))
filled2=$(($(counter fill.done) - filled1))
[ "$misses2" -eq 0 ] || fail "CSC 2 caused $misses2 cache misses"
[ "$filled2" -eq 0 ] || fail "CSC 2 caused $filled2 upstream fetches"
echo "    Byte-identical, and served wholly from the cache: $served2 chunks served, $hits2 hits,"
echo "    0 misses, 0 upstream fetches."

echo "C6. The operator's view (pcdn-ctl -s <control socket>):"
"$pctl" -s "$tmp/ctl.sock" show stats >"$tmp/ctl.stats" 2>&1 || fail_log ctl.stats "pcdn-ctl show stats"
"$pctl" -s "$tmp/ctl.sock" show swarms >"$tmp/ctl.swarms" 2>&1 || fail_log ctl.swarms "pcdn-ctl show swarms"
# A counter of pcdn-ctl's "show stats" text (NAME VALUE lines).
sc() { awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$tmp/ctl.stats"; }
# show stats has no serve.chunks_served (only the --stats-file report does): chunks served =
# DATA chunks sent less retransmissions, as the daemon's own report computes it.
echo "    show stats: serve.misses $(sc serve.misses), serve.hits $(sc serve.hits), chunks served" \
	"$(($(sc ppspp.chunks_sent) - $(sc ppspp.retransmits))) (ppspp.chunks_sent - retransmits),"
echo "      fill.started $(sc fill.started), fill.done $(sc fill.done), fill.failed $(sc fill.failed)," \
	"cache.chunks $(sc cache.chunks), cache.bytes $(sc cache.bytes),"
echo "      net.udp_out_extbuf $(sc net.udp_out_extbuf) (DATA sent zero-copy from cache slots)," \
	"net.udp_out_inplace $(sc net.udp_out_inplace) (of them, headers written in the slot's" \
	"headroom: one segment each)"
echo "    show swarms:"
sed 's/^/      /' "$tmp/ctl.swarms"

kill -TERM "$cpid"
rc=0
wait "$cpid" || rc=$?
pids=()
[ "$rc" -eq 0 ] || fail_log cacherd.err "pcdn-cacherd exited with status $rc on SIGTERM"
echo "C7. pcdn-cacherd stopped cleanly; namespaces, processes and /var/run/dpdk/$prefix are removed."
echo
echo "demo: OK"

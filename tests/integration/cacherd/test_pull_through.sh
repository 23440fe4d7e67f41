#!/usr/bin/env bash
# Suite cacherd: PPSPP served by pcdn-cacherd, pull-through. Three network namespaces:
#   client (pcdn-get, kernel UDP) --veth-- daemon (pcdn-cacherd on net_af_packet, data address
#   10.78.0.2) ; daemon's kernel --veth-- upstream (pcdn-source serve on 10.79.0.2:7000).
# The daemon's control thread reaches the source through its namespace's kernel stack (the
# veth and its connected route). The first download makes the cacher fetch the swarm (peak
# hashes, then every chunk a client misses) from the source; the source is then stopped and a
# second download is served from the cache alone. Both are byte-identical to the file, and the
# counters agree: misses on the first, none on the second, chunks served = chunk count each time.
# In background mode the second download runs over IPv6 (ND to the DPDK port).
# Modes: misses (only what clients ask is fetched: every chunk after the first is a miss),
# readahead (each miss also fetches the next 64 chunks), background (the whole swarm is fetched
# once the first handshake named it), choke (a budget
# of one peer per worker: a client is choked (§3.9) while another peer is up, unchoked when
# it closes; and SIGTERM closes a connected peer's channel (§8.4)).
# collapse: two peers miss the same chunk while the source is frozen: one upstream fetch, both
# served when it arrives; a third peer's miss beyond fill.max_outstanding = 1 is refused at
# once (fill.busy), and a fetch the frozen source never answers times out (fill.timeouts).
# usage: test_pull_through.sh PCDN_CACHERD PCDN_SOURCE PCDN_GET
#        [misses|readahead|background|choke|collapse]
set -euo pipefail
exe=$1
src=$2
get=$3
mode=${4:-misses}
background=false
max_peers=0
readahead=0
max_outstanding=256
fill_timeout=5000
case "$mode" in
misses) ;;
readahead) readahead=64 ;;
collapse)
	max_outstanding=1
	fill_timeout=3000
	;;
background) background=true ;;
choke)
	background=true
	max_peers=1
	;;
*)
	echo "unknown mode '$mode'"
	exit 1
	;;
esac
here=$(cd "$(dirname "$0")" && pwd)
id=$$
nsc=pcdn-ptc-$id
nsd=pcdn-ptd-$id
nsu=pcdn-ptu-$id
vc=ptc$id
vd=ptd$id
vu=ptu$id
vk=ptk$id
prefix=pcdn_it_pt_$id
tmp=$(mktemp -d)
pid=
spid=
bpid=
ppid=
p2pid=
p3pid=

cleanup() {
	for p in $pid $spid $bpid $ppid $p2pid $p3pid; do
		kill -CONT "$p" 2>/dev/null || true
		if kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	ip netns del "$nsc" 2>/dev/null || true
	ip netns del "$nsd" 2>/dev/null || true
	ip netns del "$nsu" 2>/dev/null || true
	rm -rf "$tmp" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- daemon stderr"
	cat "$tmp/err" 2>/dev/null || true
	echo "--- source stderr"
	tail -20 "$tmp/src.log" 2>/dev/null || true
	echo "--- last stats"
	grep -v ' 0$' "$tmp/stats" 2>/dev/null | grep -v '^worker' || true
	exit 1
}

counter() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/stats" 2>/dev/null || true; }

# Waits (bounded) until counter $1 reaches at least $2; the daemon rewrites the file every 100 ms.
expect_ge() {
	local v=
	for _ in $(seq 1 300); do
		v=$(counter "$1")
		if [ -n "$v" ] && [ "$v" -ge "$2" ]; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "daemon died"
		sleep 0.1
	done
	fail "counter $1 = ${v:-missing}, expected >= $2"
}

# The stats file is rewritten as a whole: wait for one written after now.
fresh_stats() {
	local before
	before=$(counter uptime_ms)
	for _ in $(seq 1 100); do
		[ "$(counter uptime_ms)" != "$before" ] && return 0
		sleep 0.05
	done
	fail "stats file not rewritten"
}

# shellcheck source=topology.sh
. "$here/topology.sh"
cacherd_topology_up "$nsd" "$nsc" "$nsu" "$vc" "$vd" "$vk" "$vu"

# 3 MiB and an odd tail: 3073 chunks of 1 KiB, the last one short.
head -c $((3 * 1024 * 1024 + 517)) /dev/urandom >"$tmp/file"
chunks=3073
swarm=$("$src" hash "$tmp/file" --chunk-size 1024)
ip netns exec "$nsu" "$src" serve "$tmp/file" --listen 10.79.0.2:7000 --chunk-size 1024 \
	2>"$tmp/src.log" &
spid=$!

cat >"$tmp/cacherd.conf" <<CONF
log_level = "notice";
ppspp_port = 6778;
workers = [ 1 ];
control_socket = "$tmp/ctl.sock";
mempool = { mbufs = 4095; cache = 32; ext_mbufs = 4095; };
upstreams = [ "10.79.0.2:7000" ];
cache = { classes = ( { slot_size = 1024; slots = 8192; } ); max_swarms = 16; meta_mb = 1;
          hugepages = false; };
serve = { max_swarms = 8; max_channels = 64; max_peers = $max_peers; };
fill = { max_outstanding = $max_outstanding; timeout_ms = $fill_timeout; background = $background;
         readahead = $readahead; };
ports = (
  {
    device = "net_af_packet_pt$id,iface=$vd";
    mtu = 1500;
    rx_desc = 512;
    tx_desc = 512;
    addresses = [ "10.78.0.2/24", "fd78::2/64" ];
  }
);
CONF

ip netns exec "$nsd" "$exe" -l 0-1 --no-huge -m 512 --no-pci --file-prefix="$prefix" -- \
	-c "$tmp/cacherd.conf" --stats-file "$tmp/stats" --stats-interval-ms 100 \
	>"$tmp/out" 2>"$tmp/err" &
pid=$!
expect_ge uptime_ms 0
ip netns exec "$nsc" ip link set lo up
ip netns exec "$nsc" python3 "$here/txcsum_off.py" "$vc"
ip -n "$nsc" addr add 10.78.0.1/24 dev "$vc"
ip -n "$nsc" -6 addr add fd78::1/64 dev "$vc" nodad
ip -n "$nsc" link set "$vc" up

shutdown_check() {
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	pid=
	[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
	grep -q "^serve.chunks_served ${1:-[0-9]*}\$" "$tmp/out" || fail "exit report lacks the counters"
	grep -q 'stopped' "$tmp/err" || fail "no 'stopped' log line"
}

if [ "$mode" = choke ]; then
	# P (ppspp_peer.py) opens a channel and keeps it without requesting: the budget of one
	# peer is used, so client B is choked; P closes, B is unchoked and completes.
	mkfifo "$tmp/p.ctl"
	ip netns exec "$nsc" python3 "$here/ppspp_peer.py" 10.78.0.2 6778 "$swarm" \
		<"$tmp/p.ctl" >"$tmp/p.out" &
	ppid=$!
	exec 7>"$tmp/p.ctl"
	for _ in $(seq 1 100); do
		grep -q . "$tmp/p.out" && break
		sleep 0.1
	done
	grep -qx up "$tmp/p.out" || fail "peer P: $(cat "$tmp/p.out")"
	ip netns exec "$nsc" "$get" --peer 10.78.0.2:6778 --swarm "$swarm" --chunk-size 1024 \
		-o "$tmp/outb" --timeout 60 2>"$tmp/getb.log" &
	bpid=$!
	expect_ge serve.chokes 1
	echo "ok: client B choked while peer P is up"
	echo close >&7
	exec 7>&-
	wait "$ppid" || fail "peer P"
	ppid=
	expect_ge serve.unchokes 1
	wait "$bpid" || { cat "$tmp/getb.log"; fail "download B"; }
	bpid=
	cmp "$tmp/file" "$tmp/outb" || fail "download B differs"
	echo "ok: P closed, B unchoked and complete, identical"
	[ "$(counter serve.chokes)" -eq 1 ] || fail "chokes $(counter serve.chokes), expected 1"
	# Shutdown with a peer connected: the daemon closes its channel (§8.4).
	mkfifo "$tmp/q.ctl"
	ip netns exec "$nsc" python3 "$here/ppspp_peer.py" 10.78.0.2 6778 "$swarm" \
		<"$tmp/q.ctl" >"$tmp/q.out" &
	ppid=$!
	exec 7>"$tmp/q.ctl"
	for _ in $(seq 1 100); do
		grep -q . "$tmp/q.out" && break
		sleep 0.1
	done
	grep -qx up "$tmp/q.out" || fail "peer Q: $(cat "$tmp/q.out")"
	shutdown_check
	wait "$ppid" || fail "peer Q"
	ppid=
	exec 7>&-
	grep -qx closed "$tmp/q.out" || fail "peer Q was not closed: $(cat "$tmp/q.out")"
	echo "ok: shutdown closed the connected peer's channel"
	echo "PASS"
	exit 0
fi

# waits for line $2 in file $1 (a scripted peer's output)
expect_line() {
	for _ in $(seq 1 200); do
		grep -qx "$2" "$1" && return 0
		sleep 0.05
	done
	fail "expected '$2' in $1: $(cat "$1")"
}

if [ "$mode" = collapse ]; then
	mkfifo "$tmp/p1.ctl" "$tmp/p2.ctl" "$tmp/p3.ctl"
	ip netns exec "$nsc" python3 "$here/ppspp_peer.py" 10.78.0.2 6778 "$swarm" \
		<"$tmp/p1.ctl" >"$tmp/p1.out" &
	ppid=$!
	exec 7>"$tmp/p1.ctl"
	expect_line "$tmp/p1.out" up
	ip netns exec "$nsc" python3 "$here/ppspp_peer.py" 10.78.0.2 6778 "$swarm" \
		<"$tmp/p2.ctl" >"$tmp/p2.out" &
	p2pid=$!
	exec 8>"$tmp/p2.ctl"
	expect_line "$tmp/p2.out" up
	ip netns exec "$nsc" python3 "$here/ppspp_peer.py" 10.78.0.2 6778 "$swarm" \
		<"$tmp/p3.ctl" >"$tmp/p3.out" &
	p3pid=$!
	exec 9>"$tmp/p3.ctl"
	expect_line "$tmp/p3.out" up
	# the source is frozen: a fetch cannot end while the second miss arrives
	kill -STOP "$spid"
	echo "request 7" >&7
	expect_ge fill.started 1
	echo "request 7" >&8
	expect_ge fill.collapsed 1
	[ "$(counter fill.started)" -eq 1 ] || fail "fill.started $(counter fill.started)"
	[ "$(counter serve.misses)" -eq 2 ] || fail "serve.misses $(counter serve.misses)"
	# a different chunk while the one allowed fetch is out: refused at once
	echo "request 8" >&9
	expect_ge fill.busy 1
	expect_ge serve.fills_failed 1
	[ "$(counter fill.started)" -eq 1 ] || fail "fill.started $(counter fill.started)"
	kill -CONT "$spid"
	want="data 7 1024 $(head -c $((8 * 1024)) "$tmp/file" | tail -c 1024 | md5sum | cut -d' ' -f1)"
	expect_line "$tmp/p1.out" "$want"
	expect_line "$tmp/p2.out" "$want"
	expect_ge fill.done 1
	[ "$(counter fill.started)" -eq 1 ] || fail "fill.started $(counter fill.started)"
	echo "ok: two misses of chunk 7, one upstream fetch, both peers served the right bytes"
	echo "ok: a third miss beyond fill.max_outstanding refused at once (fill.busy)"
	# a fetch the (frozen) source never answers ends at fill.timeout_ms
	kill -STOP "$spid"
	echo "request 9" >&9
	expect_ge fill.timeouts 1
	expect_ge serve.fills_failed 2
	kill -CONT "$spid"
	echo "ok: a fetch with no answer timed out, its waiter was told"
	echo close >&7
	echo close >&8
	echo close >&9
	exec 7>&- 8>&- 9>&-
	wait "$ppid" || fail "peer 1"
	wait "$p2pid" || fail "peer 2"
	wait "$p3pid" || fail "peer 3"
	ppid=
	p2pid=
	p3pid=
	shutdown_check
	echo "PASS"
	exit 0
fi

# 1: the cache fills from the source.
ip netns exec "$nsc" "$get" --peer 10.78.0.2:6778 --swarm "$swarm" --chunk-size 1024 \
	-o "$tmp/out1" --timeout 20 2>"$tmp/get1.log" || { cat "$tmp/get1.log"; fail "download 1"; }
cmp "$tmp/file" "$tmp/out1" || fail "download 1 differs"
echo "ok: download 1 identical ($(tail -1 "$tmp/get1.log"))"
expect_ge serve.chunks_served $chunks
fresh_stats
served1=$(counter serve.chunks_served)
hits1=$(counter serve.hits)
misses1=$(counter serve.misses)
started1=$(counter fill.started)
[ "$served1" -eq $chunks ] || fail "download 1: chunks served $served1, expected $chunks"
[ "$hits1" -ge $chunks ] || fail "download 1: hits $hits1 < $chunks"
[ "$(counter fill.failed)" -eq 0 ] || fail "download 1: failed fetches"
[ "$(counter fill.insert_errors)" -eq 0 ] || fail "download 1: cache insert errors"
[ "$(counter cache.chunks)" -eq $chunks ] || fail "cache holds $(counter cache.chunks) chunks"
# zero copy: every DATA datagram's payload was an external buffer on a cache slot
[ "$(counter net.udp_out_extbuf)" -ge "$served1" ] || fail "DATA without external buffers"
# cache.slot_headroom (256 by default): a DATA whose headers fit in front of its chunk leaves
# in place, as the slot's frame view alone; only those with a long uncle path are chained
inplace1=$(counter net.udp_out_inplace)
[ "$inplace1" -ge $((served1 / 2)) ] || fail "download 1: $inplace1 of $served1 DATA sent in place"
[ "$(counter serve.unknown_swarms)" -ge 1 ] || fail "no unknown-swarm report"
if [ "$mode" = misses ]; then
	# only the first chunk (it brought the peak hashes) came without a miss: one upstream
	# fetch per miss
	[ "$misses1" -ge $((chunks - 1)) ] || fail "download 1: misses $misses1 < $((chunks - 1))"
	[ "$started1" -eq "$(counter fill.done)" ] || fail "download 1: fetches not all done"
	[ "$started1" -ge $((chunks - 1)) ] || fail "download 1: $started1 upstream fetches"
elif [ "$mode" = readahead ]; then
	# chunk 1 is always a miss; what its read-ahead brought in is not
	[ "$misses1" -ge 1 ] || fail "download 1: no miss"
	[ "$(counter fill.readahead)" -ge 1 ] || fail "download 1: no read-ahead"
	[ "$(counter fill.chunks_verified)" -eq $chunks ] || fail "upstream verified != chunks"
else
	# the whole swarm came from upstream, on-demand misses (if any) first
	[ "$(counter fill.chunks_verified)" -eq $chunks ] || fail "background fill incomplete"
fi
echo "ok: download 1 counters: served $served1, hits $hits1, misses $misses1, fetches $started1"

# 2: the source is gone; everything comes from the cache (over IPv6 in background mode).
kill -TERM "$spid"
wait "$spid" 2>/dev/null || true
spid=
peer2=10.78.0.2:6778
[ "$mode" = background ] && peer2="[fd78::2]:6778"
ip netns exec "$nsc" "$get" --peer "$peer2" --swarm "$swarm" --chunk-size 1024 \
	-o "$tmp/out2" --timeout 20 2>"$tmp/get2.log" || { cat "$tmp/get2.log"; fail "download 2"; }
cmp "$tmp/file" "$tmp/out2" || fail "download 2 differs"
echo "ok: download 2 from $peer2 identical ($(tail -1 "$tmp/get2.log"))"
expect_ge serve.chunks_served $((served1 + chunks))
fresh_stats
served2=$(($(counter serve.chunks_served) - served1))
hits2=$(($(counter serve.hits) - hits1))
misses2=$(($(counter serve.misses) - misses1))
started2=$(($(counter fill.started) - started1))
[ "$served2" -eq $chunks ] || fail "download 2: chunks served $served2, expected $chunks"
inplace2=$(($(counter net.udp_out_inplace) - inplace1))
[ "$inplace2" -ge $((served2 / 2)) ] || fail "download 2: $inplace2 of $served2 DATA sent in place"
[ "$misses2" -eq 0 ] || fail "download 2: $misses2 misses"
[ "$started2" -eq 0 ] || fail "download 2: $started2 upstream fetches"
[ "$hits2" -ge $chunks ] || fail "download 2: hits $hits2 < $chunks"
echo "ok: download 2 counters: served $served2, hits $hits2, misses 0, fetches 0"

# Clean shutdown: channels closed, exit 0, counters on stdout.
shutdown_check $((served1 + chunks))
echo "PASS"

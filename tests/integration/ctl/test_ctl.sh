#!/usr/bin/env bash
# Suite ctl: the operator surface of a running pcdn-cacherd (issue 6). The daemon runs in a
# network namespace of its own on net_af_packet over a veth whose other end is a client
# namespace; its upstream (pcdn-source serve) listens on the daemon namespace's loopback.
# Every pcdn-ctl command is run and its output checked; counters move with traffic (ping,
# garbage, a PPSPP download through the cacher); telemetry and Prometheus (pcdn-ctl and HTTP)
# agree; permissions (root, a read-only group, anyone else); garbage, overlong lines and
# half-closed connections; 100 concurrent clients while traffic flows; reload with live keys,
# restart-only keys and a broken file (file:line, old configuration still active).
# usage: test_ctl.sh PCDN_CACHERD PCDN_CTL PCDN_SOURCE PCDN_GET
# No pipefail: `pcdn-ctl ... | grep -q` ends pcdn-ctl with SIGPIPE when grep stops reading early.
set -eu
exe=$1
ctl_exe=$2
src_exe=$3
get_exe=$4
here=$(cd "$(dirname "$0")" && pwd)
helpers=$here/../cacherd
id=$$
nsc=pcdn-ctc-$id
nsd=pcdn-ctd-$id
vc=pctc$id
vd=pctd$id
prefix=pcdn_it_ctl_$id
# The socket's directory must be reachable by 'nobody' (the permission tests).
tmp=$(mktemp -d /tmp/pcdn-ctl-it.XXXXXX)
chmod 0755 "$tmp"
sock=$tmp/ctl.sock
conf=$tmp/cacherd.conf
metrics_port=$((20000 + id % 12000)) # below the ephemeral port range
pid=
src_pid=
ping_pid=
get_pid=

cleanup() {
	[ -n "$get_pid" ] && touch "$tmp/stop" && kill "$get_pid" 2>/dev/null
	for p in $pid $src_pid $ping_pid; do
		if kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	ip netns del "$nsc" 2>/dev/null || true
	ip netns del "$nsd" 2>/dev/null || true
	rm -rf "$tmp" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- daemon stderr"
	tail -50 "$tmp/err" 2>/dev/null || true
	cp "$tmp/err" /tmp/pcdn-ctl-it-last.err 2>/dev/null || true
	echo "--- non-zero counters"
	"$ctl_exe" -s "$sock" show stats 2>/dev/null | grep -v ' 0$' || true
	exit 1
}

in_c() { ip netns exec "$nsc" "$@"; }
in_d() { ip netns exec "$nsd" "$@"; }
ctl() { "$ctl_exe" -s "$sock" "$@"; }
# A counter from `show stats` (summed over workers).
ctr() { ctl show stats | awk -v k="$1" '$1 == k { print $2 }'; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# Waits (bounded) until `show stats` counter $1 reaches at least $2.
expect_stat_ge() {
	local v=
	for _ in $(seq 1 300); do
		v=$(ctr "$1")
		if [ -n "$v" ] && [ "$v" -ge "$2" ]; then
			echo "ok: $1 = $v (>= $2)"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "daemon died"
		sleep 0.1
	done
	fail "counter $1 = ${v:-missing}, expected >= $2"
}

write_conf() { # LOG_LEVEL PPSPP_PORT READONLY_GROUP METRICS [LOG_TARGET [STATS_INTERVAL_MS]]
	cat >"$conf" <<CONF
log_level = "$1";
ppspp_port = $2;
workers = [ 1 ];
control_socket = "$sock";
control_readonly_group = "$3";
log_target = "${5:-stderr}";
metrics_listen = "$4";
stats_interval_ms = ${6:-0};
mempool = { mbufs = 2047; cache = 32; ext_mbufs = 1023; };
upstreams = [ "127.0.0.1:7931" ];
cache = { classes = ( { slot_size = 1024; slots = 4096; } ); max_swarms = 16; meta_mb = 4; };
serve = { max_swarms = 8; max_channels = 256; };
fill = { timeout_ms = 3000; swarm_timeout_ms = 3000; background = false; };
ports = (
  {
    device = "net_af_packet_ctl$id,iface=$vd";
    mtu = 1500;
    rx_desc = 256;
    tx_desc = 256;
    addresses = [ "10.78.0.2/24", "fd78::2/64" ];
  }
);
CONF
}

ip netns add "$nsd"
ip netns add "$nsc"
ip link add "$vc" type veth peer name "$vd"
ip link set "$vc" netns "$nsc"
ip link set "$vd" netns "$nsd"
in_d sysctl -qw "net.ipv6.conf.$vd.disable_ipv6=1"
in_d ip link set "$vd" up
in_d ip link set lo up
mac=$(in_d ip -o link show "$vd" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')

# The upstream: a seeder on the daemon namespace's loopback.
head -c 300000 /dev/urandom >"$tmp/content"
swarm=$("$src_exe" hash "$tmp/content")
# Started with ip netns exec itself (not a shell function): $! is then the program's own pid.
ip netns exec "$nsd" "$src_exe" serve "$tmp/content" --listen 127.0.0.1:7931 2>"$tmp/src.log" &
src_pid=$!

write_conf notice 6778 nogroup "127.0.0.1:$metrics_port"
ip netns exec "$nsd" "$exe" -l 0-1 --no-huge -m 512 --no-pci --file-prefix="$prefix" -- -c "$conf" \
	--stats-file "$tmp/stats" --stats-interval-ms 100 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 300); do
	[ -S "$sock" ] && ctl show status >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || fail "daemon died at start"
	sleep 0.1
done
ctl show status >/dev/null || fail "no control socket"
echo "ok: control socket up"

in_c ip link set lo up
in_c python3 "$helpers/txcsum_off.py" "$vc"
in_c ip addr add 10.78.0.1/24 dev "$vc"
in_c ip -6 addr add fd78::1/64 dev "$vc" nodad
in_c ip link set "$vc" up

# ---- the socket itself: mode, owner, group ----------------------------------------------------
[ "$(stat -c '%a %U %G' "$sock")" = "660 root nogroup" ] ||
	fail "socket mode/owner: $(stat -c '%a %U %G' "$sock") (want 660 root nogroup)"
echo "ok: socket 0660 root:nogroup (read-only group configured)"

# ---- every show command, text and JSON --------------------------------------------------------
ctl help | grep -q "show stats" || fail "help"
ctl -j help | python3 -c 'import json,sys; c=json.load(sys.stdin)["commands"]; assert len(c) >= 22, c' ||
	fail "help -j"
ctl show status | grep -q "state        serving" || fail "show status"
ctl -j show status | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["workers"] == 1 and s["ports"] == 1 and s["draining"] is False, s
assert s["overlay"] == "not configured", s' || fail "show status -j"
ctl show ports | grep -q "addresses 10.78.0.2/24 fd78::2/64" || fail "show ports"
ctl show ports | grep -q "driver net_af_packet" || fail "show ports driver"
ctl -j show ports | python3 -c '
import json, sys
p = json.load(sys.stdin)["ports"][0]
assert p["mac"] == sys.argv[1] and "10.78.0.2/24" in p["addresses"], p' "$mac" || fail "show ports -j"
ctl show workers | awk 'NR == 2 && $1 == 0 && $2 == 1 { ok = 1 } END { exit !ok }' ||
	fail "show workers (worker 0 on lcore 1)"
ctl show queues | awk '$1 == 0 && $3 == 0 && $4 == 1 && $5 == 0 && $6 == 0 { ok = 1 } END { exit !ok }' ||
	fail "show queues (port 0 worker 0 lcore 1 rxq 0 txq 0)"
ctl -j show queues | python3 -c '
import json, sys
q = json.load(sys.stdin)
assert q["queues"][0]["rx_queue"] == 0 and q["rings"][0]["miss_ring_capacity"] > 0, q' ||
	fail "show queues -j"
ctl show cache | grep -q "class 0     4096 slots of 1024 bytes" || fail "show cache"
ctl show swarms | grep -q "^0 swarm(s)" || fail "show swarms (empty)"
ctl show channels | grep -q "^0 channel(s)" || fail "show channels (none)"
ctl show peers | grep -q "^0 peer(s)" || fail "show peers (none)"
ctl show upstreams | grep -q "127.0.0.1:7931" || fail "show upstreams"
ctl show overlay | grep -q "state   not configured" || fail "show overlay"
ctl -j show overlay | python3 -c 'import json,sys; assert json.load(sys.stdin)["state"] == "not configured"' ||
	fail "show overlay -j"
ctl show config | grep -q '"control_readonly_group": "nogroup"' || fail "show config"
ctl -j show config | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["ppspp_port"] == 6778 and c["log_level"] == "notice" and c["workers"] == [1], c' ||
	fail "show config -j"
if ctl show swarm 0123456789abcdef >/dev/null 2>"$tmp/e"; then fail "show swarm of an unknown ID"; fi
grep -q "no swarm" "$tmp/e" || fail "show swarm unknown: $(cat "$tmp/e")"
if ctl show nonsense 2>/dev/null; then fail "unknown command accepted"; fi
echo "ok: every show command answers (text and -j)"
# The interactive prompt on a terminal: completion from the daemon's commands, history.
mkdir -p "$tmp/home"
python3 "$here/ctl_pty.py" "$ctl_exe" "$sock" "$tmp/home" || fail "interactive pcdn-ctl"
echo "ok: interactive prompt (completion, history)"

# ---- counters move with traffic ---------------------------------------------------------------
in_c ping -c 3 -i 0.2 -W 5 10.78.0.2 >/dev/null || fail "ping"
expect_stat_ge net.icmp4_echo_reply_out 3
expect_stat_ge net.arp_reply_out 1
in_c python3 "$helpers/udp_send.py" 10.78.0.2 6778 20 || fail "udp_send.py"
expect_stat_ge ppspp.dgrams_in 20
expect_stat_ge ppspp.malformed_total 1
ctl show stats --per-worker | grep -q "^worker0.net.icmp4_echo_reply_out [3-9]" ||
	fail "show stats --per-worker"
ctl -j show stats --per-worker | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["stats"]["net.icmp4_echo_reply_out"] >= 3, s["stats"]
assert s["per_worker"][0]["stats"]["net.icmp4_echo_reply_out"] >= 3
assert len(s["latency_request_data"]["buckets"]) == 24' || fail "show stats -j"

# ---- a PPSPP download through the cacher (miss path to the upstream, then hits) ----------------
in_c "$get_exe" --peer 10.78.0.2:6778 --swarm "$swarm" -o "$tmp/got1" --timeout 60 \
	2>"$tmp/get1.log" || { cat "$tmp/get1.log"; fail "download through the cacher"; }
cmp "$tmp/content" "$tmp/got1" || fail "download differs"
chunks=$(((300000 + 1023) / 1024))
expect_stat_ge ppspp.chunks_sent "$chunks"
expect_stat_ge serve.misses 1
expect_stat_ge fill.done 1
expect_stat_ge latency.request_data.count 1
ctl show swarms | grep -q "^$swarm ready" || { ctl show swarms; fail "show swarms after download"; }
ctl show swarm "$swarm" | grep -q "^state            ready" || fail "show swarm ID"
ctl show swarm "${swarm:0:12}" | grep -q "^id               $swarm" || fail "show swarm by prefix"
cached=$(ctl -j show swarm "$swarm" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cached"])')
[ "$cached" -eq "$chunks" ] || fail "cached chunks $cached != $chunks"
echo "ok: download of $chunks chunks through the cacher; show stats/swarms reflect it"
# Every show command with -j gives one JSON object (jansson packs every field) now that a swarm,
# channels and fetches exist.
for cmd in status ports workers queues cache swarms "swarm $swarm" channels peers upstreams \
	overlay config "stats --per-worker"; do
	# shellcheck disable=SC2086
	ctl -j show $cmd | python3 -c 'import json,sys; assert isinstance(json.load(sys.stdin), dict)' ||
		fail "show $cmd -j"
done
ctl -j show cache | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["chunks"] == int(sys.argv[1]) and c["classes"][0]["slot_size"] == 1024, c' "$chunks" ||
	fail "show cache -j values"
ctl -j show upstreams | python3 -c '
import json, sys
u = json.load(sys.stdin)
assert u["upstreams"][0]["upstream"] == "127.0.0.1:7931" and u["fetches"]["done"] >= 1, u' ||
	fail "show upstreams -j values"
echo "ok: every show command in JSON"

# A second download is served from the cache: hits grow, no new upstream fetch needed.
fills=$(ctr fill.done)
in_c "$get_exe" --peer 10.78.0.2:6778 --swarm "$swarm" -o "$tmp/got2" --timeout 60 \
	2>"$tmp/get2.log" || { cat "$tmp/get2.log"; fail "second download"; }
cmp "$tmp/content" "$tmp/got2" || fail "second download differs"
expect_stat_ge serve.hits "$chunks"
[ "$(ctr fill.done)" -eq "$fills" ] || fail "the second download went upstream"
echo "ok: second download from the cache"

# One list of counters (stats.c): every name of the --stats-file report, summed and per worker,
# is in `show stats --per-worker` (and the other way round), and the JSON has the same names.
sleep 0.3 # a stats file written after the downloads (every 100 ms)
ctl show stats --per-worker >"$tmp/show"
python3 - "$tmp/stats" "$tmp/show" <<'PY' || fail "stats file and show stats list different counters"
import sys
def names(path, leave_out):
    return {l.split()[0] for l in open(path) if l.strip() and l.split()[0] not in leave_out}
f = names(sys.argv[1], {"uptime_ms", "workers", "ports"})
s = {n for n in names(sys.argv[2], {"workers"}) if ".latency." not in n and not n.startswith("latency.")}
for want in ("serve.chunks_served", "fill.readahead", "fill.chunks_verified",
             "fill.chunks_rejected", "fill.swarms", "fill.outstanding", "ppspp.unknown_swarm",
             "worker0.serve.chunks_served", "serve.peers_up", "cache.pinned_bytes"):
    assert want in f, "stats file lacks " + want
assert f - s == set(), "not in show stats: %s" % sorted(f - s)
assert s - f == set(), "not in the stats file: %s" % sorted(s - f)
PY
ctl -j show stats --per-worker | python3 -c '
import json, sys
s = json.load(sys.stdin)
f = {l.split()[0] for l in open(sys.argv[1]) if l.strip()} - {"uptime_ms", "workers", "ports"}
assert set(s["stats"]) == {n for n in f if not n.startswith("worker")}, set(s["stats"]) ^ f
assert set(s["per_worker"][0]["stats"]) == {n[8:] for n in f if n.startswith("worker0.")}
assert s["stats"]["serve.chunks_served"] >= 2 * int(sys.argv[2]), s["stats"]["serve.chunks_served"]
' "$tmp/stats" "$chunks" || fail "show stats -j lists other counters than the stats file"
[ "$(ctr fill.chunks_verified)" -ge 1 ] || fail "fill.chunks_verified: $(ctr fill.chunks_verified)"
echo "ok: show stats has every counter of the stats file"

# ---- Prometheus: pcdn-ctl and HTTP --------------------------------------------------------------
ctl show stats --prometheus >"$tmp/prom"
grep -q '^# TYPE pcdn_net_rx_packets_total counter$' "$tmp/prom" || fail "prometheus TYPE"
grep -q '^pcdn_net_drops_total{worker="0",reason="udp_port_closed"} ' "$tmp/prom" ||
	fail "prometheus drop labels"
grep -q '^pcdn_ppspp_msgs_in_total{worker="0",type="request"} [1-9]' "$tmp/prom" ||
	fail "prometheus request messages"
grep -q '^pcdn_serve_chunks_served_total{worker="0"} [1-9]' "$tmp/prom" ||
	fail "prometheus serve.chunks_served"
grep -q '^# TYPE pcdn_fill_outstanding gauge$' "$tmp/prom" || fail "prometheus fill.outstanding gauge"
grep -q '^pcdn_fill_chunks_verified_total [1-9]' "$tmp/prom" || fail "prometheus fill.chunks_verified"
grep -q '^# TYPE pcdn_request_data_latency_seconds histogram$' "$tmp/prom" ||
	fail "prometheus histogram type"
grep -q '^pcdn_request_data_latency_seconds_bucket{worker="0",le="+Inf"} [1-9]' "$tmp/prom" ||
	fail "prometheus histogram +Inf bucket"
# Buckets are cumulative and end at _count.
python3 - "$tmp/prom" <<'PY' || fail "prometheus histogram is not cumulative"
import re, sys
b = [int(l.split()[-1]) for l in open(sys.argv[1]) if l.startswith("pcdn_request_data_latency_seconds_bucket")]
c = [int(l.split()[-1]) for l in open(sys.argv[1]) if l.startswith("pcdn_request_data_latency_seconds_count")]
assert b == sorted(b) and b[-1] == c[0] and c[0] > 0, (b, c)
PY
in_d python3 - "$metrics_port" >"$tmp/http" <<'PY' || fail "GET /metrics"
import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10)
assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
sys.stdout.write(r.read().decode())
PY
grep -q '^pcdn_up 1$' "$tmp/http" || fail "HTTP exposition"
grep -q '^pcdn_cache_chunks [1-9]' "$tmp/http" || fail "HTTP exposition: cache_chunks"
in_d python3 - "$metrics_port" <<'PY' || fail "HTTP 404 for other paths"
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:%s/other" % sys.argv[1], timeout=10)
    sys.exit(1)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 404 else 1)
PY
echo "ok: Prometheus exposition (pcdn-ctl and http://127.0.0.1:$metrics_port/metrics)"

# ---- DPDK telemetry ----------------------------------------------------------------------------
tel="/var/run/dpdk/$prefix/dpdk_telemetry.v2"
tq() { python3 "$helpers/telemetry_query.py" "$tel" "$@"; }
[ "$(tq /pcdn/ppspp ppspp/chunks_sent)" -ge "$chunks" ] || fail "telemetry /pcdn/ppspp"
[ "$(tq /pcdn/ppspp,0 ppspp/chunks_sent)" -ge "$chunks" ] || fail "telemetry /pcdn/ppspp,0"
[ "$(tq /pcdn/cache cache/chunks)" -eq "$chunks" ] || fail "telemetry /pcdn/cache"
[ "$(tq /pcdn/serve serve/hits)" -ge "$chunks" ] || fail "telemetry /pcdn/serve"
[ "$(tq /pcdn/fill fill/done)" -ge 1 ] || fail "telemetry /pcdn/fill"
[ "$(tq /pcdn/latency count)" -ge 1 ] || fail "telemetry /pcdn/latency"
[ "$(tq /pcdn/status overlay)" = "not configured" ] || fail "telemetry /pcdn/status"
tq /pcdn/workers | grep -q '"lcore": 1' || fail "telemetry /pcdn/workers"
for _ in $(seq 1 30); do
	tq /pcdn/swarms | grep -q '"state": "ready"' && break
	sleep 0.1
done
tq /pcdn/swarms | grep -q '"state": "ready"' || fail "telemetry /pcdn/swarms"
[ "$(tq /pcdn/stats net/icmp4_echo_reply_out)" -ge 3 ] || fail "telemetry /pcdn/stats"
echo "ok: telemetry /pcdn/{status,ppspp,serve,cache,fill,latency,workers,swarms,stats}"

# ---- clear stats: baselines, workers' counters untouched --------------------------------------
ctl clear stats | grep -q "counters cleared" || fail "clear stats"
[ "$(ctr ppspp.chunks_sent)" -eq 0 ] || fail "chunks_sent after clear: $(ctr ppspp.chunks_sent)"
[ "$(ctr cache.chunks)" -eq "$chunks" ] || fail "a gauge was cleared"
[ "$(ctr fill.swarms)" -ge 1 ] || fail "the fill.swarms gauge was cleared"
[ "$(ctr serve.chunks_served)" -eq 0 ] || fail "serve.chunks_served after clear: $(ctr serve.chunks_served)"
[ "$(ctr fill.chunks_verified)" -eq 0 ] || fail "fill.chunks_verified after clear"
[ "$(tq /pcdn/ppspp ppspp/chunks_sent)" -eq 0 ] || fail "telemetry after clear"
in_c ping -c 2 -i 0.2 -W 5 10.78.0.2 >/dev/null || fail "ping after clear"
expect_stat_ge net.icmp4_echo_reply_out 2
[ "$(ctr net.icmp4_echo_reply_out)" -lt 5 ] || fail "clear stats did not take a baseline"
echo "ok: clear stats"

# ---- cache pin / unpin / purge / prefetch ------------------------------------------------------
ctl cache pin "$swarm" | grep -q "pinned" || fail "cache pin"
[ "$(ctr cache.pinned_chunks)" -eq "$chunks" ] || fail "pinned_chunks after pin: $(ctr cache.pinned_chunks)"
ctl cache unpin "$swarm" | grep -q "unpinned" || fail "cache unpin"
[ "$(ctr cache.pinned_chunks)" -eq 0 ] || fail "pinned_chunks after unpin"
ctl cache purge range "$swarm" 0-9 | grep -q "^purged 10 chunk(s)$" || fail "purge range"
[ "$(ctr cache.chunks)" -eq $((chunks - 10)) ] || fail "cache.chunks after range purge"
if ctl cache purge range "$swarm" 9-2 2>/dev/null; then fail "reversed range accepted"; fi
ctl cache purge swarm "$swarm" | grep -q "^purged $((chunks - 10)) chunk(s)$" || fail "purge swarm"
[ "$(ctr cache.chunks)" -eq 0 ] || fail "cache.chunks after swarm purge"
ctl cache prefetch "$swarm" | grep -q "prefetch of $swarm started: $chunks of $chunks chunk(s) to fetch" ||
	fail "cache prefetch"
for _ in $(seq 1 300); do
	[ "$(ctr cache.chunks)" -eq "$chunks" ] && break
	sleep 0.1
done
[ "$(ctr cache.chunks)" -eq "$chunks" ] || fail "prefetch filled $(ctr cache.chunks) of $chunks"
ctl cache purge all | grep -q "^purged $chunks chunk(s)$" || fail "purge all"
if ctl cache prefetch 00112233445566778899aabbccddeeff00112233 2>"$tmp/e"; then
	fail "prefetch of an unknown swarm"
fi
echo "ok: cache pin, unpin, purge range/swarm/all, prefetch"

# ---- permissions ------------------------------------------------------------------------------
# 'nobody' with primary group nogroup (the read-only group): show yes, anything else no.
as_nobody "$ctl_exe" -s "$sock" show status | grep -q "pcdn-cacherd" || fail "read-only show"
as_nobody "$ctl_exe" -s "$sock" show stats --prometheus | grep -q pcdn_up || fail "read-only stats"
for cmd in "drain" "reload" "cache purge all" "clear stats" "log level debug"; do
	rc=0
	# shellcheck disable=SC2086
	as_nobody "$ctl_exe" -s "$sock" $cmd 2>"$tmp/e" || rc=$?
	[ "$rc" -eq 1 ] && grep -q "needs an admin connection" "$tmp/e" ||
		fail "read-only client ran '$cmd' (exit $rc: $(cat "$tmp/e"))"
done
[ "$(ctl -j show status | python3 -c 'import json,sys; print(json.load(sys.stdin)["draining"])')" = False ] ||
	fail "a read-only drain took effect"
# A user outside the group (daemon: not in nogroup, by process or by database): the socket's
# mode keeps it out...
rc=0
setpriv --reuid=daemon --regid=daemon --clear-groups "$ctl_exe" -s "$sock" show status \
	2>"$tmp/e" || rc=$?
[ "$rc" -eq 2 ] && grep -q "Permission denied" "$tmp/e" || fail "outsider: exit $rc $(cat "$tmp/e")"
# ...and were the socket opened up by mistake, SO_PEERCRED still refuses it.
chmod 0666 "$sock"
rc=0
setpriv --reuid=daemon --regid=daemon --clear-groups "$ctl_exe" -s "$sock" show status \
	2>"$tmp/e" || rc=$?
[ "$rc" -eq 1 ] && grep -qi "permission denied" "$tmp/e" ||
	fail "SO_PEERCRED outsider: exit $rc $(cat "$tmp/e")"
chmod 0660 "$sock"
echo "ok: permissions (root all, read-only group show only, others refused)"

# ---- drain / undrain ---------------------------------------------------------------------------
ctl drain | grep -q "new channels are refused" || fail "drain"
ctl show status | grep -q "state        draining" || fail "status while draining"
grep -q '^pcdn_draining 1$' <(ctl show stats --prometheus) || fail "pcdn_draining gauge"
[ "$(tq /pcdn/status draining)" -eq 1 ] || fail "telemetry draining"
# A new channel is refused while draining (the workers read the flag): the download fails.
if in_c "$get_exe" --peer 10.78.0.2:6778 --swarm "$swarm" -o "$tmp/got-drain" --timeout 3 \
	2>"$tmp/get-drain.log"; then
	fail "a download was served while draining"
fi
expect_stat_ge serve.drop_draining 1
ctl undrain | grep -q "new channels accepted" || fail "undrain"
ctl show status | grep -q "state        serving" || fail "status after undrain"
echo "ok: drain / undrain"

# ---- log level ---------------------------------------------------------------------------------
ctl log level debug ctl | grep -q "log level debug for 1 component" || fail "log level COMPONENT"
if ctl log level debug nosuchcomponent 2>/dev/null; then fail "unknown component"; fi
if ctl log level loud 2>/dev/null; then fail "bad level accepted"; fi
ctl log level info | grep -q "log level info" || fail "log level"
ctl -j show config | python3 -c 'import json,sys; assert json.load(sys.stdin)["log_level"] == "info"' ||
	fail "log level not in show config"
ctl log level notice >/dev/null
echo "ok: log level"

# ---- hostile clients and 100 concurrent clients while traffic flows ---------------------------
python3 "$here/ctl_raw.py" "$sock" abuse || fail "hostile clients"
# Traffic for as long as the clients run: a ping flood and downloads one after another, each
# checked byte for byte.
rx0=$(ctr net.rx_packets)
ip netns exec "$nsc" ping -f -w 120 10.78.0.2 >/dev/null 2>&1 &
ping_pid=$!
(
	n=0
	while [ ! -e "$tmp/stop" ]; do
		ip netns exec "$nsc" "$get_exe" --peer 10.78.0.2:6778 --swarm "$swarm" \
			-o "$tmp/got3" --timeout 60 2>"$tmp/get3.log" || exit 1
		cmp -s "$tmp/content" "$tmp/got3" || exit 2
		rm -f "$tmp/got3"
		n=$((n + 1))
		echo "$n" >"$tmp/downloads"
	done
) &
get_pid=$!
python3 "$here/ctl_raw.py" "$sock" concurrent 100 "show stats --per-worker" 3 | grep -q "^ok 300$" ||
	fail "100 concurrent clients"
python3 "$here/ctl_raw.py" "$sock" concurrent 100 "-j show channels" 2 | grep -q "^ok 200$" ||
	fail "100 concurrent clients (channels)"
# The downloads' channels and peers are listed while they run.
seen=
for _ in $(seq 1 200); do
	if ctl -j show channels | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin)["channels"] if x["peer"].startswith("10.78.0.1:")]
sys.exit(0 if c and c[0]["swarm"] == sys.argv[1] and c[0]["worker"] == 0 else 1)' "$swarm"; then
		seen=1
		break
	fi
	sleep 0.05
done
[ -n "$seen" ] || fail "show channels never listed a download's channel"
seen=
for _ in $(seq 1 200); do
	ctl show peers | grep -q "^10.78.0.1:[0-9]* *0 *[1-9]" && { seen=1; break; }
	sleep 0.05
done
[ -n "$seen" ] || fail "show peers never listed the downloading peer"
echo "ok: show channels / show peers list a running download"
# And 100 pcdn-ctl processes at once, each with its own connection.
cli_pids=()
for i in $(seq 1 100); do
	ctl -j show workers >"$tmp/cli.$i" 2>&1 &
	cli_pids+=($!)
done
for i in $(seq 1 100); do
	wait "${cli_pids[$((i - 1))]}" || fail "pcdn-ctl client $i: $(cat "$tmp/cli.$i")"
	grep -q '"lcore":1' "$tmp/cli.$i" || fail "pcdn-ctl client $i output: $(cat "$tmp/cli.$i")"
done
touch "$tmp/stop"
rc=0
wait "$get_pid" || rc=$?
get_pid=
[ "$rc" -eq 0 ] || { cat "$tmp/get3.log"; fail "download during the client storm (status $rc)"; }
kill "$ping_pid" 2>/dev/null || true
wait "$ping_pid" 2>/dev/null || true
ping_pid=
[ "$(cat "$tmp/downloads")" -ge 1 ] || fail "no download completed during the storm"
[ "$(ctr net.rx_packets)" -gt $((rx0 + 1000)) ] || fail "no traffic during the storm"
echo "ok: $(cat "$tmp/downloads") download(s) and a ping flood during the client storm"
kill -0 "$pid" || fail "daemon died"
for _ in $(seq 1 50); do
	ctl show status | grep -q "ctl clients  1$" && break
	sleep 0.1
done
ctl show status | grep -q "ctl clients  1$" || fail "connections leaked: $(ctl show status | grep clients)"
echo "ok: hostile and 100 concurrent clients while traffic flowed; no connection leaked"

# ---- reload ------------------------------------------------------------------------------------
ctl reload | grep -q "^no changes$" || fail "reload of an unchanged file"
write_conf info 6779 nogroup "127.0.0.1:$metrics_port"
ctl reload >"$tmp/r" || fail "reload: $(cat "$tmp/r")"
grep -q "^applied log_level: notice -> info$" "$tmp/r" || fail "reload live key: $(cat "$tmp/r")"
grep -q "^restart-required ppspp_port: 6778 -> 6779$" "$tmp/r" || fail "reload restart key"
ctl -j show config | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["log_level"] == "info" and c["ppspp_port"] == 6778, c' || fail "config after reload"
# The metrics listener moves live: the new port answers, the old one is closed.
new_port=$((metrics_port + 1))
write_conf info 6778 nogroup "127.0.0.1:$new_port"
ctl reload | grep -q "^applied metrics_listen: 127.0.0.1:$metrics_port -> 127.0.0.1:$new_port$" ||
	fail "reload metrics_listen"
in_d python3 - "$new_port" "$metrics_port" <<'PY' || fail "metrics listener did not move"
import sys, urllib.request, urllib.error
r = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10)
assert b"pcdn_up 1" in r.read()
try:
    urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[2], timeout=10)
    sys.exit(1)
except urllib.error.URLError:
    pass
PY
write_conf info 6778 nogroup "127.0.0.1:$metrics_port"
ctl reload | grep -q "^applied metrics_listen" || fail "reload metrics_listen back"
# Logs to syslog and back, live: while on syslog, operator actions leave stderr alone.
write_conf info 6778 nogroup "127.0.0.1:$metrics_port" syslog
ctl reload | grep -q "^applied log_target: stderr -> syslog$" || fail "reload log_target"
before=$(grep -c "ctl: undrain" "$tmp/err" || true)
ctl undrain >/dev/null
[ "$(grep -c "ctl: undrain" "$tmp/err" || true)" -eq "$before" ] || fail "logged to stderr on syslog"
write_conf info 6778 nogroup "127.0.0.1:$metrics_port"
ctl reload | grep -q "^applied log_target: syslog -> stderr$" || fail "reload log_target back"
ctl undrain >/dev/null
for _ in $(seq 1 20); do
	[ "$(grep -c "ctl: undrain" "$tmp/err" || true)" -gt "$before" ] && break
	sleep 0.1
done
[ "$(grep -c "ctl: undrain" "$tmp/err" || true)" -gt "$before" ] || fail "stderr logging not back"
# The counters file's period changes live.
ctl -j show config | python3 -c 'import json,sys; assert json.load(sys.stdin)["stats_interval_ms"] == 100' ||
	fail "stats_interval_ms from the command line"
write_conf info 6778 nogroup "127.0.0.1:$metrics_port" stderr 50
ctl reload | grep -q "^applied stats_interval_ms: 0 -> 50$" || fail "reload stats_interval_ms"
ctl -j show config | python3 -c 'import json,sys; assert json.load(sys.stdin)["stats_interval_ms"] == 50' ||
	fail "stats_interval_ms after reload"
up0=$(awk '$1 == "uptime_ms" { print $2 }' "$tmp/stats")
for _ in $(seq 1 50); do
	[ "$(awk '$1 == "uptime_ms" { print $2 }' "$tmp/stats")" -gt "$up0" ] && break
	sleep 0.1
done
[ "$(awk '$1 == "uptime_ms" { print $2 }' "$tmp/stats")" -gt "$up0" ] || fail "stats file stopped"
write_conf info 6778 nogroup "127.0.0.1:$metrics_port"
ctl reload | grep -q "^applied stats_interval_ms: 50 -> 0$" || fail "reload stats_interval_ms back"
# A read-only group dropped on reload: the socket closes to the group.
write_conf info 6778 "" "127.0.0.1:$metrics_port"
ctl reload | grep -q "applied control_readonly_group: nogroup -> $" || fail "reload group"
[ "$(stat -c '%a' "$sock")" = 600 ] || fail "socket mode after dropping the group"
rc=0
as_nobody "$ctl_exe" -s "$sock" show status 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "read-only group still admitted after reload"
write_conf info 6778 nogroup "127.0.0.1:$metrics_port"
ctl reload >/dev/null || fail "reload restoring the group"
as_nobody "$ctl_exe" -s "$sock" show status >/dev/null || fail "group not restored"
# A broken file: the error names file and line, nothing changes.
write_conf debug 6778 nogroup "127.0.0.1:$metrics_port"
sed -i 's/^ppspp_port = 6778;/ppspp_port = = 6778;/' "$conf"
line=$(grep -n '^ppspp_port' "$conf" | cut -d: -f1)
rc=0
ctl reload 2>"$tmp/e" || rc=$?
[ "$rc" -eq 1 ] || fail "broken reload exit $rc"
grep -q "$conf:$line" "$tmp/e" || fail "broken reload: no file:line ($(cat "$tmp/e"))"
grep -q "configuration unchanged" "$tmp/e" || fail "broken reload message"
ctl -j show config | python3 -c 'import json,sys; assert json.load(sys.stdin)["log_level"] == "info"' ||
	fail "a broken file changed the configuration"
# An unknown group is an error with its line too, and nothing changes.
write_conf debug 6778 no-such-group-pcdn "127.0.0.1:$metrics_port"
line=$(grep -n '^control_readonly_group' "$conf" | cut -d: -f1)
rc=0
ctl reload 2>"$tmp/e" || rc=$?
[ "$rc" -eq 1 ] && grep -q "$conf:$line: key 'control_readonly_group': no group" "$tmp/e" ||
	fail "unknown group: $(cat "$tmp/e")"
ctl -j show config | python3 -c 'import json,sys; assert json.load(sys.stdin)["log_level"] == "info"' ||
	fail "a refused reload changed log_level"
as_nobody "$ctl_exe" -s "$sock" show status >/dev/null || fail "refused reload dropped the group"
ctl show status | grep -q "reloads      10 ok, 2 refused" || fail "reload counts: $(ctl show status)"
echo "ok: reload (live keys, restart keys, broken file with file:line, old config kept)"

# ---- still serving, then a clean stop ---------------------------------------------------------
in_c ping -c 2 -i 0.2 -W 5 10.78.0.2 >/dev/null || fail "ping at the end"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
[ ! -e "$sock" ] || fail "control socket left behind"
echo "PASS"

#!/usr/bin/env bash
# Suite cacherd: pcdn-cacherd in a network namespace of its own, on net_af_packet over a veth
# whose other end is in a client namespace (PMD af_packet), or on net_tap whose kernel side is
# the client (PMD tap, checksum offload path). ARP resolves and ping / ping -6 are answered;
# hostile frames and malformed PPSPP datagrams are counted by reason and never crash the daemon,
# which still answers afterwards (malformed PPSPP is counted by the workers' PPSPP engines);
# telemetry agrees; SIGTERM stops it cleanly with its counters.
# usage: test_host_stack.sh PCDN_CACHERD [af_packet|tap]
set -euo pipefail
exe=$1
pmd=${2:-af_packet}
here=$(cd "$(dirname "$0")" && pwd)
id=$$
nsc=pcdn-itc-$id
nsd=pcdn-itd-$id
vc=pitc$id
vd=pitd$id
prefix=pcdn_it_hs_${pmd}_$id
tmp=$(mktemp -d)
pid=

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	ip netns del "$nsc" 2>/dev/null || true
	ip netns del "$nsd" 2>/dev/null || true
	rm -rf "$tmp" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- daemon stderr"
	cat "$tmp/err" 2>/dev/null || true
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
			echo "ok: $1 = $v (>= $2)"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "daemon died"
		sleep 0.1
	done
	fail "counter $1 = ${v:-missing}, expected >= $2"
}

in_c() { ip netns exec "$nsc" "$@"; }

ip netns add "$nsd"
if [ "$pmd" = af_packet ]; then
	ip netns add "$nsc"
	ip link add "$vc" type veth peer name "$vd"
	ip link set "$vc" netns "$nsc"
	ip link set "$vd" netns "$nsd"
	# The daemon's side belongs to the daemon: no kernel IPv6 (ND, DAD) on it.
	ip netns exec "$nsd" sysctl -qw "net.ipv6.conf.$vd.disable_ipv6=1"
	ip -n "$nsd" link set "$vd" up
	mac=$(ip -n "$nsd" -o link show "$vd" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	[ -n "$mac" ] || fail "no MAC on $vd"
	device="net_af_packet_it$id,iface=$vd"
elif [ "$pmd" = tap ]; then
	# The tap's kernel side, in the daemon's namespace, is the client.
	nsc=$nsd
	vc=pitt$id
	device="net_tap_it$id,iface=$vc"
else
	fail "unknown PMD '$pmd' (af_packet or tap)"
fi

cat >"$tmp/cacherd.conf" <<CONF
log_level = "notice";
ppspp_port = 6778;
workers = [ 1 ];
control_socket = "$tmp/ctl.sock";
mempool = { mbufs = 2047; cache = 32; ext_mbufs = 1023; };
cache = { classes = ( { slot_size = 1024; slots = 4096; } ); max_swarms = 16; meta_mb = 1;
          hugepages = false; };
serve = { max_swarms = 4; max_channels = 64; };
ports = (
  {
    device = "$device";
    mtu = 1500;
    rx_desc = 256;
    tx_desc = 256;
    addresses = [ "10.77.0.2/24", "fd77::2/64" ];
  }
);
CONF

ip netns exec "$nsd" "$exe" -l 0-1 --no-huge -m 512 --no-pci --file-prefix="$prefix" -- \
	-c "$tmp/cacherd.conf" --stats-file "$tmp/stats" --stats-interval-ms 100 \
	>"$tmp/out" 2>"$tmp/err" &
pid=$!
expect_ge uptime_ms 0
in_c ip link set lo up
if [ "$pmd" = tap ]; then
	# The tap exists once the daemon is up; it starts with the port's own MAC: change it.
	mac=$(ip -n "$nsd" -o link show "$vc" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	[ -n "$mac" ] || fail "no tap $vc"
	in_c ip link set "$vc" address 02:00:00:00:77:01
else
	in_c python3 "$here/txcsum_off.py" "$vc"
fi
in_c ip addr add 10.77.0.1/24 dev "$vc"
in_c ip -6 addr add fd77::1/64 dev "$vc" nodad
in_c ip link set "$vc" up

# ARP and ICMP echo (IPv4), ND and ICMPv6 echo.
in_c ping -c 3 -i 0.2 -W 5 10.77.0.2 || fail "ping 10.77.0.2"
in_c ip neigh show 10.77.0.2 dev "$vc" | grep -q "lladdr $mac" || fail "ARP did not resolve to $mac"
in_c ping -6 -c 3 -i 0.2 -W 5 fd77::2 || fail "ping -6 fd77::2"
in_c ip -6 neigh show fd77::2 dev "$vc" | grep -q "lladdr $mac" || fail "ND did not resolve to $mac"
expect_ge net.arp_reply_out 1
expect_ge net.icmp4_echo_reply_out 3
expect_ge net.nd_na_out 1
expect_ge net.icmp6_echo_reply_out 3

# Hostile frames from a raw socket, then malformed PPSPP through the kernel's UDP stack.
in_c python3 "$here/send_frames.py" "$vc" "$mac" 10.77.0.1 10.77.0.2 fd77::1 fd77::2 6778 \
	>"$tmp/expect" || fail "send_frames.py"
in_c python3 "$here/udp_send.py" 10.77.0.2 6778 20 || fail "udp_send.py v4"
in_c python3 "$here/udp_send.py" fd77::2 6778 20 || fail "udp_send.py v6"
ppspp_frames=0
while read -r _ name n; do
	if [ "$name" = ppspp_datagram ]; then
		ppspp_frames=$((ppspp_frames + n))
		continue
	fi
	expect_ge "net.drop.$name" "$n"
done <"$tmp/expect"
# Every datagram to the PPSPP port reached the engine (40 through the kernel, the rest raw);
# the 40 start like a handshake with an unknown message type: malformed. None is answered.
expect_ge ppspp.dgrams_in $((ppspp_frames + 40))
[ "$(counter ppspp.dgrams_in)" -eq $((ppspp_frames + 40)) ] || fail "ppspp.dgrams_in"
expect_ge ppspp.malformed_total 40
[ "$(counter ppspp.malformed.unknown_msg)" -ge 40 ] || fail "ppspp.malformed.unknown_msg < 40"
[ "$(counter net.drop.ppspp_no_engine)" -eq 0 ] || fail "ppspp_no_engine with an engine"
[ "$(counter ppspp.dgrams_out)" -eq 0 ] || fail "the engine answered malformed PPSPP"
[ "$(counter net.udp_out)" -eq 0 ] || fail "the daemon answered malformed PPSPP"

# The same counters through DPDK telemetry (the socket of the daemon's file prefix).
tel="/var/run/dpdk/$prefix/dpdk_telemetry.v2"
v=$(python3 "$here/telemetry_query.py" "$tel" /pcdn/stats ppspp/dgrams_in) ||
	fail "telemetry /pcdn/stats"
[ "$v" -eq $((ppspp_frames + 40)) ] || fail "telemetry ppspp/dgrams_in = $v"
v=$(python3 "$here/telemetry_query.py" "$tel" /pcdn/stats,0 net/icmp6_echo_reply_out) ||
	fail "telemetry /pcdn/stats,0"
[ "$v" -ge 3 ] || fail "telemetry worker 0 icmp6_echo_reply_out = $v"
python3 "$here/telemetry_query.py" "$tel" /pcdn/ports | grep -q '"address0": "10.77.0.2/24"' ||
	fail "telemetry /pcdn/ports"
echo "ok: telemetry /pcdn/stats and /pcdn/ports"

# Still alive and answering.
in_c ping -c 2 -i 0.2 -W 5 10.77.0.2 || fail "ping after garbage"
in_c ping -6 -c 2 -i 0.2 -W 5 fd77::2 || fail "ping -6 after garbage"
expect_ge net.icmp4_echo_reply_out 5

# Clean shutdown: exit 0, counters on stdout.
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
grep -q "^ppspp.dgrams_in $((ppspp_frames + 40))\$" "$tmp/out" ||
	fail "exit report lacks the counters"
grep -q 'stopped' "$tmp/err" || fail "no 'stopped' log line"
echo "PASS"

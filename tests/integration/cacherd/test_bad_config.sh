#!/usr/bin/env bash
# Suite cacherd: a bad configuration is rejected with "file:line: key 'x': why" and exit
# status 2, before and after the EAL starts; the shipped conf/pcdn-cacherd.conf is valid.
# usage: test_bad_config.sh PCDN_CACHERD SHIPPED_CONF
set -euo pipefail
exe=$1
shipped=$2
tmp=$(mktemp -d)
prefix=pcdn_it_bc_$$
trap 'rm -rf "$tmp" "/var/run/dpdk/$prefix"' EXIT
failures=0

# expect_reject NAME EXPECTED_TEXT [EAL args...]: config on stdin
expect_reject() {
	local name=$1 want=$2 rc=0
	shift 2
	cat >"$tmp/$name.conf"
	"$exe" "$@" -- -c "$tmp/$name.conf" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "FAIL $name: exit status $rc, expected 2"
		cat "$tmp/$name.err"
		failures=$((failures + 1))
	elif ! grep -qF "$tmp/$name.conf:$want" "$tmp/$name.err"; then
		echo "FAIL $name: expected '$tmp/$name.conf:$want' in:"
		cat "$tmp/$name.err"
		failures=$((failures + 1))
	else
		echo "ok $name: $(grep -F "$tmp/$name.conf:" "$tmp/$name.err")"
	fi
}

expect_reject unknown_key "4: key 'worker_count': unknown key" <<'CONF'
log_level = "info";
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
worker_count = 2;
CONF

expect_reject bad_address "5: key 'addresses': element 1" <<'CONF'
workers = [ 1 ];
ports = (
  {
    device = "net_ring0";
    addresses = [ "10.0.0.2/24", "fd00::2/129" ];
  }
);
CONF

expect_reject port_range "1: key 'ppspp_port': 70000 is out of range" <<'CONF'
ppspp_port = 70000;
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
CONF

expect_reject missing_ports " key 'ports': required top-level key is missing" <<'CONF'
workers = [ 1 ];
CONF

expect_reject wrong_type "3: key 'mbufs': expected an integer" <<'CONF'
workers = [ 1 ];
mempool = {
  mbufs = "many";
};
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
CONF

expect_reject gateway_offlink "3: key 'gateway4': gateway 192.0.2.1 is not inside" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ];
            gateway4 = "192.0.2.1"; } );
CONF

expect_reject syntax "3: syntax error" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
log_level "debug";
CONF

expect_reject bad_log_level "1: key 'log_level': 'loud' is not one of" <<'CONF'
log_level = "loud";
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
CONF

expect_reject bad_upstream "3: key 'upstreams': element 1: expected" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
upstreams = [ "10.0.0.1:7000", "10.0.0.1" ];
CONF

expect_reject cache_class_order "4: key 'slot_size': 1024: a multiple of 64, larger than" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
cache = { classes = ( { slot_size = 8192; slots = 16; },
                      { slot_size = 1024; slots = 16; } ); };
CONF

expect_reject slot_headroom_align "4: key 'slot_headroom': 100: a multiple of 64" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
cache = { max_swarms = 16;
          slot_headroom = 100; };
CONF

expect_reject slot_headroom_range "3: key 'slot_headroom': 8192 is out of range [0, 4096]" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
cache = { slot_headroom = 8192; };
CONF

expect_reject fill_unknown "3: key 'timeout': unknown key" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
fill = { timeout = 5; };
CONF

expect_reject max_peers "4: key 'max_peers': 100 exceeds serve.max_channels" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
serve = { max_channels = 10;
          max_peers = 100; };
CONF

expect_reject tx_hold "3: key 'tx_hold'" <<'CONF'
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
serve = { tx_hold = 8; };
CONF

# Found only once the EAL runs: lcore 1 is not in -l 0.
expect_reject lcore_not_enabled "2: key 'workers': lcore 1 is not enabled" \
	-l 0 --no-huge -m 512 --no-pci --file-prefix="$prefix" <<'CONF'
ppspp_port = 6778;
workers = [ 1 ];
ports = ( { device = "net_ring0"; addresses = [ "10.0.0.2/24" ]; } );
CONF

rc=0
"$exe" -- -c "$shipped" --check >"$tmp/shipped.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL shipped config: exit $rc"
	cat "$tmp/shipped.out"
	failures=$((failures + 1))
fi
rc=0
"$exe" -c "$shipped" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: arguments without '--' gave $rc, expected 2"; failures=$((failures + 1)); }

[ "$failures" -eq 0 ] && echo PASS
exit "$failures"

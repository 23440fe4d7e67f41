#!/usr/bin/env bash
# Suite bench: pcdn-bench dp runs emulated CSCs against pcdn-cacherd's worker code over a
# net_ring pair for about a second: channels open (PPSPP handshakes), DATA arrives zero-copy,
# sampled chunks verify against the swarm's root hash (none fails), the I/O ceiling is measured,
# and the last line is one JSON object with the figures scripts/bench/cacherd.sh reads.
# usage: test_dp_smoke.sh PCDN_BENCH
set -euo pipefail
exe=$1
prefix=pcdn_it_dp_$$
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "/var/run/dpdk/$prefix"' EXIT

# the cacher worker on its own CPU when there is a second one
cpu=$(($(nproc) > 1 ? 1 : 0))
"$exe" dp --no-huge -m 512 --no-pci --file-prefix="$prefix" --lcores="0@0,1@$cpu,2@0" \
	--log-level=error -- --clients 8 --window 32 --content-mib 2 --sample 16 \
	--seconds 1 --warmup 0.3 --io-limit-seconds 0.3 >"$tmp/out.json" 2>"$tmp/err.log" || {
	echo "FAIL: pcdn-bench dp exited with $?"
	cat "$tmp/err.log"
	exit 1
}
tail -5 "$tmp/err.log"
tail -1 "$tmp/out.json"
python3 - "$tmp/out.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
checks = [
    ("setup is ring", r["setup"] == "ring"),
    ("channels opened", r["handshakes"] >= 8),
    ("DATA measured", r["data_mpps_wall"] > 0 and r["payload_gbps"] > 0),
    ("per-core figure", r["data_mpps_per_core"] > 0),
    ("latency measured", r["p99_us"] >= r["p50_us"] > 0),
    ("samples verified", r["verified"] > 0),
    ("no sample failed", r["verify_failed"] == 0),
    # DATA frames read as a NIC reads them (no mbuf field): header mbufs by the descriptor's
    # address, DATA sent in place by their frame view's slot; client 0 verifies every one it
    # gets, which checks where the frame's headers were taken to end
    ("DATA sent in place, read by frame view", r["gen_rx_by_view"] > 0),
    ("frames read without their mbuf",
     r["gen_rx_by_descriptor"] + r["gen_rx_by_view"] > r["gen_rx_frames"] * 9 // 10),
    ("no storage errors", r["storage_errors"] == 0 and r["send_errors"] == 0),
    ("I/O ceiling measured", r["io_limit_mpps_wall"] > 0 and r["io_limit_mpps"] > 0),
    ("no hugepages", r["hugepages"] is False),
]
bad = [name for name, ok in checks if not ok]
for name, ok in checks:
    print(("ok   " if ok else "FAIL ") + name)
sys.exit(1 if bad else 0)
PY

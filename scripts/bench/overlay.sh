#!/usr/bin/env bash
# RELOAD overlay bench: N pcdn-node peers (default 64) on loopback, CHORD-RELOAD over
# TLS-TCP-FH-NO-ICE. Measures the time each node takes to join, the hop count and latency of
# Fetch (from every node, to random values), then kills a quarter of the nodes with SIGKILL and
# measures the time until the ring is repaired and the Fetch success rate afterwards.
# Last line: one JSON object.
#   OVERLAY_NODES=64 OVERLAY_FETCHES=10 OVERLAY_LINK=tls|dtls OVERLAY_PORT=28000 OVERLAY_SEED=1
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PCDN_BENCH_BUILD:-$top/build-bench}
node_bin=$build/app/pcdn-node/pcdn-node
[ -x "$node_bin" ] || { echo "overlay bench: $node_bin not built" >&2; exit 1; }
work=$(mktemp -d /tmp/pcdn-overlay-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
exec python3 - "$top" "$node_bin" "$work" <<'PY'
import json, os, statistics, sys, time
top, node_bin, work = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(top, 'tests', 'integration', 'reload'))
from overlay_lib import Overlay, ctl, wait_for

N = int(os.environ.get('OVERLAY_NODES', '64'))
F = int(os.environ.get('OVERLAY_FETCHES', '10'))
LINK = os.environ.get('OVERLAY_LINK', 'tls')
PORT = int(os.environ.get('OVERLAY_PORT', '28000'))
SEED = int(os.environ.get('OVERLAY_SEED', '1'))
KILL = N // 4
REPLICAS = 2


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def fetch_pass(ov, members, values, sample=None):
    ok = total = 0
    hops, lat = [], []
    for i in members:
        owners = list(values) if sample is None else ov.rng.sample(list(values), sample)
        for o in owners:
            total += 1
            try:
                r = ctl(ov.sock(i), 'fetch 4000 %s' % ov.user(o))
            except (OSError, ValueError, ConnectionError):
                continue
            if r.status == 0 and ('data=%s ' % values[o]) in r.body:
                ok += 1
                hops.append(int(r.field('hops')))
                lat.append(int(r.field('latency_us')))
    return ok, total, hops, lat


ov = Overlay(node_bin, work, N, PORT, link=LINK, seed=SEED)
try:
    ov.make_credentials()
    t0 = time.monotonic()
    for i in range(1, N + 1):
        ov.start(i)
        wait_for('node %d joined' % i, lambda: ov.state(i) == 'joined', 120)
    wait_for('ring of %d' % N, lambda: ov.ring_ok(range(1, N + 1)), 300)
    t_ring = time.monotonic() - t0
    join_ms = [int(ctl(ov.sock(i), 'show overlay').field('join_ms')) for i in range(2, N + 1)]
    log('joined %d nodes, ring consistent after %.1f s' % (N, t_ring))
    # let the finger search of the last nodes run (chord-ping-interval 2 s)
    time.sleep(6)
    values = {}
    for i in range(1, N + 1):
        values[i] = 'v%d' % i
        r = ctl(ov.sock(i), 'store 4000 %s %s' % (ov.user(i), values[i]))
        if r.status != 0:
            raise SystemExit('store from node %d failed: %s' % (i, r.body))
    ok, total, hops, lat = fetch_pass(ov, range(1, N + 1), values, sample=F)
    log('fetch before kill: %d/%d' % (ok, total))
    order = ov.ring_order(range(1, N + 1))
    while True:
        victims = set(ov.rng.sample(order, KILL))
        run = worst = 0
        for k in range(2 * N):
            run = run + 1 if order[k % N] in victims else 0
            worst = max(worst, run)
        if worst <= REPLICAS:
            break
    t_kill = time.monotonic()
    for v in sorted(victims):
        ov.kill9(v)
    survivors = ov.alive()
    wait_for('ring repaired', lambda: ov.ring_ok(survivors), 300)
    t_repair = time.monotonic() - t_kill
    log('ring repaired %.1f s after killing %d nodes' % (t_repair, KILL))
    # replicas are re-created after the successor hold-down (holddown_ms 300)
    time.sleep(2)
    ok2, total2, hops2, lat2 = fetch_pass(ov, survivors, values)
    log('fetch after repair: %d/%d' % (ok2, total2))
    result = {
        'bench': 'overlay', 'nodes': N, 'link': LINK, 'killed': KILL,
        'fetches': total, 'fetch_success': ok / total if total else 0.0,
        'mean_hops': round(statistics.mean(hops), 3) if hops else None,
        'p99_hops': pct(hops, 99) if hops else None,
        'mean_latency_ms': round(statistics.mean(lat) / 1000, 3) if lat else None,
        'p99_latency_ms': round(pct(lat, 99) / 1000, 3) if lat else None,
        'mean_join_ms': round(statistics.mean(join_ms), 1),
        'p99_join_ms': pct(join_ms, 99),
        'ring_formed_s': round(t_ring, 2),
        'repair_s': round(t_repair, 2),
        'fetches_after_kill': total2,
        'fetch_success_after_kill': ok2 / total2 if total2 else 0.0,
        'mean_hops_after_kill': round(statistics.mean(hops2), 3) if hops2 else None,
        'hops_goal': 0.5 * __import__('math').log2(N),
    }
    print(json.dumps(result))
finally:
    ov.stop_all()
PY

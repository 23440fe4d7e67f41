#!/usr/bin/env python3
"""RELOAD overlay, 16 pcdn-node processes on loopback: join; Store from every node and Fetch
from every node; an unauthorised Store is refused; 25% of the nodes killed with SIGKILL and
every value still fetchable after repair; the killed nodes rejoin; a node whose certificate is
not from the overlay's CA is refused.

usage: test_overlay.py PCDN_NODE WORKDIR BASE_PORT tls|dtls [FORGE_PEER]"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overlay_lib import Overlay, ctl, wait_for  # noqa: E402

N = 16
REPLICAS = 2  # RFC 6940 §10.4: the successor and its successor


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print('ok -', what, flush=True)


def fetch_all_ok(ov, members, stored):
    for i in members:
        for owner, value in stored.items():
            r = ctl(ov.sock(i), 'fetch 4000 %s' % ov.user(owner))
            if r.status != 0 or ('data=%s ' % value) not in r.body:
                return False
            r = ctl(ov.sock(i), 'fetch 4001 %s' % ov.user(owner))
            if r.status != 0 or ('key=hex:%s data=loc-%d ' % (ov.ids[owner], owner)) not in r.body:
                return False
    return True


def ring_faults(ov, members):
    """For wait_for: which nodes are not joined or have the wrong neighbors."""
    return lambda: 'not in place: ' + ', '.join(ov.ring_faults(members))


def pick_victims(ov, members, count):
    """count random victims such that no replica set (REPLICAS + 1 ring-consecutive nodes) is
    wiped out at once: the failure model RFC 6940 §10.4 replication protects against."""
    order = ov.ring_order(members)
    while True:
        victims = set(ov.rng.sample(order, count))
        run = 0
        worst = 0
        for k in range(2 * len(order)):
            run = run + 1 if order[k % len(order)] in victims else 0
            worst = max(worst, run)
        if worst <= REPLICAS:
            return sorted(victims)


def main():
    node_bin, workdir, base = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    link = sys.argv[4] if len(sys.argv) > 4 else 'tls'
    forge = os.path.abspath(sys.argv[5]) if len(sys.argv) > 5 else None
    shutil.rmtree(workdir, ignore_errors=True)
    ov = Overlay(node_bin, workdir, N, base, link=link, seed=5)
    try:
        ov.make_credentials()
        for i in range(1, N + 1):
            ov.start(i)
        wait_for('16 nodes joined in one ring', lambda: ov.ring_ok(range(1, N + 1)), 120,
                 ring_faults(ov, range(1, N + 1)))
        check(True, '%d nodes joined over %s, successor and predecessor of each correct' % (N, link))

        stored = {}
        for i in range(1, N + 1):
            value = 'v%d-%s' % (i, ov.ids[i][:8])
            r = ctl(ov.sock(i), 'store 4000 %s %s' % (ov.user(i), value))
            check(r.status == 0, 'node %d stores its value (USER-MATCH): %s' % (i, r.text))
            r = ctl(ov.sock(i), 'store 4001 %s loc-%d hex:%s' % (ov.user(i), i, ov.ids[i]))
            check(r.status == 0, 'node %d stores a dictionary entry keyed by its Node-ID' % i)
            stored[i] = value
        check(fetch_all_ok(ov, range(1, N + 1), stored),
              'every value fetched from every node (%d fetches)' % (N * N * 2))

        r = ctl(ov.sock(1), 'store 4000 %s stolen' % ov.user(2))
        check(r.status != 0 and 'Error_Forbidden' in r.body,
              'store at another user\'s resource refused with Error_Forbidden')
        r = ctl(ov.sock(3), 'store 4001 %s x hex:%s' % (ov.user(3), ov.ids[4]))
        check(r.status != 0 and 'Error_Forbidden' in r.body,
              'dictionary key of another node refused (USER-NODE-MATCH)')
        r = ctl(ov.sock(2), 'fetch 4000 %s' % ov.user(2))
        check(('data=%s ' % stored[2]) in r.body, 'refused store left the value unchanged')

        victims = pick_victims(ov, range(1, N + 1), N // 4)
        for v in victims:
            ov.kill9(v)
        survivors = ov.alive()
        check(True, 'killed %s with SIGKILL' % victims)
        wait_for('ring repaired among survivors', lambda: ov.ring_ok(survivors), 120,
                 ring_faults(ov, survivors))
        check(True, 'ring repaired among the %d survivors' % len(survivors))
        wait_for('every value fetchable after repair',
                 lambda: fetch_all_ok(ov, survivors, stored), 120)
        check(True, 'every stored value fetchable from every survivor after repair')

        for v in victims:
            ov.start(v, bootstrap=survivors[:3])
        wait_for('killed nodes rejoined', lambda: ov.ring_ok(range(1, N + 1)), 120,
                 ring_faults(ov, range(1, N + 1)))
        check(True, 'killed nodes rejoined: ring of %d again' % N)
        wait_for('values fetchable after rejoin',
                 lambda: fetch_all_ok(ov, range(1, N + 1), stored), 120)
        check(True, 'every value fetchable from every node after the rejoin')

        # A node with a certificate from another CA is refused at the link (§11.3).
        ov.run('cert', 'ca', '--key', 'rogue-ca.key', '--cert', 'rogue-ca.crt', '--ec')
        ov.run('cert', 'issue', '--ca-key', 'rogue-ca.key', '--ca-cert', 'rogue-ca.crt',
               '--overlay', 'pcdn.test', '--user', 'rogue@pcdn.test', '--key', 'rogue.key',
               '--cert', 'rogue.crt', '--ec')
        before = int(ctl(ov.sock(1), 'show overlay').field('verify-failures'))
        rogue = N + 1
        ov.ids[rogue] = 'rogue'
        # the rogue trusts its own CA; the overlay's peers do not
        ov.write_overlay(ov.run('cert', 'root', '--cert', 'rogue-ca.crt').strip(), 'overlay-rogue.xml')
        ov.start(rogue, cert='rogue.crt', key='rogue.key', overlay='overlay-rogue.xml')
        wait_for('bootstrap peer refusing the rogue certificate',
                 lambda: int(ctl(ov.sock(1), 'show overlay').field('verify-failures')) > before,
                 60)
        check(ov.state(rogue) != 'joined', 'node with a certificate from another CA refused')
        r = ctl(ov.sock(rogue), 'store 4000 rogue@pcdn.test x')
        check(r.status != 0, 'refused node cannot store')
        if forge:
            # A peer with a valid certificate but a forged message signature, and a stored
            # value altered after signing: both refused with Error_Forbidden (§6.3.4, §7.1).
            ov.run('cert', 'issue', '--ca-key', 'ca.key', '--ca-cert', 'ca.crt', '--overlay',
                   'pcdn.test', '--user', 'forger@pcdn.test', '--key', 'forger.key', '--cert',
                   'forger.crt', '--ec')
            before = int(ctl(ov.sock(1), 'show overlay').field('verify-failures'))
            r = subprocess.run([forge, 'overlay.xml', 'forger.key', 'forger.crt',
                                '127.0.0.1:%d' % ov.port(1), 'forger@pcdn.test'], cwd=workdir,
                               capture_output=True, text=True, timeout=120)
            print(r.stdout + r.stderr, end='')
            check(r.returncode == 0, 'forged message signature and forged stored value refused')
            after = int(ctl(ov.sock(1), 'show overlay').field('verify-failures'))
            check(after > before, 'the forged signature counted as a verification failure')
        print('PASS', flush=True)
        return 0
    finally:
        ov.stop_all()


if __name__ == '__main__':
    sys.exit(main())

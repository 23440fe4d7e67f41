#!/usr/bin/env python3
"""Demo step: a RELOAD overlay (RFC 6940, CHORD-RELOAD) of pcdn-node peers on loopback, pcdn
architecture 2 (every node is tracker and storer). One node stores the content location of a
swarm (private Kind 0xF0000001: DICTIONARY keyed by the storing node, PCDN-NODE-ANY) and
another fetches it; the fetched endpoint is written to OUT_FILE for the CSC.

usage: overlay.py PCDN_NODE WORKDIR SWARM_ID CACHER_ENDPOINT OUT_FILE [NODES]
Reuses tests/integration/reload/overlay_lib.py (credentials, node configs, control sockets)."""
import os
import re
import signal
import sys

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(top, 'tests', 'integration', 'reload'))
from overlay_lib import Overlay, ctl, wait_for  # noqa: E402

LOCATION_KIND = 4026531841  # 0xF0000001, conf/reload/arch2-overlay.xml

# The demo's overlay document: the test library's (a CA-signed root cert, fast Chord timers on
# loopback) with the private Kinds of conf/reload/arch2-overlay.xml.
OVERLAY_XML = '''<?xml version="1.0" encoding="UTF-8"?>
<overlay xmlns="urn:ietf:params:xml:ns:p2p:config-base"
         xmlns:chord="urn:ietf:params:xml:ns:p2p:config-chord">
  <configuration instance-name="pcdn.test" sequence="1">
    <topology-plugin>CHORD-RELOAD</topology-plugin>
    <node-id-length>16</node-id-length>
    <root-cert>%s</root-cert>
    <self-signed-permitted digest="sha256">false</self-signed-permitted>
    <bootstrap-node address="127.0.0.1" port="%d"/>
    <chord:chord-update-interval>2</chord:chord-update-interval>
    <chord:chord-ping-interval>2</chord:chord-ping-interval>
    <chord:chord-reactive>true</chord:chord-reactive>
    <max-message-size>16000</max-message-size>
    <initial-ttl>100</initial-ttl>
    <overlay-reliability-timer>3000</overlay-reliability-timer>
    <overlay-link-protocol>TLS</overlay-link-protocol>
    <overlay-link-protocol>DTLS</overlay-link-protocol>
    <required-kinds>
      <kind-block><kind id="4026531841"><data-model>DICTIONARY</data-model><access-control>PCDN-NODE-ANY</access-control><max-count>100000</max-count><max-size>1024</max-size></kind></kind-block>
      <kind-block><kind id="4026531842"><data-model>SINGLE</data-model><access-control>PCDN-NODE-ANY</access-control><max-count>1</max-count><max-size>65536</max-size></kind></kind-block>
      <kind-block><kind id="4026531843"><data-model>ARRAY</data-model><access-control>PCDN-NODE-ANY</access-control><max-count>1048576</max-count><max-size>1048576</max-size></kind></kind-block>
    </required-kinds>
  </configuration>
</overlay>
'''


class DemoOverlay(Overlay):
    def write_overlay(self, root, name='overlay.xml'):
        with open(os.path.join(self.dir, name), 'w') as f:
            f.write(OVERLAY_XML % (root, self.port(1)))


def say(*lines):
    for line in lines:
        print(line, flush=True)


def main():
    node_bin, workdir, swarm, endpoint, out = sys.argv[1:6]
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 4
    # the demo's trap ends this process with SIGTERM: stop the nodes on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ov = DemoOverlay(os.path.abspath(node_bin), workdir, n, 0, link='tls', seed=7)
    try:
        ov.make_credentials()
        say('   A CA certificate was made and %d node certificates issued from it' % n,
            '   (pcdn-node cert ca/issue; Node-ID = the certificate\'s node id):')
        for i in range(1, n + 1):
            say('      node %d  %-18s Node-ID %s  TLS 127.0.0.1:%d'
                % (i, ov.user(i), ov.ids[i], ov.port(i)))
        for i in range(1, n + 1):
            ov.start(i)
        wait_for('%d nodes joined in one Chord ring' % n,
                 lambda: ov.ring_ok(range(1, n + 1)), 60)
        order = ov.ring_order(range(1, n + 1))
        say('   All %d joined one CHORD-RELOAD ring (show overlay: state joined); ring order'
            % n, '   by Node-ID: ' + ' -> '.join('node %d' % i for i in order) + ' -> node %d'
            % order[0])

        writer, reader = 1, n
        record = 'swarm %s is served by cacher %s' % (swarm, endpoint)
        r = ctl(ov.sock(writer), 'store %d %s "%s" hex:%s'
                % (LOCATION_KIND, swarm, record, ov.ids[writer]))
        if r.status != 0:
            raise AssertionError('store refused: %s %s' % (r.text, r.body))
        reps = re.search(r'replicas (\d+)', r.body)
        say('   node %d stored the content location (Kind 0xF0000001, DICTIONARY keyed by its'
            % writer, '   own Node-ID, policy PCDN-NODE-ANY) at Resource-ID hash(swarm ID)%s:'
            % (', 1 + %s replicas' % reps.group(1) if reps else ''),
            '      "%s"' % record)

        r = ctl(ov.sock(reader), 'fetch %d %s' % (LOCATION_KIND, swarm))
        if r.status != 0:
            raise AssertionError('fetch failed: %s %s' % (r.text, r.body))
        peers = []
        for line in r.body.splitlines():
            m = re.match(r'value key=(\S+) data=(\S+)', line)
            if not m:
                continue
            data = m.group(2)
            # values with spaces come back as hex: (pcdn-node prints opaque bytes that way)
            text = bytes.fromhex(data[4:]).decode() if data.startswith('hex:') else data
            owner = m.group(1)[4:] if m.group(1).startswith('hex:') else m.group(1)
            who = [i for i in ov.ids if ov.ids[i] == owner]
            say('   node %d fetched it through the overlay (Chord routes the Fetch to the peer'
                % reader, '   responsible for that Resource-ID):',
                '      key %s (node %s): "%s"' % (owner, who[0] if who else '?', text))
            m2 = re.search(r'served by cacher (\S+)$', text)
            if m2 and text.startswith('swarm %s ' % swarm):
                peers.append(m2.group(1))
        if not peers:
            raise AssertionError('no content location fetched: %r' % r.body)
        with open(out, 'w') as f:
            f.write('\n'.join(peers) + '\n')
        return 0
    finally:
        ov.stop_all()


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (AssertionError, RuntimeError, OSError, ValueError) as e:
        print('overlay step FAILED: %s' % e, file=sys.stderr, flush=True)
        sys.exit(1)

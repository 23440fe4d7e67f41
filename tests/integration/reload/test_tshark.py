#!/usr/bin/env python3
"""Interop: the overlay's traffic, captured on lo, decoded by tshark's RELOAD dissector with the
SSLKEYLOGFILE the nodes wrote. DTLS-UDP-SR: tshark decodes RELOAD inside DTLS directly. TLS-TCP-FH:
the decrypted streams (tshark "follow,tls,raw") are cut into FramedMessages and handed to the
reload-framing dissector as datagrams. Either way: RELOAD messages of every kind exchanged, no
malformed packet, no expert warning or error.

usage: test_tshark.py PCDN_NODE WORKDIR BASE_PORT"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overlay_lib import Overlay, ctl, wait_for  # noqa: E402

N = 4
WARN = 0x00600000  # expert severity "warning" (PI_WARN)
SEQUENCE = 0x02000000  # expert group PI_SEQUENCE


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print('ok -', what, flush=True)


def tshark(*args):
    r = subprocess.run(['tshark'] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('tshark %s: %s' % (' '.join(args), r.stderr))
    return r.stdout


def audit(pcap, extra):
    """Returns (reload message count, set of message names, problems)."""
    out = tshark('-r', pcap, *extra, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number',
                 '-e', '_ws.col.Protocol', '-e', '_ws.col.Info', '-e', '_ws.malformed',
                 '-e', '_ws.expert.severity', '-e', '_ws.expert.message',
                 '-e', '_ws.expert.group')
    count = 0
    names = set()
    problems = []
    for line in out.splitlines():
        f = line.split('|')
        if len(f) < 7:
            continue
        if 'RELOAD' in f[1] and 'Frame' not in f[1]:
            count += 1
            names.add(f[2].split(',')[0].strip())
        sev = [int(x, 0) for x in f[4].split(',') if x.strip()]
        grp = [int(x, 0) for x in f[6].split(',') if x.strip()]
        # Wireshark's TCP sequence analysis (group "Sequence": RST when a peer exits with data
        # in flight, D-SACK or retransmissions when the kernel's loss probes fire on a busy
        # loopback) describes the kernel's TCP, not the TLS or RELOAD bytes: not counted.
        bad = [s for s, g in zip(sev, grp + [0] * len(sev)) if s >= WARN and g != SEQUENCE]
        if f[3] or bad:
            problems.append(line)
    return count, names, problems


def run_overlay(ov, link, pcap, keylog):
    port_lo, port_hi = ov.port(1), ov.port(N)
    cap = subprocess.Popen(['dumpcap', '-q', '-i', 'lo', '-f',
                            'udp portrange %d-%d or tcp portrange %d-%d' %
                            (port_lo, port_hi, port_lo, port_hi), '-w', pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # dumpcap reports on stderr once it captures
    wait_for('dumpcap started', lambda: os.path.exists(pcap), 30)
    env = {'SSLKEYLOGFILE': keylog}
    try:
        ov.make_credentials()
        for i in range(1, N + 1):
            ov.start(i, env=env)
        wait_for('ring of %d' % N, lambda: ov.ring_ok(range(1, N + 1)), 60)
        for i in range(1, N + 1):
            r = ctl(ov.sock(i), 'store 4000 %s v%d' % (ov.user(i), i))
            check(r.status == 0, '%s: node %d stored' % (link, i))
            r = ctl(ov.sock(i), 'store 4001 %s loc%d hex:%s' % (ov.user(i), i, ov.ids[i]))
            check(r.status == 0, '%s: node %d stored a dictionary entry' % (link, i))
        for i in range(1, N + 1):
            for j in range(1, N + 1):
                r = ctl(ov.sock(i), 'fetch 4000 %s' % ov.user(j))
                check(r.status == 0 and 'data=v%d ' % j in r.body,
                      '%s: node %d fetched the value of node %d' % (link, i, j))
        r = ctl(ov.sock(1), 'store 4000 %s x' % ov.user(2))
        check(r.status != 0, '%s: forbidden store refused' % link)
        # graceful leave of every node: Leave requests on the wire too
        for i in list(ov.procs):
            p = ov.procs.pop(i)
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
    finally:
        ov.stop_all()
        time.sleep(0.5)  # let dumpcap write the last packets out
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=30)


def tls_streams_to_pcap(pcap, keylog, ports, out_pcap):
    """Decrypted TLS stream bytes -> FramedMessages -> one UDP datagram each (to port 6084,
    where tshark's reload-framing dissector listens)."""
    decode = []
    for p in ports:
        decode += ['-d', 'tcp.port==%d,tls' % p]
    streams = tshark('-r', pcap, '-o', 'tls.keylog_file:' + keylog, *decode, '-T', 'fields',
                     '-e', 'tcp.stream', '-Y', 'tls.app_data')
    ids = sorted({int(s) for s in streams.split() if s.strip()})
    frames = []
    for sid in ids:
        txt = tshark('-r', pcap, '-o', 'tls.keylog_file:' + keylog, *decode, '-q', '-z',
                     'follow,tls,raw,%d' % sid)
        data = [b'', b'']
        for line in txt.splitlines():
            if not line.strip() or line.startswith(('=', 'Follow', 'Filter', 'Node')):
                continue
            d = 1 if line.startswith('\t') else 0
            data[d] += bytes.fromhex(line.strip())
        for d in (0, 1):
            buf = data[d]
            off = 0
            while off < len(buf):
                t = buf[off]
                if t == 0x81:
                    n = 9
                elif t == 0x80 and off + 8 <= len(buf):
                    n = 8 + int.from_bytes(buf[off + 5:off + 8], 'big')
                else:
                    raise AssertionError('stream %d: not a FramedMessage at %d' % (sid, off))
                frames.append((sid, d, buf[off:off + n]))
                off += n
    with open(out_pcap, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
        for k, (sid, d, fr) in enumerate(frames):
            udp = struct.pack('>HHHH', 40000 + sid * 2 + d, 6084, 8 + len(fr), 0) + fr
            ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), k & 0xffff, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
            ipsum = sum(struct.unpack('>10H', ip))
            while ipsum >> 16:
                ipsum = (ipsum & 0xffff) + (ipsum >> 16)
            ip = ip[:10] + struct.pack('>H', ~ipsum & 0xffff) + ip[12:]
            pkt = ip + udp
            f.write(struct.pack('<IIII', k, 0, len(pkt), len(pkt)) + pkt)
    return len(frames)


def main():
    node_bin, workdir, base = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    want = {'Attach Request', 'Attach Response', 'Update Request', 'Update Response',
            'Join Request', 'Join Response', 'Store Request', 'Store Response',
            'Fetch Request', 'Fetch Response', 'Leave Request', 'Leave Response'}

    # DTLS-UDP-SR-NO-ICE
    d = os.path.join(workdir, 'dtls')
    ov = Overlay(node_bin, d, N, base, link='dtls')
    pcap, keys = os.path.join(d, 'overlay.pcapng'), os.path.join(d, 'keys.log')
    run_overlay(ov, 'dtls', pcap, keys)
    count, names, problems = audit(pcap, ['-o', 'tls.keylog_file:' + keys])
    print('dtls: %d RELOAD messages decoded: %s' % (count, ', '.join(sorted(names))))
    check(want <= names, 'dtls: every method exchanged was decoded by tshark\'s RELOAD dissector')
    check(not problems, 'dtls: no malformed packet and no expert warning (%s)' % problems[:3])

    # TLS-TCP-FH-NO-ICE
    t = os.path.join(workdir, 'tls')
    ov = Overlay(node_bin, t, N, base + 50, link='tls')
    pcap, keys = os.path.join(t, 'overlay.pcapng'), os.path.join(t, 'keys.log')
    run_overlay(ov, 'tls', pcap, keys)
    tls_count, tls_names, tls_problems = audit(
        pcap, ['-o', 'tls.keylog_file:' + keys] +
        sum([['-d', 'tcp.port==%d,tls' % ov.port(i)] for i in range(1, N + 1)], []))
    check(not tls_problems, 'tls: TLS layer decodes cleanly (%s)' % tls_problems[:3])
    frames_pcap = os.path.join(t, 'frames.pcap')
    nframes = tls_streams_to_pcap(pcap, keys, [ov.port(i) for i in range(1, N + 1)], frames_pcap)
    count, names, problems = audit(frames_pcap, [])
    print('tls: %d frames, %d RELOAD messages decoded: %s' % (nframes, count,
                                                               ', '.join(sorted(names))))
    check(want <= names, 'tls: every method exchanged was decoded by tshark\'s RELOAD dissector')
    check(not problems, 'tls: no malformed packet and no expert warning (%s)' % problems[:3])
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""Sends hostile and malformed frames at pcdn-cacherd through AF_PACKET on IFACE.

usage: send_frames.py IFACE DST_MAC SRC4 DST4 SRC6 DST6 PPSPP_PORT
Prints one line "expect <counter> <minimum>" per drop counter the daemon must have raised.
Every frame but the random ones is well-formed up to the one defect it carries.
"""
import random
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, payload, bad_csum=False, tot_extra=0):
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload) + tot_extra, 1, 0, 64,
                      proto, 0, s, d)
    c = csum(hdr)
    if bad_csum:
        c ^= 0x5555
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def ipv6(src, dst, nxt, payload):
    return struct.pack("!IHBB", 6 << 28, len(payload), nxt, 64) + \
        socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + payload


def udp(src, dst, sport, dport, payload, v6=False, bad=False, len_extra=0):
    ulen = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, ulen + len_extra, 0)
    if v6:
        ph = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + \
            struct.pack("!I3xB", ulen, 17)
    else:
        ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", 17, ulen)
    c = csum(ph + hdr + payload) or 0xFFFF
    if bad:
        c ^= 0x00F0
    return hdr[:6] + struct.pack("!H", c) + payload


def main():
    iface, dmac, s4, d4, s6, d6, pport = sys.argv[1:8]
    pport = int(pport)
    dst = mac(dmac)
    sk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sk.bind((iface, 0))
    src = sk.getsockname()[4]
    rnd = random.Random(7)
    junk = bytes(rnd.randrange(256) for _ in range(40))
    expect = {}

    def send(frame, counter=None, n=1):
        for _ in range(n):
            sk.send(frame)
        if counter:
            expect[counter] = expect.get(counter, 0) + n

    send(eth(dst, src, 0x88B5, b"\0" * 46), "ethertype_unsupported")
    send(eth(dst, src, 0x0800, ipv4(s4, d4, 17, udp(s4, d4, 4000, pport, junk), bad_csum=True)),
         "ipv4_bad_checksum")
    send(eth(dst, src, 0x0800, ipv4(s4, d4, 17, udp(s4, d4, 4000, pport, junk), tot_extra=200)),
         "ipv4_malformed")
    # (An IPv4 fragment is not sent: net_af_packet's fanout asks the kernel to reassemble, so a
    # lone fragment never reaches the daemon. The unit suite covers ipv4_fragment.)
    send(eth(dst, src, 0x0800, ipv4(s4, d4, 6, b"\0" * 20)), "ip_proto_unsupported")
    send(eth(dst, src, 0x0800, ipv4(s4, d4, 17, udp(s4, d4, 4000, 53, junk))), "udp_port_closed")
    send(eth(dst, src, 0x0800, ipv4(s4, d4, 17, udp(s4, d4, 4000, pport, junk, bad=True))),
         "udp_bad_checksum")
    send(eth(dst, src, 0x86DD, ipv6(s6, d6, 17, udp(s6, d6, 4000, pport, junk, v6=True, bad=True))),
         "udp_bad_checksum")
    send(eth(dst, src, 0x0800, ipv4(s4, d4, 17, udp(s4, d4, 4000, pport, junk, len_extra=100))),
         "udp_malformed")
    send(eth(dst, src, 0x86DD, ipv6(s6, d6, 0, b"\x11\0" + b"\0" * 6 + udp(s6, d6, 1, pport, junk,
                                                                       v6=True))),
         "ipv6_ext_header")
    icmp_ts = bytearray(struct.pack("!BBHHH", 13, 0, 0, 1, 1) + b"\0" * 12)
    icmp_ts[2:4] = struct.pack("!H", csum(bytes(icmp_ts)))
    send(eth(dst, src, 0x0800, ipv4(s4, d4, 1, bytes(icmp_ts))), "icmp_type_ignored")
    send(eth(b"\x02\x99\x99\x99\x99\x99", src, 0x0800,
             ipv4(s4, d4, 17, udp(s4, d4, 4000, pport, junk))), "l2_not_for_us")
    # Malformed PPSPP (random bytes, short, empty) in valid UDP to the PPSPP port: each reaches
    # the worker's PPSPP engine, which counts it (malformed, unknown channel) and never answers.
    for payload in (junk, b"\xff", b"", b"\0" * 4 + b"\x00" * 3):
        send(eth(dst, src, 0x0800, ipv4(s4, d4, 17, udp(s4, d4, 4001, pport, payload))),
             "ppspp_datagram")
        send(eth(dst, src, 0x86DD, ipv6(s6, d6, 17, udp(s6, d6, 4001, pport, payload, v6=True))),
             "ppspp_datagram")
    # Random bytes after a plausible header: any verdict, never a crash.
    for _ in range(300):
        etype = rnd.choice((0x0800, 0x86DD, 0x0806))
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200)))
        if body and etype == 0x0800:
            body = b"\x45" + body[1:]
        elif body and etype == 0x86DD:
            body = b"\x60" + body[1:]
        sk.send(eth(dst, src, etype, body + b"\0" * max(0, 46 - len(body))))
    for k, v in sorted(expect.items()):
        print("expect %s %d" % (k, v))


if __name__ == "__main__":
    main()

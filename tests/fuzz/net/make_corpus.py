#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_net_frame: one valid frame of each kind the parser accepts,
and a few near misses. Run from this folder: python3 make_corpus.py"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration", "cacherd"))
from send_frames import csum, eth, ipv4, ipv6, udp  # noqa: E402

A = b"\x02\0\0\0\0\x01"
B = b"\x02\0\0\0\0\x02"


def icmp4(t):
    m = bytearray(struct.pack("!BBHHH", t, 0, 0, 1, 1) + bytes(range(24)))
    m[2:4] = struct.pack("!H", csum(bytes(m)))
    return bytes(m)


def icmp6(src, dst, body):
    ph = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + \
        struct.pack("!I3xB", len(body), 58)
    m = bytearray(body)
    m[2:4] = struct.pack("!H", csum(ph + bytes(m)))
    return bytes(m)


def nd(t, target, opt_type, lladdr, flags=0):
    return struct.pack("!BBHI", t, 0, 0, flags << 24) + \
        socket.inet_pton(socket.AF_INET6, target) + struct.pack("!BB", opt_type, 1) + lladdr


def ip6hl(src, dst, payload, nxt=58):
    p = bytearray(ipv6(src, dst, nxt, payload))
    p[7] = 255
    return bytes(p)


seeds = {
    "arp_request": eth(b"\xff" * 6, A, 0x0806, struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1,
                       A, socket.inet_aton("10.0.0.1"), b"\0" * 6, socket.inet_aton("10.0.0.2"))),
    "arp_reply": eth(B, A, 0x0806, struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2,
                     A, socket.inet_aton("10.0.0.1"), B, socket.inet_aton("10.0.0.2"))),
    "udp4": eth(B, A, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17,
                                   udp("10.0.0.1", "10.0.0.2", 4000, 6778, b"\0\0\0\0ppspp"))),
    "udp6": eth(B, A, 0x86DD, ipv6("fd00::1", "fd00::2", 17,
                                   udp("fd00::1", "fd00::2", 4000, 6778, b"\0\0\0\0ppspp",
                                       v6=True))),
    "echo4": eth(B, A, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 1, icmp4(8))),
    "echo6": eth(B, A, 0x86DD, ipv6("fd00::1", "fd00::2", 58, icmp6(
        "fd00::1", "fd00::2", struct.pack("!BBHHH", 128, 0, 0, 1, 1) + bytes(24)))),
    "ns": eth(b"\x33\x33\xff\0\0\x02", A, 0x86DD, ip6hl("fd00::1", "ff02::1:ff00:2", icmp6(
        "fd00::1", "ff02::1:ff00:2", nd(135, "fd00::2", 1, A)))),
    "na": eth(B, A, 0x86DD, ip6hl("fd00::1", "fd00::2", icmp6(
        "fd00::1", "fd00::2", nd(136, "fd00::1", 2, A, 0x60)))),
    "tcp4": eth(B, A, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, bytes(20))),
    "hopbyhop6": eth(B, A, 0x86DD, ipv6("fd00::1", "fd00::2", 0, bytes(8))),
    "vlan": eth(B, A, 0x8100, bytes(46)),
    "runt": A + B,
}
for name, frame in seeds.items():
    with open(os.path.join(os.path.dirname(__file__) or ".", "corpus", name), "wb") as f:
        f.write(frame)

#!/usr/bin/env python3
"""A PPSPP peer that opens one channel and keeps it, for deterministic tests (RFC 7574 §3.1.1,
§7 option encoding, §3.12 keep-alive, §8.4 close): handshake for SWARM, the responder's reply,
a keep-alive on its channel (the responder now counts the peer as up), then "up" on stdout.
It requests nothing unless told: a line "request K" on stdin sends a REQUEST for chunk K
(§8.7, 32-bit chunk ranges), and each DATA that arrives prints "data K LENGTH MD5". A line
"close" sends a closing handshake and exits 0; a closing handshake from the other side prints
"closed" and exits 0. Only SHA-1 swarms (20-byte INTEGRITY hashes) are parsed.

usage: ppspp_peer.py ADDRESS PORT SWARM_HEX [CHUNK_SIZE]
"""
import hashlib
import os
import select
import socket
import struct
import sys


def handshake(our_channel, swarm, chunk_size):
    opts = bytes([0, 1])  # version 1
    opts += bytes([1, 1])  # minimum version 1
    opts += bytes([2]) + struct.pack(">H", len(swarm)) + swarm  # swarm ID
    opts += bytes([3, 1])  # content integrity protection: Merkle hash tree
    opts += bytes([4, 0])  # Merkle hash function: SHA-1
    opts += bytes([6, 2])  # chunk addressing: 32-bit chunk ranges
    opts += bytes([9]) + struct.pack(">I", chunk_size)  # chunk size
    opts += bytes([0xFF])
    return struct.pack(">I", 0) + bytes([0]) + struct.pack(">I", our_channel) + opts


def report_data(m):
    """Walks INTEGRITY (4) and DATA (1) messages; anything else ends the walk."""
    while m:
        if m[0] == 4 and len(m) >= 29:
            m = m[29:]
        elif m[0] == 1 and len(m) >= 17:
            k = struct.unpack(">I", m[1:5])[0]
            payload = m[17:]
            print("data %d %d %s" % (k, len(payload), hashlib.md5(payload).hexdigest()),
                  flush=True)
            return
        else:
            return


def main():
    addr, port, swarm = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
    chunk_size = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((addr, port))
    ours = struct.unpack(">I", os.urandom(4))[0] | 1
    theirs = None
    for _ in range(20):  # the responder may not know the swarm yet: retry as clients do
        s.send(handshake(ours, swarm, chunk_size))
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        d = s.recv(65536)
        if len(d) >= 9 and struct.unpack(">I", d[:4])[0] == ours and d[4] == 0:
            theirs = struct.unpack(">I", d[5:9])[0]
            break
    if not theirs:
        print("no handshake reply", flush=True)
        return 1
    s.send(struct.pack(">I", theirs))  # keep-alive: the channel is established
    print("up", flush=True)
    while True:
        r, _, _ = select.select([s, sys.stdin], [], [])
        if sys.stdin in r:
            line = sys.stdin.readline()
            if not line or line.strip() == "close":
                s.send(struct.pack(">I", theirs) + bytes([0]) + struct.pack(">I", 0) + b"\xff")
                return 0
            if line.startswith("request "):
                k = int(line.split()[1])
                s.send(struct.pack(">I", theirs) + bytes([8]) + struct.pack(">II", k, k))
        if s in r:
            d = s.recv(65536)
            # §8.4: a HANDSHAKE with source channel 0 on our channel closes it
            if len(d) >= 9 and struct.unpack(">I", d[:4])[0] == ours and d[4] == 0 and \
                    struct.unpack(">I", d[5:9])[0] == 0:
                print("closed", flush=True)
                return 0
            if len(d) >= 4 and struct.unpack(">I", d[:4])[0] == ours:
                report_data(d[4:])


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Sends N datagrams of malformed PPSPP through the kernel's UDP stack.

usage: udp_send.py ADDRESS PORT N   (ADDRESS IPv4 or IPv6)
"""
import socket
import sys


def main():
    addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        for i in range(n):
            # A channel id and a message type no PPSPP peer sends, then garbage.
            s.sendto(b"\x00\x00\x00\x00\xfe" + bytes([i % 256]) * (i % 50), (addr, port))


if __name__ == "__main__":
    main()

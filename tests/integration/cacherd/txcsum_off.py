#!/usr/bin/env python3
"""Turns TX checksum offload off on IFACE (ethtool -K IFACE tx off, by ioctl).

A veth hands locally generated UDP to its peer with the checksum left for "hardware"
(CHECKSUM_PARTIAL); net_af_packet passes such frames on unfinished, so a kernel peer on a veth
must compute its checksums itself. usage: txcsum_off.py IFACE
"""
import array
import fcntl
import socket
import struct
import sys

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17


def main():
    val = array.array("I", [ETHTOOL_STXCSUM, 0])
    addr, _ = val.buffer_info()
    ifr = struct.pack("16sP", sys.argv[1].encode(), addr)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)


if __name__ == "__main__":
    main()

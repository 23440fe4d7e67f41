#!/usr/bin/env python3
"""Queries a DPDK telemetry v2 socket and prints the reply's JSON value for the command.

usage: telemetry_query.py SOCKET COMMAND[,PARAMS] [KEY]
With KEY, prints only that member of the command's dictionary.
"""
import json
import socket
import sys


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(path)
        hello = json.loads(s.recv(1024).decode())
        s.send(cmd.encode())
        reply = json.loads(s.recv(hello["max_output_len"]).decode())
    value = reply[cmd.split(",")[0]]
    if len(sys.argv) > 3:
        value = value[sys.argv[3]]
    print(json.dumps(value) if not isinstance(value, (int, str)) else value)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Speaks pcdn's control protocol (lib/ctl/ctl.h) on a unix socket without pcdn-ctl, to do what a
well-behaved client never does.

usage: ctl_raw.py SOCKET abuse
           garbage, NUL bytes, an overlong line, a half-closed connection, an abrupt close
           mid-line, idle connections: each answered as the protocol says; exit 0 when so.
       ctl_raw.py SOCKET concurrent N COMMAND [ROUNDS]
           N clients at once, each sending COMMAND ROUNDS times (default 3) on one connection;
           every reply must be STATUS 0 with the LENGTH it announced. Prints "ok N*ROUNDS".
"""
import socket
import sys
import threading


def read_reply(s, buf=b""):
    """Returns (status, body, rest) of one reply; raises on EOF or bad framing."""
    while buf.count(b"\n") < 2:
        d = s.recv(65536)
        if not d:
            raise EOFError("connection closed before the reply headers")
        buf += d
    l1, l2, buf = buf.split(b"\n", 2)
    assert l1.startswith(b"STATUS "), l1
    assert l2.startswith(b"LENGTH "), l2
    status = int(l1.split()[1])
    n = int(l2.split()[1])
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("connection closed inside a body")
        buf += d
    return status, buf[:n], buf[n:]


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s


def expect(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)


def abuse(path):
    # Binary garbage with a NUL, then a good command on the same connection.
    s = connect(path)
    s.sendall(b"\x01\x02\x00\xff\xfe garbage\n")
    st, body, rest = read_reply(s)
    expect(st == -22, "garbage line: status %d %r" % (st, body))
    s.sendall(b"frobnicate the cache\n")
    st, body, rest = read_reply(s, rest)
    expect(st == -2 and b"unknown command" in body, "unknown command: %d %r" % (st, body))
    s.sendall(b"show \"unterminated\n")
    st, body, rest = read_reply(s, rest)
    expect(st == -22, "unterminated quote: %d" % st)
    s.sendall(b"show status\n")
    st, body, rest = read_reply(s, rest)
    expect(st == 0 and b"pcdn-cacherd" in body, "show status after garbage: %d" % st)
    s.close()

    # An overlong line without newline: -EMSGSIZE, then the daemon closes.
    s = connect(path)
    try:
        s.sendall(b"x" * 20000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    st, body, rest = read_reply(s)
    expect(st == -90, "overlong line: status %d" % st)
    closed = False
    try:
        closed = s.recv(1) == b""
    except ConnectionResetError:
        closed = True
    expect(closed, "connection still open after an overlong line")
    s.close()

    # Half-closed after a command without newline: still answered.
    s = connect(path)
    s.sendall(b"show overlay")
    s.shutdown(socket.SHUT_WR)
    st, body, rest = read_reply(s)
    expect(st == 0 and b"not configured" in body, "half-closed: %d %r" % (st, body))
    s.close()

    # Abrupt close mid-line, and a burst of idle connections closed without a word.
    s = connect(path)
    s.sendall(b"show sta")
    s.close()
    idle = [connect(path) for _ in range(50)]
    for c in idle:
        c.close()

    # Many commands pipelined in one write: answered in order.
    s = connect(path)
    s.sendall(b"show overlay\n" * 20 + b"help\n")
    rest = b""
    for i in range(20):
        st, body, rest = read_reply(s, rest)
        expect(st == 0 and b"not configured" in body, "pipelined reply %d" % i)
    st, body, rest = read_reply(s, rest)
    expect(st == 0 and b"show stats" in body, "pipelined help")
    s.close()
    print("ok abuse")


def concurrent(path, n, command, rounds):
    errors = []
    done = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def client(i):
        try:
            s = connect(path)
            barrier.wait()
            rest = b""
            for _ in range(rounds):
                s.sendall(command.encode() + b"\n")
                st, body, rest = read_reply(s, rest)
                if st != 0 or not body:
                    raise RuntimeError("client %d: status %d" % (i, st))
                with lock:
                    done[0] += 1
            s.close()
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(not errors, "%d client(s) failed: %s" % (len(errors), errors[:3]))
    expect(done[0] == n * rounds, "replies %d != %d" % (done[0], n * rounds))
    print("ok %d" % done[0])


def main():
    path, what = sys.argv[1], sys.argv[2]
    if what == "abuse":
        abuse(path)
    elif what == "concurrent":
        rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
        concurrent(path, int(sys.argv[3]), sys.argv[4], rounds)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives pcdn-ctl's interactive prompt on a pseudo-terminal: tab completion from the daemon's
command list, history file, quit.

usage: ctl_pty.py PCDN_CTL SOCKET HOME_DIR
Types "sho<TAB>ov<TAB><RET>" (completed to "show overlay"), checks the reply, lists the
completions of "cache p<TAB><TAB>", then "quit"; the history file must hold "show overlay".
Exit 0 when all of that happened.
"""
import os
import pty
import select
import sys


_pending = [b""]


def read_until(fd, want, limit_s=20.0):
    """Reads the terminal up to and including `want` (bounded wait; not a timing assertion);
    what came after it stays for the next call."""
    buf = _pending[0]
    while want not in buf:
        r, _, _ = select.select([fd], [], [], limit_s)
        if not r:
            raise TimeoutError("no %r in %r" % (want, buf[-400:]))
        try:
            d = os.read(fd, 4096)
        except OSError:
            d = b""
        if not d:
            raise EOFError("pcdn-ctl ended; output %r" % buf[-400:])
        buf += d
    end = buf.index(want) + len(want)
    _pending[0] = buf[end:]
    return buf[:end]


def main():
    exe, sock, home = sys.argv[1], sys.argv[2], sys.argv[3]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["HOME"] = home
        os.environ["TERM"] = "xterm"
        os.execv(exe, [exe, "-s", sock])
    prompt = b"> "
    read_until(fd, prompt)
    # The terminal redraws a completion in pieces ("sho", bell, "w "): wait for the tail.
    os.write(fd, b"sho\t")
    read_until(fd, b"w ")
    os.write(fd, b"ov\t")
    read_until(fd, b"erlay ")
    os.write(fd, b"\r")
    read_until(fd, b"not configured")
    read_until(fd, prompt)
    os.write(fd, b"cache p\t\t")
    out = read_until(fd, b"purge")  # listed in order: pin, prefetch, purge
    for w in (b"pin", b"prefetch", b"purge"):
        if w not in out:
            print("FAIL: completions of 'cache p' lack %r: %r" % (w, out))
            return 1
    os.write(fd, b"\x15quit\r")  # ^U clears the line
    _, status = os.waitpid(pid, 0)
    if os.WEXITSTATUS(status) != 0:
        print("FAIL: pcdn-ctl exit status %d" % os.WEXITSTATUS(status))
        return 1
    # libedit writes blanks in its history file as \040 (octal escape)
    hist = open(os.path.join(home, ".pcdn_ctl_history"), "rb").read().replace(b"\\040", b" ")
    if b"show overlay" not in hist:
        print("FAIL: history lacks 'show overlay': %r" % hist)
        return 1
    print("ok pty")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the RELOAD overlay integration tests: credentials, overlay document, pcdn-node
processes and their control sockets (STATUS/LENGTH framing)."""
import os
import random
import signal
import socket
import subprocess
import time


class Reply:
    def __init__(self, status, text, body):
        self.status = status
        self.text = text
        self.body = body

    def field(self, name):
        for line in self.body.splitlines():
            parts = line.split(' ', 1)
            if parts[0] == name:
                return parts[1] if len(parts) > 1 else ''
        return None


def ctl(path, line, timeout=30.0):
    """One command on a control socket; returns a Reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(line.encode() + b'\n')
        buf = b''
        while buf.count(b'\n') < 2:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError('control socket closed')
            buf += chunk
        l1, l2, rest = buf.split(b'\n', 2)
        st = l1.decode().split(' ', 2)
        if st[0] != 'STATUS' or not l2.startswith(b'LENGTH '):
            raise ValueError('bad reply framing: %r' % buf[:80])
        n = int(l2.decode().split(' ')[1])
        while len(rest) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError('short body')
            rest += chunk
        return Reply(int(st[1]), st[2] if len(st) > 2 else '', rest[:n].decode(errors='replace'))
    finally:
        s.close()


def wait_for(what, cond, deadline_s, explain=None):
    """Polls cond() until it is true; the deadline only bounds a hung test (liveness), it is
    not a performance assertion. explain() says what is still wrong when it gives up."""
    start = time.monotonic()
    end = start + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            last = cond()
            if last:
                return last
        except (OSError, ValueError, ConnectionError) as e:
            last = e
        time.sleep(0.2)
    why = ''
    if explain:
        try:
            why = '; ' + explain()
        except (OSError, ValueError, ConnectionError) as e:
            why = '; %r' % e
    raise AssertionError('gave up waiting for %s after %.1f s (last: %r%s)'
                         % (what, time.monotonic() - start, last, why))


def free_base(count, hint=0):
    """A base port such that base+1..base+count+1 are free for TCP and UDP on 127.0.0.1:
    several checkouts may run these tests at once, so fixed ports would collide."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for attempt in range(200):
        base = hint if (attempt == 0 and hint) else rng.randrange(20000, 60000 - count - 2)
        ok = True
        held = []
        for p in range(base + 1, base + count + 2):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                try:
                    s.bind(('127.0.0.1', p))
                except OSError:
                    ok = False
                    break
            if not ok:
                break
        for s in held:
            s.close()
        if ok:
            return base
    raise RuntimeError('no free port range')


class Overlay:
    def __init__(self, node_bin, workdir, n, base_port, link='tls', kinds=None, extra_conf='',
                 seed=1):
        self.bin = node_bin
        self.dir = workdir
        self.n = n
        # base_port is a preference; a range in use elsewhere is replaced by a free one
        self.base = free_base(n + 2, base_port)
        self.link = link
        self.procs = {}
        self.ids = {}
        self.extra = extra_conf
        self.rng = random.Random(seed)
        self.logs = {}
        os.makedirs(workdir, exist_ok=True)

    def run(self, *args):
        r = subprocess.run([self.bin] + list(args), cwd=self.dir, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError('%s failed: %s' % (' '.join(args), r.stderr))
        return r.stdout

    def make_credentials(self):
        self.run('cert', 'ca', '--key', 'ca.key', '--cert', 'ca.crt', '--ec')
        for i in range(1, self.n + 1):
            out = self.run('cert', 'issue', '--ca-key', 'ca.key', '--ca-cert', 'ca.crt',
                           '--overlay', 'pcdn.test', '--user', self.user(i), '--key',
                           'n%d.key' % i, '--cert', 'n%d.crt' % i, '--ec')
            for line in out.splitlines():
                if line.startswith('node-id '):
                    self.ids[i] = line.split()[1]
        root = self.run('cert', 'root', '--cert', 'ca.crt').strip()
        self.write_overlay(root)

    def user(self, i):
        return 'node%d@pcdn.test' % i

    def port(self, i):
        return self.base + i

    def write_overlay(self, root, name='overlay.xml'):
        doc = '''<?xml version="1.0" encoding="UTF-8"?>
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
      <kind-block><kind id="4000"><data-model>SINGLE</data-model><access-control>USER-MATCH</access-control><max-count>1</max-count><max-size>1000</max-size></kind></kind-block>
      <kind-block><kind id="4001"><data-model>DICTIONARY</data-model><access-control>USER-NODE-MATCH</access-control><max-count>100</max-count><max-size>1000</max-size></kind></kind-block>
      <kind-block><kind id="4002"><data-model>ARRAY</data-model><access-control>NODE-MATCH</access-control><max-count>100</max-count><max-size>1000</max-size></kind></kind-block>
    </required-kinds>
  </configuration>
</overlay>
''' % (root, self.port(1))
        with open(os.path.join(self.dir, name), 'w') as f:
            f.write(doc)

    def sock(self, i):
        return os.path.join(self.dir, 'n%d.sock' % i)

    def write_conf(self, i, cert=None, key=None, overlay='overlay.xml', bootstrap=None):
        conf = '''overlay = "%s";
certificate = "%s";
key = "%s";
tls = "127.0.0.1:%d";
dtls = "127.0.0.1:%d";
prefer = "%s";
bootstrap_link = "%s";
control = "%s";
update_interval_ms = 2000;
finger_interval_ms = 3000;
holddown_ms = 300;
sr_rto_ms = 200;
log_level = "%s";
%s
''' % (overlay, cert or 'n%d.crt' % i, key or 'n%d.key' % i, self.port(i), self.port(i),
            self.link, self.link, self.sock(i), os.environ.get("OVERLAY_LOG", "notice"), self.extra)
        if bootstrap:
            # a restarted node joins through running peers, not the document's first peer
            conf += 'bootstrap = [ %s ];\n' % ', '.join('"127.0.0.1:%d"' % self.port(b)
                                                        for b in bootstrap)
        path = os.path.join(self.dir, 'n%d.conf' % i)
        with open(path, 'w') as f:
            f.write(conf)
        return path

    def start(self, i, env=None, **kw):
        path = self.write_conf(i, **kw)
        if os.path.exists(self.sock(i)):
            os.unlink(self.sock(i))
        log = open(os.path.join(self.dir, 'n%d.log' % i), 'ab')
        self.logs[i] = log
        e = dict(os.environ)
        if env:
            e.update(env)
        self.procs[i] = subprocess.Popen([self.bin, '-c', path], cwd=self.dir, stdout=log,
                                         stderr=log, env=e)
        wait_for('control socket of node %d' % i, lambda: os.path.exists(self.sock(i)), 20)

    def kill9(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_all(self):
        for i, p in list(self.procs.items()):
            p.send_signal(signal.SIGKILL)
            p.wait()
        self.procs.clear()
        for log in self.logs.values():
            log.close()

    def alive(self):
        return sorted(self.procs.keys())

    def state(self, i):
        return ctl(self.sock(i), 'show overlay').field('state')

    def ring_ok(self, members):
        """Every member joined and its first successor and predecessor are its ring
        neighbors among members."""
        return not self.ring_faults(members, first_only=True)

    def ring_faults(self, members, first_only=False):
        """The members that are not joined or whose first successor or predecessor is not
        their ring neighbor, one line each (node, state, what it has and what it should)."""
        order = sorted(members, key=lambda i: self.ids[i])
        faults = []
        for k, i in enumerate(order):
            r = ctl(self.sock(i), 'show successors')
            succ = {}
            pred = {}
            for line in r.body.splitlines():
                w = line.split()
                (succ if w[0] == 'succ' else pred)[int(w[1])] = w[2]
            state = self.state(i)
            want_s = self.ids[order[(k + 1) % len(order)]]
            want_p = self.ids[order[(k - 1) % len(order)]]
            alone = len(order) == 1
            if state != 'joined' or (not alone and (succ.get(0) != want_s or
                                                    pred.get(0) != want_p)):
                faults.append('n%d %s succ %s (want %s) pred %s (want %s)' % (
                    i, state, (succ.get(0) or '-')[:8], want_s[:8],
                    (pred.get(0) or '-')[:8], want_p[:8]))
                if first_only:
                    break
        return faults

    def ring_order(self, members):
        return sorted(members, key=lambda i: self.ids[i])

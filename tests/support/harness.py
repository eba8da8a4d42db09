#!/usr/bin/python3
"""Interop tests: uwpx-push-server against a REAL Prosody or ejabberd.

    /usr/bin/python3 test_interop.py --server prosody|ejabberd \
        --daemon <build>/component/uwpx-push-server \
        --fake-wns <build>/tests/support/fake-wns [--keep] [-v] [unittest args]

One run starts, in a fresh temporary directory and on free loopback ports:
throw-away certificates (openssl), the fake WNS (fake-wns), the XMPP server
configured with the operator snippet from resources/ (only names, ports and
the secret substituted), and the daemon pointed at both. Scripted users
(python3-slixmpp) enable XEP-0357 push with what the daemon handed out over
its TLS registration endpoint, and the test watches what reaches the fake WNS
and how the XMPP server reacts to the daemon's answers.

Missing prosody, ejabberd or slixmpp is a failure, never a skip. Every process
started here is stopped by PID at the end, even on failure. The last line
printed is "N passed, N failed"; the exit status is non-zero on any failure.
"""

import argparse
import asyncio
import ctypes
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
PROSODY_SNIPPET = os.path.join(SOURCE_ROOT, 'resources', 'prosody', 'uwpx-push.cfg.lua')
EJABBERD_SNIPPET = os.path.join(SOURCE_ROOT, 'resources', 'ejabberd', 'uwpx-push.yml')

DOMAIN = 'localhost'
COMPONENT_JID = 'push.localhost'
COMPONENT_SECRET = 'interop-component-secret'
PACKAGE_SID = 'ms-app://s-1-15-2-1234'
WNS_CLIENT_SECRET = 'wns-client-secret'
PASSWORD = 'interop-password'
SENDER = 'bob'
# One user per scenario, so push registrations of one cannot disturb another.
USERS = [SENDER, 'alice_v2', 'alice_v1', 'carol_badsecret', 'dave_badnode', 'erin_gone',
         'frank_restart', 'grace_disco', 'heidi_hibernated', 'ivan_transient', 'judy_frozen']

# XEP-0357 §7.1 / SPEC §5: the error type that goes with each condition.
ERROR_TYPES = {'forbidden': 'auth', 'item-not-found': 'cancel'}

ARGS = None
log = logging.getLogger('interop')


# --------------------------------------------------------------------------
# Small helpers


def wait_for(predicate, timeout, what, diagnostics=None):
    """Polls predicate until it returns something truthy; fails with `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = ''
            if diagnostics:
                try:
                    extra = '\n' + diagnostics()
                except Exception as e:  # diagnostics must never hide the failure
                    extra = '\n(diagnostics failed: %r)' % e
            raise AssertionError('timed out after %.1f s waiting for %s%s' % (timeout, what, extra))
        time.sleep(0.05)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return True
    except OSError:
        return False


def read_text(path):
    try:
        with open(path, 'r', encoding='utf-8', errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def tail(path, lines=40):
    text = read_text(path).splitlines()
    return '--- %s (last %d lines)\n%s' % (path, lines, '\n'.join(text[-lines:]))


def substitute(text, replacements, source):
    """Replaces each name in the operator snippet; every one must occur."""
    for old, new in replacements:
        if old not in text:
            raise AssertionError('%s no longer contains %r: update test_interop.py' % (source, old))
        text = text.replace(old, new)
    return text


def children_of(pid, direct=False):
    """All descendants of pid (or only its children), from /proc."""
    parents = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(')') + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    if direct:
        return parents.get(pid, [])
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
        return stat[stat.rindex(')') + 2] != 'Z'
    except (OSError, ValueError):
        return False


def sha256_hex(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


RUNNING = []  # every Process not yet stopped, for the signal handler

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """In the child: SIGKILL it should this test process die without
    cleaning up (PR_SET_PDEATHSIG), so no server is left holding its ports."""
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def stop_all_and_exit(signum, _frame):
    """SIGTERM/SIGINT/SIGHUP (ctest timeout, ^C): stop what we started, by PID."""
    print('interrupted by signal %d: stopping %d process(es)' % (signum, len(RUNNING)))
    for process in list(reversed(RUNNING)):
        try:
            process.stop(sig=signal.SIGKILL, timeout=5, signal_children=True)
        except Exception as e:
            print('stopping %s: %r' % (process.name, e))
    print('0 passed, 1 failed')
    sys.stdout.flush()
    os._exit(1)


class Process:
    """A child process in its own session, logging to files, stopped by PID."""

    def __init__(self, name, argv, directory, env=None, stdout=None):
        self.name = name
        self.argv = argv
        self.stdout_path = os.path.join(directory, name + '.stdout')
        self.stderr_path = os.path.join(directory, name + '.stderr')
        self._stdout = open(self.stdout_path, 'ab') if stdout is None else stdout
        self._stderr = open(self.stderr_path, 'ab')
        log.debug('starting %s: %s', name, ' '.join(argv))
        self.popen = subprocess.Popen(argv, cwd=directory, env=env, stdin=subprocess.DEVNULL,
                                      stdout=self._stdout, stderr=self._stderr,
                                      start_new_session=True, preexec_fn=die_with_parent)
        self.pid = self.popen.pid
        RUNNING.append(self)

    def running(self):
        return self.popen.poll() is None

    def freeze(self):
        """SIGSTOP to the whole process group: alive, connected, and silent."""
        os.killpg(self.pid, signal.SIGSTOP)

    def thaw(self):
        os.killpg(self.pid, signal.SIGCONT)

    def pids(self):
        return ([self.pid] if self.running() else []) + children_of(self.pid)

    def stop(self, sig=signal.SIGTERM, timeout=20, signal_children=False):
        """Signals the process (or, with signal_children, its descendants, for
        wrapper scripts that do not forward signals), waits, then SIGKILLs the
        whole process group (our own session, created at start)."""
        if self.running():
            targets = children_of(self.pid, direct=True) if signal_children else []
            for pid in targets or [self.pid]:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning('%s did not stop on %s; SIGKILL', self.name, sig.name)
        leftovers = [pid for pid in [self.pid] + children_of(self.pid) if alive(pid)]
        if leftovers:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # the group we created
            except ProcessLookupError:
                pass
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self._stdout, self._stderr):
            if hasattr(f, 'close'):
                f.close()
        if self in RUNNING:
            RUNNING.remove(self)


def listeners_of(pids):
    """(local address, pid) of TCP listeners owned by pids, from `ss -ltnpH`."""
    out = subprocess.run(['ss', '-ltnpH'], capture_output=True, text=True, check=True).stdout
    result = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        for pid in re.findall(r'pid=(\d+)', line):
            if int(pid) in pids:
                result.append((fields[3], int(pid)))
    return result


# --------------------------------------------------------------------------
# Certificates, fake WNS, daemon, registration client


def make_pki(directory):
    """A CA and a localhost/127.0.0.1 server certificate, as tests/support/testpki.cpp."""
    ca_key = os.path.join(directory, 'ca.key')
    ca = os.path.join(directory, 'ca.pem')
    key = os.path.join(directory, 'server.key')
    csr = os.path.join(directory, 'server.csr')
    cert = os.path.join(directory, 'server.pem')
    ext = os.path.join(directory, 'server.ext')
    with open(ext, 'w') as f:
        f.write('basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n'
                'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n')
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    for argv in (['req', '-x509'] + ec + ['-days', '2', '-subj', '/CN=uwpx interop CA',
                                          '-keyout', ca_key, '-out', ca],
                 ['req'] + ec + ['-subj', '/CN=localhost', '-keyout', key, '-out', csr],
                 ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', ca_key, '-CAcreateserial',
                  '-days', '2', '-extfile', ext, '-out', cert]):
        subprocess.run(['openssl'] + argv, check=True, capture_output=True, timeout=60)
    return ca, cert, key


class FakeWns:
    def __init__(self, binary, directory, ca, cert, key):
        self.ca = ca
        self.process = Process('fake-wns', [binary, '--cert', cert, '--key', key,
                                            '--client-id', PACKAGE_SID,
                                            '--client-secret', WNS_CLIENT_SECRET, '--port', '0'],
                               directory)
        self.context = ssl.create_default_context(cafile=ca)
        self.port = wait_for(self._port, 30, 'fake-wns to print its port',
                             lambda: tail(self.process.stderr_path))

    def _port(self):
        if not self.process.running():
            raise AssertionError('fake-wns exited: ' + tail(self.process.stderr_path))
        line = read_text(self.process.stdout_path).split('\n', 1)[0]
        if not line.endswith('}'):
            return None
        return json.loads(line)['port']

    def url(self, path):
        return 'https://127.0.0.1:%d%s' % (self.port, path)

    def _call(self, method, path):
        request = urllib.request.Request(self.url(path), method=method,
                                         data=b'' if method == 'POST' else None)
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            return json.loads(response.read().decode('utf-8'))

    def requests(self, path=None):
        found = self._call('GET', '/_control/requests')
        return [r for r in found if path is None or r['path'] == path]

    def script(self, path, status, repeat=1):
        query = urllib.parse.urlencode({'path': path, 'status': status, 'repeat': repeat})
        self._call('POST', '/_control/channel?' + query)

    def stop(self):
        self.process.stop()


class Daemon:
    def __init__(self, binary, directory, ca, cert, key, wns_port, xmpp_port):
        self.directory = directory
        self.config = os.path.join(directory, 'uwpx-push-server.ini')
        keys = {
            'xmpp': {'component_jid': COMPONENT_JID, 'host': '127.0.0.1', 'port': xmpp_port,
                     'secret': COMPONENT_SECRET},
            'registration': {'listen': '127.0.0.1:0', 'certificate': cert, 'private_key': key},
            'storage': {'driver': 'sqlite', 'path': os.path.join(directory, 'push.db'),
                        'expire_days': 30},
            'wns': {'package_sid': PACKAGE_SID, 'client_secret': WNS_CLIENT_SECRET,
                    'token_url': 'https://127.0.0.1:%d/accesstoken.srf' % wns_port,
                    'channel_hosts': '127.0.0.1', 'ca_file': ca},
            'metrics': {'listen': '127.0.0.1:0'},
        }
        with open(self.config, 'w') as f:
            for section, values in keys.items():
                f.write('[%s]\n' % section)
                for k, v in values.items():
                    f.write('%s = %s\n' % (k, v))
                f.write('\n')
        env = dict(os.environ)
        env['QT_LOGGING_RULES'] = 'uwpx.*.debug=true'
        self.process = Process('daemon', [binary, '--config', self.config], directory, env=env)
        self.log_path = self.process.stderr_path
        self.port = int(self.wait_log(r'listening for registrations on .* port (\d+)', 0, 30)
                        .group(1))
        metrics = re.search(r'serving /health and /metrics on .* port (\d+)', self.log())
        self.metrics_port = int(metrics.group(1)) if metrics else None

    def log(self):
        return read_text(self.log_path)

    def mark(self):
        return len(self.log())

    def wait_log(self, pattern, since, timeout, what=None):
        def found():
            if not self.process.running():
                raise AssertionError('the daemon exited (%s)\n%s'
                                     % (self.process.popen.returncode, tail(self.log_path)))
            return re.search(pattern, self.log()[since:])
        return wait_for(found, timeout, what or 'daemon log: ' + pattern,
                        lambda: tail(self.log_path))

    def metric(self, name, labels=''):
        """A counter from /metrics, or None when the daemon has no metrics endpoint."""
        if self.metrics_port is None:
            return None
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % self.metrics_port,
                                    timeout=10) as response:
            text = response.read().decode('utf-8')
        series = name + ('{%s}' % labels if labels else '')
        for line in text.splitlines():
            if line.startswith(series + ' '):
                return float(line.split()[-1])
        return 0.0

    def publishes(self, outcome):
        return self.metric('uwpx_publishes_total', 'outcome="%s"' % outcome)

    def stop(self):
        self.process.stop()


class RegistrationClient:
    """The UWPX side of SPEC §3: TLS, one JSON object + NUL per message."""

    def __init__(self, port, ca):
        context = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection(('127.0.0.1', port), timeout=15)
        self.sock = context.wrap_socket(raw, server_hostname='localhost')
        self.buffer = b''

    def request(self, message):
        self.sock.sendall(json.dumps(message).encode('utf-8') + b'\0')
        while b'\0' not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError('registration connection closed; sent %r' % message)
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(b'\0', 1)
        return json.loads(frame.decode('utf-8'))

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# The XMPP servers


class Prosody:
    name = 'prosody'

    def __init__(self, directory):
        if not shutil.which('prosody') or not shutil.which('prosodyctl'):
            raise AssertionError('prosody is not installed (apt-get install prosody prosody-modules)')
        if not os.path.exists('/usr/lib/prosody/modules/mod_cloud_notify'):
            raise AssertionError('prosody-modules (mod_cloud_notify) is not installed')
        self.directory = directory
        self.c2s_port = free_port()
        self.component_port = free_port()
        self.data = os.path.join(directory, 'prosody-data')
        os.makedirs(self.data)
        self.log_path = os.path.join(directory, 'prosody.log')
        self.config = os.path.join(directory, 'prosody.cfg.lua')
        snippet = substitute(read_text(PROSODY_SNIPPET), [
            ('"push.example.org"', '"%s"' % COMPONENT_JID),
            ('"example.org"', '"%s"' % DOMAIN),
            ('"change-me"', '"%s"' % COMPONENT_SECRET),
            ('component_ports = { 5347 }', 'component_ports = { %d }' % self.component_port),
        ], PROSODY_SNIPPET)
        with open(os.path.join(directory, 'uwpx-push.cfg.lua'), 'w') as f:
            f.write(snippet)
        with open(self.config, 'w') as f:
            f.write('''-- generated by test_interop.py
run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{data}"
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{log}" }} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_interfaces = {{ "127.0.0.1" }}
-- No TLS on loopback: the scripted users log in with SCRAM-SHA-1 in clear.
c2s_require_encryption = false
authentication = "internal_hashed"
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "posix" }}
-- Keep off the network: no s2s (it would open 5269 on all interfaces).
modules_disabled = {{ "s2s"; "s2s_auth_certs" }}
Include "uwpx-push.cfg.lua"
'''.format(dir=directory, data=self.data, log=self.log_path, c2s=self.c2s_port))
        self.process = None

    def log(self):
        return read_text(self.log_path)

    def mark(self):
        return len(self.log())

    def register(self, users):
        for user in users:
            subprocess.run(['prosodyctl', '--config', self.config, 'register', user, DOMAIN,
                            PASSWORD], check=True, capture_output=True, timeout=60,
                           cwd=self.directory)

    def start(self):
        self.process = Process('prosody', ['prosody', '-F', '--config', self.config],
                               self.directory)

        def ready():
            if not self.process.running():
                raise AssertionError('prosody exited\n' + tail(self.log_path)
                                     + '\n' + tail(self.process.stderr_path))
            return port_open(self.c2s_port) and port_open(self.component_port)
        wait_for(ready, 30, 'prosody to listen', lambda: tail(self.log_path))

    def pids(self):
        return self.process.pids() if self.process else []

    def kill(self):
        self.process.stop(sig=signal.SIGKILL, timeout=10)

    def stop(self):
        if self.process:
            self.process.stop()

    def component_authenticated(self, since):
        return 'External component successfully authenticated' in self.log()[since:]

    def push_error(self, since, condition):
        """Prosody's mod_cloud_notify logs each error it gets back."""
        match = re.search(r'Got error <(\w+):%s:[^>]*> for identifier' % re.escape(condition),
                          self.log()[since:])
        return match.group(1) if match else None


class Ejabberd:
    name = 'ejabberd'

    def __init__(self, directory):
        if not shutil.which('ejabberdctl'):
            raise AssertionError('ejabberd is not installed (apt-get install ejabberd)')
        self.directory = directory
        self.c2s_port = free_port()
        self.component_port = free_port()
        self.dist_port = free_port()
        self.spool = os.path.join(directory, 'ejabberd-spool')
        self.logs = os.path.join(directory, 'ejabberd-logs')
        os.makedirs(self.spool)
        os.makedirs(self.logs)
        self.log_path = os.path.join(self.logs, 'ejabberd.log')
        self.config = os.path.join(directory, 'ejabberd.yml')
        self.ctl_config = os.path.join(directory, 'ejabberdctl.cfg')
        self.node = 'uwpxinterop%d@localhost' % os.getpid()
        snippet_path = os.path.join(directory, 'uwpx-push.yml')
        snippet = substitute(read_text(EJABBERD_SNIPPET), [
            ('push.example.org:', COMPONENT_JID + ':'),
            ('password: "change-me"', 'password: "%s"' % COMPONENT_SECRET),
            ('port: 5347', 'port: %d' % self.component_port),
        ], EJABBERD_SNIPPET)
        with open(snippet_path, 'w') as f:
            f.write(snippet)
        with open(self.config, 'w') as f:
            f.write('''# generated by test_interop.py
hosts:
  - {domain}
loglevel: debug
certfiles: []
acme:
  auto: false
# Keep off the network: no s2s, no other listeners than these two.
s2s_access: none
auth_method: internal
listen:
  -
    port: {c2s}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
modules:
  mod_disco: {{}}
  mod_roster: {{}}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {{}}
  mod_stream_mgmt: {{}}
  mod_client_state: {{}}
shaper_rules:
  max_user_offline_messages: 5000
include_config_file: {snippet}
'''.format(domain=DOMAIN, c2s=self.c2s_port, snippet=snippet_path))
        # /etc/ejabberd/ejabberdctl.cfg would override --config and switch to
        # user ejabberd: our own, run as us, Erlang distribution on loopback
        # only at a fixed port (no epmd), with an explicit cookie.
        # ejabberdctl runs the Erlang VM as its child, not with exec: make the
        # VM die with that shell too (should this test be killed outright).
        erl = os.path.join(directory, 'erl')
        with open(erl, 'w') as f:
            f.write('#!/bin/sh\nexec %s/usr/bin/erl "$@"\n'
                    % ('setpriv --pdeathsig KILL ' if shutil.which('setpriv') else ''))
        os.chmod(erl, 0o755)
        with open(self.ctl_config, 'w') as f:
            f.write('''EXEC_CMD=as_current_user
ERL={erl}
ERLANG_NODE={node}
ERL_DIST_PORT={dist}
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-setcookie {cookie}"
EJABBERD_PID_PATH={dir}/ejabberd.pid
'''.format(node=self.node, dist=self.dist_port, cookie=secrets.token_hex(16), dir=directory,
           erl=erl))
        self.process = None

    def ctl(self, *args):
        return ['ejabberdctl', '--config', self.config, '--ctl-config', self.ctl_config,
                '--spool', self.spool, '--logs', self.logs] + list(args)

    def log(self):
        return read_text(self.log_path)

    def mark(self):
        return len(self.log())

    def register(self, users):
        # In parallel: every ejabberdctl call starts an Erlang VM.
        jobs = [subprocess.Popen(self.ctl('register', user, DOMAIN, PASSWORD),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 cwd=self.directory) for user in users]
        for user, job in zip(users, jobs):
            out, _ = job.communicate(timeout=120)
            if job.returncode != 0:
                raise AssertionError('ejabberdctl register %s failed: %s' % (user, out))

    def start(self):
        since = self.mark()
        self.process = Process('ejabberd', self.ctl('foreground'), self.directory)

        def ready():
            if not self.process.running():
                raise AssertionError('ejabberd exited\n' + tail(self.log_path)
                                     + '\n' + tail(self.process.stderr_path))
            # Its ports accept before it is ready: the log says when it is.
            return 'is started in the node' in self.log()[since:]
        wait_for(ready, 90, 'ejabberd to start', lambda: tail(self.log_path))

    def pids(self):
        return self.process.pids() if self.process else []

    def kill(self):
        # The beam, not the ejabberdctl shell that waits for it.
        self.process.stop(sig=signal.SIGKILL, timeout=10, signal_children=True)

    def stop(self):
        if self.process:
            self.process.stop(timeout=30, signal_children=True)

    def component_authenticated(self, since):
        return re.search(r'Accepted external component handshake authentication for %s'
                         % re.escape(COMPONENT_JID), self.log()[since:]) is not None

    def push_error(self, since, condition):
        """mod_push logs the error it got back: "..., disabling push: <condition>
        (<type>)", or for type wait "... temporarily: <condition>"."""
        prefix = r'%s rejected notification for \S+ \([^)]*\)' % re.escape(COMPONENT_JID)
        text = self.log()[since:]
        match = re.search(r'%s, disabling push: %s \((\w+)\)' % (prefix, re.escape(condition)),
                          text)
        if match:
            return match.group(1)
        if re.search(r'%s temporarily: %s' % (prefix, re.escape(condition)), text):
            return 'wait'
        return None


# --------------------------------------------------------------------------
# Scripted XMPP users (slixmpp)


class Users:
    def __init__(self, c2s_port):
        import slixmpp  # a failure here fails the run: slixmpp is required
        self.slixmpp = slixmpp
        self.port = c2s_port
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

    def run(self, coroutine, timeout=60):
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout))
        finally:
            # Every session is closed by now: end what slixmpp leaves behind.
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    async def session(self, user, stream_management=False):
        client = self.slixmpp.ClientXMPP('%s@%s/interop' % (user, DOMAIN), PASSWORD)
        client.register_plugin('xep_0030')
        client.register_plugin('xep_0199')
        started = self.loop.create_future()
        sm_enabled = self.loop.create_future()
        if stream_management:
            client.register_plugin('xep_0198')
            client.add_event_handler('sm_enabled',
                                     lambda _: sm_enabled.done() or sm_enabled.set_result(True))

        def on_start(_):
            if not started.done():
                started.set_result(True)

        def on_failure(event):
            if not started.done():
                started.set_exception(AssertionError('%s could not log in: %s' % (user, event)))
        client.add_event_handler('session_start', on_start)
        client.add_event_handler('failed_all_auth', on_failure)
        client.add_event_handler('connection_failed', on_failure)
        client.connect(('127.0.0.1', self.port), force_starttls=False, disable_starttls=True)
        await asyncio.wait_for(started, 30)
        if stream_management:
            await asyncio.wait_for(sm_enabled, 30)
        return client

    async def close(self, client):
        done = self.loop.create_future()
        client.add_event_handler('disconnected',
                                 lambda _: done.done() or done.set_result(True))
        client.disconnect(wait=5)
        await asyncio.wait_for(done, 10)

    async def _enable(self, user, node, secret, jid, hibernate=False):
        from slixmpp.exceptions import IqError
        from slixmpp.xmlstream import ET
        client = await self.session(user, stream_management=hibernate)
        try:
            if hibernate:
                # Available, as the app is: a message to the bare JID then goes
                # to this session (queued while it hibernates), not offline.
                client.send_presence()
            iq = client.make_iq_set()
            enable = ET.fromstring(
                "<enable xmlns='urn:xmpp:push:0' jid='%s' node='%s'>"
                "<x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options"
                "</value></field><field var='secret'><value>%s</value></field></x></enable>"
                % (jid, node, secret))
            iq.append(enable)
            try:
                await iq.send(timeout=15)
            except IqError as e:
                raise AssertionError('%s: enable refused: %s' % (user, e.iq['error']['condition']))
            if hibernate:
                # Whatever the server sent before (our own presence) has arrived.
                await client['xep_0199'].ping(jid=DOMAIN, timeout=15)
        finally:
            if hibernate:
                await self.drop(client)
            else:
                await self.close(client)

    async def drop(self, client):
        """What a suspended Windows app looks like to the server: the TCP
        connection ends without a closing </stream>, so the XEP-0198 session
        is kept ("hibernated") for a resumption. Everything received is acked
        first: with unacked stanzas queued, both servers push at once when the
        session hibernates (ejabberd with an empty <notification/>), which
        would make the push under test the second one."""
        done = self.loop.create_future()
        client.add_event_handler('disconnected',
                                 lambda _: done.done() or done.set_result(True))
        client['xep_0198'].send_ack()    # written to the transport at once
        client.transport.close()         # flushes the ack, then FIN, no </stream>
        await asyncio.wait_for(done, 10)

    def enable_push(self, user, node, secret, jid=COMPONENT_JID):
        """Enables XEP-0357 push, then goes offline (a clean disconnect): both
        servers push for messages stored offline for a user with push on."""
        self.run(self._enable(user, node, secret, jid))

    def enable_push_and_hibernate(self, user, node, secret, jid=COMPONENT_JID):
        """Enables push in a session with stream management, then drops the
        connection: the server pushes for stanzas it queues for that session."""
        self.run(self._enable(user, node, secret, jid, hibernate=True))

    async def _send(self, sender, to_user, body):
        client = await self.session(sender)
        try:
            client.send_message(mto='%s@%s' % (to_user, DOMAIN), mbody=body, mtype='chat')
            # The server handles a session's stanzas in order: once it answers
            # this ping, it has routed the message.
            await client['xep_0199'].ping(jid=DOMAIN, timeout=15)
        finally:
            await self.close(client)

    def send_message(self, to_user, body='hello from interop', sender=SENDER):
        self.run(self._send(sender, to_user, body))

    async def _disco(self, user, jid):
        client = await self.session(user)
        try:
            info = await client['xep_0030'].get_info(jid=jid, timeout=15, local=False)
            return (set((i[0], i[1]) for i in info['disco_info']['identities']),
                    set(info['disco_info']['features']))
        finally:
            await self.close(client)

    def disco_info(self, user, jid=COMPONENT_JID):
        return self.run(self._disco(user, jid))

    def stop(self):
        self.loop.close()


# --------------------------------------------------------------------------
# The tests


class Interop(unittest.TestCase):
    """Scenarios a–f of issue 4 (and g, h, i) against one real XMPP server
    (ARGS.server). The stack is set up once per run; each scenario has its
    own user, device and channel, so they cannot disturb one another."""

    @classmethod
    def setUpClass(cls):
        cls.started = []
        cls.handed_out = []  # account secrets the daemon returned
        cls.bare_jids = []   # v1 bare JIDs registered
        cls.addClassCleanup(cls.stop_everything)
        cls.tmp = tempfile.mkdtemp(prefix='uwpx-interop-%s-' % ARGS.server)
        log.info('working directory %s', cls.tmp)
        t0 = time.monotonic()
        cls.ca, cls.cert, cls.key = make_pki(cls.tmp)
        cls.wns = FakeWns(ARGS.fake_wns, cls.tmp, cls.ca, cls.cert, cls.key)
        cls.started.append(cls.wns)
        cls.server = (Prosody if ARGS.server == 'prosody' else Ejabberd)(cls.tmp)
        cls.users = Users(cls.server.c2s_port)
        if ARGS.server == 'prosody':
            cls.server.register(USERS)  # before start: prosodyctl writes the store
        cls.started.append(cls.server)
        cls.server.start()
        if ARGS.server == 'ejabberd':
            cls.server.register(USERS)  # ejabberdctl needs the running node
        since = cls.server.mark()
        cls.daemon = Daemon(ARGS.daemon, cls.tmp, cls.ca, cls.cert, cls.key, cls.wns.port,
                            cls.server.component_port)
        cls.started.append(cls.daemon)
        cls.daemon.wait_log(r'component %s connected to' % re.escape(COMPONENT_JID), 0, 60,
                            'the component to connect')
        wait_for(lambda: cls.server.component_authenticated(since), 30,
                 '%s to log the component login' % cls.server.name, lambda: tail(cls.server.log_path))
        log.info('stack up in %.1f s', time.monotonic() - t0)

    @classmethod
    def stop_everything(cls):
        for part in reversed(cls.started):
            try:
                part.stop()
            except Exception as e:
                log.error('stopping %s: %r', type(part).__name__, e)
        daemon = getattr(cls, 'daemon', None)
        if daemon is not None and daemon.process.popen.returncode != 0:
            # SPEC §2: SIGTERM shuts it down cleanly, exit 0.
            RESULTS['unclean_exit'] = daemon.process.popen.returncode
        if getattr(cls, 'users', None):
            cls.users.stop()
        leftovers = [(type(p).__name__, pid) for p in cls.started
                     for pid in [p.process.pid] + children_of(p.process.pid)
                     if getattr(p, 'process', None) and alive(pid)]
        RESULTS['leftover_processes'] = leftovers
        if ARGS.keep or RESULTS['failed']:
            print('logs and state kept in %s' % cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        TIMINGS.append((self.id().rsplit('.', 1)[-1], time.monotonic() - self.t0))

    def diagnostics(self):
        return '\n'.join([tail(self.daemon.log_path), tail(self.server.log_path),
                          tail(self.wns.process.stderr_path, 10)])

    def wait(self, predicate, timeout, what):
        return wait_for(predicate, timeout, what, self.diagnostics)

    # --- helpers ---------------------------------------------------------

    def register_device(self, name, version, account):
        """set_channel_uri + set_accounts; returns (device_id, channel path, account reply)."""
        device_id = secrets.token_hex(16)
        path = '/channel/%s-%s' % (ARGS.server, name)
        client = RegistrationClient(self.daemon.port, self.ca)
        try:
            reply = client.request({'version': version, 'action': 'set_channel_uri',
                                    'device_id': device_id, 'channel_uri': self.wns.url(path)})
            self.assertEqual(reply.get('status'), 1, reply)
            item = {'account_id': account} if version == 2 else {'bare_jid': account}
            reply = client.request({'version': version, 'action': 'set_accounts',
                                    'device_id': device_id, 'accounts': [item]})
        finally:
            client.close()
        self.assertEqual(reply.get('status'), 1, reply)
        self.assertEqual(reply.get('version'), version, reply)
        self.assertEqual(reply.get('action'), 'response', reply)
        self.assertEqual(reply.get('push_bare_jid'), COMPONENT_JID, reply)
        self.assertEqual(len(reply.get('accounts', [])), 1, reply)
        account_reply = reply['accounts'][0]
        for key, value in item.items():
            self.assertEqual(account_reply.get(key), value, reply)
        self.assertTrue(account_reply.get('node') and account_reply.get('secret'), reply)
        if version == 2:
            self.assertIs(account_reply.get('success'), True, reply)
        type(self).handed_out.append(account_reply['secret'])
        if version == 1:
            type(self).bare_jids.append(account)
        return device_id, path, account_reply

    def counter(self, outcome):
        value = self.daemon.publishes(outcome)
        return 0.0 if value is None else value

    def wait_publish_answered(self, outcome, before):
        """Waits for the daemon to count one more publish with this outcome
        (skipped when the build has no metrics endpoint)."""
        if self.daemon.metrics_port is None:
            return
        self.wait(lambda: self.counter(outcome) >= before + 1, 30,
                  'a publish answered %s' % outcome)

    def quiet(self, seconds, path, count):
        """Nothing more reaches the channel for a while (an absence has no
        signal to wait on, so this one is a bounded observation window)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertEqual(len(self.wns.requests(path)), count,
                             'unexpected extra WNS request(s) for %s' % path)
            time.sleep(0.1)

    def assert_notification(self, request, payload):
        headers = {k.lower(): v for k, v in request['headers'].items()}
        self.assertEqual(request['method'], 'POST')
        self.assertEqual(request['body'], payload)
        self.assertTrue(headers.get('authorization', '').startswith('Bearer '), headers)
        self.assertGreater(len(headers['authorization']), len('Bearer '), headers)
        self.assertEqual(headers.get('x-wns-type'), 'wns/raw', headers)
        self.assertEqual(headers.get('content-type'), 'application/octet-stream', headers)
        self.assertEqual(headers.get('content-length'), str(len(payload.encode('utf-8'))), headers)
        self.assertEqual(headers.get('x-wns-cache-policy', '').lower(), 'cache', headers)
        self.assertEqual(headers.get('x-wns-requestforstatus', '').lower(), 'true', headers)
        self.assertNotIn('expect', headers)
        self.assertNotIn('transfer-encoding', headers)
        for secret in ('hello', 'interop', SENDER + '@'):
            self.assertNotIn(secret, request['body'], 'payload leaks the message')

    def expected_counts(self):
        # What each server really sends: Prosody hardcodes message-count 1 and
        # leaves pending-subscription-count empty; ejabberd sends no
        # message-count at all. A missing or empty count goes to WNS as 0.
        return (1, 0) if ARGS.server == 'prosody' else (0, 0)

    def v2_payload(self, account_id):
        """The v2 raw notification for one message, with this server's counts."""
        count, pending = self.expected_counts()
        return ('{"version":2,"account_id":"%s","message_count":%d,'
                '"pending_subscription_count":%d}' % (account_id, count, pending))

    def wait_component_back(self, mark, since):
        """The daemon logs a new component login after `mark` and the server
        one after `since`."""
        self.daemon.wait_log(r'component %s connected to' % re.escape(COMPONENT_JID), mark, 90,
                             'the component to reconnect')
        self.wait(lambda: self.server.component_authenticated(since), 30,
                  '%s to log the component login' % ARGS.server)

    def push_roundtrip(self, user, version, account, name):
        device_id, path, reply = self.register_device(name, version, account)
        self.users.enable_push(user, reply['node'], reply['secret'])
        delivered = self.counter('delivered')
        t0 = time.monotonic()
        self.users.send_message(user)
        requests = self.wait(lambda: self.wns.requests(path), 30,
                             'a WNS notification on %s' % path)
        elapsed = time.monotonic() - t0
        self.wait_publish_answered('delivered', delivered)
        self.quiet(1.0, path, 1)
        self.assertEqual(len(requests), 1, requests)
        return device_id, path, requests[0], elapsed

    # --- scenarios -------------------------------------------------------

    def test_0_listens_on_loopback_only(self):
        self.assert_loopback_only()

    def assert_loopback_only(self):
        """Everything started here listens on 127.0.0.1 only (ss -ltnp)."""
        pids = set(self.wns.process.pids() + self.server.pids() + self.daemon.process.pids())
        found = listeners_of(pids)
        self.assertTrue(found, 'no listeners found for %s' % sorted(pids))
        for address, pid in found:
            self.assertTrue(address.startswith('127.0.0.1:'),
                            'pid %d listens on %s, not loopback only' % (pid, address))
        ports = {int(a.rsplit(':', 1)[1]) for a, _ in found}
        for port in (self.server.c2s_port, self.server.component_port, self.daemon.port,
                     self.wns.port):
            self.assertIn(port, ports)

    def test_a_v2_message_is_pushed(self):
        identities, features = self.users.disco_info('grace_disco')
        self.assertIn(('pubsub', 'push'), identities)
        self.assertIn('urn:xmpp:push:0', features)
        _, _, request, elapsed = self.push_roundtrip('alice_v2', 2, 'acct-alice-v2', 'a')
        self.assert_notification(request, self.v2_payload('acct-alice-v2'))
        log.info('(a) message to push in %.2f s', elapsed)

    def test_b_v1_message_is_pushed(self):
        bare_jid = 'Alice_V1@%s' % DOMAIN
        device_id, _, request, elapsed = self.push_roundtrip('alice_v1', 1, bare_jid, 'b')
        count, pending = self.expected_counts()
        account = sha256_hex(device_id + bare_jid.lower())
        self.assert_notification(request, '{"version":1,"account":"%s",'
                                          '"message_count":%d,"pending_subscription_count":%d}'
                                 % (account, count, pending))
        log.info('(b) message to push in %.2f s', elapsed)

    def refused_publish(self, user, name, node, secret, outcome, condition):
        """Enables push with node/secret, sends a message: the daemon refuses
        the publish with `condition`, nothing reaches WNS, and the server
        notices the error (Prosody logs it; ejabberd disables push at once, so
        a second message is not published at all)."""
        _, path, _ = self.register_device(name, 2, 'acct-' + user)
        before = self.counter(outcome)
        since = self.server.mark()
        self.users.enable_push(user, node, secret)
        self.users.send_message(user)
        self.wait_publish_answered(outcome, before)
        error_type = self.wait(lambda: self.server.push_error(since, condition), 30,
                               '%s to log the %s error' % (ARGS.server, condition))
        self.assertEqual(error_type, ERROR_TYPES[condition])
        if ARGS.server == 'ejabberd':
            # Disabled at the first error: the next message makes no publish.
            total = sum(self.counter(o) for o in ('delivered', 'coalesced', 'unknown_node',
                                                   'forbidden', 'transient', 'gone',
                                                   'bad_request'))
            self.users.send_message(user)
            self.quiet(1.5, path, 0)
            total_after = sum(self.counter(o) for o in ('delivered', 'coalesced',
                                                         'unknown_node', 'forbidden',
                                                         'transient', 'gone', 'bad_request'))
            self.assertEqual(total_after, total, 'ejabberd published again after the error')
        self.assertEqual(self.wns.requests(path), [])

    def test_c_wrong_secret_is_forbidden(self):
        _, _, reply = self.register_device('c-real', 2, 'acct-carol-real')
        self.refused_publish('carol_badsecret', 'c', reply['node'], 'wrong-' + reply['secret'],
                             'forbidden', 'forbidden')

    def test_d_unknown_node_is_item_not_found(self):
        self.refused_publish('dave_badnode', 'd', 'no-such-node-' + secrets.token_hex(8),
                             secrets.token_urlsafe(16), 'unknown_node', 'item-not-found')

    def test_e_gone_channel_removes_device(self):
        device_id, path, reply = self.register_device('e', 2, 'acct-erin')
        self.wns.script(path, 410)
        gone = self.counter('gone')
        since = self.server.mark()
        self.users.enable_push('erin_gone', reply['node'], reply['secret'])
        self.users.send_message('erin_gone')
        self.wait(lambda: self.wns.requests(path), 30, 'the WNS request that gets 410')
        self.wait_publish_answered('gone', gone)
        error_type = self.wait(lambda: self.server.push_error(since, 'item-not-found'), 30,
                               '%s to log item-not-found' % ARGS.server)
        self.assertEqual(error_type, 'cancel')
        client = RegistrationClient(self.daemon.port, self.ca)
        try:
            answer = client.request({'version': 2, 'action': 'set_accounts',
                                     'device_id': device_id,
                                     'accounts': [{'account_id': 'acct-erin'}]})
        finally:
            client.close()
        self.assertEqual(answer.get('status'), 0, answer)
        self.assertEqual(answer.get('error'), 'Device id unknown.', answer)
        self.assertEqual(len(self.wns.requests(path)), 1)

    def test_f_server_restart_component_reconnects(self):
        _, path, reply = self.register_device('f', 2, 'acct-frank')
        self.users.enable_push('frank_restart', reply['node'], reply['secret'])
        mark = self.daemon.mark()
        t0 = time.monotonic()
        self.server.kill()
        self.daemon.wait_log(r'component link lost', mark, 90, 'the daemon to notice the loss')
        lost = time.monotonic() - t0
        since = self.server.mark()
        self.server.start()
        restarted = time.monotonic() - t0
        self.wait_component_back(mark, since)
        reconnected = time.monotonic() - t0
        log.info('(f) link lost noticed after %.2f s, server back after %.2f s, '
                 'component back after %.2f s', lost, restarted, reconnected)
        self.assert_loopback_only()  # the restarted server too
        if ARGS.server == 'ejabberd':
            # mod_push keeps push registrations in a disc_only (dets) table,
            # which ejabberd writes out lazily: a SIGKILL loses the ones made
            # in the last minutes. Enable again, as UWPX does at every start.
            self.users.enable_push('frank_restart', reply['node'], reply['secret'])
        # (Prosody stores them at once: the registration from before the
        # crash must still work.)
        self.users.send_message('frank_restart')
        requests = self.wait(lambda: self.wns.requests(path), 30,
                             'a WNS notification after the restart')
        self.assert_notification(requests[0], self.v2_payload('acct-frank'))


    def test_g_hibernated_session_is_pushed(self):
        _, path, reply = self.register_device('g', 2, 'acct-heidi')
        self.users.enable_push_and_hibernate('heidi_hibernated', reply['node'], reply['secret'])
        delivered = self.counter('delivered')
        t0 = time.monotonic()
        self.users.send_message('heidi_hibernated')
        requests = self.wait(lambda: self.wns.requests(path), 30,
                             'a WNS notification for the hibernated session')
        elapsed = time.monotonic() - t0
        self.wait_publish_answered('delivered', delivered)
        self.quiet(1.5, path, 1)  # Prosody batches queued stanzas on a 1 s timer
        self.assert_notification(requests[0], self.v2_payload('acct-heidi'))
        log.info('(g) message to push for a hibernated session in %.2f s', elapsed)

    def test_h_transient_wns_failure_keeps_push_enabled(self):
        """WNS fails (503) for every attempt of one send: the daemon answers
        `wait`, which neither server counts against the registration, and the
        next message is pushed."""
        _, path, reply = self.register_device('h', 2, 'acct-ivan')
        # As many 503s as the daemon makes attempts per send (WnsSettings::maxAttempts).
        self.wns.script(path, 503, repeat=3)
        self.users.enable_push('ivan_transient', reply['node'], reply['secret'])
        transient = self.counter('transient')
        since = self.server.mark()
        t0 = time.monotonic()
        self.users.send_message('ivan_transient')
        self.wait_publish_answered('transient', transient)
        answered = time.monotonic() - t0
        error_type = self.wait(lambda: self.server.push_error(since, 'internal-server-error'), 30,
                               '%s to log the wait error' % ARGS.server)
        self.assertEqual(error_type, 'wait')
        self.assertLess(answered, 25, 'SPEC §5: every publish is answered within 25 s')
        failed = len(self.wns.requests(path))
        self.assertGreaterEqual(failed, 1)
        delivered = self.counter('delivered')
        self.users.send_message('ivan_transient')
        self.wait(lambda: len(self.wns.requests(path)) > failed, 30,
                  'a WNS notification for the message after the wait answer')
        self.wait_publish_answered('delivered', delivered)
        log.info('(h) publish answered wait after %.2f s and %d WNS attempt(s)', answered, failed)

    def test_i_silent_server_is_noticed_by_keepalive(self):
        """The server stops answering but closes nothing (frozen, or the path
        to it died): the keepalive notices within a minute (SPEC §5), and once
        the server answers again the component is back and pushes."""
        _, path, reply = self.register_device('i', 2, 'acct-judy')
        self.users.enable_push('judy_frozen', reply['node'], reply['secret'])
        mark = self.daemon.mark()
        since = self.server.mark()
        t0 = time.monotonic()
        self.server.process.freeze()
        try:
            self.daemon.wait_log(r'component link lost: no answer to keepalive pings', mark, 70,
                                 'the keepalive to notice the silent server')
            noticed = time.monotonic() - t0
        finally:
            self.server.process.thaw()
        self.assertLess(noticed, 60, 'a dead link must be noticed within a minute')
        self.wait_component_back(mark, since)
        log.info('(i) silent server noticed after %.2f s, component back after %.2f s',
                 noticed, time.monotonic() - t0)
        self.users.send_message('judy_frozen')
        requests = self.wait(lambda: self.wns.requests(path), 30,
                             'a WNS notification after the server answered again')
        self.assert_notification(requests[0], self.v2_payload('acct-judy'))

    def test_z_logs_keep_secrets(self):
        """SPEC §2/§4: no secret, token or bare JID in the daemon's log (debug
        output included)."""
        text = self.daemon.log()
        tokens = {r['headers'].get('Authorization', r['headers'].get('authorization', ''))
                  .split(' ', 1)[-1] for r in self.wns.requests()}
        for secret in (list(self.handed_out) + [COMPONENT_SECRET, WNS_CLIENT_SECRET]
                       + [t for t in tokens if t]):
            self.assertNotIn(secret, text, 'a secret or token is logged')
        for jid in self.bare_jids:
            self.assertNotIn(jid.lower(), text.lower(), 'a bare JID is logged')


RESULTS = {'failed': 0, 'leftover_processes': [], 'unclean_exit': None}
TIMINGS = []


class Result(unittest.TextTestResult):
    def addFailure(self, test, err):
        RESULTS['failed'] += 1
        super().addFailure(test, err)

    def addError(self, test, err):
        RESULTS['failed'] += 1
        super().addError(test, err)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--server', choices=['prosody', 'ejabberd'], required=True)
    parser.add_argument('--daemon', required=True, help='the uwpx-push-server binary')
    parser.add_argument('--fake-wns', required=True, help='the fake-wns binary')
    parser.add_argument('--keep', action='store_true', help='keep the working directory')
    parser.add_argument('-v', '--verbose', action='store_true')
    ARGS, rest = parser.parse_known_args()
    logging.basicConfig(level=logging.DEBUG if ARGS.verbose else logging.INFO,
                        format='%(asctime)s %(name)s %(levelname)s: %(message)s')
    for noisy in ('slixmpp', 'asyncio'):
        logging.getLogger(noisy).setLevel(logging.WARNING if not ARGS.verbose else logging.INFO)
    ARGS.daemon, ARGS.fake_wns = os.path.abspath(ARGS.daemon), os.path.abspath(ARGS.fake_wns)
    for path in (ARGS.daemon, ARGS.fake_wns):
        if not os.access(path, os.X_OK):
            print('%s is not an executable: build it first' % path)
            print('0 passed, 1 failed')
            return 1

    try:
        import slixmpp  # noqa: F401
    except ImportError:
        print('python3-slixmpp is not installed for %s (apt-get install python3-slixmpp)'
              % sys.executable)
        print('0 passed, 1 failed')
        return 1

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop_all_and_exit)

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Interop)
    if rest:
        suite = unittest.defaultTestLoader.loadTestsFromNames(
            [n if n.startswith('Interop') else 'Interop.' + n for n in rest],
            sys.modules[__name__])
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Result)
    t0 = time.monotonic()
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    if result.skipped:
        failed += len(result.skipped)  # nothing here may skip
    if RESULTS['leftover_processes']:
        print('FAIL: processes still running after cleanup: %r' % RESULTS['leftover_processes'])
        failed += 1
    if RESULTS['unclean_exit'] is not None:
        print('FAIL: the daemon exited with %r on SIGTERM, not 0' % RESULTS['unclean_exit'])
        failed += 1
    for name, seconds in TIMINGS:
        print('%-50s %6.2f s' % (name, seconds))
    passed = result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
    print('%s: %.1f s' % (ARGS.server, time.monotonic() - t0))
    print('%d passed, %d failed' % (max(passed, 0), failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == '__main__':
    sys.exit(main())

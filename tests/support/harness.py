"""What the Python suites share: real servers (Prosody, ejabberd), the fake
WNS and the daemon as child processes on loopback, scripted XMPP users
(python3-slixmpp), and a unittest runner that reports "N passed, N failed".

Every process started here runs in its own session, dies with the test
process (PR_SET_PDEATHSIG), and is stopped by PID, even on failure.
Run with /usr/bin/python3 (Debian's, the one python3-slixmpp is for).
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
import urllib.error
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
SENDER = 'bob'  # the user who sends the messages that cause pushes

log = logging.getLogger('harness')


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

    def stall(self, path):
        """The next request to `path` gets no answer until release()."""
        self._call('POST', '/_control/channel?' + urllib.parse.urlencode({'path': path,
                                                                          'stall': 1}))

    def release(self, status):
        """Answers every stalled request with `status`."""
        self._call('POST', '/_control/release?status=%d' % status)

    def stop(self):
        self.process.stop()


class Daemon:
    """uwpx-push-server with a configuration pointing at the fake WNS and an
    XMPP server's component port. `overrides` ({section: {key: value}})
    change or add keys; `name` keeps the files of several instances apart."""

    def __init__(self, binary, directory, ca, cert, key, wns_port, xmpp_port, name='daemon',
                 overrides=None):
        self.directory = directory
        self.name = name
        self.killed = False
        self.config = os.path.join(directory, name + '.ini')
        self.db_path = os.path.join(directory, name + '.db')
        keys = {
            'xmpp': {'component_jid': COMPONENT_JID, 'host': '127.0.0.1', 'port': xmpp_port,
                     'secret': COMPONENT_SECRET},
            # Every test client comes from 127.0.0.1: the limits per client
            # address are out of the way.
            'registration': {'listen': '127.0.0.1:0', 'certificate': cert, 'private_key': key,
                             'max_connections_per_address': 100000,
                             'rate_per_address': 100000, 'rate_per_device': 100000,
                             'test_push_interval': 1},
            'storage': {'driver': 'sqlite', 'path': self.db_path},
            'wns': {'package_sid': PACKAGE_SID, 'client_secret': WNS_CLIENT_SECRET,
                    'token_url': 'https://127.0.0.1:%d/accesstoken.srf' % wns_port,
                    'channel_hosts': '127.0.0.1', 'ca_file': ca},
            'metrics': {'listen': '127.0.0.1:0'},
        }
        for section, values in (overrides or {}).items():
            keys.setdefault(section, {}).update(values)
        with open(self.config, 'w') as f:
            for section, values in keys.items():
                f.write('[%s]\n' % section)
                for k, v in values.items():
                    f.write('%s = %s\n' % (k, v))
                f.write('\n')
        env = dict(os.environ)
        env['QT_LOGGING_RULES'] = 'uwpx.*.debug=true'
        self.process = Process(name, [binary, '--config', self.config], directory, env=env)
        self.log_path = self.process.stderr_path
        self.port = int(self.wait_log(r'listening for registrations on .* port (\d+)', 0, 30)
                        .group(1))
        # The endpoint starts just after registrations and logs its own line,
        # which a read right after the first may not see yet.
        self.metrics_port = None
        if keys.get('metrics', {}).get('listen'):
            self.metrics_port = int(self.wait_log(
                r'serving /health and /metrics on .* port (\d+)', 0, 30).group(1))

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

    def health(self):
        """(HTTP status, JSON body) of /health."""
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/health' % self.metrics_port,
                                        timeout=10) as response:
                return response.status, json.loads(response.read().decode('utf-8'))
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode('utf-8'))

    def xmpp_role(self):
        """What /health says of the XMPP link: connected, standby or disconnected."""
        return self.health()[1].get('xmpp')

    def stop(self):
        """SIGTERM: the README says it then shuts down cleanly, with exit 0."""
        if not self.killed:
            self.process.stop()

    def kill(self):
        """SIGKILL: a crash. Its exit status is no failure of the run."""
        self.killed = True
        self.process.stop(sig=signal.SIGKILL, timeout=10)

    def clean_exit(self):
        """Whether it ended with status 0 (None while it runs or after kill())."""
        code = self.process.popen.poll()
        return None if code is None or self.killed else code == 0



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

    def push_errors(self, since):
        """Every error a push got back since `since`: (type, condition), also
        those Prosody made itself (no component connected: wait)."""
        return re.findall(r'Got error <(\w+):([\w-]+)[^>]*> for identifier', self.log()[since:])


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

    def push_errors(self, since):
        """Every error a push got back since `since`: (type, condition)."""
        prefix = r'%s rejected notification for \S+ \([^)]*\)' % re.escape(COMPONENT_JID)
        text = self.log()[since:]
        return ([(kind, condition) for condition, kind in
                 re.findall(r'%s, disabling push: ([\w-]+) \((\w+)\)' % prefix, text)] +
                [('wait', condition) for condition in
                 re.findall(r'%s temporarily: ([\w-]+)' % prefix, text)])


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
# PostgreSQL (a throw-away cluster started by tests/storage/with-postgresql.sh)


def postgresql_storage(name):
    """A fresh database in the cluster with-postgresql.sh started (its
    UWPX_TEST_PG_* variables), as the daemon's [storage] keys. Fails, never
    skips, when the suite was not started under with-postgresql.sh."""
    env = {key: os.environ.get('UWPX_TEST_PG_' + key.upper(), '')
           for key in ('host', 'port', 'database', 'user', 'password')}
    if not env['port']:
        raise AssertionError('UWPX_TEST_PG_* are not set: run this suite through '
                             'tests/storage/with-postgresql.sh')
    database = '%s_%d' % (name, os.getpid())
    subprocess.run(['psql', '-h', env['host'], '-p', env['port'], '-U', env['user'],
                    '-d', env['database'], '-v', 'ON_ERROR_STOP=1',
                    '-c', 'CREATE DATABASE %s' % database],
                   check=True, capture_output=True, timeout=60,
                   env=dict(os.environ, PGPASSWORD=env['password']))
    return {'driver': 'postgresql', 'host': env['host'], 'port': env['port'],
            'database': database, 'user': env['user'], 'password': env['password']}


# --------------------------------------------------------------------------
# A suite's stack and the runner

ARGS = None  # the parsed command line, set by main()
RESULTS = {'failed': 0, 'leftover_processes': [], 'unclean_exits': []}
TIMINGS = []
REPORT = []  # lines a suite wants printed before the summary (figures)


class StackTest(unittest.TestCase):
    """Tests against a stack of real processes started once for the class
    (setUpClass calls begin() and start_daemon()) and stopped once at the end,
    in reverse order. Leftover processes and daemons that do not exit 0 on
    SIGTERM fail the run."""

    @classmethod
    def begin(cls, label):
        """A fresh working directory, throw-away certificates and the fake WNS."""
        cls.started = []
        cls.addClassCleanup(cls.stop_everything)
        cls.tmp = tempfile.mkdtemp(prefix='uwpx-%s-' % label)
        log.info('working directory %s', cls.tmp)
        cls.ca, cls.cert, cls.key = make_pki(cls.tmp)
        cls.wns = cls.keep(FakeWns(ARGS.fake_wns, cls.tmp, cls.ca, cls.cert, cls.key))

    @classmethod
    def keep(cls, part):
        """Remembers a started part (anything with stop()) for the final cleanup."""
        cls.started.append(part)
        return part

    @classmethod
    def start_daemon(cls, xmpp_port, name='daemon', overrides=None):
        return cls.keep(Daemon(ARGS.daemon, cls.tmp, cls.ca, cls.cert, cls.key, cls.wns.port,
                               xmpp_port, name, overrides))

    @classmethod
    def stop_everything(cls):
        for part in reversed(cls.started):
            try:
                part.stop()
            except Exception as e:
                log.error('stopping %s: %r', type(part).__name__, e)
            if isinstance(part, Daemon) and part.clean_exit() is False:
                RESULTS['unclean_exits'].append((part.name, part.process.popen.returncode))
        RESULTS['leftover_processes'] += [
            (type(p).__name__, pid) for p in cls.started
            for pid in [p.process.pid] + children_of(p.process.pid)
            if getattr(p, 'process', None) and alive(pid)]
        if ARGS.keep or RESULTS['failed']:
            print('logs and state kept in %s' % cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        TIMINGS.append((self.id().rsplit('.', 1)[-1], time.monotonic() - self.t0))

    def diagnostics(self):
        """The end of every log of the stack, for failure messages."""
        paths = [getattr(p, 'log_path', None) or p.process.stderr_path for p in self.started
                 if getattr(p, 'log_path', None) or getattr(p, 'process', None)]
        return '\n'.join(tail(path, 25) for path in paths)

    def wait(self, predicate, timeout, what):
        return wait_for(predicate, timeout, what, self.diagnostics)


class Result(unittest.TextTestResult):
    def addFailure(self, test, err):
        RESULTS['failed'] += 1
        super().addFailure(test, err)

    def addError(self, test, err):
        RESULTS['failed'] += 1
        super().addError(test, err)


def main(case, description, add_arguments=None, label=None):
    """Runs the tests of `case` (or those named on the command line) and
    prints "N passed, N failed" last; returns the exit status. Every suite
    takes --daemon, --fake-wns, --keep and -v; add_arguments adds its own,
    and label(arguments) names the run in the timing line."""
    global ARGS
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--daemon', required=True, help='the uwpx-push-server binary')
    parser.add_argument('--fake-wns', required=True, help='the fake-wns binary')
    parser.add_argument('--keep', action='store_true', help='keep the working directory')
    parser.add_argument('-v', '--verbose', action='store_true')
    if add_arguments:
        add_arguments(parser)
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

    loader = unittest.defaultTestLoader
    suite = (loader.loadTestsFromNames([case.__name__ + '.' + n.split('.')[-1] for n in rest],
                                       sys.modules[case.__module__])
             if rest else loader.loadTestsFromTestCase(case))
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Result)
    t0 = time.monotonic()
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    failed += len(result.skipped)  # nothing here may skip
    if RESULTS['leftover_processes']:
        print('FAIL: processes still running after cleanup: %r' % RESULTS['leftover_processes'])
        failed += 1
    for name, code in RESULTS['unclean_exits']:
        print('FAIL: %s exited with %r on SIGTERM, not 0' % (name, code))
        failed += 1
    for name, seconds in TIMINGS:
        print('%-60s %6.2f s' % (name, seconds))
    for line in REPORT:
        print(line)
    passed = result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
    print('%s: %.1f s' % (label(ARGS) if label else case.__name__, time.monotonic() - t0))
    print('%d passed, %d failed' % (max(passed, 0), failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1

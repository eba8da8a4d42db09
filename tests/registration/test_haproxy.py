#!/usr/bin/python3
"""PROXY protocol: real HAProxy in front of two instances' registration ports.

    /usr/bin/python3 test_haproxy.py --daemon <build>/daemon/uwpx-push-server \
        --fake-wns <build>/tests/support/fake-wns [--keep] [-v] [test names]

HAProxy (Debian's, started here on loopback) forwards one port to instance
`a` with `send-proxy` (version 1) and another to instance `b` with
`send-proxy-v2`; both trust HAProxy's address ([registration]
proxy_protocol_from = 127.0.0.1) and allow one request per second per client
address (bursts of four). Clients connect from 127.0.0.2 and 127.0.0.3: each
address must be limited on its own, although every connection comes from
HAProxy. A third instance does not trust HAProxy, and a client that sends a
header itself is not trusted either: both are refused.

The last line printed is "N passed, N failed".
"""

import json
import os
import socket
import ssl
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import uwpx_client  # noqa: E402
from harness import Process, StackTest, free_port, port_open, tail  # noqa: E402

TOO_MANY = 'Too many requests'


class HAProxy:
    """haproxy -db (foreground) with a TCP-mode configuration of our own."""

    def __init__(self, directory, routes):
        """routes: [(frontend port, backend port, server options)]."""
        config = os.path.join(directory, 'haproxy.cfg')
        lines = ['global', '    maxconn 256', '', 'defaults', '    mode tcp',
                 '    timeout connect 5s', '    timeout client 30s', '    timeout server 30s', '']
        for i, (front, back, options) in enumerate(routes):
            lines += ['listen route%d' % i, '    bind 127.0.0.1:%d' % front,
                      '    server instance 127.0.0.1:%d %s' % (back, options), '']
        with open(config, 'w') as f:
            f.write('\n'.join(lines))
        self.process = Process('haproxy', ['haproxy', '-db', '-f', config], directory)
        harness.wait_for(lambda: all(port_open(front) for front, _, _ in routes), 30,
                         'haproxy to listen', lambda: tail(self.process.stderr_path))

    def stop(self):
        self.process.stop()


class ProxyProtocol(StackTest):
    users_needed = []

    @classmethod
    def setUpClass(cls):
        cls.begin('haproxy')
        nobody = free_port()  # no XMPP server: the registration side is under test
        limits = {'rate_per_address': 1, 'proxy_protocol_from': '127.0.0.1'}
        cls.a = cls.start_daemon(nobody, name='a', overrides={'registration': limits})
        cls.b = cls.start_daemon(nobody, name='b', overrides={'registration': limits})
        # Trusts another balancer, not this HAProxy.
        cls.c = cls.start_daemon(nobody, name='c', overrides={
            'registration': {'proxy_protocol_from': '127.0.0.9, 10.0.0.0/8'}})
        cls.v1, cls.v2, cls.untrusted = free_port(), free_port(), free_port()
        cls.haproxy = cls.keep(HAProxy(cls.tmp, [(cls.v1, cls.a.port, 'send-proxy'),
                                                 (cls.v2, cls.b.port, 'send-proxy-v2'),
                                                 (cls.untrusted, cls.c.port, 'send-proxy')]))

    def connect(self, port, source='127.0.0.1', first=b''):
        """A TLS connection to `port` from `source`, `first` sent before TLS."""
        raw = socket.create_connection(('127.0.0.1', port), timeout=10,
                                       source_address=(source, 0))
        raw.sendall(first)
        context = ssl.create_default_context(cafile=self.ca)
        return context.wrap_socket(raw, server_hostname='localhost')

    def request(self, port, source, first=b''):
        """One set_channel_uri from `source`; the error text, or None on success."""
        with self.connect(port, source, first) as tls:
            message = uwpx_client.set_channel_uri(2, uwpx_client.new_device_id(),
                                                  self.wns.url('/channel/haproxy'))
            tls.sendall(message.encode('utf-8') + b'\0')
            answer = b''
            while not answer.endswith(b'\0'):
                chunk = tls.recv(4096)
                self.assertTrue(chunk, 'the server closed without answering')
                answer += chunk
        reply = json.loads(answer[:-1].decode('utf-8'))
        return None if reply['status'] == 1 else reply['error']

    def refused_connection(self, port, source='127.0.0.1', first=b''):
        """Whether the server closes the connection instead of serving it."""
        try:
            self.request(port, source, first)
            return False
        except (ssl.SSLError, ConnectionError, AssertionError, socket.timeout):
            return True

    def assert_limited_per_client(self, port, daemon):
        refused_before = daemon.metric('uwpx_refused_total', 'reason="rate_per_address"')
        # 127.0.0.2 uses its burst up (4) and is then turned away...
        answers = [self.request(port, '127.0.0.2') for _ in range(8)]
        self.assertIsNone(answers[0], answers)
        self.assertIn(TOO_MANY, answers[-1] or '', answers)
        # ...while 127.0.0.3, behind the same balancer, is served at once.
        self.assertIsNone(self.request(port, '127.0.0.3'))
        self.assertGreater(daemon.metric('uwpx_refused_total', 'reason="rate_per_address"'),
                           refused_before)
        self.assertEqual(daemon.metric('uwpx_refused_total', 'reason="proxy_header"'), 0)

    def test_a_v1_clients_are_limited_separately(self):
        self.assert_limited_per_client(self.v1, self.a)

    def test_b_v2_clients_are_limited_separately(self):
        self.assert_limited_per_client(self.v2, self.b)

    def test_b_b_the_log_names_the_client(self):
        """A client behind HAProxy appears in the log under its own address."""
        since = self.b.mark()
        with self.connect(self.v2, '127.0.0.3') as tls:
            tls.sendall(b'\xff\xfe not UTF-8\0')
            while tls.recv(4096):
                pass
        self.b.wait_log(r'closing connection from 127\.0\.0\.3 after a framing error', since, 10)

    def test_c_a_balancer_not_trusted_is_refused(self):
        """HAProxy's header reaches an instance that trusts other balancers."""
        self.assertTrue(self.refused_connection(self.untrusted, '127.0.0.2'))
        self.wait(lambda: self.c.metric('uwpx_refused_total', 'reason="proxy_untrusted"') >= 1,
                  10, 'the refusal to be counted')
        self.assertIn('is not in [registration] proxy_protocol_from', self.c.log())

    def test_d_a_client_cannot_name_its_own_address(self):
        """A client (not a trusted balancer) sends a header claiming
        another address: refused. Without one it is served as usual."""
        before = self.a.metric('uwpx_refused_total', 'reason="proxy_untrusted"')
        self.assertTrue(self.refused_connection(
            self.a.port, '127.0.0.3', b'PROXY TCP4 192.0.2.1 127.0.0.1 1000 1997\r\n'))
        self.wait(lambda: self.a.metric('uwpx_refused_total', 'reason="proxy_untrusted"') > before,
                  10, 'the refusal to be counted')
        self.assertIsNone(self.request(self.a.port, '127.0.0.3'))

    def test_e_the_balancer_must_send_a_header(self):
        """From a trusted address, a connection without a header is refused."""
        before = self.a.metric('uwpx_refused_total', 'reason="proxy_header"')
        self.assertTrue(self.refused_connection(self.a.port, '127.0.0.1'))
        self.wait(lambda: self.a.metric('uwpx_refused_total', 'reason="proxy_header"') > before,
                  10, 'the refusal to be counted')


def main():
    return harness.main(ProxyProtocol, __doc__.split('\n')[0])


if __name__ == '__main__':
    sys.exit(main())

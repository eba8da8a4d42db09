#!/usr/bin/python3
"""Availability: several uwpx-push-server instances on one real XMPP server.

    tests/storage/with-postgresql.sh /usr/bin/python3 test_availability.py \
        --server prosody|ejabberd --daemon <build>/daemon/uwpx-push-server \
        --fake-wns <build>/tests/support/fake-wns [--keep] [-v] [test names]

Two (then three) instances share one PostgreSQL database (a throw-away
cluster from with-postgresql.sh) and one component JID and secret, as the
operator guide says to run them. Prosody admits one connection per component:
the others stand by, waiting for the instance lock on PostgreSQL rather than
asking Prosody (whose log stays free of "Second component" errors), and take
over when the active one dies (SIGKILL) or leaves (SIGTERM); the figures
printed are the gaps. ejabberd admits them all
and spreads publishes over them. Then the XMPP server is away for longer than
the old reconnect backoff cap (a minute), and the link must be back within a
couple of seconds of its return.

Devices register as the released UWPX client does (tests/support/uwpx_client.py);
scripted users (python3-slixmpp) enable push and get messages. The last line
printed is "N passed, N failed".
"""

import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import uwpx_client  # noqa: E402
from harness import (COMPONENT_JID, DOMAIN, SENDER, Ejabberd, Prosody, StackTest,  # noqa: E402
                     Users, log, postgresql_storage)


def server_name():
    return harness.ARGS.server


class Availability(StackTest):
    users_needed = [SENDER]

    @classmethod
    def setUpClass(cls):
        cls.begin('availability-' + server_name())
        cls.storage = postgresql_storage('uwpx_availability_' + server_name())
        cls.server = cls.keep((Prosody if server_name() == 'prosody' else Ejabberd)(cls.tmp))
        if server_name() == 'prosody':
            cls.server.register(cls.users_needed)
        cls.server.start()
        if server_name() == 'ejabberd':
            cls.server.register(cls.users_needed)
        cls.users = Users(cls.server.c2s_port)
        cls.instances = {}

    @classmethod
    def stop_everything(cls):
        super().stop_everything()
        if getattr(cls, 'users', None):
            cls.users.stop()

    @classmethod
    def start_instance(cls, name):
        daemon = cls.start_daemon(cls.server.component_port, name=name,
                                  overrides={'storage': cls.storage})
        cls.instances[name] = daemon
        return daemon

    def wait_role(self, daemon, role, timeout=30):
        return self.wait(lambda: daemon.xmpp_role() == role, timeout,
                         '%s to be %s' % (daemon.name, role))

    def device(self, user, name):
        """A UWPX client for `user`, registered through `via`'s instance, with
        push enabled on the XMPP server. Returns (client, channel path)."""
        client = uwpx_client.Client(self.any_instance().port, self.ca, ['%s@%s' % (user, DOMAIN)])
        path = '/channel/availability-%s-%s' % (server_name(), name)
        client.send_channel_uri(self.wns.url(path))
        client.init_push_for_accounts()
        push = client.push[client.bare_jids[0]]
        self.users.enable_push(user, push['node'], push['secret'], push['jid'])
        return client, path

    def any_instance(self):
        return next(d for d in self.instances.values() if d.process.running() and not d.killed)

    def pushed(self, client, path, count):
        """Waits for `count` notifications on the channel, each one the
        client shows for its account. (Publishes for one node within a
        second fold into one notification: the rate window.)"""
        requests = self.wait(lambda: len(self.wns.requests(path)) >= count and
                             self.wns.requests(path), 30, '%d notification(s) on %s' % (count, path))
        for request in requests:
            self.assertEqual(client.receive_raw_notification(request['body'])[0], 'push')
        return requests

    @staticmethod
    def answered(daemon, outcomes=('delivered', 'coalesced')):
        """Publishes this instance answered with one of `outcomes` so far."""
        return sum(daemon.publishes(outcome) or 0.0 for outcome in outcomes)

    def figure(self, what, value, unit='s'):
        """A measured figure, printed with the results (tests/bench/RESULTS.md)."""
        text = '%.2f s' % value if unit == 's' else '%d' % value
        harness.REPORT.append('figure: %s: %s' % (what, text))
        log.info('%s: %s', what, text)


class ProsodyAvailability(Availability):
    """Prosody: one active instance, the others stand by."""
    users_needed = [SENDER, 'patty', 'quinn', 'rita']

    def test_a_a_second_instance_stands_by(self):
        a = self.start_instance('a')
        self.wait_role(a, 'connected')
        b = self.start_instance('b')
        self.wait_role(b, 'standby')
        status, body = b.health()
        self.assertEqual(status, 200, body)  # a standby is healthy
        self.assertEqual(a.metric('uwpx_component_role', 'role="connected"'), 1)
        self.assertEqual(b.metric('uwpx_component_role', 'role="standby"'), 1)
        # One line when it becomes a standby, not one per attempt.
        self.assertEqual(len(re.findall('standing by', b.log())), 1)
        client, path = self.device('patty', 'a')
        self.users.send_message('patty')
        self.pushed(client, path, 1)

    def test_a_b_the_standby_leaves_the_xmpp_server_alone(self):
        """A standby waits on PostgreSQL's instance lock, not at Prosody's
        door: a minute with one active instance and one standby adds no
        "Second component attempted to connect" error to Prosody's log (each
        of which an operator's alerting on Prosody errors would see)."""
        a, b = self.instances['a'], self.instances['b']
        since = self.server.mark()
        database_log = os.environ['UWPX_TEST_PG_LOG']
        database_since = len(harness.read_text(database_log))
        time.sleep(60)  # the quiet minute under test, not a synchronisation
        lines = re.findall('Second component attempted to connect', self.server.log()[since:])
        # Nor does the waiting move the errors to the database's log.
        self.assertEqual(re.findall(r'ERROR:.*', harness.read_text(database_log)[database_since:]),
                         [])
        self.figure('prosody, one active and one standby for 60 s: "Second component" lines',
                    len(lines), unit='lines')
        self.assertEqual(lines, [])
        self.assertEqual(a.xmpp_role(), 'connected')
        self.assertEqual(b.xmpp_role(), 'standby')

    def test_b_the_standby_takes_over_when_the_active_one_dies(self):
        a, b = self.instances['a'], self.instances['b']
        client, path = self.device('quinn', 'b')
        t0 = time.monotonic()
        a.kill()
        self.wait_role(b, 'connected')
        took_over = time.monotonic() - t0
        self.users.send_message('quinn')
        self.pushed(client, path, 1)
        pushed = time.monotonic() - t0
        self.figure('prosody, SIGKILL of the active instance: standby connected after', took_over)
        self.figure('prosody, SIGKILL of the active instance: next push delivered after', pushed)
        self.assertLess(took_over, 3, 'failover must take a couple of seconds at most')
        since = self.server.mark()
        self.wait_role(self.start_instance('c'), 'standby')
        # A new instance asks Prosody once, then waits on the database.
        time.sleep(3)  # long enough for the old standby's once-a-second asking to show
        self.assertLessEqual(
            len(re.findall('Second component attempted', self.server.log()[since:])), 1)

    def test_c_a_clean_stop_hands_over_without_losing_a_push(self):
        """SIGTERM: the leaving instance answers what it accepted, closes its
        stream and lets go of the instance lock, which the standby was
        waiting for: it connects at once. Messages keep coming all along: the XMPP server never gets an
        error back (not even its own `wait` for a missing component), and
        the pushes go on through the new active instance."""
        b, c = self.instances['b'], self.instances['c']
        client, path = self.device('rita', 'c')
        since = self.server.mark()
        sent = 0
        t0 = time.monotonic()
        b.process.popen.send_signal(signal.SIGTERM)
        handed_over = None
        while time.monotonic() - t0 < 4:
            self.users.send_message('rita')
            sent += 1
            if handed_over is None and c.xmpp_role() == 'connected':
                handed_over = time.monotonic() - t0
        b.process.popen.wait(30)
        self.assertEqual(b.process.popen.returncode, 0, 'SIGTERM ends with exit 0')
        self.wait_role(c, 'connected')
        if handed_over is None:
            handed_over = time.monotonic() - t0
        before = len(self.wns.requests(path))
        self.users.send_message('rita')
        self.pushed(client, path, before + 1)
        self.figure('prosody, SIGTERM of the active instance: standby connected after', handed_over)
        log.info('(c) %d messages during the handover', sent)
        self.assertEqual(self.server.push_errors(since), [],
                         'the XMPP server got an error back during the handover')
        self.assertLess(handed_over, 1, 'a clean handover takes well under a second')

    def test_d_the_link_returns_at_once_after_a_long_outage(self):
        """Prosody away for longer than the old backoff cap (a minute): the
        link is back within a couple of seconds of its return."""
        c = self.instances['c']
        self.server.stop()
        self.wait(lambda: c.xmpp_role() != 'connected', 30, 'the link to notice')
        time.sleep(65)  # the outage under test, not a synchronisation
        # Timed from when the component port accepts again: Prosody's own
        # start-up (seconds on a busy machine) is not the link's to answer for.
        self.server.start()
        t0 = time.monotonic()
        self.wait_role(c, 'connected', timeout=90)
        back = time.monotonic() - t0
        self.figure('prosody away 65 s: link back after the server listened again', back)
        self.assertLess(back, 3)


class EjabberdAvailability(Availability):
    """ejabberd: every instance is active; publishes spread over them."""
    users_needed = [SENDER, 'sven', 'tara']

    def test_a_both_instances_serve(self):
        a = self.start_instance('a')
        b = self.start_instance('b')
        self.wait_role(a, 'connected')
        self.wait_role(b, 'connected')
        client, path = self.device('sven', 'a')
        before = self.answered(a) + self.answered(b)
        for _ in range(8):
            self.users.send_message('sven')
        self.wait(lambda: self.answered(a) + self.answered(b) >= before + 8, 30,
                  'the 8 publishes to be answered')
        self.pushed(client, path, 1)
        log.info('(a) publishes answered: a %d, b %d', self.answered(a), self.answered(b))
        for daemon in (a, b):
            self.assertEqual(self.answered(daemon, ('transient', 'forbidden', 'unknown_node')), 0)

    def test_b_no_push_is_lost_when_one_instance_dies(self):
        a, b = self.instances['a'], self.instances['b']
        client, path = self.device('tara', 'b')
        pushes = len(self.wns.requests(path))
        before = self.answered(b)
        a.kill()
        t0 = time.monotonic()
        for _ in range(6):
            self.users.send_message('tara')
        self.wait(lambda: self.answered(b) >= before + 6, 30,
                  'the survivor to answer all 6 publishes')
        self.pushed(client, path, pushes + 1)
        self.figure('ejabberd, SIGKILL of one of two instances: the 6 next publishes answered by '
                    'the other after', time.monotonic() - t0)
        self.assertEqual(b.xmpp_role(), 'connected')

def add_arguments(parser):
    parser.add_argument('--server', choices=['prosody', 'ejabberd'], required=True)


def main():
    server = sys.argv[sys.argv.index('--server') + 1] if '--server' in sys.argv else ''
    case = ProsodyAvailability if server == 'prosody' else EjabberdAvailability
    return harness.main(case, __doc__.split('\n')[0], add_arguments,
                        label=lambda args: 'availability ' + args.server)


if __name__ == '__main__':
    sys.exit(main())

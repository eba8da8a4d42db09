#!/usr/bin/python3
"""Interop tests: uwpx-push-server against a REAL Prosody or ejabberd.

    /usr/bin/python3 test_interop.py --server prosody|ejabberd \
        --daemon <build>/daemon/uwpx-push-server \
        --fake-wns <build>/tests/support/fake-wns [--keep] [-v] [test names]

One run starts, in a fresh temporary directory and on free loopback ports:
throw-away certificates (openssl), the fake WNS (fake-wns), the XMPP server
configured with the operator snippet from resources/ (only names, ports and
the secret substituted), and the daemon pointed at both. Devices register the
way the released UWPX client does (tests/support/uwpx_client.py: its bytes,
its action names, its rules for reading answers); scripted users
(python3-slixmpp) enable XEP-0357 push with what the daemon handed out, and
the test watches what reaches the fake WNS, whether the client would accept
it, and how the XMPP server reacts to the daemon's answers.

Missing prosody, ejabberd or slixmpp is a failure, never a skip. Every process
started here is stopped by PID at the end, even on failure. The last line
printed is "N passed, N failed"; the exit status is non-zero on any failure.
"""

import os
import re
import secrets
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import uwpx_client  # noqa: E402
from harness import (COMPONENT_JID, COMPONENT_SECRET, DOMAIN, SENDER,  # noqa: E402
                     WNS_CLIENT_SECRET, Ejabberd, Prosody, StackTest, Users, listeners_of, log,
                     sha256_hex, tail, wait_for)
# One user per scenario, so push registrations of one cannot disturb another.
USERS = [SENDER, 'alice_v2', 'alice_v1', 'carol_badsecret', 'dave_badnode', 'erin_gone',
         'frank_restart', 'grace_disco', 'heidi_hibernated', 'ivan_transient', 'judy_frozen']

# XEP-0357 §7.1 / docs/protocol.md: the error type that goes with each condition.
ERROR_TYPES = {'forbidden': 'auth', 'item-not-found': 'cancel'}
OUTCOMES = ('delivered', 'coalesced', 'unknown_node', 'forbidden', 'transient', 'gone',
            'suspended', 'bad_request')


def server_name():
    return harness.ARGS.server


class Interop(StackTest):
    """Scenarios a-i against one real XMPP server (--server). The stack is set
    up once per run; each scenario has its own user, device and channel, so
    they cannot disturb one another."""

    @classmethod
    def setUpClass(cls):
        cls.handed_out = []  # account secrets the daemon returned
        cls.bare_jids = []   # v1 bare JIDs registered
        t0 = time.monotonic()
        cls.begin('interop-' + server_name())
        cls.server = cls.keep(
            (Prosody if server_name() == 'prosody' else Ejabberd)(cls.tmp))
        cls.users = Users(cls.server.c2s_port)
        if server_name() == 'prosody':
            cls.server.register(USERS)  # before start: prosodyctl writes the store
        cls.server.start()
        if server_name() == 'ejabberd':
            cls.server.register(USERS)  # ejabberdctl needs the running node
        since = cls.server.mark()
        cls.daemon = cls.start_daemon(cls.server.component_port)
        cls.daemon.wait_log(r'component %s connected to' % re.escape(COMPONENT_JID), 0, 60,
                            'the component to connect')
        wait_for(lambda: cls.server.component_authenticated(since), 30,
                 '%s to log the component login' % cls.server.name,
                 lambda: tail(cls.server.log_path))
        log.info('stack up in %.1f s', time.monotonic() - t0)

    @classmethod
    def stop_everything(cls):
        super().stop_everything()
        if getattr(cls, 'users', None):
            cls.users.stop()

    # --- helpers ---------------------------------------------------------

    def register_device(self, name, user, version=2, bare_jid=None):
        """A UWPX client for `user` registers its channel on the fake WNS and
        its account, as PushManager does. Returns (client, channel path,
        push settings of the account: node, secret, jid)."""
        bare_jid = bare_jid or '%s@%s' % (user, DOMAIN)
        path = '/channel/%s-%s' % (server_name(), name)
        client = uwpx_client.Client(self.daemon.port, self.ca, [bare_jid], version)
        client.send_channel_uri(self.wns.url(path))
        answer = client.init_push_for_accounts()
        self.assertEqual(answer.push_bare_jid, COMPONENT_JID)
        push = client.push[bare_jid]
        self.assertIsNotNone(push, 'the client would switch push off: %r' % answer)
        type(self).handed_out.append(push['secret'])
        if version == 1:
            type(self).bare_jids.append(bare_jid)
        return client, path, push

    def counter(self, outcome):
        value = self.daemon.publishes(outcome)
        return 0.0 if value is None else value

    def all_publishes(self):
        return sum(self.counter(o) for o in OUTCOMES)

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

    def expected_counts(self):
        # What each server really sends: Prosody hardcodes message-count 1 and
        # leaves pending-subscription-count empty; ejabberd sends no
        # message-count at all. A missing or empty count goes to WNS as 0.
        return (1, 0) if server_name() == 'prosody' else (0, 0)

    def assert_notification(self, request, client):
        """The request WNS got is the raw notification of docs/protocol.md for the
        client's one account, and the client shows it for that account."""
        headers = {k.lower(): v for k, v in request['headers'].items()}
        jid = client.bare_jids[0]
        count, pending = self.expected_counts()
        if client.version == 2:
            payload = ('{"version":2,"action":"push","account_id":"%s","message_count":%d,'
                       '"pending_subscription_count":%d}'
                       % (uwpx_client.account_id(client.device_id, jid), count, pending))
            self.assertEqual(client.receive_raw_notification(request['body']),
                             ('push', jid, 'message'))
        else:
            payload = ('{"version":1,"action":"push","account":"%s","message_count":%d,'
                       '"pending_subscription_count":%d}'
                       % (sha256_hex(client.device_id + jid.lower()), count, pending))
        self.assertEqual(request['method'], 'POST')
        self.assertEqual(request['body'], payload)
        self.assertTrue(headers.get('authorization', '').startswith('Bearer '), headers)
        self.assertGreater(len(headers['authorization']), len('Bearer '), headers)
        self.assertEqual(headers.get('x-wns-type'), 'wns/raw', headers)
        self.assertEqual(headers.get('content-type'), 'application/octet-stream', headers)
        self.assertEqual(headers.get('content-length'), str(len(payload.encode('utf-8'))), headers)
        self.assertEqual(headers.get('x-wns-cache-policy', '').lower(), 'cache', headers)
        self.assertEqual(headers.get('x-wns-requestforstatus', '').lower(), 'true', headers)
        # A message: high priority, so Windows wakes a device asleep on battery.
        self.assertEqual(headers.get('x-wns-priority'), '1', headers)
        self.assertNotIn('expect', headers)
        self.assertNotIn('transfer-encoding', headers)
        for secret in ('hello', 'interop', SENDER + '@'):
            self.assertNotIn(secret, request['body'], 'payload leaks the message')

    def wait_component_back(self, mark, since):
        """The daemon logs a new component login after `mark` and the server
        one after `since`."""
        self.daemon.wait_log(r'component %s connected to' % re.escape(COMPONENT_JID), mark, 90,
                             'the component to reconnect')
        self.wait(lambda: self.server.component_authenticated(since), 30,
                  '%s to log the component login' % server_name())

    def push_roundtrip(self, user, name, version=2, bare_jid=None):
        client, path, push = self.register_device(name, user, version, bare_jid)
        self.users.enable_push(user, push['node'], push['secret'], push['jid'])
        delivered = self.counter('delivered')
        t0 = time.monotonic()
        self.users.send_message(user)
        requests = self.wait(lambda: self.wns.requests(path), 30,
                             'a WNS notification on %s' % path)
        elapsed = time.monotonic() - t0
        self.wait_publish_answered('delivered', delivered)
        self.quiet(1.0, path, 1)
        self.assertEqual(len(requests), 1, requests)
        return client, requests[0], elapsed

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
        client, request, elapsed = self.push_roundtrip('alice_v2', 'a')
        self.assert_notification(request, client)
        log.info('(a) message to push in %.2f s', elapsed)

    def test_b_v1_message_is_pushed(self):
        # The v1 account key folds the JID's case; the answer echoes it as sent.
        client, request, elapsed = self.push_roundtrip('alice_v1', 'b', version=1,
                                                       bare_jid='Alice_V1@%s' % DOMAIN)
        self.assert_notification(request, client)
        log.info('(b) message to push in %.2f s', elapsed)

    def refused_publish(self, user, name, node, secret, outcome, condition):
        """Enables push with node/secret, sends a message: the daemon refuses
        the publish with `condition`, nothing reaches WNS, and the server
        notices the error (Prosody logs it; ejabberd disables push at once, so
        a second message is not published at all)."""
        _, path, _ = self.register_device(name, user)
        before = self.counter(outcome)
        since = self.server.mark()
        self.users.enable_push(user, node, secret)
        self.users.send_message(user)
        self.wait_publish_answered(outcome, before)
        error_type = self.wait(lambda: self.server.push_error(since, condition), 30,
                               '%s to log the %s error' % (server_name(), condition))
        self.assertEqual(error_type, ERROR_TYPES[condition])
        if server_name() == 'ejabberd':
            # Disabled at the first error: the next message makes no publish.
            total = self.all_publishes()
            self.users.send_message(user)
            self.quiet(1.5, path, 0)
            self.assertEqual(self.all_publishes(), total, 'ejabberd published again after the error')
        self.assertEqual(self.wns.requests(path), [])

    def test_c_wrong_secret_is_forbidden(self):
        # Another device's real credentials: right node, wrong secret.
        _, _, push = self.register_device('c-real', 'carol_other_device')
        self.refused_publish('carol_badsecret', 'c', push['node'], 'wrong-' + push['secret'],
                             'forbidden', 'forbidden')

    def test_d_unknown_node_is_item_not_found(self):
        self.refused_publish('dave_badnode', 'd', 'no-such-node-' + secrets.token_hex(8),
                             secrets.token_urlsafe(16), 'unknown_node', 'item-not-found')

    def test_e_gone_channel_suspends_until_a_new_one(self):
        """WNS says 410 for a device that was away for a month: the daemon
        suspends it and answers `wait`, so the XMPP server keeps the user's
        push registration; the device comes back with only a new channel (UWPX
        sends nothing else), and the next message wakes it."""
        client, path, push = self.register_device('e', 'erin_gone')
        self.wns.script(path, 410)
        gone, suspended = self.counter('gone'), self.counter('suspended')
        since = self.server.mark()
        self.users.enable_push('erin_gone', push['node'], push['secret'])
        self.users.send_message('erin_gone')
        self.wait(lambda: self.wns.requests(path), 30, 'the WNS request that gets 410')
        self.wait_publish_answered('gone', gone)
        error_type = self.wait(lambda: self.server.push_error(since, 'recipient-unavailable'), 30,
                               '%s to log recipient-unavailable' % server_name())
        self.assertEqual(error_type, 'wait')

        # Still registered on the XMPP server (ejabberd would have dropped it
        # at any other error): the next message is published again, and
        # answered without a request to the dead channel.
        self.users.send_message('erin_gone')
        self.wait_publish_answered('suspended', suspended)
        self.assertEqual(len(self.wns.requests(path)), 1)

        # (Answered `result` at once or, inside the node's rate window, as
        # coalesced and sent at the window's end: either way it arrives.)
        client.send_channel_uri(self.wns.url(path + '-new'))
        self.users.send_message('erin_gone')
        requests = self.wait(lambda: self.wns.requests(path + '-new'), 30,
                             'a WNS notification on the new channel')
        self.assert_notification(requests[0], client)
        self.assertFalse([e for e in self.server.push_errors(since) if e[0] != 'wait'],
                         'an error other than wait reached the XMPP server')

    def test_f_server_restart_component_reconnects(self):
        client, path, push = self.register_device('f', 'frank_restart')
        self.users.enable_push('frank_restart', push['node'], push['secret'])
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
        if server_name() == 'ejabberd':
            # mod_push keeps push registrations in a disc_only (dets) table,
            # which ejabberd writes out lazily: a SIGKILL loses the ones made
            # in the last minutes. Enable again, as UWPX does at every start.
            self.users.enable_push('frank_restart', push['node'], push['secret'])
        # (Prosody stores them at once: the registration from before the
        # crash must still work.)
        self.users.send_message('frank_restart')
        requests = self.wait(lambda: self.wns.requests(path), 30,
                             'a WNS notification after the restart')
        self.assert_notification(requests[0], client)

    def test_g_hibernated_session_is_pushed(self):
        client, path, push = self.register_device('g', 'heidi_hibernated')
        self.users.enable_push_and_hibernate('heidi_hibernated', push['node'], push['secret'])
        delivered = self.counter('delivered')
        t0 = time.monotonic()
        self.users.send_message('heidi_hibernated')
        requests = self.wait(lambda: self.wns.requests(path), 30,
                             'a WNS notification for the hibernated session')
        elapsed = time.monotonic() - t0
        self.wait_publish_answered('delivered', delivered)
        self.quiet(1.5, path, 1)  # Prosody batches queued stanzas on a 1 s timer
        self.assert_notification(requests[0], client)
        log.info('(g) message to push for a hibernated session in %.2f s', elapsed)

    def test_h_transient_wns_failure_keeps_push_enabled(self):
        """WNS fails (503) for every attempt of one send: the daemon answers
        `wait`, which neither server counts against the registration, and the
        next message is pushed."""
        client, path, push = self.register_device('h', 'ivan_transient')
        # As many 503s as the daemon makes attempts per send (WnsSettings::maxAttempts).
        self.wns.script(path, 503, repeat=3)
        self.users.enable_push('ivan_transient', push['node'], push['secret'])
        transient = self.counter('transient')
        since = self.server.mark()
        t0 = time.monotonic()
        self.users.send_message('ivan_transient')
        self.wait_publish_answered('transient', transient)
        answered = time.monotonic() - t0
        error_type = self.wait(lambda: self.server.push_error(since, 'internal-server-error'), 30,
                               '%s to log the wait error' % server_name())
        self.assertEqual(error_type, 'wait')
        self.assertLess(answered, 25, 'docs/protocol.md: every publish is answered within 25 s')
        failed = len(self.wns.requests(path))
        self.assertGreaterEqual(failed, 1)
        delivered = self.counter('delivered')
        self.users.send_message('ivan_transient')
        self.wait(lambda: len(self.wns.requests(path)) > failed, 30,
                  'a WNS notification for the message after the wait answer')
        self.wait_publish_answered('delivered', delivered)
        self.assert_notification(self.wns.requests(path)[-1], client)
        log.info('(h) publish answered wait after %.2f s and %d WNS attempt(s)', answered, failed)

    def test_i_silent_server_is_noticed_by_keepalive(self):
        """The server stops answering but closes nothing (frozen, or the path
        to it died): the keepalive notices within a minute (docs/protocol.md), and once
        the server answers again the component is back and pushes."""
        client, path, push = self.register_device('i', 'judy_frozen')
        self.users.enable_push('judy_frozen', push['node'], push['secret'])
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
        self.assert_notification(requests[0], client)

    def test_z_logs_keep_secrets(self):
        """docs/operations.md: no secret, token or bare JID in the daemon's log (debug
        output included)."""
        text = self.daemon.log()
        tokens = {r['headers'].get('Authorization', r['headers'].get('authorization', ''))
                  .split(' ', 1)[-1] for r in self.wns.requests()}
        for secret in (list(self.handed_out) + [COMPONENT_SECRET, WNS_CLIENT_SECRET]
                       + [t for t in tokens if t]):
            self.assertNotIn(secret, text, 'a secret or token is logged')
        for jid in self.bare_jids:
            self.assertNotIn(jid.lower(), text.lower(), 'a bare JID is logged')


def add_arguments(parser):
    parser.add_argument('--server', choices=['prosody', 'ejabberd'], required=True)


if __name__ == '__main__':
    sys.exit(harness.main(Interop, __doc__.split('\n')[0], add_arguments,
                          label=lambda args: args.server))

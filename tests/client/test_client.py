#!/usr/bin/python3
"""Client replay: the daemon as the released UWPX client meets it.

    /usr/bin/python3 test_client.py --daemon <build>/daemon/uwpx-push-server \
        --fake-wns <build>/tests/support/fake-wns [--keep] [-v] [test names]

A UWPX installation is played by tests/support/uwpx_client.py, a port of the
client's push code: the exact bytes it sends (Newtonsoft's indented JSON with
CRLF, each message's field order, set_push_accounts), one TLS 1.2 connection
per request as PushManager opens them, its single 4096-byte read loop, and
its rules for accepting answers and raw notifications (MessageParser,
PushBackgroundTask). Notifications come from real publishes: a real Prosody
(the operator snippet from resources/prosody) publishes for scripted users
(python3-slixmpp) who enabled push with what the client was handed.

The last line printed is "N passed, N failed"; the exit status is non-zero on
any failure.
"""

import os
import re
import sqlite3
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import uwpx_client  # noqa: E402
from harness import COMPONENT_JID, DOMAIN, SENDER, Prosody, StackTest, Users, log  # noqa: E402

USERS = [SENDER, 'uwpx_v2', 'uwpx_v1', 'uwpx_off', 'uwpx_silent', 'uwpx_away410',
         'uwpx_away404', 'uwpx_race']
DAY_MS = 24 * 3600 * 1000


def jid(user):
    return '%s@%s' % (user, DOMAIN)


class ClientReplay(StackTest):
    @classmethod
    def setUpClass(cls):
        cls.begin('client')
        cls.server = cls.keep(Prosody(cls.tmp))
        cls.server.register(USERS)
        cls.server.start()
        cls.users = Users(cls.server.c2s_port)
        cls.daemon = cls.start_daemon(cls.server.component_port)
        cls.daemon.wait_log(r'component %s connected to' % re.escape(COMPONENT_JID), 0, 60,
                            'the component to connect')

    @classmethod
    def stop_everything(cls):
        super().stop_everything()
        if getattr(cls, 'users', None):
            cls.users.stop()

    # --- helpers ---------------------------------------------------------

    def installation(self, name, bare_jids, version=2):
        """A client whose WNS channel is /channel/<name> on the fake WNS, set
        as PushManager.Init does at start-up."""
        client = uwpx_client.Client(self.daemon.port, self.ca, bare_jids, version)
        path = '/channel/' + name
        client.send_channel_uri(self.wns.url(path))
        return client, path

    def next_notification(self, path, seen):
        """The raw notification that reaches the channel after `seen` ones."""
        requests = self.wait(lambda: self.wns.requests(path)[seen:], 30,
                             'a WNS notification on ' + path)
        return requests[0]['body']

    def publish_for(self, user, push):
        """The user enables XEP-0357 push with what the client holds (as
        UWPX does on its XMPP connection), goes offline, and gets a message."""
        self.users.enable_push(user, push['node'], push['secret'], push['jid'])
        self.users.send_message(user)

    def device_refreshed_ms(self, device_id):
        with sqlite3.connect(self.daemon.db_path, timeout=10) as db:
            row = db.execute('SELECT updated_at FROM devices WHERE device_id = ?',
                             (device_id,)).fetchone()
        return row[0] if row else None

    def age_device(self, device_id, days):
        with sqlite3.connect(self.daemon.db_path, timeout=10) as db:
            db.execute('UPDATE devices SET updated_at = ? WHERE device_id = ?',
                       (int(time.time() * 1000) - days * DAY_MS, device_id))

    # --- scenarios -------------------------------------------------------

    def test_a_release_client_from_start_to_push(self):
        """v.0.43: channel, accounts, test push, then a real message."""
        client, path = self.installation('v2', [jid('uwpx_v2'), 'second@elsewhere.example'])
        answer = client.init_push_for_accounts()
        self.assertEqual(answer.push_bare_jid, COMPONENT_JID)
        self.assertEqual(sorted(client.push), sorted(client.bare_jids))
        self.assertTrue(all(client.push.values()), 'push switched off for %r' % client.push)

        client.request_test_push()
        body = self.next_notification(path, 0)
        self.assertEqual(client.receive_raw_notification(body), ('test_push',))

        self.publish_for('uwpx_v2', client.push[jid('uwpx_v2')])
        body = self.next_notification(path, 1)
        self.assertEqual(client.receive_raw_notification(body), ('push', jid('uwpx_v2'), 'message'))

    def test_b_v1_client_from_start_to_push(self):
        """v.0.26-0.34: version 1, bare JIDs, the notification shown as text."""
        client, path = self.installation('v1', [jid('uwpx_v1')], version=1)
        client.init_push_for_accounts()
        push = client.push[jid('uwpx_v1')]
        self.assertIsNotNone(push)
        client.request_test_push()
        self.assertEqual(client.receive_raw_notification(self.next_notification(path, 0)),
                         ('text', '{"version":1,"action":"test_push"}'))
        self.publish_for('uwpx_v1', push)
        kind, text = client.receive_raw_notification(self.next_notification(path, 1))
        self.assertEqual(kind, 'text')
        self.assertRegex(text, r'^\{"version":1,"action":"push","account":"[0-9a-f]{64}",'
                               r'"message_count":1,"pending_subscription_count":0\}$')

    def test_c_push_switched_off_with_an_empty_list(self):
        """Turning push off sends set_push_accounts with no accounts: every
        account's push goes off on the device, and the node stops working."""
        client, path = self.installation('off', [jid('uwpx_off')])
        client.init_push_for_accounts()
        push = client.push[jid('uwpx_off')]
        self.assertIsNotNone(push)
        answer = client.init_push_for_accounts(enabled=False)
        self.assertEqual(answer.accounts, [])
        self.assertEqual(client.push, {jid('uwpx_off'): None})
        unknown = self.daemon.publishes('unknown_node')
        self.publish_for('uwpx_off', push)
        self.wait(lambda: self.daemon.publishes('unknown_node') > unknown, 30,
                  'the old node answered item-not-found')
        self.assertEqual(self.wns.requests(path), [])

    def test_d_largest_answers_are_read_whole(self):
        """The largest request the server takes (100 accounts; for v1 the JIDs
        as long as the 64 KiB message limit allows) gets an answer the
        client's read loop takes in whole, without waiting out its 3 s."""
        v2, _ = self.installation('large-v2', ['user%03d@%s' % (i, DOMAIN) for i in range(100)])
        v2.init_push_for_accounts()
        self.assertTrue(all(v2.push.values()))
        self.assertFalse(v2.last_read.waited_out, v2.last_read.reads)
        self.assertGreater(len(v2.last_read.data), 4 * uwpx_client.CLIENT_READ_SIZE)

        long_jids = ['%s%03d@%s' % ('u' * 580, i, DOMAIN) for i in range(100)]
        v1, _ = self.installation('large-v1', long_jids, version=1)
        request = uwpx_client.set_push_accounts(1, v1.device_id, long_jids)
        self.assertGreater(len(request.encode('utf-8')), 60 * 1024)
        self.assertLess(len(request.encode('utf-8')), 64 * 1024)
        v1.init_push_for_accounts()
        self.assertTrue(all(v1.push.values()))
        self.assertFalse(v1.last_read.waited_out, v1.last_read.reads)
        log.info('(d) answers of %d and %d bytes, reads %s and %s',
                 len(v2.last_read.data), len(v1.last_read.data),
                 v2.last_read.reads, v1.last_read.reads)

    def test_e_answer_the_size_of_two_reads(self):
        """An answer that would be exactly 2 x 4096 bytes with its NUL: the
        client's loop would fill its buffer twice and then wait 3 s for
        more that never comes. It must end on a short read instead."""
        size = 2 * uwpx_client.CLIENT_READ_SIZE
        ids = ['a%02d' % i for i in range(30)]
        probe, _ = self.installation('exact', [])
        first = probe.exchange(uwpx_client.set_push_accounts(2, probe.device_id, ids))
        self.assertEqual(first.kind, 'accounts')
        length = len(probe.last_read.data.rstrip('\0 ').encode('utf-8')) + 1
        missing = size - length  # the ids are echoed: the answer grows with them
        for i in range(len(ids)):
            grow = min(missing, 900)  # an id may have 1024 characters
            ids[i] += 'x' * grow
            missing -= grow
        again = probe.exchange(uwpx_client.set_push_accounts(2, probe.device_id, ids))
        self.assertEqual(again.kind, 'accounts')
        self.assertEqual(len(probe.last_read.data.rstrip('\0 ').encode('utf-8')) + 1, size,
                         'the probe did not hit the size it aimed at')
        self.assertFalse(probe.last_read.waited_out, probe.last_read.reads)
        self.assertNotEqual(len(probe.last_read.data.encode('utf-8')) % size, 0)

    def test_f_silent_device_is_kept_alive_by_its_pushes(self):
        """UWPX registers again only when its channel or accounts change: a
        device silent for months whose pushes arrive is refreshed by them,
        so expire_days does not remove it."""
        client, path = self.installation('silent', [jid('uwpx_silent')])
        client.init_push_for_accounts()
        self.age_device(client.device_id, 170)
        before = self.device_refreshed_ms(client.device_id)
        self.publish_for('uwpx_silent', client.push[jid('uwpx_silent')])
        body = self.next_notification(path, 0)
        self.assertEqual(client.receive_raw_notification(body),
                         ('push', jid('uwpx_silent'), 'message'))
        refreshed = self.wait(lambda: (self.device_refreshed_ms(client.device_id) or 0) > before,
                              10, 'the device to be refreshed')
        self.assertTrue(refreshed)
        self.assertLess(time.time() * 1000 - self.device_refreshed_ms(client.device_id), DAY_MS)


    def priorities(self, path):
        return [r['headers'].get('X-WNS-PRIORITY') for r in self.wns.requests(path)]

    def come_back_after_the_channel_expired(self, user, status):
        """A laptop off for a month: WNS answers `status` for its old channel.
        UWPX then sends only its new channel (its accounts did not change, and
        it never enables push again while enabled): the user's next message
        must still wake it."""
        client, path = self.installation('away-%d' % status, [jid(user)])
        client.init_push_for_accounts()
        self.wns.script(path, status)
        prosody_since = self.server.mark()
        gone, suspended = self.daemon.publishes('gone'), self.daemon.publishes('suspended')
        since = self.daemon.mark()
        self.publish_for(user, client.push[jid(user)])
        self.wait(lambda: self.daemon.publishes('gone') > gone, 30,
                  'the publish that met %d to be answered' % status)
        self.daemon.wait_log(r'device %s\S* gone; suspended it' % client.device_id[:8], since, 10)

        # While it is away: answered `wait`, and nothing goes to the dead channel.
        self.users.send_message(user)
        self.wait(lambda: self.daemon.publishes('suspended') > suspended, 30,
                  'a publish for the suspended device to be answered')
        self.assertEqual(len(self.wns.requests(path)), 1)

        # Back with a new channel, and nothing else.
        since = self.daemon.mark()
        client.send_channel_uri(self.wns.url(path + '-new'))
        self.daemon.wait_log(r'device %s\S* set a new channel URI; resumed it'
                             % client.device_id[:8], since, 10)
        self.users.send_message(user)
        body = self.next_notification(path + '-new', 0)
        self.assertEqual(client.receive_raw_notification(body), ('push', jid(user), 'message'))
        self.assertEqual(len(self.wns.requests(path)), 1)
        # Its XMPP server saw `wait` and nothing that ends the registration.
        errors = self.server.push_errors(prosody_since)
        self.assertIn(('wait', 'recipient-unavailable'), errors)
        self.assertTrue(all(kind == 'wait' for kind, _ in errors), errors)

    def test_g_back_after_a_month_410(self):
        self.come_back_after_the_channel_expired('uwpx_away410', 410)

    def test_h_back_after_a_month_404(self):
        self.come_back_after_the_channel_expired('uwpx_away404', 404)

    def test_i_a_late_410_for_the_old_channel_keeps_the_new_one(self):
        """WNS answers 410 for the old channel only after the device sent its
        new one: the new registration stays and the next message wakes it."""
        user = 'uwpx_race'
        client, path = self.installation('race', [jid(user)])
        client.init_push_for_accounts()
        self.wns.stall(path)
        self.publish_for(user, client.push[jid(user)])
        self.wait(lambda: self.wns.requests(path), 30, 'the publish to reach the old channel')
        client.send_channel_uri(self.wns.url(path + '-new'))
        gone = self.daemon.publishes('gone')
        self.wns.release(410)
        self.wait(lambda: self.daemon.publishes('gone') > gone, 30, 'the late 410 to be answered')
        self.users.send_message(user)
        body = self.next_notification(path + '-new', 0)
        self.assertEqual(client.receive_raw_notification(body), ('push', jid(user), 'message'))

    def test_j_pushes_wake_the_device_at_high_priority(self):
        """Raw notifications default to low priority, held back while the
        device sleeps on battery: messages and the test push go out high (1)."""
        client, path = self.installation('priority', [jid('uwpx_v2')])
        client.init_push_for_accounts()
        client.request_test_push()
        self.next_notification(path, 0)
        self.publish_for('uwpx_v2', client.push[jid('uwpx_v2')])
        self.next_notification(path, 1)
        self.assertEqual(self.priorities(path), ['1', '1'])


if __name__ == '__main__':
    sys.exit(harness.main(ClientReplay, __doc__.split('\n')[0]))

#!/usr/bin/python3
"""uwpx-pushctl against the running daemon, a REAL Prosody, a REAL redis-server
and a database written by the Python push server's own peewee models.

    /usr/bin/python3 test_pushctl.py --pushctl <build>/pushctl/uwpx-pushctl \
        --daemon <build>/daemon/uwpx-push-server \
        --fake-wns <build>/tests/support/fake-wns [--keep] [-v] [test names]

One run starts, on free loopback ports: the fake WNS, Prosody with the
operator snippet from resources/prosody/ (and the old push JID's module), the
daemon on SQLite, and a redis-server of its own. The tool is run as an
operator would, against the daemon's configuration file, while the daemon
serves; imported registrations are proven by what reaches the fake WNS when
Prosody publishes to their nodes with their secrets.

Missing prosody, redis-server, python3-peewee or slixmpp is a failure, never
a skip. The last line printed is "N passed, N failed".
"""

import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import uwpx_client  # noqa: E402
from harness import (COMPONENT_JID, DOMAIN, SENDER, Process, Prosody, StackTest,  # noqa: E402
                     Users, free_port, port_open, tail, wait_for)

USERS = [SENDER, 'py_alice', 'py_bob', 'cpp_carol', 'cpp_dave', 'forget_me', 'keep_me',
         'backup_user', 'old_jid_user', 'old_jid_bad', 'early_user',
         'old_jid_away', 'suspend_user']
OLD_DOMAIN = 'old.localhost'
OLD_PUSH_JID = 'push@' + OLD_DOMAIN  # as push@xmpp.uwpx.org was
AWAY_DOMAIN = 'old-away.localhost'
OLD_JID_MODULES = os.path.join(harness.SOURCE_ROOT, 'resources', 'prosody')


def sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class Redis:
    """A throw-away redis-server on loopback: no persistence, no service."""

    def __init__(self, directory):
        if not shutil.which('redis-server'):
            raise AssertionError('redis-server is not installed (apt-get install redis-server)')
        self.port = free_port()
        self.process = Process('redis', ['redis-server', '--port', str(self.port),
                                         '--bind', '127.0.0.1', '--save', '', '--appendonly',
                                         'no', '--dir', directory], directory)
        wait_for(lambda: port_open(self.port), 30, 'redis-server to listen',
                 lambda: tail(self.process.stdout_path))
        self.log_path = self.process.stdout_path

    def command(self, *args, db=0):
        """One command (after SELECT db), its reply decoded from RESP."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=10) as s:
            f = s.makefile('rwb')
            for command in (('SELECT', str(db)), args):
                f.write(b'*%d\r\n' % len(command))
                for arg in command:
                    data = arg if isinstance(arg, bytes) else str(arg).encode('utf-8')
                    f.write(b'$%d\r\n%s\r\n' % (len(data), data))
            f.flush()
            self._read(f)
            return self._read(f)

    def _read(self, f):
        line = f.readline().rstrip(b'\r\n')
        kind, rest = line[:1], line[1:]
        if kind in (b'+', b':'):
            return rest.decode()
        if kind == b'-':
            raise AssertionError('redis: ' + rest.decode())
        if kind == b'$':
            size = int(rest)
            return None if size < 0 else f.read(size + 2)[:-2].decode('utf-8')
        if kind == b'*':
            return [self._read(f) for _ in range(int(rest))]
        raise AssertionError('redis sent %r' % line)

    def stop(self):
        self.process.stop()


def write_cpp_server_device(redis, device_id, channel_uri, accounts, db=0, version=2):
    """What the C++ server's RedisClient::set_push_accounts leaves in Redis
    for one device: accounts are (account_id, node, secret)."""
    keys = [channel_uri, str(version)]
    for account_id, node, secret in accounts:
        account = sha256(device_id + '_' + account_id)
        keys.append(account)
        redis.command('SET', account, node, db=db)
        redis.command('RPUSH', node, account_id, device_id, secret, db=db)
    redis.command('RPUSH', device_id, *keys, db=db)


def cpp_token(length=15):
    """utils::url_safe_random_token / secure_random_password: alphanumerics."""
    alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
    return ''.join(secrets.choice(alphabet) for _ in range(length))


def python_server_models(path):
    """The Python push server's models (src/db/dbManager.py), bound to `path`."""
    import peewee
    from datetime import timezone

    db = peewee.SqliteDatabase(path)

    class DateTimeTZField(peewee.DateTimeField):
        def python_value(self, value):
            if value is None:
                return
            return datetime.datetime.strptime(value, '%Y-%m-%d %H:%M:%S.%f%z')

        def db_value(self, value):
            return value.strftime('%Y-%m-%d %H:%M:%S.%f%z') if value else None

    class BaseModel(peewee.Model):
        class Meta:
            database = db

    class ChannelUri(BaseModel):
        deviceId = peewee.TextField(unique=True)
        channelUri = peewee.TextField(null=False)
        timeStamp = DateTimeTZField(default=datetime.datetime.now(timezone.utc), null=False)

    class PushAccount(BaseModel):
        channelUri = peewee.ForeignKeyField(ChannelUri, backref='pushAccounts')
        bareJidHash = peewee.TextField(null=False)
        domainPart = peewee.TextField(null=False)
        node = peewee.TextField(null=False)
        secret = peewee.TextField(null=False)

    class WNSTokenModel(BaseModel):
        token = peewee.TextField(unique=True)
        tokenType = peewee.TextField(unique=True)
        expires = DateTimeTZField(default=datetime.datetime.now(timezone.utc), null=False)

    db.connect()
    db.create_tables([ChannelUri, PushAccount, WNSTokenModel])
    return db, ChannelUri, PushAccount, WNSTokenModel


def python_server_account(ChannelUri, PushAccount, channel, bare_jid):
    """PushAccount.createFrom: node token_urlsafe(128), secret token_hex(128)."""
    return PushAccount.create(channelUri=channel,
                              bareJidHash=sha256(channel.deviceId + bare_jid),
                              domainPart=bare_jid.split('@')[1],
                              node=secrets.token_urlsafe(128), secret=secrets.token_hex(128))


class Pushctl(StackTest):

    @classmethod
    def setUpClass(cls):
        cls.begin('pushctl')
        cls.server = cls.keep(Prosody(cls.tmp))
        cls.add_old_push_host()
        cls.server.register(USERS)
        cls.server.start()
        cls.users = Users(cls.server.c2s_port)
        cls.storage = None
        if harness.ARGS.store == 'postgresql':
            cls.storage = harness.postgresql_storage('pushctl')
        cls.daemon = cls.start_daemon(cls.server.component_port,
                                      overrides={'storage': cls.storage} if cls.storage else None)
        cls.daemon.wait_log(r'component %s connected to' % re.escape(COMPONENT_JID), 0, 60,
                            'the component to connect')
        cls.redis = cls.keep(Redis(cls.tmp))

    @classmethod
    def add_old_push_host(cls):
        """The host of the old push JID, with mod_uwpx_old_push_jid configured
        as docs/migration.md says, next to the operator snippet."""
        snippet = os.path.join(cls.tmp, 'uwpx-push.cfg.lua')
        with open(snippet) as f:
            text = f.read()
        paths = 'plugin_paths = { "/usr/lib/prosody/modules" }'
        assert paths in text, 'the snippet no longer sets plugin_paths: update the test'
        text = text.replace(paths, 'plugin_paths = { "/usr/lib/prosody/modules", "%s" }'
                            % OLD_JID_MODULES)
        text += '''
VirtualHost "%s"
    modules_enabled = { "uwpx_old_push_jid" }
    uwpx_old_push_jid = "%s"
    uwpx_push_component = "%s"

-- An old JID relayed to a component that never connects.
VirtualHost "%s"
    modules_enabled = { "uwpx_old_push_jid" }
    uwpx_old_push_jid = "push@%s"
    uwpx_push_component = "unconnected.localhost"
Component "unconnected.localhost"
    component_secret = "never-used"
''' % (OLD_DOMAIN, OLD_PUSH_JID, COMPONENT_JID, AWAY_DOMAIN, AWAY_DOMAIN)
        with open(snippet, 'w') as f:
            f.write(text)

    @classmethod
    def stop_everything(cls):
        super().stop_everything()
        if getattr(cls, 'users', None):
            cls.users.stop()

    # --- helpers ---------------------------------------------------------

    def pushctl(self, *args, config=None):
        """(exit status, stdout, stderr) of one run against the daemon's file."""
        argv = [harness.ARGS.pushctl, '--config', config or self.daemon.config] + list(args)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        for stream in (done.stdout, done.stderr):
            self.assertNotIn('Traceback', stream)
        return done.returncode, done.stdout, done.stderr

    def ok(self, *args, config=None):
        code, out, err = self.pushctl(*args, config=config)
        self.assertEqual(code, 0, 'uwpx-pushctl %s: %s%s' % (' '.join(args), out, err))
        return out

    def json_of(self, *args):
        return json.loads(self.ok('--json', *args))

    def fails(self, args, status, pattern, config=None):
        """The run fails with `status` and ONE line on stderr matching pattern."""
        code, out, err = self.pushctl(*args, config=config)
        self.assertEqual(code, status, 'uwpx-pushctl %s: %r %r' % (' '.join(args), out, err))
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, 'not one line: %r' % err)
        self.assertRegex(lines[0], pattern)
        return lines[0]

    def store_rows(self):
        """Every device and account row, read from the daemon's store."""
        if self.storage:
            def rows(table):
                done = subprocess.run(
                    ['psql', '-h', self.storage['host'], '-p', str(self.storage['port']),
                     '-U', self.storage['user'], '-d', self.storage['database'], '-At',
                     '-v', 'ON_ERROR_STOP=1', '-c', 'SELECT * FROM %s' % table],
                    check=True, capture_output=True, text=True, timeout=60,
                    env=dict(os.environ, PGPASSWORD=self.storage['password']))
                return sorted(done.stdout.splitlines())
            return rows('devices'), rows('accounts')
        with sqlite3.connect('file:%s?mode=ro' % self.daemon.db_path, uri=True) as db:
            return (sorted(db.execute('SELECT * FROM devices').fetchall()),
                    sorted(db.execute('SELECT * FROM accounts').fetchall()))

    def publish(self, user, node, secret, jid=COMPONENT_JID):
        """Prosody publishes for `user` to `node` with `secret` (enable, then a
        message while offline); returns nothing: callers watch the fake WNS."""
        self.users.enable_push(user, node, secret, jid)
        self.users.send_message(user)

    def notification(self, path):
        requests = self.wait(lambda: self.wns.requests(path), 30, 'a notification on ' + path)
        self.assertEqual(len(requests), 1, requests)
        return requests[0]['body']

    def write_python_server_db(self, name):
        """A database as the Python server left it: two reachable devices, a
        device whose channel it replaced (its account orphaned, as
        ChannelUri.replace did), and one with the seed's ms-app:// channel."""
        path = os.path.join(self.tmp, name)
        db, ChannelUri, PushAccount, WNSTokenModel = python_server_models(path)
        made = {}
        for user in ('py_alice', 'py_bob'):
            channel = ChannelUri.create(deviceId=uwpx_client.new_device_id(),
                                        channelUri=self.wns.url('/channel/%s-%s' % (name, user)))
            made[user] = (channel, python_server_account(ChannelUri, PushAccount, channel,
                                                         '%s@%s' % (user, DOMAIN)))
        moved = ChannelUri.create(deviceId=uwpx_client.new_device_id(),
                                  channelUri=self.wns.url('/channel/%s-moved' % name))
        python_server_account(ChannelUri, PushAccount, moved, 'moved@' + DOMAIN)
        ChannelUri.replace(deviceId=moved.deviceId,
                           channelUri=self.wns.url('/channel/%s-moved2' % name)).execute()
        seed = ChannelUri.create(deviceId=uwpx_client.new_device_id(),
                                 channelUri='ms-app://s-1-15-2-3598129719-3378870262')
        python_server_account(ChannelUri, PushAccount, seed, 'seed@' + DOMAIN)
        WNSTokenModel.create(token='old-token', tokenType='bearer')
        db.close()
        return path, made

    # --- import ----------------------------------------------------------

    def test_import_python_server(self):
        """The Python server's database: --dry-run writes nothing; the import
        keeps 171/256-character nodes and secrets, skips what the old server
        could not reach either; a publish for each imported node reaches WNS
        with the v1 payload; importing again changes nothing."""
        path, made = self.write_python_server_db('python.db')
        before = self.store_rows()
        dry = self.json_of('import', 'sqlite:' + path, '--dry-run')
        self.assertEqual(dry['imported'], {'devices': 3, 'accounts': 2}, dry)
        self.assertEqual(self.store_rows(), before, '--dry-run wrote to the store')

        report = self.json_of('import', 'sqlite:' + path)
        self.assertEqual(report['imported'], {'devices': 3, 'accounts': 2}, report)
        reasons = sorted((s['kind'], s['reason']) for s in report['skipped'])
        self.assertEqual(len(reasons), 3, report)
        self.assertTrue(any('channelUri_id' in r for _, r in reasons), reasons)
        self.assertTrue(any(k == 'device' and 'channel URI refused' in r for k, r in reasons),
                        reasons)
        self.assertTrue(any(r == 'its device is skipped' for _, r in reasons), reasons)
        for item in report['skipped']:
            self.assertLessEqual(len(item['id']), 13, 'a node printed in full: %r' % item)
        after = self.store_rows()

        again = self.json_of('import', 'sqlite:' + path)
        self.assertEqual(again['imported'], {'devices': 0, 'accounts': 0}, again)
        self.assertEqual(self.store_rows(), after, 'importing twice changed the store')

        for user, (channel, account) in made.items():
            self.assertEqual((len(account.node), len(account.secret)), (171, 256))
            self.publish(user, account.node, account.secret)
            body = self.notification('/channel/python.db-' + user)
            self.assertEqual(body, '{"version":1,"action":"push","account":"%s",'
                             '"message_count":1,"pending_subscription_count":0}'
                             % account.bareJidHash)
            shown = self.json_of('device', 'show', channel.deviceId)
            self.assertEqual(shown['protocol_version'], 1)
            self.assertEqual(shown['channel_host'], '127.0.0.1')
            self.assertFalse(shown['suspended'])
            self.assertEqual([a['domain'] for a in shown['accounts']], [DOMAIN])
            self.assertNotIn(account.node, json.dumps(shown))
            self.assertNotIn(account.secret, json.dumps(shown))

    def test_import_cpp_server(self):
        """The C++ server's Redis: a publish for each imported node reaches
        WNS with the v2 payload the client shows; twice changes nothing;
        --dry-run writes nothing; the WNS token key is ignored."""
        made = {}
        for user in ('cpp_carol', 'cpp_dave'):
            device_id = uwpx_client.new_device_id()
            bare_jid = '%s@%s' % (user, DOMAIN)
            account_id = uwpx_client.account_id(device_id, bare_jid)
            node, secret = cpp_token(), cpp_token()
            write_cpp_server_device(self.redis, device_id,
                                    self.wns.url('/channel/cpp-' + user),
                                    [(account_id, node, secret)], db=2)
            made[user] = (device_id, bare_jid, account_id, node, secret)
        self.redis.command('RPUSH', 'WNS', 'old-token', 'bearer', '1700000000', db=2)
        # UWPX 0.35 to 0.38: version 1 with account ids, not supported here.
        old_client = uwpx_client.new_device_id()
        write_cpp_server_device(self.redis, old_client, self.wns.url('/channel/cpp-v1'),
                                [(sha256(old_client + 'x@' + DOMAIN), cpp_token(), cpp_token())],
                                db=2, version=1)
        # A device that only sent its channel: kept, so accounts it sends later
        # find it.
        channel_only = uwpx_client.new_device_id()
        self.redis.command('RPUSH', channel_only, self.wns.url('/channel/cpp-channel-only'), db=2)
        source = 'redis://127.0.0.1:%d/2' % self.redis.port

        before = self.store_rows()
        dry = self.json_of('import', source, '--dry-run')
        self.assertEqual(dry['imported'], {'devices': 3, 'accounts': 2}, dry)
        self.assertEqual(self.store_rows(), before, '--dry-run wrote to the store')
        report = self.json_of('import', source)
        self.assertEqual(report['imported'], {'devices': 3, 'accounts': 2}, report)
        self.assertEqual(sorted((s['kind'], s['reason'][:28]) for s in report['skipped']),
                         [('account', 'its device is skipped'),
                          ('device', 'protocol version 1 with acco')], report)
        after = self.store_rows()
        code, text, _ = self.pushctl('import', source)
        self.assertEqual(code, 0)
        self.assertIn('imported 0 devices and 0 accounts', text)
        self.assertIn('already imported: 5 devices and accounts', text)
        self.assertEqual(self.store_rows(), after, 'importing twice changed the store')
        self.assertEqual(self.json_of('device', 'show', channel_only)['accounts'], [])

        for user, (device_id, bare_jid, account_id, node, secret) in made.items():
            self.publish(user, node, secret)
            body = self.notification('/channel/cpp-' + user)
            self.assertEqual(body, '{"version":2,"action":"push","account_id":"%s",'
                             '"message_count":1,"pending_subscription_count":0}' % account_id)
            client = uwpx_client.Client(self.daemon.port, self.ca, [bare_jid], 2, device_id)
            self.assertEqual(client.receive_raw_notification(body), ('push', bare_jid, 'message'))
            # The domain was learned from the accepted publish.
            shown = self.json_of('device', 'show', device_id)
            self.assertEqual([a['domain'] for a in shown['accounts']], [DOMAIN])

    def test_import_keeps_what_registered_here(self):
        """A device that reached this server first (UWPX sends its new channel
        at start, its accounts only when they change) keeps that channel and
        gains its imported accounts; a node this store already gives to
        another account is skipped, never taken over."""
        bare_jid = 'early_user@' + DOMAIN
        early = uwpx_client.Client(self.daemon.port, self.ca, [bare_jid], 2)
        early.send_channel_uri(self.wns.url('/channel/early-new'))
        account_id = uwpx_client.account_id(early.device_id, bare_jid)
        node, secret = cpp_token(), cpp_token()
        write_cpp_server_device(self.redis, early.device_id, self.wns.url('/channel/early-old'),
                                [(account_id, node, secret)], db=5)
        taken = self.register('early-taken', ['keep_me'], 2).push['keep_me@' + DOMAIN]
        other = uwpx_client.new_device_id()
        write_cpp_server_device(self.redis, other, self.wns.url('/channel/early-other'),
                                [(sha256(other + 'y@' + DOMAIN), taken['node'], cpp_token())],
                                db=5)
        report = self.json_of('import', 'redis://127.0.0.1:%d/5' % self.redis.port)
        self.assertEqual(report['imported'], {'devices': 1, 'accounts': 1}, report)
        self.assertEqual(sorted(s['reason'] for s in report['skipped']),
                         ['another account here has this node',
                          'known here with another channel; kept'], report)
        self.publish('early_user', node, secret)
        body = self.notification('/channel/early-new')
        self.assertEqual(json.loads(body)['account_id'], account_id)
        self.assertEqual(self.wns.requests('/channel/early-old'), [])

    def test_import_before_the_first_start(self):
        """An operator imports before the daemon ever ran: the tool creates
        the store and its schema as the daemon would."""
        if self.storage:
            fresh = harness.postgresql_storage('pushctl_fresh')
            config = self.config_with('fresh', storage__database=fresh['database'])
        else:
            config = self.config_with('fresh',
                                      storage__path=os.path.join(self.tmp, 'fresh', 'push.db'))
        if not self.storage:
            # check only looks: it leaves a store that does not exist alone.
            before = json.loads(self.pushctl('--json', 'check', config=config)[1])
            store = [c for c in before['checks'] if c['name'] == 'store'][0]
            self.assertEqual(store['status'], 'warning', store)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, 'fresh', 'push.db')))
        path, _ = self.write_python_server_db('fresh-source.db')
        report = json.loads(self.ok('--json', 'import', 'sqlite:' + path, config=config))
        self.assertEqual(report['imported'], {'devices': 3, 'accounts': 2}, report)
        stats = json.loads(self.ok('--json', 'stats', config=config))
        self.assertEqual(stats['devices'], {'active': 3, 'suspended': 0})
        self.assertEqual(stats['by_version']['1']['accounts'], 2)
        check = json.loads(self.ok('--json', 'check', config=config))
        store = [c for c in check['checks'] if c['name'] == 'store'][0]
        self.assertEqual(store['status'], 'ok', store)

    def test_malformed_sources_write_nothing(self):
        """A source that is not the old layout is refused, saying where, and
        the store is left as it was."""
        before = self.store_rows()
        # Redis: a hash among the C++ server's keys.
        write_cpp_server_device(self.redis, uwpx_client.new_device_id(),
                                self.wns.url('/channel/never'),
                                [('a' * 64, cpp_token(), cpp_token())], db=3)
        self.redis.command('HSET', 'sessions', 'x', '1', db=3)
        self.fails(['import', 'redis://127.0.0.1:%d/3' % self.redis.port], 1,
                   r"redis://127\.0\.0\.1:\d+/3: key 'sessions' is a hash.*nothing was imported")
        # Redis: a list that is neither a device nor a node.
        self.redis.command('RPUSH', 'queue', 'a', 'b', db=4)
        self.fails(['import', 'redis://127.0.0.1:%d/4' % self.redis.port], 1,
                   r"key 'queue' is a list of 2 items")
        # The Python server's tables with one bad row after good ones.
        path, _ = self.write_python_server_db('malformed.db')
        with sqlite3.connect(path) as db:
            db.execute("UPDATE pushaccount SET secret = '' WHERE id = 2")
        self.fails(['import', 'sqlite:' + path], 1,
                   r'sqlite:.*malformed\.db: pushaccount id=2: secret is empty')
        with sqlite3.connect(path) as db:
            db.execute("UPDATE pushaccount SET secret = 'x' WHERE id = 2")
            db.execute("UPDATE channeluri SET timeStamp = 'yesterday' WHERE id = 1")
        self.fails(['import', 'sqlite:' + path], 1, r'channeluri id=1: timeStamp')
        # Not the Python server's database at all: a store of this server.
        ours = os.path.join(self.tmp, 'ours.db')
        with sqlite3.connect(ours) as db:
            db.execute('CREATE TABLE devices (device_id TEXT PRIMARY KEY)')
        self.fails(['import', 'sqlite:' + ours], 1, r'no table channeluri')
        self.assertEqual(self.store_rows(), before)

    def test_old_push_jid(self):
        """After the switch, a user whose push registration names the old push
        JID and an imported node is woken through our component, and our
        answers reach their server as the old JID's: a wrong secret is an
        error Prosody counts for that registration."""
        path = os.path.join(self.tmp, 'old-jid.db')
        db, ChannelUri, PushAccount, _ = python_server_models(path)
        accounts = {}
        for user in ('old_jid_user', 'old_jid_bad'):
            channel = ChannelUri.create(deviceId=uwpx_client.new_device_id(),
                                        channelUri=self.wns.url('/channel/old-jid-' + user))
            accounts[user] = python_server_account(ChannelUri, PushAccount, channel,
                                                   '%s@%s' % (user, DOMAIN))
        db.close()
        self.assertEqual(self.json_of('import', 'sqlite:' + path)['imported'],
                         {'devices': 2, 'accounts': 2})

        since = self.server.mark()
        good = accounts['old_jid_user']
        self.publish('old_jid_user', good.node, good.secret, jid=OLD_PUSH_JID)
        body = self.notification('/channel/old-jid-old_jid_user')
        self.assertEqual(json.loads(body)['account'], good.bareJidHash)

        bad = accounts['old_jid_bad']
        forbidden = self.daemon.publishes('forbidden')
        self.publish('old_jid_bad', bad.node, 'not-' + bad.secret, jid=OLD_PUSH_JID)
        self.wait(lambda: self.daemon.publishes('forbidden') > forbidden, 30,
                  'the publish with a wrong secret to be refused')
        self.assertEqual(self.wait(lambda: self.server.push_error(since, 'forbidden'), 30,
                                   'Prosody to take the answer as the old JID\'s'), 'auth')
        self.assertNotIn('Unhandled push error', self.server.log()[since:])
        self.assertEqual(self.wns.requests('/channel/old-jid-old_jid_bad'), [])

    def test_old_push_jid_component_away(self):
        """While the component is not connected Prosody answers the relayed
        publish itself (wait): that answer, too, reaches the user's server as
        the old JID's, so it keeps the user's push."""
        since = self.server.mark()
        self.publish('old_jid_away', 'some-node', 'some-secret', jid='push@' + AWAY_DOMAIN)
        self.assertIn(('wait', 'remote-server-timeout'),
                      self.wait(lambda: self.server.push_errors(since), 30,
                                'Prosody to answer the publish itself'))
        self.assertNotIn('Unhandled push error', self.server.log()[since:])

    # --- the store while the daemon serves ---------------------------------

    def register(self, name, users, version=2):
        client = uwpx_client.Client(self.daemon.port, self.ca,
                                    ['%s@%s' % (u, DOMAIN) for u in users], version)
        client.send_channel_uri(self.wns.url('/channel/' + name))
        client.init_push_for_accounts()
        return client

    def test_forget_while_serving(self):
        """forget-jid removes exactly that address's accounts on every device,
        v1 and v2; device forget removes one device; the daemon serves on."""
        v2 = self.register('forget-v2', ['forget_me', 'keep_me'], 2)
        v1 = self.register('forget-v1', ['forget_me', 'keep_me'], 1)
        other = self.register('forget-other', ['keep_me'], 2)
        stats = self.json_of('stats')
        out = self.ok('forget-jid', 'Forget_Me@%s' % DOMAIN)
        self.assertEqual(out.strip(), 'removed 2 accounts of that address')
        self.assertNotIn('forget_me', out.lower())
        after = self.json_of('stats')
        self.assertEqual(after['accounts'], stats['accounts'] - 2)
        for client in (v1, v2):
            shown = self.json_of('device', 'show', client.device_id)
            self.assertEqual(len(shown['accounts']), 1, shown)
        keep_v2 = v2.push['keep_me@' + DOMAIN]
        self.assertEqual(self.json_of('device', 'show', v2.device_id)['accounts'][0]['node'],
                         keep_v2['node'][:8] + '…')

        forgotten = self.json_of('device', 'forget', other.device_id.upper())
        self.assertEqual(forgotten['removed_accounts'], 1)
        self.fails(['device', 'show', other.device_id], 1, r'no device')
        # The daemon serves on: a new registration and a push work.
        client = self.register('forget-after', ['keep_me'], 2)
        push = client.push['keep_me@' + DOMAIN]
        self.publish('keep_me', push['node'], push['secret'])
        self.notification('/channel/forget-after')

    def test_backup_while_publishing(self):
        """backup gives a 0600 copy that opens and holds what was acknowledged
        before it, while registrations go on; on PostgreSQL it names pg_dump."""
        if self.storage:
            self.fails(['backup', os.path.join(self.tmp, 'pg-copy.db')], 1, r'pg_dump')
            self.assertFalse(os.path.exists(os.path.join(self.tmp, 'pg-copy.db')))
            return
        stop = threading.Event()
        running = threading.Event()
        errors = []
        registered = []

        def keep_registering():
            while not stop.is_set():
                try:
                    registered.append(self.register('backup-%d' % len(registered),
                                                    ['backup_user'], 2))
                except Exception as e:  # reported below
                    errors.append(e)
                    return
                finally:
                    running.set()
        done_before = self.register('backup-first', ['backup_user'], 2)
        thread = threading.Thread(target=keep_registering)
        thread.start()
        try:
            self.assertTrue(running.wait(30), 'no registration went through')
            during = len(registered)
            target = os.path.join(self.tmp, 'backup', 'push-copy.db')
            os.makedirs(os.path.dirname(target))
            out = self.ok('backup', target)
            self.assertIn('mode 0600', out)
        finally:
            stop.set()
            thread.join(60)
        self.assertEqual(errors, [])
        self.assertGreater(len(registered), during, 'nothing was written during the backup')
        self.assertEqual(stat.S_IMODE(os.stat(target).st_mode), 0o600)
        self.assertEqual(os.listdir(os.path.dirname(target)), ['push-copy.db'])
        with sqlite3.connect('file:%s?mode=ro' % target, uri=True) as db:
            self.assertEqual(db.execute('PRAGMA integrity_check').fetchone()[0], 'ok')
            self.assertEqual(db.execute('SELECT COUNT(*) FROM devices WHERE device_id = ?',
                                        (done_before.device_id,)).fetchone()[0], 1)
        # A second backup never overwrites the first.
        self.fails(['backup', target], 1, r'exists already')

    # --- check -----------------------------------------------------------

    def config_with(self, name, **changes):
        """A copy of the daemon's configuration with `section__key=value` changed."""
        section = None
        lines = []
        with open(self.daemon.config) as f:
            for line in f.read().splitlines():
                if line.startswith('['):
                    section = line.strip('[]')
                elif ' = ' in line:
                    key = '%s__%s' % (section, line.split(' = ')[0])
                    if key in changes:
                        line = '%s = %s' % (line.split(' = ')[0], changes.pop(key))
                lines.append(line)
        self.assertEqual(changes, {}, 'keys not in the configuration')
        path = os.path.join(self.tmp, name + '.ini')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def test_check(self):
        """check passes on the running stack and fails clearly on a wrong WNS
        secret, a closed XMPP port and a certificate that is not its key's."""
        report = self.json_of('check')
        self.assertTrue(report['ok'], report)
        self.assertEqual(sorted(c['name'] for c in report['checks']),
                         ['certificate', 'configuration', 'store', 'wns', 'xmpp'])
        # The test certificate lives two days: within the 14 days' warning.
        certificate = [c for c in report['checks'] if c['name'] == 'certificate'][0]
        self.assertEqual(certificate['status'], 'warning', certificate)
        self.assertRegex(certificate['detail'], r'expires in 1 day')

        wrong = self.config_with('wrong-secret', wns__client_secret='not-the-secret')
        line = self.fails(['check'], 1, r'^uwpx-pushctl: wns: .*refused the credentials',
                          config=wrong)
        self.assertNotIn('not-the-secret', line)

        unknown = self.config_with('unknown-component', xmpp__component_jid='nobody.localhost')
        self.fails(['check'], 1, r'^uwpx-pushctl: xmpp: .*refused the component '
                   r'nobody\.localhost: host-unknown', config=unknown)

        closed = self.config_with('closed-port', xmpp__port=free_port())
        self.fails(['check'], 1, r'^uwpx-pushctl: xmpp: .*does not accept a connection',
                   config=closed)

        other_key = os.path.join(self.tmp, 'other.key')
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
                        'ec_paramgen_curve:prime256v1', '-out', other_key],
                       check=True, capture_output=True, timeout=60)
        mismatched = self.config_with('mismatched', registration__private_key=other_key)
        # The configuration's own check (as --check-config's) finds it first.
        self.fails(['check'], 1, r'^uwpx-pushctl: configuration: .*private_key: .* is not the '
                                 r'key of the certificate', config=mismatched)

    # --- bad input -------------------------------------------------------

    def test_bad_input(self):
        """Every subcommand given bad input: one line, status 1 or 2, and the
        store unchanged."""
        before = self.store_rows()
        missing = os.path.join(self.tmp, 'missing.db')
        cases = [
            (['frobnicate'], 2, r'unknown command'),
            ([], 2, r'no command'),
            (['stats', 'extra'], 2, r'stats takes 0'),
            (['--dry-run', 'stats'], 2, r'--dry-run goes with import'),
            (['--bogus', 'stats'], 2, r'unknown option'),
            (['device', 'show', 'xyz'], 2, r'not a device id'),
            (['device', 'show', 'ab' * 16], 1, r'no device'),
            (['device', 'forget', 'ab' * 16], 1, r'no device'),
            (['device', 'explode', 'ab' * 16], 2, r'device show'),
            (['forget-jid', 'no-at-sign'], 2, r'not a bare JID'),
            (['forget-jid', 'user@%s/resource' % DOMAIN], 2, r'not a bare JID'),
            (['backup', os.path.join(self.tmp, 'no', 'such', 'dir', 'x.db')], 1,
             r'backup to|pg_dump'),
            (['import', 'ftp://example.org'], 2, r'unknown import source'),
            (['import', 'redis://127.0.0.1'], 2, r'redis://HOST:PORT'),
            (['import', 'sqlite:' + missing], 1, r'cannot read the file'),
            (['import', 'sqlite:' + self.daemon.config], 1, r'not a SQLite database'),
            (['import', 'redis://127.0.0.1:%d' % free_port()], 1, r'cannot connect to Redis'),
        ]
        for args, status, pattern in cases:
            with self.subTest(args=args):
                self.fails(args, status, pattern)
        self.fails(['stats'], 1, r'cannot read the configuration file',
                   config=os.path.join(self.tmp, 'nope.ini'))
        # A password Redis does not take: refused, and never repeated.
        line = self.fails(['import', 'redis://:hunter2@127.0.0.1:%d/2' % self.redis.port], 1,
                          r'^uwpx-pushctl: redis://127\.0\.0\.1:\d+/2: Redis answered: ')
        self.assertNotIn('hunter2', line)
        if os.geteuid() == 0 and not self.storage:
            # root would make a new store the daemon's user cannot write.
            directory = os.path.join(self.tmp, 'daemon-owned')
            os.makedirs(directory)
            os.chown(directory, 65534, 65534)
            store = os.path.join(directory, 'push.db')
            config = self.config_with('daemon-owned', storage__path=store)
            self.fails(['stats'], 1, r'root would own the new store: run as the daemon', config)
            self.assertFalse(os.path.exists(store))
        self.assertEqual(self.store_rows(), before)

    def test_suspended_device(self):
        """A device whose channel WNS reported gone is suspended, never
        forgotten: stats counts it apart, device show says so and still lists
        its account; the device's next channel resumes it."""
        client = self.register('suspend-me', ['suspend_user'], 2)
        push = client.push['suspend_user@' + DOMAIN]
        self.wns.script('/channel/suspend-me', 410)
        before = self.json_of('stats')['devices']
        self.publish('suspend_user', push['node'], push['secret'])

        def suspended():
            shown = self.json_of('device', 'show', client.device_id)
            return shown if shown['suspended'] else None
        shown = self.wait(suspended, 30, 'the device to be suspended')
        self.assertIsNotNone(shown['suspended_at'])
        self.assertEqual(len(shown['accounts']), 1, shown)
        self.assertEqual(self.json_of('stats')['devices'],
                         {'active': before['active'] - 1,
                          'suspended': before['suspended'] + 1})
        self.assertRegex(self.ok('device', 'show', client.device_id), r'suspended: yes, since ')
        self.assertRegex(self.ok('stats'), r'devices: \d+ active, %d suspended'
                         % (before['suspended'] + 1))

        client.send_channel_uri(self.wns.url('/channel/suspend-me-again'))
        self.assertFalse(self.json_of('device', 'show', client.device_id)['suspended'])
        self.assertEqual(self.json_of('stats')['devices'], before)

    def test_stats(self):
        """stats counts devices by protocol version, active and suspended."""
        self.register('stats-v2', ['keep_me'], 2)
        stats = self.json_of('stats')
        self.assertGreaterEqual(stats['devices']['active'], 1)
        self.assertGreaterEqual(stats['by_version']['2']['active_devices'], 1)
        upgrades = os.path.join(harness.SOURCE_ROOT, 'storage', 'sql', 'common', 'upgrade')
        self.assertEqual(stats['schema_version'], len(os.listdir(upgrades)))
        self.assertGreater(stats['store_bytes'], 0)
        text = self.ok('stats')
        self.assertIn('devices: %d active, %d suspended' % (stats['devices']['active'],
                                                           stats['devices']['suspended']), text)


def add_arguments(parser):
    parser.add_argument('--pushctl', required=True, help='the uwpx-pushctl binary')
    parser.add_argument('--store', choices=('sqlite', 'postgresql'), default='sqlite',
                        help='the daemon\'s store (postgresql: run under '
                             'tests/storage/with-postgresql.sh)')


if __name__ == '__main__':
    try:
        import peewee  # noqa: F401
    except ImportError:
        print('python3-peewee is not installed (apt-get install python3-peewee)')
        print('0 passed, 1 failed')
        sys.exit(1)
    sys.exit(harness.main(Pushctl, __doc__.split('\n')[0], add_arguments,
                          lambda args: 'Pushctl on ' + args.store))

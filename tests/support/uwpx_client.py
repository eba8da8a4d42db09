"""The released UWPX client's push code, ported for tests.

Source: github.com/UWPX/UWPX-Client, tag v.0.43.0.0 (protocol version 2):
  Push/Classes/TcpConnection.cs          TLS 1.2, 3 s connect timeout, the read loop
  Push/Classes/Messages/*.cs             every message's ToJson / FromJson, MessageParser
  Push/Classes/PushManager.cs            one connection per request, account matching
  Push/Classes/Utils.cs                  ToAccountId
  Push_BackgroundTask/Classes/PushBackgroundTask.cs   what a raw notification does
and tags v.0.26.0.0 to v.0.34.0.0 for protocol version 1 (bare_jid items, no
version check, the raw notification's text shown as it is).

What the client sends is reproduced byte for byte; what it reads is judged
by its rules, made stricter in one way on purpose: Newtonsoft's
JObject.Value<T> reads a missing field as 0, null or false without complaint,
so a missing message_count or success would go unnoticed by the client while
it changes what the user sees. Here every field the client reads must be
present with its JSON type.
"""

import hashlib
import json
import secrets
import socket
import ssl
import time

# TcpConnection.cs
CLIENT_READ_SIZE = 4096      # BUFFER_SIZE: LoadAsync(4096) per read
CONNECT_TIMEOUT = 3.0        # CONNECTION_TIMEOUT_MS
READ_ON_TIMEOUT = 3.0        # READ_TIMEOUT_MS: how long it reads on after a full buffer
SERVER_PORT = 1997           # PushManager.GetServerPort()


class ClientRejects(AssertionError):
    """The client would not accept what it received (MessageParser.Parse
    returning null, an unexpected message, an account it cannot match)."""


def account_id(device_id, bare_jid):
    """Utils.ToAccountId: lowercase hex SHA-256 of the device id followed by
    the bare JID exactly as the account stores it (no case folding)."""
    return hashlib.sha256((device_id + bare_jid).encode('utf-8')).hexdigest()


def new_device_id():
    """SharedUtils.GetUniqueDeviceId: a lowercase hex SHA-256."""
    return secrets.token_hex(32)


def newtonsoft_indented(obj):
    """JToken.ToString(): Formatting.Indented, two spaces, "key": value,
    Environment.NewLine (CRLF on Windows), non-ASCII left as it is."""
    return json.dumps(obj, indent=2, ensure_ascii=False).replace('\n', '\r\n')


# --------------------------------------------------------------------------
# What it sends (ToJson of each message: base fields first, in this order)


def set_channel_uri(version, device_id, channel_uri):
    return newtonsoft_indented({'version': version, 'action': 'set_channel_uri',
                                'device_id': device_id, 'channel_uri': channel_uri})


def set_push_accounts(version, device_id, accounts):
    """v2: account ids; v1 (v.0.26-0.34): bare JIDs. An empty list is how the
    client switches push off."""
    key = 'account_id' if version == 2 else 'bare_jid'
    return newtonsoft_indented({'version': version, 'action': 'set_push_accounts',
                                'device_id': device_id,
                                'accounts': [{key: a} for a in accounts]})


def request_test_push(version, device_id):
    return newtonsoft_indented({'version': version, 'action': 'request_test_push',
                                'device_id': device_id})


# --------------------------------------------------------------------------
# How it talks: TcpConnection


class ReadResult:
    def __init__(self, data, reads, waited_out):
        self.data = data              # the text handed to MessageParser (NUL included)
        self.reads = reads            # the size of every read
        self.waited_out = waited_out  # the loop ended on its 3 s timeout, not a short read


class TcpConnection:
    """One TLS 1.2 connection: ConnectAsync (3 attempts, 3 s each, 1 s apart),
    SendAsync (the message and one NUL), ReadAsync (the loop below)."""

    def __init__(self, port, ca, host='localhost'):
        context = ssl.create_default_context(cafile=ca)  # the Windows trust store's role
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # SocketProtectionLevel.Tls12
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        last = None
        for attempt in range(3):
            try:
                raw = socket.create_connection(('127.0.0.1', port), timeout=CONNECT_TIMEOUT)
                self.sock = context.wrap_socket(raw, server_hostname=host)
                return
            except OSError as e:
                last = e
                if attempt < 2:
                    time.sleep(1.0)
        raise last

    def send(self, message):
        self.sock.settimeout(10)
        self.sock.sendall((message + '\0').encode('utf-8'))

    def read(self, first_read_timeout=30.0):
        """ReadAsync: one read of up to 4096 bytes (no timeout in the client;
        here a generous one, so a silent server fails the test instead of
        hanging it), then more reads only while the last one filled the
        whole buffer, for at most 3 s. The answer is whatever arrived."""
        self.sock.settimeout(first_read_timeout)
        first = self.sock.recv(CLIENT_READ_SIZE)
        if not first:
            raise ClientRejects('END_OF_STREAM: the server closed without answering')
        data, reads = first, [len(first)]
        deadline = time.monotonic() + READ_ON_TIMEOUT
        waited_out = False
        while reads[-1] >= CLIENT_READ_SIZE:
            left = deadline - time.monotonic()
            if left <= 0:
                waited_out = True
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(CLIENT_READ_SIZE)
            except socket.timeout:
                waited_out = True
                break
            reads.append(len(chunk))
            data += chunk
        return ReadResult(data.decode('utf-8'), reads, waited_out)

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# How it reads: MessageParser and the messages' FromJson


def _object(text):
    """JObject.Parse: one JSON object; Newtonsoft's reader skips NUL
    characters between tokens, so the trailing NUL is ignored."""
    stripped = text.rstrip('\0 \t\r\n')
    try:
        obj = json.loads(stripped)
    except ValueError as e:
        raise ClientRejects('Invalid JSON (%s): %r' % (e, text[:200]))
    if not isinstance(obj, dict):
        raise ClientRejects('not a JSON object: %r' % text[:200])
    return obj


def _field(obj, name, kind):
    if name not in obj:
        raise ClientRejects('missing %r in %r' % (name, obj))
    value = obj[name]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ClientRejects('%r must be a %s in %r' % (name, kind.__name__, obj))
    return value


class Message:
    def __init__(self, kind, **fields):
        self.kind = kind
        self.__dict__.update(fields)

    def __repr__(self):
        return 'Message(%r)' % self.__dict__


def parse(text, version=2):
    """MessageParser.Parse, followed by the FromJson of the message it picks.
    Version 2 clients reject any other version (AbstractMessage.FromJson);
    version 1 clients do not look at it and know only responses."""
    obj = _object(text)
    if version == 2 and _field(obj, 'version', int) != 2:
        raise ClientRejects('Invalid message version. Expected 2 but received %r' % obj['version'])
    action = _field(obj, 'action', str)
    if action == 'response':
        status = _field(obj, 'status', int)
        if status == 1:
            if 'accounts' in obj:
                return _set_push_accounts_answer(obj, version)
            return Message('success')
        if status == 0:
            return Message('error', error=_field(obj, 'error', str))
        raise ClientRejects('Unknown message status.')
    if version == 2 and action == 'test_push':
        return Message('test_push')
    if version == 2 and action == 'push':
        return Message('push', account_id=_field(obj, 'account_id', str),
                       message_count=_field(obj, 'message_count', int),
                       pending_subscription_count=_field(obj, 'pending_subscription_count', int))
    raise ClientRejects('Unknown message action: %r' % action)


def _set_push_accounts_answer(obj, version):
    """SuccessSetPushAccountsMessage.FromJson and PushAccount.FromJson."""
    accounts = _field(obj, 'accounts', list)
    items = []
    for item in accounts:
        if not isinstance(item, dict):
            raise ClientRejects('accounts item is not an object: %r' % item)
        if version == 2:
            items.append({'account_id': _field(item, 'account_id', str),
                          'node': _field(item, 'node', str),
                          'secret': _field(item, 'secret', str),
                          'success': _field(item, 'success', bool)})
        else:
            items.append({'bare_jid': _field(item, 'bare_jid', str),
                          'node': _field(item, 'node', str),
                          'secret': _field(item, 'secret', str)})
    return Message('accounts', push_bare_jid=_field(obj, 'push_bare_jid', str), accounts=items)


# --------------------------------------------------------------------------
# What it does: PushManager and PushBackgroundTask


class Client:
    """One UWPX installation: a device id, its XMPP accounts (bare JIDs) and
    the push state PushManager keeps for each account."""

    def __init__(self, port, ca, bare_jids, version=2, device_id=None):
        self.port = port
        self.ca = ca
        self.version = version
        self.device_id = device_id or new_device_id()
        self.bare_jids = list(bare_jids)
        self.push = {}          # bare JID -> {'node', 'secret', 'jid'}, or None: push off
        self.last_read = None   # the ReadResult of the last request

    def account_ids(self):
        return {account_id(self.device_id, jid): jid for jid in self.bare_jids}

    def exchange(self, message):
        """One request as PushManager makes it: a new connection, the message,
        one ReadAsync, disconnect; the answer as MessageParser reads it."""
        connection = TcpConnection(self.port, self.ca)
        try:
            connection.send(message)
            self.last_read = connection.read()
        finally:
            connection.close()
        return parse(self.last_read.data, self.version)

    def send_channel_uri(self, channel_uri):
        """SendUpdatedChannelUriToPushServerAsync: true on a SuccessResultMessage."""
        answer = self.exchange(set_channel_uri(self.version, self.device_id, channel_uri))
        if answer.kind != 'success':
            raise ClientRejects('set_channel_uri: %r' % answer)

    def init_push_for_accounts(self, enabled=True):
        """InitPushForAccountsAsync: sends every account (none when push is
        off) and applies the answer with UpdatePushForAccounts."""
        if self.version == 2:
            accounts = list(self.account_ids()) if enabled else []
        else:
            accounts = list(self.bare_jids) if enabled else []
        answer = self.exchange(set_push_accounts(self.version, self.device_id, accounts))
        if answer.kind != 'accounts':
            raise ClientRejects('set_push_accounts: %r' % answer)
        self._update_push_for_accounts(answer)
        return answer

    def _update_push_for_accounts(self, answer):
        """An account is matched by its id (v2) or bare JID (v1), exactly;
        `success` false or no entry at all switches push off for it."""
        ids = self.account_ids()
        self.push = {jid: None for jid in self.bare_jids}
        for item in answer.accounts:
            jid = ids.get(item['account_id']) if self.version == 2 else item['bare_jid']
            if jid not in self.push:
                raise ClientRejects('Received a push node for an unknown account: %r' % item)
            if self.version == 2 and not item['success']:
                continue
            self.push[jid] = {'node': item['node'], 'secret': item['secret'],
                              'jid': answer.push_bare_jid}

    def request_test_push(self):
        """RequestTestPushMessageAsync: true on a SuccessResultMessage."""
        answer = self.exchange(request_test_push(self.version, self.device_id))
        if answer.kind != 'success':
            raise ClientRejects('request_test_push: %r' % answer)

    def receive_raw_notification(self, content):
        """PushBackgroundTask.ParseAndShowNotificationAsync: what the user sees.
        v2: a toast for a test push; for a push, a toast for the account whose
        id matches exactly ("message", or "subscription" when
        pending_subscription_count > 0); anything else is dropped. v1
        clients show the text itself."""
        if not content:
            raise ClientRejects('Received an empty push notification')
        if self.version == 1:
            return ('text', content)
        message = parse(content, 2)
        if message.kind == 'test_push':
            return ('test_push',)
        if message.kind != 'push':
            raise ClientRejects('Invalid push message action received: %r' % message)
        jid = self.account_ids().get(message.account_id)
        if jid is None:
            raise ClientRejects('push for an unknown account ID %r' % message.account_id)
        return ('push', jid,
                'subscription' if message.pending_subscription_count > 0 else 'message')

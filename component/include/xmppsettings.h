#pragma once

#include <QString>

namespace uwpx {

// The [xmpp] section of the configuration (docs/configuration.md).
struct XmppSettings {
    QString componentJid; // also returned to clients as push_bare_jid
    QString host = QStringLiteral("127.0.0.1");
    quint16 port = 5347;
    QString secret; // XEP-0114 shared secret; never logged

    int keepaliveIntervalMs = 20000; // an XEP-0199 ping; two silent intervals mean a dead link
    // After a failure or loss, the first reconnect waits reconnectMinMs, each
    // next one twice as long, up to reconnectMaxMs ([xmpp] reconnect_max_delay):
    // short, so the link is back within a couple of seconds of the server,
    // however long the server was away, while it is gone ejabberd deletes
    // users' push registrations and Prosody drops their pushes.
    int reconnectMinMs = 250;
    int reconnectMaxMs = 2000;
    // A standby (the component JID is taken by another instance) asks again
    // this often, give or take a fifth, to take over within about a second.
    int standbyRetryMs = 1000;
    int publishTimeoutMs =
        25000; // every publish is answered within this (ejabberd gives up at 32 s)
};

} // namespace uwpx

#pragma once

#include <QString>

namespace uwpx {

// The [xmpp] section of the configuration (SPEC §2, §5).
struct XmppSettings {
    QString componentJid; // also returned to clients as push_bare_jid
    QString host = QStringLiteral("127.0.0.1");
    quint16 port = 5347;
    QString secret; // XEP-0114 shared secret; never logged

    int keepaliveIntervalMs = 20000; // an XEP-0199 ping; two silent intervals mean a dead link
    int reconnectMinMs = 1000;       // first reconnect delay; doubles up to reconnectMaxMs
    int reconnectMaxMs = 60000;
    int publishTimeoutMs =
        25000; // every publish is answered within this (ejabberd gives up at 32 s)
};

} // namespace uwpx

#pragma once

#include <QDateTime>
#include <QList>
#include <QString>

namespace uwpx {

// What the store keeps and hands out (docs/protocol.md).

// What set_accounts asks for, one entry per account.
struct AccountSpec {
    QString key;    // v1: SHA-256 of device_id + bare JID; v2: the client's account_id
    QString domain; // v1: the JID's domain; v2: empty until the first accepted publish
};

// What set_accounts hands back, one entry per account, in request order.
struct AccountCredentials {
    QString key;
    QString node;
    QString secret;
};

// Everything the publish path needs to know about a node.
struct PushTarget {
    QString deviceId;
    QString channelUri;
    QString accountKey;
    int protocolVersion = 2; // of the set_accounts that created the account
    QString domain;          // empty: not learned yet (v2)
    QString node;
    QString secret;
    QDateTime deviceRefreshedAt; // UTC: the device's last refresh (see refreshDevice)
    bool suspended = false;      // WNS reported the channel gone (see suspendDevice)
};

// A device's channel, for the test push.
struct DeviceChannel {
    QString channelUri;
    bool suspended = false;
};

struct StoredToken {
    QString accessToken;
    QDateTime expiresAt;
};

} // namespace uwpx

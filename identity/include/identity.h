#pragma once

#include <QString>

namespace uwpx {

// How devices and accounts are named in the store (docs/protocol.md) and in the
// log (docs/operations.md, "Logs"). Registration computes these from what
// clients send and the publish path from what XMPP servers send; the
// sender-domain check holds only because both use these.

// A device id as clients send it: 16 to 128 hex digits, any case
// (docs/protocol.md).
bool isWellFormedDeviceId(const QString &deviceId);

// Device ids are stored lowercase: clients compare them case-insensitively.
QString normalizedDeviceId(const QString &deviceId);

// v1 account key: lowercase hex SHA-256 of device_id + the ASCII-lowercased
// bare JID; the bare JID itself is never stored.
QString accountKeyForBareJid(const QString &deviceId, const QString &bareJid);

// The domain part of a JID, lowercased: "user@Example.org/res" -> "example.org".
QString jidDomain(const QString &jid);

// How every log line names a device: enough of its id to follow it through
// the log, not enough to be the id.
QString deviceForLog(const QString &deviceId);

} // namespace uwpx

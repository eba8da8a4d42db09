#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

namespace uwpx::registration {

// The client <-> server messages of docs/protocol.md: parsing a request into a checked
// struct, and writing responses. No I/O and no storage here.

enum class Action { SetChannelUri, SetAccounts, RequestTestPush };

struct RequestedAccount {
    QString bareJid;   // v1: as the client sent it (echoed back)
    QString accountId; // v2: the client's opaque id (echoed back)
};

struct Request {
    int version = 2;
    Action action = Action::SetChannelUri;
    QString actionName; // as the client spelled it (set_push_accounts or set_accounts)
    QString deviceId;
    QString channelUri;               // set_channel_uri
    QList<RequestedAccount> accounts; // set_push_accounts
};

inline constexpr int kMaxAccounts = 100;
inline constexpr int kMaxAccountIdLength = 1024;

// Parses and validates one message. On failure returns false, sets *error to a
// human-readable reason and request->version to the version the error
// response must carry. `channelHosts` are wns.channel_hosts.
bool parseRequest(const QByteArray &json, const QStringList &channelHosts, Request *request,
                  QString *error);

QByteArray successResponse(int version, const QJsonObject &extra = {});
QByteArray errorResponse(int version, const QString &error);

// The bytes that carry one message on the wire: the JSON and its NUL,
// written in one piece. UWPX reads with 4096-byte reads and reads on only
// while a read filled the whole buffer, so a message that is an exact
// multiple of 4096 bytes would leave it waiting 3 s for more: such a message
// gets one space of JSON whitespace before its NUL.
QByteArray frame(const QByteArray &json);
inline constexpr qsizetype kClientReadSize = 4096;

} // namespace uwpx::registration

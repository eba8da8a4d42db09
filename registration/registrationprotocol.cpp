#include "registrationprotocol.h"

#include "channelpolicy.h"
#include "identity.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>

#include <limits>

namespace uwpx::registration {

namespace {

// A bare JID as RFC 7622 shapes it: local@domain, no resource, and no '/'
// in the local part either (RFC 7622 forbids it there; jidDomain() would cut
// "victim.org/x@example.org" at the slash and store the wrong domain). We do
// not apply full PRECIS rules: the JID is only hashed, and UWPX sends what
// its user's server already accepted.
bool isBareJid(const QString &jid) {
    const qsizetype at = jid.indexOf(QLatin1Char('@'));
    if (at <= 0 || at != jid.lastIndexOf(QLatin1Char('@')) || jid.size() > 3071)
        return false;
    if (at + 1 == jid.size() || jid.contains(QLatin1Char('/')))
        return false;
    for (const QChar c : jid) {
        if (c.isSpace() || c.category() == QChar::Other_Control)
            return false;
    }
    return true;
}

bool parseAccounts(const QJsonObject &object, Request *request, QString *error) {
    const QJsonValue value = object.value(QLatin1String("accounts"));
    if (!value.isArray()) {
        *error = QStringLiteral("accounts must be an array.");
        return false;
    }
    const QJsonArray accounts = value.toArray();
    if (accounts.size() > kMaxAccounts) {
        *error = QStringLiteral("Too many accounts: at most %1 are allowed.").arg(kMaxAccounts);
        return false;
    }
    for (qsizetype i = 0; i < accounts.size(); ++i) {
        const QJsonObject item = accounts.at(i).toObject();
        RequestedAccount account;
        if (request->version == 1) {
            const QJsonValue jid = item.value(QLatin1String("bare_jid"));
            if (!jid.isString() || !isBareJid(jid.toString())) {
                *error = QStringLiteral("accounts[%1].bare_jid must be a bare JID like "
                                        "user@example.org.")
                             .arg(i);
                return false;
            }
            account.bareJid = jid.toString();
        } else {
            const QJsonValue id = item.value(QLatin1String("account_id"));
            if (!id.isString() || id.toString().isEmpty() ||
                id.toString().size() > kMaxAccountIdLength) {
                *error = QStringLiteral("accounts[%1].account_id must be a non-empty string of "
                                        "at most %2 characters.")
                             .arg(i)
                             .arg(kMaxAccountIdLength);
                return false;
            }
            account.accountId = id.toString();
        }
        request->accounts << account;
    }
    return true;
}

} // namespace

bool parseRequest(const QByteArray &json, const QStringList &channelHosts, Request *request,
                  QString *error) {
    request->version = 2;
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        *error = QStringLiteral("Invalid JSON format: %1 at offset %2.")
                     .arg(parseError.errorString())
                     .arg(parseError.offset);
        return false;
    }
    if (!document.isObject()) {
        *error = QStringLiteral("Invalid JSON format: the message must be a JSON object.");
        return false;
    }
    const QJsonObject object = document.object();

    const QJsonValue version = object.value(QLatin1String("version"));
    const double number = version.toDouble(-1);
    // Range first: converting a double beyond int (1e31) is undefined behaviour.
    if (version.isDouble() && number >= std::numeric_limits<int>::min() &&
        number <= std::numeric_limits<int>::max() && number == int(number))
        request->version = int(number); // echoed in the response, even if unsupported
    if (!version.isDouble() || (number != 1 && number != 2)) {
        *error = version.isUndefined() ? QStringLiteral("Missing version: it must be 1 or 2.")
                                       : QStringLiteral("Unsupported version: it must be 1 or 2.");
        return false;
    }

    const QJsonValue action = object.value(QLatin1String("action"));
    if (!action.isString()) {
        *error = QStringLiteral("Missing action: it must be a string.");
        return false;
    }
    const QString actionName = action.toString();
    if (actionName == QLatin1String("set_channel_uri")) {
        request->action = Action::SetChannelUri;
    } else if (actionName == QLatin1String("set_push_accounts") ||
               actionName == QLatin1String("set_accounts")) {
        // Every released UWPX client says set_push_accounts; set_accounts is
        // the name of the original design notes, kept for clients built on them.
        request->action = Action::SetAccounts;
    } else if (actionName == QLatin1String("request_test_push")) {
        request->action = Action::RequestTestPush;
    } else {
        *error = QStringLiteral("Unknown action '%1'.").arg(actionName.left(64));
        return false;
    }
    request->actionName = actionName;

    const QJsonValue deviceId = object.value(QLatin1String("device_id"));
    if (!deviceId.isString() || !isWellFormedDeviceId(deviceId.toString())) {
        *error = QStringLiteral("device_id must be a hex string of 16 to 128 characters.");
        return false;
    }
    request->deviceId = normalizedDeviceId(deviceId.toString());

    switch (request->action) {
    case Action::SetChannelUri: {
        const QJsonValue uri = object.value(QLatin1String("channel_uri"));
        if (!uri.isString()) {
            *error = QStringLiteral("channel_uri must be a string.");
            return false;
        }
        QString why;
        if (!isAcceptableChannelUri(uri.toString(), channelHosts, &why)) {
            *error = why;
            return false;
        }
        request->channelUri = uri.toString();
        return true;
    }
    case Action::SetAccounts:
        return parseAccounts(object, request, error);
    case Action::RequestTestPush:
        return true;
    }
    return true;
}

QByteArray successResponse(int version, const QJsonObject &extra) {
    QJsonObject response = extra;
    response.insert(QLatin1String("version"), version);
    response.insert(QLatin1String("action"), QStringLiteral("response"));
    response.insert(QLatin1String("status"), 1);
    return QJsonDocument(response).toJson(QJsonDocument::Compact);
}

QByteArray errorResponse(int version, const QString &error) {
    QJsonObject response;
    response.insert(QLatin1String("version"), version);
    response.insert(QLatin1String("action"), QStringLiteral("response"));
    response.insert(QLatin1String("status"), 0);
    response.insert(QLatin1String("error"), error);
    return QJsonDocument(response).toJson(QJsonDocument::Compact);
}

QByteArray frame(const QByteArray &json) {
    QByteArray bytes = json;
    if ((bytes.size() + 1) % kClientReadSize == 0)
        bytes += ' ';
    bytes += '\0';
    return bytes;
}

} // namespace uwpx::registration

#include "registrationservice.h"

#include "identity.h"
#include "payload.h"
#include "registrationlog.h"
#include "registrationprotocol.h"
#include "storage.h"
#include "wnsclient.h"

#include <QHash>
#include <QJsonArray>
#include <QPointer>

namespace uwpx {

using namespace registration;

namespace {

const QString kStorageTrouble =
    QStringLiteral("The server could not store the registration; please try again later.");

} // namespace

RegistrationService::RegistrationService(Storage &storage, WnsClient &wns,
                                         const QString &componentJid,
                                         const QStringList &channelHosts, QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_wns(wns)
    , m_componentJid(componentJid)
    , m_channelHosts(channelHosts) {}

void RegistrationService::handle(const QByteArray &message, const Reply &reply) {
    Request request;
    QString error;
    if (!parseRequest(message, m_channelHosts, &request, &error)) {
        qCInfo(lcRegistration).noquote() << "rejected request:" << error;
        Q_EMIT requestHandled(QStringLiteral("invalid"), false);
        reply(errorResponse(request.version, error));
        return;
    }
    // Metrics count the action under the name the client used.
    const QString action = request.actionName;
    auto answer = [this, action, reply](const QByteArray &response, bool success) {
        Q_EMIT requestHandled(action, success);
        reply(response);
    };

    switch (request.action) {
    case Action::SetChannelUri:
        if (!m_storage.setChannelUri(request.deviceId, request.channelUri, request.version)) {
            qCCritical(lcRegistration).noquote()
                << "set_channel_uri failed:" << m_storage.lastError();
            answer(errorResponse(request.version, kStorageTrouble), false);
            return;
        }
        qCInfo(lcRegistration).noquote()
            << "device" << deviceForLog(request.deviceId) << "set its channel URI";
        answer(successResponse(request.version), true);
        return;

    case Action::SetAccounts: {
        QList<AccountSpec> specs;
        QList<QString> keys; // per requested account, in request order
        for (const RequestedAccount &account : std::as_const(request.accounts)) {
            const bool v1 = request.version == 1;
            const QString key =
                v1 ? accountKeyForBareJid(request.deviceId, account.bareJid) : account.accountId;
            keys << key;
            // A list naming one account twice means it once.
            if (std::none_of(specs.cbegin(), specs.cend(),
                             [&key](const AccountSpec &s) { return s.key == key; }))
                specs << AccountSpec{key, v1 ? jidDomain(account.bareJid) : QString()};
        }
        QList<AccountCredentials> stored;
        switch (m_storage.setAccounts(request.deviceId, request.version, specs, &stored)) {
        case Storage::SetAccountsResult::UnknownDevice:
            answer(errorResponse(request.version, QStringLiteral("Device id unknown.")), false);
            return;
        case Storage::SetAccountsResult::Failed:
            qCCritical(lcRegistration).noquote()
                << "set_push_accounts failed:" << m_storage.lastError();
            answer(errorResponse(request.version, kStorageTrouble), false);
            return;
        case Storage::SetAccountsResult::Ok:
            break;
        }
        QHash<QString, AccountCredentials> byKey;
        for (const AccountCredentials &credentials : std::as_const(stored))
            byKey.insert(credentials.key, credentials);
        QJsonArray accounts;
        for (qsizetype i = 0; i < request.accounts.size(); ++i) {
            const AccountCredentials &credentials = byKey[keys[i]];
            QJsonObject item{{QStringLiteral("node"), credentials.node},
                             {QStringLiteral("secret"), credentials.secret}};
            if (request.version == 1) {
                item.insert(QStringLiteral("bare_jid"), request.accounts[i].bareJid);
            } else {
                item.insert(QStringLiteral("account_id"), request.accounts[i].accountId);
                item.insert(QStringLiteral("success"), true);
            }
            accounts.append(item);
        }
        qCInfo(lcRegistration).noquote() << "device" << deviceForLog(request.deviceId)
                                         << "registered" << specs.size() << "account(s)";
        answer(successResponse(request.version, {{QStringLiteral("push_bare_jid"), m_componentJid},
                                                 {QStringLiteral("accounts"), accounts}}),
               true);
        return;
    }

    case Action::RequestTestPush: {
        const std::optional<QString> channelUri = m_storage.channelUri(request.deviceId);
        if (!channelUri) {
            answer(errorResponse(request.version, QStringLiteral("Device id unknown.")), false);
            return;
        }
        WnsNotification notification;
        notification.channelUri = *channelUri;
        notification.payload = payload::forTestPush(request.version);
        notification.coalesceKey = QStringLiteral("test/") + request.deviceId;
        notification.deviceId = request.deviceId;
        const int version = request.version;
        const QString device = deviceForLog(request.deviceId);
        QPointer<RegistrationService> self(this);
        m_wns.send(notification, [self, answer, version, device](const WnsResult &result) {
            if (!self)
                return;
            if (result.outcome == WnsResult::Outcome::Delivered) {
                qCInfo(lcRegistration).noquote() << "test push for device" << device << "delivered";
                answer(successResponse(version), true);
                return;
            }
            qCInfo(lcRegistration).noquote()
                << "test push for device" << device << "failed:" << result.reason;
            const QString why =
                result.outcome == WnsResult::Outcome::Gone
                    ? QStringLiteral("WNS reports the channel URI as expired or unknown; the "
                                     "device was removed. Register a fresh channel URI.")
                    : QStringLiteral("WNS did not accept the test push: %1").arg(result.reason);
            answer(errorResponse(version, why), false);
        });
        return;
    }
    }
}

} // namespace uwpx

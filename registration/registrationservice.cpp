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

// Storage logs its failures itself; the client only learns to come back.
const QString kTryLater =
    QStringLiteral("The server cannot reach its database right now; please try again later.");
const QString kUnknownDevice = QStringLiteral("Device id unknown.");
const QString kTooMany = QStringLiteral("Too many requests; please try again later.");
const QString kChannelGone =
    QStringLiteral("WNS reports the channel URI as expired or unknown; no push reaches the "
                   "device until it sets a new channel URI. Its accounts are kept.");
// The action label of a request that could not be read (docs/operations.md,
// uwpx_registration_requests_total). A readable one is counted under its
// action's name as the client spelled it, which parseRequest() checked, so
// the protocol's names are not listed a second time here.
const QString kUnreadableAction = QStringLiteral("invalid");

} // namespace

RegistrationService::RegistrationService(Storage &storage, WnsClient &wns,
                                         const QString &componentJid,
                                         const QStringList &channelHosts,
                                         const RegistrationSettings &limits, QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_wns(wns)
    , m_componentJid(componentJid)
    , m_channelHosts(channelHosts)
    , m_perClient(0, 1)
    , m_perDevice(0, 1)
    , m_testPushes(0, 1) {
    setLimits(limits);
}

void RegistrationService::setLimits(const RegistrationSettings &limits) {
    m_perClient.setRate(limits.requestsPerSecondPerAddress, 4 * limits.requestsPerSecondPerAddress);
    m_perDevice.setRate(limits.requestsPerMinutePerDevice / 60, limits.requestsPerMinutePerDevice);
    m_testPushes.setRate(1000.0 / std::max(1, limits.testPushIntervalMs), 2);
}

void RegistrationService::handle(const QByteArray &message, const QString &client,
                                 const Done &done) {
    Request request;
    QString error;
    const bool parsed = parseRequest(message, m_channelHosts, &request, &error);
    // Every request counts against its address, readable or not.
    if (!m_perClient.allow(client)) {
        Q_EMIT refused(RefusalReason::RatePerAddress);
        Q_EMIT requestHandled(parsed ? request.actionName : kUnreadableAction, false);
        done(errorResponse(request.version, kTooMany), false);
        return;
    }
    if (!parsed) {
        qCInfo(lcRegistration).noquote() << "rejected request:" << error;
        Q_EMIT requestHandled(kUnreadableAction, false);
        done(errorResponse(request.version, error), false);
        return;
    }
    // Metrics count the action under the name the client used.
    const Done counted = [this, action = request.actionName, done](const QByteArray &response,
                                                                   bool success) {
        Q_EMIT requestHandled(action, success);
        done(response, success);
    };
    const bool testPush = request.action == Action::RequestTestPush;
    if (!m_perDevice.allow(request.deviceId) ||
        (testPush && !m_testPushes.allow(request.deviceId))) {
        Q_EMIT refused(testPush ? RefusalReason::TestPushRate : RefusalReason::RatePerDevice);
        counted(errorResponse(request.version, kTooMany), false);
        return;
    }
    switch (request.action) {
    case Action::SetChannelUri:
        setChannelUri(request, counted);
        return;
    case Action::SetAccounts:
        setAccounts(request, counted);
        return;
    case Action::RequestTestPush:
        requestTestPush(request, counted);
        return;
    }
}

// Storage answers on this thread, or never once this service is gone: the
// guard below is for the service, which may go first.
void RegistrationService::setChannelUri(const Request &request, const Done &done) {
    m_storage.setChannelUri(request.deviceId, request.channelUri, request.version,
                            [self = QPointer<RegistrationService>(this), request,
                             done](const StorageResult<bool> &stored) {
                                if (!self)
                                    return;
                                if (stored.isFailed()) {
                                    done(errorResponse(request.version, kTryLater), false);
                                    return;
                                }
                                qCInfo(lcRegistration).noquote()
                                    << "device" << deviceForLog(request.deviceId)
                                    << (stored.value()
                                            ? "set a new channel URI; resumed it (its old "
                                              "channel was gone)"
                                            : "set its channel URI");
                                done(successResponse(request.version), true);
                            });
}

void RegistrationService::setAccounts(const Request &request, const Done &done) {
    const bool v1 = request.version == 1;
    QList<AccountSpec> specs;
    QList<QString> keys; // per requested account, in request order
    for (const RequestedAccount &account : std::as_const(request.accounts)) {
        const QString key =
            v1 ? accountKeyForBareJid(request.deviceId, account.bareJid) : account.accountId;
        keys << key;
        // A list naming one account twice means it once.
        if (std::none_of(specs.cbegin(), specs.cend(),
                         [&key](const AccountSpec &s) { return s.key == key; }))
            specs << AccountSpec{key, v1 ? jidDomain(account.bareJid) : QString()};
    }
    m_storage.setAccounts(request.deviceId, request.version, specs,
                          [self = QPointer<RegistrationService>(this), request, keys,
                           done](const StorageResult<QList<AccountCredentials>> &stored) {
                              if (self)
                                  self->answerAccounts(request, keys, stored, done);
                          });
}

void RegistrationService::answerAccounts(const Request &request, const QList<QString> &keys,
                                         const StorageResult<QList<AccountCredentials>> &stored,
                                         const Done &done) {
    if (!stored.isOk()) {
        done(errorResponse(request.version, stored.isNotFound() ? kUnknownDevice : kTryLater),
             false);
        return;
    }
    QHash<QString, AccountCredentials> byKey;
    for (const AccountCredentials &credentials : stored.value())
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
    qCInfo(lcRegistration).noquote() << "device" << deviceForLog(request.deviceId) << "registered"
                                     << byKey.size() << "account(s)";
    done(successResponse(request.version, {{QStringLiteral("push_bare_jid"), m_componentJid},
                                           {QStringLiteral("accounts"), accounts}}),
         true);
}

void RegistrationService::requestTestPush(const Request &request, const Done &done) {
    m_storage.channelUri(request.deviceId, [self = QPointer<RegistrationService>(this), request,
                                            done](const StorageResult<DeviceChannel> &channel) {
        if (!self)
            return;
        if (!channel.isOk()) {
            done(errorResponse(request.version, channel.isNotFound() ? kUnknownDevice : kTryLater),
                 false);
            return;
        }
        // Nothing more goes to a channel WNS called gone.
        if (channel->suspended) {
            done(errorResponse(request.version, kChannelGone), false);
            return;
        }
        self->sendTestPush(request, channel->channelUri, done);
    });
}

void RegistrationService::sendTestPush(const Request &request, const QString &channelUri,
                                       const Done &done) {
    WnsNotification notification;
    notification.channelUri = channelUri;
    notification.payload = payload::forTestPush(request.version);
    notification.coalesceKey = QStringLiteral("test/") + request.deviceId;
    notification.deviceId = request.deviceId;
    const int version = request.version;
    const QString device = deviceForLog(request.deviceId);
    m_wns.send(notification, [self = QPointer<RegistrationService>(this), done, version,
                              device](const WnsResult &result) {
        if (!self)
            return;
        if (result.outcome == WnsResult::Outcome::Delivered) {
            qCInfo(lcRegistration).noquote() << "test push for device" << device << "delivered";
            done(successResponse(version), true);
            return;
        }
        qCInfo(lcRegistration).noquote()
            << "test push for device" << device << "failed:" << result.reason;
        const QString why =
            result.outcome == WnsResult::Outcome::Gone
                ? kChannelGone
                : QStringLiteral("WNS did not accept the test push: %1").arg(result.reason);
        done(errorResponse(version, why), false);
    });
}

} // namespace uwpx

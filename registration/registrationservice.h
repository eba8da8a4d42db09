#pragma once

#include "ratelimiter.h"
#include "refusalreason.h"
#include "registrationsettings.h"
#include "storagerecords.h"
#include "storageresult.h"

#include <QByteArray>
#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>

namespace uwpx {

namespace registration {
struct Request;
}
class Storage;
class WnsClient;

// Carries out registration requests (docs/protocol.md) against the store and WNS. It
// knows nothing of sockets: RegistrationConnection hands it one message and
// gets one response back.
class RegistrationService : public QObject {
    Q_OBJECT
public:
    // How a request ends: its response, and whether it succeeded (for the
    // metrics). Called exactly once.
    using Done = std::function<void(const QByteArray &response, bool success)>;

    RegistrationService(Storage &storage, WnsClient &wns, const QString &componentJid,
                        const QStringList &channelHosts, const RegistrationSettings &limits,
                        QObject *parent = nullptr);

    // Calls `done` exactly once, from the event loop: after the store's
    // answer, and for request_test_push after WNS's verdict (never once this
    // service is destroyed). `client` names the client address for the
    // limits (RegistrationServer::clientKey).
    void handle(const QByteArray &message, const QString &client, const Done &done);

    // The request rates of `limits` from now on (a configuration reload).
    void setLimits(const RegistrationSettings &limits);

Q_SIGNALS:
    // One per request: action as the client named it ("set_channel_uri",
    // "set_push_accounts", "set_accounts", ...; "invalid" when unreadable) and outcome
    // ("success" or "error"), for metrics.
    void requestHandled(const QString &action, bool success);
    // A request turned away by a limit: RatePerAddress, RatePerDevice,
    // TestPushRate.
    void refused(uwpx::RefusalReason reason);

private:
    void setChannelUri(const registration::Request &request, const Done &done);
    void setAccounts(const registration::Request &request, const Done &done);
    void answerAccounts(const registration::Request &request, const QList<QString> &keys,
                        const StorageResult<QList<AccountCredentials>> &stored, const Done &done);
    void requestTestPush(const registration::Request &request, const Done &done);
    void sendTestPush(const registration::Request &request, const QString &channelUri,
                      const Done &done);

    Storage &m_storage;
    WnsClient &m_wns;
    QString m_componentJid;
    QStringList m_channelHosts;
    RateLimiter m_perClient;
    RateLimiter m_perDevice;
    RateLimiter m_testPushes;
};

} // namespace uwpx

#include "pushserver.h"

#include "logging.h"
#include "registrationserver.h"
#include "registrationservice.h"
#include "storage.h"
#include "wnsclient.h"
#include "xmppcomponent.h"

#include <QCryptographicHash>

namespace uwpx {

PushServer::PushServer(const Config &config, QObject *parent)
    : QObject(parent)
    , m_config(config) {}

PushServer::~PushServer() = default;

bool PushServer::start(QString *error) {
    m_storage = Storage::open(m_config.storage, error);
    if (!m_storage)
        return false;
    qCInfo(lcStorage).noquote() << "opened the" << m_config.storage.driver
                                << "store at schema version" << m_storage->schemaVersion();

    m_wns = std::make_unique<WnsClient>(m_config.wns);
    if (const auto token = m_storage->loadToken(tokenKey()))
        m_wns->restoreToken(token->accessToken, token->expiresAt);
    connect(m_wns.get(), &WnsClient::tokenRefreshed, this,
            [this](const QString &accessToken, const QDateTime &expiresAt) {
                if (!m_storage->saveToken(tokenKey(), {accessToken, expiresAt}))
                    qCWarning(lcStorage).noquote()
                        << "could not keep the WNS token:" << m_storage->lastError();
            });
    connect(m_wns.get(), &WnsClient::channelGone, this, [this](const QString &deviceId) {
        qCInfo(lcServer).noquote() << "WNS reports the channel of device" << deviceId.left(8)
                                   << "gone; removing the device";
        if (!m_storage->removeDevice(deviceId))
            qCWarning(lcStorage).noquote()
                << "could not remove a gone device:" << m_storage->lastError();
    });

    m_registrationService = std::make_unique<RegistrationService>(
        *m_storage, *m_wns, m_config.xmpp.componentJid, m_config.wns.channelHosts);
    m_registrationServer =
        std::make_unique<RegistrationServer>(m_config.registration, *m_registrationService);
    if (!m_registrationServer->listen(error))
        return false;

    m_xmpp = std::make_unique<XmppComponent>(m_config.xmpp, *m_storage, *m_wns);
    m_xmpp->start();

    removeExpiredDevices();
    connect(&m_expiryTimer, &QTimer::timeout, this, &PushServer::removeExpiredDevices);
    m_expiryTimer.start(std::chrono::hours(1));
    return true;
}

void PushServer::reload() {
    if (m_registrationServer)
        m_registrationServer->reloadTls();
}

quint16 PushServer::registrationPort() const {
    return m_registrationServer ? m_registrationServer->port() : 0;
}

void PushServer::removeExpiredDevices() {
    const QDateTime cutoff = QDateTime::currentDateTimeUtc().addDays(-m_config.storage.expireDays);
    const int removed = m_storage->removeDevicesNotUpdatedSince(cutoff);
    if (removed < 0)
        qCWarning(lcStorage).noquote()
            << "could not remove expired devices:" << m_storage->lastError();
    else if (removed > 0)
        qCInfo(lcStorage).noquote() << "removed" << removed << "device(s) not refreshed for"
                                    << m_config.storage.expireDays << "days";
}

// The stored token belongs to one set of credentials at one token endpoint:
// changing either in the configuration must not reuse it.
QString PushServer::tokenKey() const {
    const QByteArray identity = m_config.wns.tokenUrl.toString().toUtf8() + '\n' +
                                m_config.wns.packageSid.toUtf8() + '\n' +
                                m_config.wns.scope.toUtf8();
    return QString::fromLatin1(
        QCryptographicHash::hash(identity, QCryptographicHash::Sha256).toHex());
}

} // namespace uwpx

#include "pushserver.h"

#include "devicelifecycle.h"
#include "logging.h"
#include "operatorendpoint.h"
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
    m_devices = std::make_unique<DeviceLifecycle>(*m_storage, m_config.storage.expireDays);
    connect(m_wns.get(), &WnsClient::channelGone, m_devices.get(), &DeviceLifecycle::onChannelGone);

    m_registrationService = std::make_unique<RegistrationService>(
        *m_storage, *m_wns, m_config.xmpp.componentJid, m_config.wns.channelHosts);
    m_registrationServer =
        std::make_unique<RegistrationServer>(m_config.registration, *m_registrationService);
    if (!m_registrationServer->listen(error))
        return false;

    m_xmpp = std::make_unique<XmppComponent>(m_config.xmpp, *m_storage, *m_wns);
    connect(&m_xmpp->publisher(), &PushPublisher::deviceReached, m_devices.get(),
            &DeviceLifecycle::onDeviceReached);
    declareMetrics();
    countEvents();
    if (m_config.metrics.enabled) {
        m_operatorEndpoint = std::make_unique<OperatorEndpoint>(
            [this] {
                const bool storageOk = m_storage->schemaVersion() > 0;
                const bool linkUp = m_xmpp->isConnected();
                return OperatorEndpoint::Health{
                    storageOk && linkUp,
                    {{QStringLiteral("storage"),
                      storageOk ? QStringLiteral("ok") : QStringLiteral("unavailable")},
                     {QStringLiteral("xmpp"),
                      linkUp ? QStringLiteral("connected") : QStringLiteral("disconnected")}}};
            },
            [this] { return renderMetrics(); });
        if (!m_operatorEndpoint->listen(m_config.metrics, error))
            return false;
    }
    m_xmpp->start();

    m_devices->start();
    return true;
}

void PushServer::reload() {
    if (m_registrationServer)
        m_registrationServer->reloadTls();
}

quint16 PushServer::metricsPort() const {
    return m_operatorEndpoint ? m_operatorEndpoint->port() : 0;
}

void PushServer::declareMetrics() {
    using Type = Metrics::Type;
    m_metrics.declare(QStringLiteral("uwpx_registration_requests_total"), Type::Counter,
                      QStringLiteral("Registration requests by action and outcome."));
    m_metrics.declare(QStringLiteral("uwpx_publishes_total"), Type::Counter,
                      QStringLiteral("XEP-0357 publishes by outcome."));
    for (int i = 0; i < PublishOutcomeCount; ++i)
        m_metrics.set(QStringLiteral("uwpx_publishes_total"), 0,
                      QStringLiteral("outcome=\"%1\"").arg(publishOutcomeName(PublishOutcome(i))));
    m_metrics.declare(QStringLiteral("uwpx_wns_token_refreshes_total"), Type::Counter,
                      QStringLiteral("WNS access tokens obtained."));
    m_metrics.set(QStringLiteral("uwpx_wns_token_refreshes_total"), 0);
    m_metrics.declare(QStringLiteral("uwpx_wns_requests_total"), Type::Counter,
                      QStringLiteral("HTTP requests to WNS channels by status (0: no answer)."));
    m_metrics.declare(QStringLiteral("uwpx_wns_request_duration_seconds"), Type::Histogram,
                      QStringLiteral("Time WNS took to answer a notification request."),
                      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    m_metrics.declare(QStringLiteral("uwpx_component_connected"), Type::Gauge,
                      QStringLiteral("1 while the XEP-0114 link to the XMPP server is up."));
    m_metrics.declare(QStringLiteral("uwpx_component_reconnects_total"), Type::Counter,
                      QStringLiteral("Reconnect attempts of the XEP-0114 link."));
    m_metrics.declare(QStringLiteral("uwpx_devices"), Type::Gauge,
                      QStringLiteral("Devices stored."));
    m_metrics.declare(QStringLiteral("uwpx_accounts"), Type::Gauge,
                      QStringLiteral("Accounts stored."));
}

void PushServer::countEvents() {
    connect(m_registrationService.get(), &RegistrationService::requestHandled, this,
            [this](const QString &action, bool success) {
                m_metrics.increment(QStringLiteral("uwpx_registration_requests_total"),
                                    QStringLiteral("action=\"%1\",outcome=\"%2\"")
                                        .arg(action, success ? QStringLiteral("success")
                                                             : QStringLiteral("error")));
            });
    connect(&m_xmpp->router(), &IqRouter::publishAnswered, this, [this](PublishOutcome outcome) {
        m_metrics.increment(QStringLiteral("uwpx_publishes_total"),
                            QStringLiteral("outcome=\"%1\"").arg(publishOutcomeName(outcome)));
    });
    connect(m_wns.get(), &WnsClient::requestFinished, this, [this](int status, qint64 ms) {
        m_metrics.increment(QStringLiteral("uwpx_wns_requests_total"),
                            QStringLiteral("status=\"%1\"").arg(status));
        m_metrics.observe(QStringLiteral("uwpx_wns_request_duration_seconds"), ms / 1000.0);
    });
    connect(m_wns.get(), &WnsClient::tokenRefreshed, this,
            [this] { m_metrics.increment(QStringLiteral("uwpx_wns_token_refreshes_total")); });
}

// Gauges that the store and the link know best are read at scrape time.
QByteArray PushServer::renderMetrics() {
    m_metrics.set(QStringLiteral("uwpx_component_connected"), m_xmpp->isConnected() ? 1 : 0);
    m_metrics.set(QStringLiteral("uwpx_component_reconnects_total"), m_xmpp->reconnectCount());
    m_metrics.set(QStringLiteral("uwpx_devices"), double(m_storage->deviceCount()));
    m_metrics.set(QStringLiteral("uwpx_accounts"), double(m_storage->accountCount()));
    return m_metrics.render();
}

quint16 PushServer::registrationPort() const {
    return m_registrationServer ? m_registrationServer->port() : 0;
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

#include "pushserver.h"

#include "componentleadership.h"
#include "descriptorlimit.h"
#include "devicelifecycle.h"
#include "instancelock.h"
#include "logging.h"
#include "operatorendpoint.h"
#include "registrationendpoint.h"
#include "servermetrics.h"
#include "storage.h"
#include "storecounts.h"
#include "wnsclient.h"
#include "wnstokenpersistence.h"
#include "xmppcomponent.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>

namespace uwpx {

namespace {

// The instance leaving a component JID says so here (PostgreSQL NOTIFY, sent
// by its instance lock right after letting go), so that a standby asks for
// the lock at once. Instances of earlier versions, which ask the XMPP server
// every second, take over at once when they hear it (a rolling upgrade).
const QString kComponentFreeChannel = QStringLiteral("uwpx_component_free");

// 200 when this instance can serve, else 503 naming the part that cannot.
OperatorEndpoint::Response health(const Storage &storage, const XmppComponent &xmpp) {
    // A standby serves as soon as the active instance goes: it is healthy.
    const bool storageOk = storage.isAvailable();
    const ComponentRole role = xmpp.role();
    const bool healthy = storageOk && role != ComponentRole::Disconnected;
    const QJsonObject body{
        {QStringLiteral("status"), healthy ? QStringLiteral("ok") : QStringLiteral("unhealthy")},
        {QStringLiteral("storage"),
         storageOk ? QStringLiteral("ok") : QStringLiteral("unavailable")},
        {QStringLiteral("xmpp"), componentRoleName(role)}};
    return {healthy ? 200 : 503, "application/json",
            QJsonDocument(body).toJson(QJsonDocument::Compact)};
}

// Everything is at hand: the store's counts are StoreCounts' last ones, so a
// scrape never waits for the database.
OperatorEndpoint::Response scrapeMetrics(const Storage &storage, const StoreCounts &counts,
                                         const XmppComponent &xmpp,
                                         const RegistrationEndpoint &registration,
                                         ServerMetrics &metrics) {
    ServerMetrics::Gauges gauges;
    gauges.componentConnected = xmpp.isConnected();
    gauges.componentRole = xmpp.role();
    gauges.registrationConnections = registration.connectionCount();
    gauges.componentReconnects = xmpp.reconnectCount();
    gauges.storageAvailable = storage.isAvailable();
    gauges.devices = counts.devices();
    gauges.accounts = counts.accounts();
    gauges.suspendedDevices = counts.suspendedDevices();
    gauges.certificateExpiry = registration.certificateExpiry();
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics.render(gauges)};
}

} // namespace

PushServer::PushServer(const Config &config, QObject *parent)
    : QObject(parent)
    , m_config(config) {}

// Reverse order of construction: the parts that use the store and the WNS
// client go before them.
PushServer::~PushServer() {
    m_operatorEndpoint.reset();
    m_counts.reset();
    m_leadership.reset();
    m_xmpp.reset();
    m_registration.reset();
    m_devices.reset();
    m_token.reset();
    m_wns.reset();
    m_storage.reset();
}

bool PushServer::start(QString *error) {
    raiseDescriptorLimit(descriptorsNeeded(m_config));
    m_storage = Storage::open(m_config.storage, error);
    if (!m_storage)
        return false;
    qCInfo(lcServer).noquote() << "opened the" << m_config.storage.driver
                               << "store at schema version" << Storage::latestSchemaVersion()
                               << "with" << m_config.storage.connections << "connection(s)";

    m_wns = std::make_unique<WnsClient>(m_config.wns);
    m_token = std::make_unique<WnsTokenPersistence>(*m_storage, *m_wns, m_config.wns);
    m_devices = std::make_unique<DeviceLifecycle>(*m_storage, m_config.storage.expireDays);
    connect(m_wns.get(), &WnsClient::channelGone, m_devices.get(), &DeviceLifecycle::onChannelGone);

    m_registration = std::make_unique<RegistrationEndpoint>(m_config.registration, *m_storage,
                                                            *m_wns, m_config.xmpp.componentJid,
                                                            m_config.wns.channelHosts);
    if (!m_registration->listen(error))
        return false;

    m_xmpp = std::make_unique<XmppComponent>(m_config.xmpp, *m_storage, *m_wns);
    // Instances sharing PostgreSQL settle on the database which of them holds
    // the link; on SQLite there is one instance.
    if (auto lock = InstanceLock::create(m_config.storage, QStringLiteral("component ") +
                                                               m_config.xmpp.componentJid)) {
        lock->announceReleases(kComponentFreeChannel, m_config.xmpp.componentJid);
        m_leadership = std::make_unique<ComponentLeadership>(*m_xmpp, std::move(lock));
        m_storage->listen(kComponentFreeChannel);
        connect(m_storage.get(), &Storage::notified, this,
                [this](const QString &channel, const QString &componentJid) {
                    if (channel == kComponentFreeChannel &&
                        componentJid == m_config.xmpp.componentJid)
                        m_leadership->lockFreed();
                });
    }
    connect(m_xmpp.get(), &XmppComponent::deviceReached, m_devices.get(),
            &DeviceLifecycle::onDeviceReached);

    wireMetrics();
    if (m_config.metrics.enabled) {
        // Nobody reads the counts without the endpoint: no COUNT(*) then.
        m_counts = std::make_unique<StoreCounts>(*m_storage);
        connect(m_registration.get(), &RegistrationEndpoint::requestHandled, m_counts.get(),
                [counts = m_counts.get()](const QString &, bool success) {
                    if (success)
                        counts->changed();
                });
        connect(m_wns.get(), &WnsClient::channelGone, m_counts.get(), &StoreCounts::changed);
        m_counts->start();
        m_operatorEndpoint = std::make_unique<OperatorEndpoint>();
        m_operatorEndpoint->route("/health", [this](const OperatorEndpoint::Done &respond) {
            respond(health(*m_storage, *m_xmpp));
        });
        m_operatorEndpoint->route("/metrics", [this](const OperatorEndpoint::Done &respond) {
            respond(scrapeMetrics(*m_storage, *m_counts, *m_xmpp, *m_registration, *m_metrics));
        });
        connect(m_operatorEndpoint.get(), &OperatorEndpoint::requestRefused, this,
                [metrics = m_metrics.get()] { metrics->refused(RefusalReason::OperatorEndpoint); });
        if (!m_operatorEndpoint->listen(m_config.metrics, error))
            return false;
    }
    m_xmpp->start();
    m_devices->start();
    return true;
}

void PushServer::wireMetrics() {
    m_metrics = std::make_unique<ServerMetrics>();
    ServerMetrics *metrics = m_metrics.get();
    connect(m_registration.get(), &RegistrationEndpoint::requestHandled, this,
            [metrics](const QString &action, bool success) {
                metrics->registrationHandled(action, success);
            });
    connect(m_xmpp.get(), &XmppComponent::publishAnswered, this,
            [metrics](PublishOutcome outcome) { metrics->publishAnswered(outcome); });
    connect(m_wns.get(), &WnsClient::requestFinished, this,
            [metrics](int status, qint64 ms) { metrics->wnsRequestFinished(status, ms); });
    connect(m_wns.get(), &WnsClient::tokenRefreshed, this,
            [metrics] { metrics->wnsTokenRefreshed(); });
    connect(m_wns.get(), &WnsClient::notificationDropped, this,
            [metrics] { metrics->wnsNotificationDropped(); });
    auto refused = [metrics](RefusalReason reason) { metrics->refused(reason); };
    connect(m_registration.get(), &RegistrationEndpoint::refused, this, refused);
    connect(m_xmpp.get(), &XmppComponent::refused, this, refused);
}

void PushServer::shutdown() {
    if (!m_xmpp) {
        QMetaObject::invokeMethod(this, &PushServer::stopped, Qt::QueuedConnection);
        return;
    }
    m_registration->close(); // a load balancer turns to the other instances
    connect(m_xmpp.get(), &XmppComponent::stopped, this, [this] {
        // The stream is closed: a standby may have the JID now.
        // (It announces that on the database once it has let go.)
        if (m_leadership)
            m_leadership->release();
        Q_EMIT stopped();
    });
    m_xmpp->shutdown();
}

namespace {

// What PushServer::reload() applies while running; every other key of the
// file takes effect at the next start.
const QSet<QString> kLiveKeys{
    QStringLiteral("log/level"),
    QStringLiteral("registration/certificate"),
    QStringLiteral("registration/private_key"),
    QStringLiteral("registration/idle_timeout"),
    QStringLiteral("registration/max_connections"),
    QStringLiteral("registration/max_connections_per_address"),
    QStringLiteral("registration/rate_per_address"),
    QStringLiteral("registration/rate_per_device"),
    QStringLiteral("registration/test_push_interval"),
    QStringLiteral("registration/handshake_timeout"),
    QStringLiteral("registration/max_handshakes"),
    QStringLiteral("registration/proxy_protocol_from"),
    QStringLiteral("wns/package_sid"),
    QStringLiteral("wns/client_secret"),
    QStringLiteral("wns/token_url"),
    QStringLiteral("wns/scope"),
    QStringLiteral("storage/expire_days"),
};

QString keyForLog(const QString &key) {
    const qsizetype slash = key.indexOf(QLatin1Char('/'));
    return QStringLiteral("[%1] %2").arg(key.left(slash), key.mid(slash + 1));
}

} // namespace

void PushServer::reload(const Config &next) {
    if (!m_registration)
        return;
    setLogLevel(next.log.level);
    m_registration->reconfigure(next.registration);
    if (m_wns->setCredentials(next.wns))
        qCInfo(lcServer).noquote() << "new WNS credentials: the next notification fetches a "
                                      "token with them";
    m_devices->setExpireDays(next.storage.expireDays);

    // Compared with what this process started with: a key changed and then
    // changed back needs no restart.
    QStringList restart;
    for (const QString &key : Config::changedKeys(m_config, next)) {
        if (!kLiveKeys.contains(key))
            restart << keyForLog(key);
    }
    qCInfo(lcServer).noquote() << "reloaded the configuration";
    if (!restart.isEmpty())
        qCWarning(lcServer).noquote() << "changed, but takes effect only after a restart:"
                                      << restart.join(QStringLiteral(", "));
}

void PushServer::reloadTls() {
    if (m_registration)
        m_registration->reloadTls();
}

quint16 PushServer::registrationPort() const {
    return m_registration ? m_registration->port() : 0;
}

quint16 PushServer::metricsPort() const {
    return m_operatorEndpoint ? m_operatorEndpoint->port() : 0;
}

} // namespace uwpx

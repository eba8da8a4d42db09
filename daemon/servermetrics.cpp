#include "servermetrics.h"

namespace uwpx {

namespace {

const QString kRegistrationRequests = QStringLiteral("uwpx_registration_requests_total");
const QString kPublishes = QStringLiteral("uwpx_publishes_total");
const QString kWnsRequests = QStringLiteral("uwpx_wns_requests_total");
const QString kWnsDuration = QStringLiteral("uwpx_wns_request_duration_seconds");
const QString kWnsTokenRefreshes = QStringLiteral("uwpx_wns_token_refreshes_total");
const QString kWnsDropped = QStringLiteral("uwpx_wns_notifications_dropped_total");
const QString kComponentConnected = QStringLiteral("uwpx_component_connected");
const QString kComponentReconnects = QStringLiteral("uwpx_component_reconnects_total");
const QString kComponentRole = QStringLiteral("uwpx_component_role");
const QString kDevices = QStringLiteral("uwpx_devices");
const QString kAccounts = QStringLiteral("uwpx_accounts");
const QString kDevicesSuspended = QStringLiteral("uwpx_devices_suspended");
const QString kRefused = QStringLiteral("uwpx_refused_total");
const QString kRegistrationConnections = QStringLiteral("uwpx_registration_connections");
const QString kBuildInfo = QStringLiteral("uwpx_build_info");
const QString kStorageAvailable = QStringLiteral("uwpx_storage_available");
const QString kCertificateExpiry = QStringLiteral("uwpx_certificate_expiry_timestamp_seconds");

void setOrRemove(Metrics &metrics, const QString &name, const std::optional<qint64> &value) {
    if (value)
        metrics.set(name, double(*value));
    else
        metrics.remove(name);
}

QString outcomeLabel(PublishOutcome outcome) {
    return QStringLiteral("outcome=\"%1\"").arg(publishOutcomeName(outcome));
}

} // namespace

ServerMetrics::ServerMetrics() {
    using Type = Metrics::Type;
    m_metrics.declare(kRegistrationRequests, Type::Counter,
                      QStringLiteral("Registration requests by action and outcome."));
    m_metrics.declare(kPublishes, Type::Counter, QStringLiteral("XEP-0357 publishes by outcome."));
    // Every outcome from the start, so a rate over a series that is still 0 works.
    for (int i = 0; i < PublishOutcomeCount; ++i)
        m_metrics.set(kPublishes, 0, outcomeLabel(PublishOutcome(i)));
    m_metrics.declare(kWnsTokenRefreshes, Type::Counter,
                      QStringLiteral("WNS access tokens obtained."));
    m_metrics.set(kWnsTokenRefreshes, 0);
    m_metrics.declare(kWnsDropped, Type::Counter,
                      QStringLiteral("Notifications WNS accepted (200) but dropped "
                                     "(X-WNS-Status: dropped)."));
    m_metrics.set(kWnsDropped, 0);
    m_metrics.declare(kWnsRequests, Type::Counter,
                      QStringLiteral("HTTP requests to WNS channels by status (0: no answer)."));
    m_metrics.declare(kWnsDuration, Type::Histogram,
                      QStringLiteral("Time WNS took to answer a notification request."),
                      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    m_metrics.declare(kComponentConnected, Type::Gauge,
                      QStringLiteral("1 while the XEP-0114 link to the XMPP server is up."));
    m_metrics.declare(kComponentRole, Type::Gauge,
                      QStringLiteral("1 for this instance's role towards the XMPP server "
                                     "(connected, standby, disconnected), 0 for the others."));
    m_metrics.declare(kComponentReconnects, Type::Counter,
                      QStringLiteral("Reconnect attempts of the XEP-0114 link."));
    // Counted off the scrape (StoreCounts): at most about 5 s behind this
    // instance's writes, 60 s behind others'; absent while the store is down.
    m_metrics.declare(kDevices, Type::Gauge,
                      QStringLiteral("Devices stored (counted every minute and shortly after "
                                     "this instance's writes; absent while the store is down)."));
    m_metrics.declare(kAccounts, Type::Gauge,
                      QStringLiteral("Accounts stored (counted as uwpx_devices)."));
    m_metrics.declare(kStorageAvailable, Type::Gauge,
                      QStringLiteral("1 while the database answers and takes writes, else 0."));
    m_metrics.declare(kBuildInfo, Type::Gauge,
                      QStringLiteral("Always 1; the version label names the running release."));
    m_metrics.set(kBuildInfo, 1,
                  QStringLiteral("version=\"%1\"").arg(QStringLiteral(UWPX_VERSION)));
    m_metrics.declare(kCertificateExpiry, Type::Gauge,
                      QStringLiteral("When the registration certificate in use expires "
                                     "(notAfter, Unix time)."));
    m_metrics.declare(kDevicesSuspended, Type::Gauge,
                      QStringLiteral("Devices stored whose channel WNS reported gone, waiting "
                                     "for a new one (included in uwpx_devices, counted as it)."));
    m_metrics.declare(kRegistrationConnections, Type::Gauge,
                      QStringLiteral("Client connections to the registration endpoint open now."));
    m_metrics.declare(kRefused, Type::Counter,
                      QStringLiteral("Connections, requests and stanzas turned away by a "
                                     "limit, by reason."));
}

void ServerMetrics::registrationHandled(const QString &action, bool success) {
    m_metrics.increment(kRegistrationRequests, QStringLiteral("action=\"%1\",outcome=\"%2\"")
                                                   .arg(action, success ? QStringLiteral("success")
                                                                        : QStringLiteral("error")));
}

void ServerMetrics::publishAnswered(PublishOutcome outcome) {
    m_metrics.increment(kPublishes, outcomeLabel(outcome));
}

void ServerMetrics::wnsRequestFinished(int httpStatus, qint64 elapsedMs) {
    m_metrics.increment(kWnsRequests, QStringLiteral("status=\"%1\"").arg(httpStatus));
    m_metrics.observe(kWnsDuration, elapsedMs / 1000.0);
}

void ServerMetrics::wnsTokenRefreshed() {
    m_metrics.increment(kWnsTokenRefreshes);
}

void ServerMetrics::wnsNotificationDropped() {
    m_metrics.increment(kWnsDropped);
}

void ServerMetrics::refused(RefusalReason reason) {
    m_metrics.increment(kRefused, QStringLiteral("reason=\"%1\"").arg(refusalReasonName(reason)));
}

QByteArray ServerMetrics::render(const Gauges &gauges) {
    m_metrics.set(kComponentConnected, gauges.componentConnected ? 1 : 0);
    m_metrics.set(kComponentReconnects, gauges.componentReconnects);
    for (const ComponentRole role :
         {ComponentRole::Connected, ComponentRole::Standby, ComponentRole::Disconnected})
        m_metrics.set(kComponentRole, gauges.componentRole == role ? 1 : 0,
                      QStringLiteral("role=\"%1\"").arg(componentRoleName(role)));
    m_metrics.set(kRegistrationConnections, gauges.registrationConnections);
    m_metrics.set(kStorageAvailable, gauges.storageAvailable ? 1 : 0);
    setOrRemove(m_metrics, kDevices, gauges.devices);
    setOrRemove(m_metrics, kAccounts, gauges.accounts);
    setOrRemove(m_metrics, kDevicesSuspended, gauges.suspendedDevices);
    setOrRemove(m_metrics, kCertificateExpiry,
                gauges.certificateExpiry.isValid()
                    ? std::optional<qint64>(gauges.certificateExpiry.toSecsSinceEpoch())
                    : std::nullopt);
    return m_metrics.render();
}

} // namespace uwpx

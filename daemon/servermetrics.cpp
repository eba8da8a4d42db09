#include "servermetrics.h"

namespace uwpx {

namespace {

const QString kRegistrationRequests = QStringLiteral("uwpx_registration_requests_total");
const QString kPublishes = QStringLiteral("uwpx_publishes_total");
const QString kWnsRequests = QStringLiteral("uwpx_wns_requests_total");
const QString kWnsDuration = QStringLiteral("uwpx_wns_request_duration_seconds");
const QString kWnsTokenRefreshes = QStringLiteral("uwpx_wns_token_refreshes_total");
const QString kComponentConnected = QStringLiteral("uwpx_component_connected");
const QString kComponentReconnects = QStringLiteral("uwpx_component_reconnects_total");
const QString kComponentRole = QStringLiteral("uwpx_component_role");
const QString kDevices = QStringLiteral("uwpx_devices");
const QString kAccounts = QStringLiteral("uwpx_accounts");
const QString kDevicesSuspended = QStringLiteral("uwpx_devices_suspended");
const QString kRefused = QStringLiteral("uwpx_refused_total");
const QString kRegistrationConnections = QStringLiteral("uwpx_registration_connections");

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
    m_metrics.declare(kDevices, Type::Gauge, QStringLiteral("Devices stored."));
    m_metrics.declare(kAccounts, Type::Gauge, QStringLiteral("Accounts stored."));
    m_metrics.declare(kDevicesSuspended, Type::Gauge,
                      QStringLiteral("Devices stored whose channel WNS reported gone, waiting "
                                     "for a new one (counted in uwpx_devices too)."));
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

void ServerMetrics::refused(const QString &reason) {
    m_metrics.increment(kRefused, QStringLiteral("reason=\"%1\"").arg(reason));
}

QByteArray ServerMetrics::render(const Gauges &gauges) {
    m_metrics.set(kComponentConnected, gauges.componentConnected ? 1 : 0);
    m_metrics.set(kComponentReconnects, gauges.componentReconnects);
    for (const ComponentRole role :
         {ComponentRole::Active, ComponentRole::Standby, ComponentRole::Disconnected})
        m_metrics.set(kComponentRole, gauges.componentRole == role ? 1 : 0,
                      QStringLiteral("role=\"%1\"").arg(componentRoleName(role)));
    m_metrics.set(kRegistrationConnections, gauges.registrationConnections);
    m_metrics.set(kDevices, double(gauges.devices));
    m_metrics.set(kAccounts, double(gauges.accounts));
    m_metrics.set(kDevicesSuspended, double(gauges.suspendedDevices));
    return m_metrics.render();
}

} // namespace uwpx

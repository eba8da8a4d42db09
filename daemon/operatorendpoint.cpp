#include "operatorendpoint.h"

#include "logging.h"

#include <QHttpServer>
#include <QHttpServerResponse>

namespace uwpx {

OperatorEndpoint::OperatorEndpoint(std::function<Health()> health,
                                   std::function<QByteArray()> metrics, QObject *parent)
    : QObject(parent)
    , m_server(std::make_unique<QHttpServer>()) {
    m_server->route(QStringLiteral("/health"), [health] {
        const Health report = health();
        QJsonObject body = report.details;
        body.insert(QStringLiteral("status"),
                    report.healthy ? QStringLiteral("ok") : QStringLiteral("unhealthy"));
        return QHttpServerResponse(body, report.healthy
                                             ? QHttpServerResponse::StatusCode::Ok
                                             : QHttpServerResponse::StatusCode::ServiceUnavailable);
    });
    m_server->route(QStringLiteral("/metrics"), [metrics] {
        return QHttpServerResponse(QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8"),
                                   metrics());
    });
}

OperatorEndpoint::~OperatorEndpoint() = default;

bool OperatorEndpoint::listen(const MetricsSettings &settings, QString *error) {
    m_port = m_server->listen(settings.address, settings.port);
    if (m_port == 0) {
        *error = QStringLiteral("cannot listen for metrics on %1:%2")
                     .arg(settings.address.toString())
                     .arg(settings.port);
        return false;
    }
    qCInfo(lcServer).noquote() << "serving /health and /metrics on" << settings.address.toString()
                               << "port" << m_port;
    return true;
}

} // namespace uwpx

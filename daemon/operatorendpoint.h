#pragma once

#include "config.h"

#include <QByteArray>
#include <QJsonObject>
#include <QObject>

#include <functional>
#include <memory>

class QHttpServer;

namespace uwpx {

// Plain HTTP for the operator's monitoring, never for clients:
//   GET /health   200 {"status":"ok",...} or 503 naming the part that is not
//   GET /metrics  Prometheus text format
class OperatorEndpoint : public QObject {
    Q_OBJECT
public:
    struct Health {
        bool healthy = false;
        QJsonObject details; // e.g. {"storage":"ok","xmpp":"disconnected"}
    };

    OperatorEndpoint(std::function<Health()> health, std::function<QByteArray()> metrics,
                     QObject *parent = nullptr);
    ~OperatorEndpoint() override;

    bool listen(const MetricsSettings &settings, QString *error);
    quint16 port() const { return m_port; }

private:
    std::unique_ptr<QHttpServer> m_server;
    quint16 m_port = 0;
};

} // namespace uwpx

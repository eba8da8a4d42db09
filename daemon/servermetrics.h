#pragma once

#include "componentrole.h"
#include "metrics.h"
#include "publishoutcome.h"
#include "refusalreason.h"

#include <QByteArray>
#include <QDateTime>
#include <QString>

#include <optional>

namespace uwpx {

// The operator's figures of docs/operations.md. Dashboards and alerts are built on
// these names, so they are spelled once, here, and never renamed or dropped;
// the rest of the daemon reports events through the typed calls below.
class ServerMetrics {
public:
    ServerMetrics();

    void registrationHandled(const QString &action, bool success);
    void publishAnswered(PublishOutcome outcome);
    void wnsRequestFinished(int httpStatus, qint64 elapsedMs);
    void wnsTokenRefreshed();
    void wnsNotificationDropped();
    // Something from outside turned away by a limit, by reason.
    void refused(RefusalReason reason);

    // What the link and the store know best, read when scraped.
    struct Gauges {
        bool componentConnected = false;
        ComponentRole componentRole = ComponentRole::Disconnected;
        int componentReconnects = 0;
        int registrationConnections = 0;
        bool storageAvailable = false;
        // Unknown (left out of /metrics) while the store cannot count them.
        std::optional<qint64> devices;
        std::optional<qint64> accounts;
        std::optional<qint64> suspendedDevices;
        QDateTime certificateExpiry; // the registration certificate's notAfter
    };
    QByteArray render(const Gauges &gauges);

private:
    Metrics m_metrics;
};

} // namespace uwpx

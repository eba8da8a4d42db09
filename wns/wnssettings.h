#pragma once

#include <QString>
#include <QStringList>
#include <QUrl>

namespace uwpx {

// The [wns] section of the configuration (SPEC §2, §6).
struct WnsSettings {
    QString packageSid;   // client_id of the token request
    QString clientSecret; // never logged
    QUrl tokenUrl = QUrl(QStringLiteral("https://login.live.com/accesstoken.srf"));
    QString scope = QStringLiteral("notify.windows.com");
    QStringList channelHosts{QStringLiteral("*.notify.windows.com")};
    QString caFile; // extra PEM CA certificates trusted for WNS and the token endpoint

    int requestTimeoutMs = 10000; // one HTTP request to WNS or the token endpoint
    int maxAttempts = 3;          // per notification, for transient failures
};

} // namespace uwpx

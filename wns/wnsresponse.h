#pragma once

#include "httpheaders.h"

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QPair>
#include <QString>

#include <optional>

namespace uwpx {

// What Microsoft asks for in support cases (docs/protocol.md): logged with every failure.
struct WnsDiagnostics {
    QByteArray msgId;                  // X-WNS-Msg-ID
    QByteArray debugTrace;             // X-WNS-Debug-Trace
    QByteArray correlationVector;      // MS-CV
    QByteArray errorDescription;       // X-WNS-Error-Description
    QByteArray deviceConnectionStatus; // X-WNS-DeviceConnectionStatus, informational

    static WnsDiagnostics fromHeaders(const HttpHeaders &headers);
    // "msg-id=… debug-trace=… ms-cv=…", leaving out what is absent.
    QString toLogString() const;
};

// One WNS answer to one POST, reduced to what the sender does next.
struct WnsResponse {
    enum class Kind {
        Delivered,        // 200, X-WNS-Status received (or none)
        Dropped,          // 200, X-WNS-Status dropped: accepted but not delivered
        ChannelThrottled, // 200, X-WNS-Status channelthrottled: transient for that device
        Unauthorized,     // 401: refresh the token once, resend once
        Gone,             // 404, 410
        Retry,            // 406, 429, 408, 5xx, timeouts, network errors
        Permanent,        // 400, 403, 405, 413 and anything else unexpected
    };
    Kind kind = Kind::Retry;
    int httpStatus = 0;
    // Retry-After or X-WNS-CONTINUE-AFTER, when WNS sent one we can read.
    std::optional<qint64> retryAfterMs;
    // WNS asks us to slow down: 406, 429, or ChannelThrottled.
    bool throttled = false;
    QString reason; // safe to log and to show a client
    WnsDiagnostics diagnostics;
};

// `httpStatus` 0 means no HTTP answer: `transportError` says what went wrong.
WnsResponse classifyWnsResponse(int httpStatus, const HttpHeaders &headers,
                                const QString &transportError, const QDateTime &now);

// Retry-After / X-WNS-CONTINUE-AFTER: delta-seconds or an HTTP-date.
std::optional<qint64> parseRetryAfterMs(const QByteArray &value, const QDateTime &now);

} // namespace uwpx

#include "wnsresponse.h"

#include <QLocale>

#include <algorithm>

namespace uwpx {

WnsDiagnostics WnsDiagnostics::fromHeaders(const HttpHeaders &headers) {
    WnsDiagnostics d;
    d.msgId = headerValue(headers, "X-WNS-Msg-ID");
    d.debugTrace = headerValue(headers, "X-WNS-Debug-Trace");
    d.correlationVector = headerValue(headers, "MS-CV");
    d.errorDescription = headerValue(headers, "X-WNS-Error-Description");
    d.deviceConnectionStatus = headerValue(headers, "X-WNS-DeviceConnectionStatus");
    return d;
}

QString WnsDiagnostics::toLogString() const {
    QStringList parts;
    const auto add = [&parts](const char *name, const QByteArray &value) {
        if (!value.isEmpty())
            parts << QLatin1String(name) + QLatin1Char('=') + QString::fromLatin1(value.left(200));
    };
    add("msg-id", msgId);
    add("debug-trace", debugTrace);
    add("ms-cv", correlationVector);
    add("device", deviceConnectionStatus);
    return parts.isEmpty() ? QStringLiteral("(no WNS diagnostics)") : parts.join(QLatin1Char(' '));
}

namespace {
// Any longer wait means the same (give up on this send), and the cap keeps
// the arithmetic on it (seconds to milliseconds, adding it to a job's age)
// from overflowing: "Retry-After: 9223372036854775807" is one header away.
constexpr qint64 kMaxRetryAfterMs = qint64(24) * 3600 * 1000;
} // namespace

std::optional<qint64> parseRetryAfterMs(const QByteArray &value, const QDateTime &now) {
    const QByteArray trimmed = value.trimmed();
    if (trimmed.isEmpty())
        return std::nullopt;
    bool ok = false;
    const qint64 seconds = trimmed.toLongLong(&ok);
    if (ok)
        return std::clamp<qint64>(seconds, 0, kMaxRetryAfterMs / 1000) * 1000;
    // HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT". (The suffix first:
    // chopping more than there is asserts in a debug build.)
    if (!trimmed.endsWith(" GMT"))
        return std::nullopt;
    const QDateTime when = QLocale::c().toDateTime(QString::fromLatin1(trimmed).chopped(4),
                                                   QStringLiteral("ddd, dd MMM yyyy HH:mm:ss"));
    if (!when.isValid())
        return std::nullopt;
    const QDateTime utc(when.date(), when.time(), Qt::UTC);
    return std::clamp<qint64>(now.msecsTo(utc), 0, kMaxRetryAfterMs);
}

WnsResponse classifyWnsResponse(int httpStatus, const HttpHeaders &headers,
                                const QString &transportError, const QDateTime &now) {
    WnsResponse r;
    r.httpStatus = httpStatus;
    r.diagnostics = WnsDiagnostics::fromHeaders(headers);
    using Kind = WnsResponse::Kind;

    if (httpStatus == 0) {
        r.kind = Kind::Retry;
        r.reason = QStringLiteral("WNS could not be reached: %1").arg(transportError);
        return r;
    }

    const QByteArray description = r.diagnostics.errorDescription.left(200);
    const QString detail = description.isEmpty()
                               ? QString()
                               : QStringLiteral(" (%1)").arg(QString::fromLatin1(description));

    switch (httpStatus) {
    case 200: {
        // Live WNS has sent either header, sometimes both; any channelthrottled
        // or dropped wins over received.
        const QByteArray status = (headerValue(headers, "X-WNS-Status") + ' ' +
                                   headerValue(headers, "X-WNS-NotificationStatus"))
                                      .toLower();
        if (status.contains("channelthrottled")) {
            r.kind = Kind::ChannelThrottled;
            r.throttled = true;
            r.reason = QStringLiteral("WNS throttled this device's channel; try later");
        } else if (status.contains("dropped")) {
            r.kind = Kind::Dropped;
            r.reason = QStringLiteral("WNS accepted the notification but dropped it");
        } else {
            r.kind = Kind::Delivered;
            r.reason = QStringLiteral("WNS accepted the notification");
        }
        return r;
    }
    case 401:
        r.kind = Kind::Unauthorized;
        r.reason = QStringLiteral("WNS rejected the access token (HTTP 401)");
        return r;
    case 404:
    case 410:
        r.kind = Kind::Gone;
        r.reason =
            QStringLiteral("WNS reports the channel URI as %1 (HTTP %2)")
                .arg(httpStatus == 404 ? QStringLiteral("unknown") : QStringLiteral("expired"))
                .arg(httpStatus);
        return r;
    case 403:
        r.kind = Kind::Permanent;
        r.reason = QStringLiteral("WNS refused the notification (HTTP 403): the channel belongs "
                                  "to another app; check wns.package_sid%1")
                       .arg(detail);
        return r;
    case 413:
        r.kind = Kind::Permanent;
        r.reason =
            QStringLiteral("WNS refused the notification as too large (HTTP 413)%1").arg(detail);
        return r;
    case 400:
    case 405:
        r.kind = Kind::Permanent;
        r.reason = QStringLiteral("WNS refused the request as malformed (HTTP %1)%2")
                       .arg(httpStatus)
                       .arg(detail);
        return r;
    default:
        break;
    }

    if (httpStatus == 406 || httpStatus == 408 || httpStatus == 429 || httpStatus >= 500) {
        r.kind = Kind::Retry;
        std::optional<qint64> wait = parseRetryAfterMs(headerValue(headers, "Retry-After"), now);
        if (!wait)
            wait = parseRetryAfterMs(headerValue(headers, "X-WNS-CONTINUE-AFTER"), now);
        r.retryAfterMs = wait;
        r.throttled = httpStatus == 406 || httpStatus == 429;
        r.reason = r.throttled ? QStringLiteral("WNS is throttling us (HTTP %1)").arg(httpStatus)
                               : QStringLiteral("WNS is unavailable (HTTP %1)").arg(httpStatus);
        return r;
    }

    // Redirects (never followed: they would carry the bearer token elsewhere)
    // and any other status WNS does not document.
    r.kind = Kind::Permanent;
    r.reason = QStringLiteral("WNS answered with unexpected HTTP %1%2").arg(httpStatus).arg(detail);
    return r;
}

} // namespace uwpx

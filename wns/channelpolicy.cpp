#include "channelpolicy.h"

#include <QUrl>

namespace uwpx {

namespace {

bool hostMatches(const QString &host, const QString &pattern) {
    const QString p = pattern.trimmed().toLower();
    if (p.startsWith(QLatin1String("*."))) {
        // "*.notify.windows.com" is any subdomain, never the bare domain and
        // never "evilnotify.windows.com".
        return host.endsWith(p.mid(1)) && host.size() > p.size() - 1;
    }
    return host == p;
}

} // namespace

bool isAcceptableChannelUri(const QString &uri, const QStringList &hostPatterns, QString *why) {
    if (uri.size() > 2048) {
        *why = QStringLiteral("channel_uri is longer than 2048 characters.");
        return false;
    }
    const QUrl url(uri, QUrl::StrictMode);
    if (!url.isValid() || url.host().isEmpty()) {
        *why = QStringLiteral("channel_uri is not a valid URL.");
        return false;
    }
    if (url.scheme() != QLatin1String("https")) {
        *why = QStringLiteral("channel_uri must be an https URL.");
        return false;
    }
    if (!url.userInfo().isEmpty()) {
        *why = QStringLiteral("channel_uri must not carry user information.");
        return false;
    }
    const QString host = url.host().toLower();
    for (const QString &pattern : hostPatterns) {
        if (hostMatches(host, pattern))
            return true;
    }
    *why = QStringLiteral("channel_uri host '%1' is not a WNS notification host.").arg(host);
    return false;
}

} // namespace uwpx

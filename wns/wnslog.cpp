#include "wnslog.h"

#include <QUrl>

Q_LOGGING_CATEGORY(lcWns, "uwpx.wns")

namespace uwpx {

QString channelForLog(const QString &channelUri) {
    const QUrl url(channelUri);
    const QString host = url.host();
    if (host.isEmpty())
        return QStringLiteral("<invalid channel URI>");
    return host + QStringLiteral("/…");
}

} // namespace uwpx

#include "identity.h"

#include <QCryptographicHash>
#include <QRegularExpression>

namespace uwpx {

bool isWellFormedDeviceId(const QString &deviceId) {
    // \z, not $: $ also matches before a final newline.
    static const QRegularExpression hex(QStringLiteral("\\A[0-9A-Fa-f]{16,128}\\z"));
    return hex.match(deviceId).hasMatch();
}

QString normalizedDeviceId(const QString &deviceId) {
    return deviceId.toLower();
}

QString accountKeyForBareJid(const QString &deviceId, const QString &bareJid) {
    QString lowered = bareJid;
    for (QChar &c : lowered) {
        if (c.unicode() < 128)
            c = c.toLower();
    }
    return QString::fromLatin1(
        QCryptographicHash::hash((deviceId + lowered).toUtf8(), QCryptographicHash::Sha256)
            .toHex());
}

QString jidDomain(const QString &jid) {
    QString bare = jid.section(QLatin1Char('/'), 0, 0);
    const qsizetype at = bare.indexOf(QLatin1Char('@'));
    if (at >= 0)
        bare = bare.mid(at + 1);
    return bare.toLower();
}

QString deviceForLog(const QString &deviceId) {
    return deviceId.size() > 8 ? deviceId.left(8) + QStringLiteral("…") : deviceId;
}

} // namespace uwpx

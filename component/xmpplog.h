#pragma once

#include <QLoggingCategory>
#include <QString>

Q_DECLARE_LOGGING_CATEGORY(lcXmpp)

namespace uwpx {
// Nodes are half of a push credential: logs show enough to correlate, not more.
inline QString shortNode(const QString &node) {
    return node.size() <= 6 ? node : node.left(6) + QStringLiteral("…");
}
} // namespace uwpx

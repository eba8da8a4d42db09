#pragma once

#include <QString>

namespace uwpx::pushctl {

// What the tool prints of ids, nodes and keys: enough to tell them apart,
// not enough to use a node (docs/uwpx-pushctl.8). Control characters from a
// foreign store are shown as '?'.
inline QString shorten(const QString &text, qsizetype keep = 8) {
    QString shown = text.left(keep);
    for (QChar &c : shown) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            c = QLatin1Char('?');
    }
    return text.size() > keep ? shown + QStringLiteral("…") : shown;
}

} // namespace uwpx::pushctl

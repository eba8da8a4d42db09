#include "wnsnotification.h"

namespace uwpx {

QString deviceForLog(const QString &deviceId) {
    return deviceId.size() > 8 ? deviceId.left(8) + QStringLiteral("…") : deviceId;
}

} // namespace uwpx

#pragma once

#include <QLoggingCategory>
#include <QString>

Q_DECLARE_LOGGING_CATEGORY(lcWns)

namespace uwpx {

// A channel URI is a capability (whoever knows it can wake the device), so
// logs only ever show its host.
QString channelForLog(const QString &channelUri);

} // namespace uwpx

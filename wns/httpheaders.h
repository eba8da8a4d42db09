#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>

namespace uwpx {

// HTTP header fields in the order received, names as sent.
using HttpHeaders = QList<QPair<QByteArray, QByteArray>>;

// Case-insensitive lookup (HTTP header names are case-insensitive and WNS has
// been seen to vary them). Empty when absent.
QByteArray headerValue(const HttpHeaders &headers, const QByteArray &name);

} // namespace uwpx

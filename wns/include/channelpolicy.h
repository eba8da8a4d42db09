#pragma once

#include <QString>
#include <QStringList>

namespace uwpx {

// Whether a client-supplied channel URI may receive our bearer token: https,
// a host matching one of `hostPatterns` ("*.notify.windows.com" matches any
// subdomain, a pattern without '*' matches exactly), at most 2048 characters.
// On refusal *why says what is wrong.
bool isAcceptableChannelUri(const QString &uri, const QStringList &hostPatterns, QString *why);

} // namespace uwpx

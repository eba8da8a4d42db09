#pragma once

#include <QByteArray>
#include <QNetworkAccessManager>
#include <QPair>
#include <QUrl>

#include <optional>

namespace uwpx::test {

// GET `url` and wait for the answer: its status code and body; {0, {}} when
// none came within `timeoutMs`. Waiting runs the event loop, so the server
// may live in the same thread.
QPair<int, QByteArray> httpGet(QNetworkAccessManager &http, const QUrl &url, int timeoutMs = 10000);

// The value of one series (`name{labels}` as written) in /metrics' text.
std::optional<double> metricValue(const QByteArray &text, const QByteArray &series);

} // namespace uwpx::test

#include "httpget.h"

#include <QNetworkReply>
#include <QSignalSpy>

namespace uwpx::test {

QPair<int, QByteArray> httpGet(QNetworkAccessManager &http, const QUrl &url, int timeoutMs) {
    QNetworkReply *reply = http.get(QNetworkRequest(url));
    QSignalSpy finished(reply, &QNetworkReply::finished);
    const bool answered = reply->isFinished() || finished.wait(timeoutMs);
    reply->deleteLater();
    if (!answered)
        return {0, {}};
    return {reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), reply->readAll()};
}

std::optional<double> metricValue(const QByteArray &text, const QByteArray &series) {
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(series + ' '))
            return line.mid(series.size() + 1).toDouble();
    }
    return std::nullopt;
}

} // namespace uwpx::test

#pragma once

#include "wnssettings.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QSslConfiguration>
#include <QTimer>

#include <functional>
#include <optional>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;

namespace uwpx {

// The OAuth client-credentials access token of docs/protocol.md. One fetch serves every
// send waiting for it; the token is reused until shortly before it expires.
// Refused credentials (HTTP 400/401 from the token endpoint) are an operator
// problem: they are logged once per attempt and no new attempt is made for a
// growing back-off, so a misconfigured server never hammers the endpoint.
class WnsTokenProvider : public QObject {
    Q_OBJECT
public:
    // Either a token (error empty) or why there is none (token empty).
    using Done = std::function<void(const QString &token, const QString &error)>;

    WnsTokenProvider(const WnsSettings &settings, QNetworkAccessManager *network,
                     const QSslConfiguration &tls, QObject *parent = nullptr);
    ~WnsTokenProvider() override;

    // Calls `done` at once when a fresh token is cached or the endpoint is in
    // back-off, otherwise once the (single, shared) fetch ends.
    void withToken(Done done);

    // WNS said 401 for `token`: forget it so the next withToken() fetches a new
    // one. A token already replaced by a newer one is left alone, so many
    // concurrent 401s still cause one fetch.
    void invalidate(const QString &token);

    void restore(const QString &token, const QDateTime &expiresAt);

    // New credentials (a configuration reload): package SID, client secret,
    // token URL and scope. If any changed, the cached token (issued for the
    // old ones) is dropped and a back-off earned by the old ones ends, so
    // the next send fetches a token with the new ones at once. A fetch
    // already under way finishes with the old ones. True if anything changed.
    bool setCredentials(const WnsSettings &settings);

    bool hasFreshToken() const;

Q_SIGNALS:
    void tokenRefreshed(const QString &accessToken, const QDateTime &expiresAt);

private:
    void startFetch();
    void onFetchFinished();
    void fail(const QString &error, bool credentialProblem);
    void resolveWaiters(const QString &token, const QString &error);
    void adopt(const QString &token, const QDateTime &expiresAt);

    WnsSettings m_settings;
    QNetworkAccessManager *m_network;
    QSslConfiguration m_tls;

    QString m_token;
    QDateTime m_refreshAt; // UTC: fetch a new token from here on
    QPointer<QNetworkReply> m_reply;
    QTimer m_deadline; // the whole fetch, answer included
    bool m_answerTooLarge = false;
    bool m_timedOut = false;
    std::vector<Done> m_waiters;

    // Back-off after a failed fetch: withToken() fails fast until then.
    std::optional<QElapsedTimer> m_failedAt;
    qint64 m_backoffMs = 0;
    qint64 m_nextCredentialBackoffMs = 0;
    qint64 m_nextTransientBackoffMs = 0;
    QString m_lastError;
};

} // namespace uwpx

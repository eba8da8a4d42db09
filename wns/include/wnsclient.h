#pragma once

#include "wnsnotification.h"
#include "wnssettings.h"

#include <QDateTime>
#include <QObject>

#include <functional>
#include <memory>

namespace uwpx {

// Delivers raw notifications to WNS (SPEC §6): gets and caches the OAuth
// token, posts with the documented headers, retries what is transient and
// resolves each send to one WnsResult. Lives on the Qt event loop; every
// callback runs on the thread that called send().
class WnsClient : public QObject {
    Q_OBJECT
public:
    using Completion = std::function<void(const WnsResult &)>;

    explicit WnsClient(const WnsSettings &settings, QObject *parent = nullptr);
    ~WnsClient() override;

    // `done` is called exactly once, also when the client is destroyed first
    // (with a Transient result).
    void send(const WnsNotification &notification, Completion done);

    // A token saved by an earlier run (see tokenRefreshed); used until it is
    // about to expire.
    void restoreToken(const QString &accessToken, const QDateTime &expiresAt);

    // New credentials from a configuration reload ([wns] package_sid,
    // client_secret, token_url, scope; the rest of `settings` is ignored).
    // When they changed, the next send fetches a new token with them. True
    // if anything changed.
    bool setCredentials(const WnsSettings &settings);

    // Counters for metrics and tests, since this client was made.
    struct Stats {
        quint64 delivered = 0; // 200 received (dropped not included)
        quint64 dropped = 0;   // 200 dropped
        quint64 gone = 0;
        quint64 transient = 0;
        quint64 permanent = 0;
        quint64 retries = 0;      // HTTP attempts repeated after a transient failure
        quint64 coalesced = 0;    // sends folded into another one's follow-up
        quint64 unauthorized = 0; // 401s answered by WNS
    };
    Stats stats() const;
    // Token requests made (successful or not).
    int tokenFetches() const;
    // Whether a token is cached that is not due for refresh.
    bool hasFreshToken() const;

Q_SIGNALS:
    // A new access token: the owner persists it so restarts need not fetch one.
    void tokenRefreshed(const QString &accessToken, const QDateTime &expiresAt);
    // WNS said 404/410 for this device's channel.
    void channelGone(const QString &deviceId);
    // One HTTP request to a channel ended: its status (0: no HTTP answer, such
    // as a timeout) and how long it took, for the operator's metrics.
    void requestFinished(int httpStatus, qint64 elapsedMs);

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace uwpx

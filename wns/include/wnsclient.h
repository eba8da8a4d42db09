#pragma once

#include "wnsnotification.h"
#include "wnssettings.h"

#include <QDateTime>
#include <QObject>

#include <functional>
#include <memory>

namespace uwpx {

// Delivers raw notifications to WNS (docs/protocol.md): gets and caches the OAuth
// token, posts with the documented headers, retries what is transient and
// resolves each send to one WnsResult. Lives on the Qt event loop; every
// callback runs on the thread that called send().
class WnsClient : public QObject {
    Q_OBJECT
public:
    using Done = std::function<void(const WnsResult &)>;

    explicit WnsClient(const WnsSettings &settings, QObject *parent = nullptr);
    ~WnsClient() override;

    // `done` is called exactly once, also when the client is destroyed first
    // (with a Transient result).
    void send(const WnsNotification &notification, Done done);

    // A token saved by an earlier run (see tokenRefreshed); used until it is
    // about to expire.
    void restoreToken(const QString &accessToken, const QDateTime &expiresAt);

    // New credentials from a configuration reload ([wns] package_sid,
    // client_secret, token_url, scope; the rest of `settings` is ignored).
    // When they changed, the next send fetches a new token with them. True
    // if anything changed.
    bool setCredentials(const WnsSettings &settings);

    // Whether a token is cached that is not due for refresh.
    bool hasFreshToken() const;

    // Gets a token now, or uses the cached one (the operator's check that the
    // credentials work). `done` gets an empty string on success, else why not
    // (never the token or the client secret); it runs once.
    void obtainToken(std::function<void(const QString &error)> done);

Q_SIGNALS:
    // A new access token: the owner persists it so restarts need not fetch one.
    void tokenRefreshed(const QString &accessToken, const QDateTime &expiresAt);
    // WNS said 404/410 for `channelUri`, the device's channel when it was sent.
    void channelGone(const QString &deviceId, const QString &channelUri);
    // One HTTP request to a channel ended: its status (0: no HTTP answer, such
    // as a timeout) and how long it took, for the operator's metrics.
    void requestFinished(int httpStatus, qint64 elapsedMs);
    // WNS took a notification (200) but said it dropped it (X-WNS-Status
    // dropped): not an error of ours, but a device that was not woken.
    void notificationDropped();

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace uwpx

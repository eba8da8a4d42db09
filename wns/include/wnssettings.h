#pragma once

#include <QString>
#include <QStringList>
#include <QUrl>

namespace uwpx {

// The [wns] section of the configuration (docs/configuration.md).
//
// Pacing, in two layers, so that a burst for one device becomes at most a
// couple of WNS requests (WNS throttles channels that are sent to too often):
// 1. per pubsub node, PushPublisher (component/) sends at most once per rate
//    window (1 s); publishes inside the window are answered at once and fold
//    into one trailing send with the latest counts;
// 2. per device channel (WnsNotification::coalesceKey), WnsClient keeps one
//    request in flight; sends that arrive meanwhile fold into one follow-up.
// Below both, WnsConnectionPool bounds what goes out at once: per WNS host,
// connectionsPerHost requests in flight, each on its own connection; the
// rest wait in line.
//
// Timeouts, nested so that each layer answers before the one above gives up:
//   requestTimeoutMs (10 s)  one HTTP request to WNS or the token endpoint
//   < sendBudgetMs (15 s)    everything one send costs: token, attempts,
//                            retry delays (maxAttempts, retryBaseDelayMs,
//                            maxRetryDelayMs, WNS's Retry-After)
//   < publishTimeoutMs (25 s, XmppSettings) the reply to a publish
//   < 32 s, after which ejabberd gives up on a publish.
// Idle WNS connections close after a minute; after refused credentials the
// token endpoint is left alone for tokenBackoffMs, doubling up to 30 minutes.
struct WnsSettings {
    QString packageSid;   // client_id of the token request
    QString clientSecret; // never logged
    QUrl tokenUrl = QUrl(QStringLiteral("https://login.live.com/accesstoken.srf"));
    QString scope = QStringLiteral("notify.windows.com");
    QStringList channelHosts{QStringLiteral("*.notify.windows.com")};
    QString caFile; // extra PEM CA certificates trusted for WNS and the token endpoint

    int requestTimeoutMs = 10000; // one HTTP request to WNS or the token endpoint
    int maxAttempts = 3;          // per notification, for transient failures
    // Requests in flight to one WNS host at once (each holds a connection:
    // WNS forbids pipelining). With WNS answering in ~50 ms, 32 connections
    // carry ~640 notifications/s per host; more wait in line for a free one.
    int connectionsPerHost = 32;

    // Backoff between transient attempts: retryBaseDelayMs doubled per attempt
    // with jitter, capped at maxRetryDelayMs, never shorter than WNS's Retry-After.
    int retryBaseDelayMs = 1000;
    int maxRetryDelayMs = 8000;
    // All the work for one send (token, attempts, waits) ends within this: the
    // XMPP side must answer a publish within 25 s (docs/protocol.md), so a wait WNS asks
    // for that does not fit makes the send Transient instead.
    int sendBudgetMs = 15000;
    // After the token endpoint refused the credentials (HTTP 400/401), no new
    // token request is made for this long; it doubles up to 30 minutes.
    int tokenBackoffMs = 30000;
};

} // namespace uwpx

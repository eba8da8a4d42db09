#pragma once

#include <QByteArray>
#include <QString>

namespace uwpx {

// X-WNS-PRIORITY (Microsoft, "WNS notification priorities"). A raw
// notification without it is Low, which Windows holds back while a device
// sleeps on battery until the user wakes it or plugs it in; instant messages
// belong to High. See docs/protocol.md, "Notifications".
enum class WnsPriority {
    High = 1,   // messages, the test push, a publish without a summary
    Medium = 2, // a publish that only announces subscription requests
};

// One raw notification for one device.
struct WnsNotification {
    QString channelUri;
    QByteArray payload; // see payload.h; at most 5000 bytes
    // Notifications with the same key that arrive while one is in flight are
    // coalesced into a single follow-up carrying the latest payload.
    QString coalesceKey;
    // Reported back with channelGone() so the owner can suspend the device.
    QString deviceId;
    WnsPriority priority = WnsPriority::High;
};

// WNS's verdict on a notification, after retries.
struct WnsResult {
    enum class Outcome {
        Delivered, // 200 (X-WNS-Status received, or dropped: WNS took it)
        Gone,      // 404/410: the channel no longer exists
        Transient, // throttled, WNS down, timeout, no token: try later
        Permanent, // 400/403/405/413 or a refused channel URI: our side is wrong
    };
    Outcome outcome = Outcome::Transient;
    int httpStatus = 0; // 0 when no HTTP response was involved
    QString reason;     // human-readable, safe to log and to show a client
    // Transient because WNS asks us to slow down (406, 429, or a 200 saying
    // the channel is throttled), not because it failed: the XMPP side answers
    // resource-constraint instead of internal-server-error.
    bool throttled = false;
};

} // namespace uwpx

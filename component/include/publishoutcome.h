#pragma once

#include <QMetaType>
#include <QString>

namespace uwpx {

// How one XEP-0357 publish ended; each maps to one reply of docs/protocol.md.
// Gone and Suspended are `wait`, never an error that ends the user's push
// registration: the device comes back with a new channel (docs/protocol.md,
// "A device's life").
enum class PublishOutcome {
    Delivered,   // WNS took it: result
    Coalesced,   // rate-limited into the node's next send: result
    UnknownNode, // cancel/item-not-found
    Forbidden,   // wrong or missing secret, wrong sender domain: auth/forbidden
    Transient,   // WNS trouble, timeout, storage failure: wait/...
    Gone,        // WNS says the channel is gone now: the device is suspended, wait/...
    Suspended,   // the device's channel was gone already: no WNS request, wait/...
    BadRequest,  // malformed publish: modify/bad-request
};
inline constexpr int PublishOutcomeCount = 8;

// "delivered", "coalesced", "unknown_node", ... (names for metrics and logs)
QString publishOutcomeName(PublishOutcome outcome);

} // namespace uwpx

Q_DECLARE_METATYPE(uwpx::PublishOutcome)

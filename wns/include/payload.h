#pragma once

#include <QByteArray>
#include <QString>

namespace uwpx::payload {

// The raw notification bodies of docs/protocol.md. None of them ever carries a
// message body or sender: WNS is not end-to-end encrypted.

// v2: {"version":2,"action":"push","account_id":"…","message_count":N,
//      "pending_subscription_count":M}
// v1: {"version":1,"action":"push","account":"<account key>","message_count":N,
//      "pending_subscription_count":M}
// UWPX's background task reads a raw notification by its "action" (push or
// test_push) and drops any other; v1 clients show the text as it is.
QByteArray forPublish(int protocolVersion, const QString &accountKey, int messageCount,
                      int pendingSubscriptionCount);

// {"version":V,"action":"test_push"}
QByteArray forTestPush(int protocolVersion);

} // namespace uwpx::payload

#include "payload.h"

#include <QJsonArray>
#include <QJsonDocument>

namespace uwpx::payload {

namespace {

// Key order is part of the contract tests assert on, so the JSON is written
// by hand rather than through QJsonObject (which sorts keys).
QByteArray jsonString(const QString &value) {
    // QJsonDocument escapes exactly as JSON requires.
    const QByteArray array = QJsonDocument(QJsonArray{value}).toJson(QJsonDocument::Compact);
    return array.mid(1, array.size() - 2);
}

} // namespace

QByteArray forPublish(int protocolVersion, const QString &accountKey, int messageCount,
                      int pendingSubscriptionCount) {
    const QByteArray keyName = protocolVersion == 1 ? "account" : "account_id";
    return "{\"version\":" + QByteArray::number(protocolVersion) + ",\"action\":\"push\",\"" +
           keyName + "\":" + jsonString(accountKey) +
           ",\"message_count\":" + QByteArray::number(messageCount) +
           ",\"pending_subscription_count\":" + QByteArray::number(pendingSubscriptionCount) + "}";
}

QByteArray forTestPush(int protocolVersion) {
    return "{\"version\":" + QByteArray::number(protocolVersion) + ",\"action\":\"test_push\"}";
}

} // namespace uwpx::payload

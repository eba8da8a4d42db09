#pragma once

#include "storagerecords.h"
#include "storageresult.h"

// Shorthands for tests that look at what a StorageConnection returned.
namespace uwpx::test {

// The value, or T's default when there is none.
template<typename T> T valueOf(const StorageResult<T> &result) {
    return result.isOk() ? result.value() : T();
}

// findByNode, with the target (when found) copied out.
template<typename Connection, typename Target>
StorageStatus findByNode(Connection &connection, const QString &node, Target *target) {
    const auto found = connection.findByNode(node);
    if (found.isOk())
        *target = found.value();
    return found.status();
}

// setAccounts, with the credentials (when stored) copied out.
template<typename Connection, typename Credentials>
StorageStatus setAccounts(Connection &connection, const QString &deviceId, int protocolVersion,
                          const QList<AccountSpec> &accounts, Credentials *credentials) {
    const auto stored = connection.setAccounts(deviceId, protocolVersion, accounts);
    if (stored.isOk())
        *credentials = stored.value();
    return stored.status();
}

} // namespace uwpx::test

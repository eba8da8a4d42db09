#pragma once

#include "storagerecords.h"
#include "storageresult.h"

// Shorthands for tests that look at what a StorageConnection returned.
namespace uwpx::test {

// The value, or T's default when there is none.
template<typename T> T valueOf(const StorageResult<T> &result) {
    return result.isOk() ? result.value() : T();
}

// One node looked up through findByNodes, as the daemon looks nodes up, with
// the target (when found) copied out.
template<typename Connection, typename Target>
StorageStatus findByNode(Connection &connection, const QString &node, Target *target) {
    const auto found = connection.findByNodes({node});
    if (!found.isOk())
        return found.status();
    const auto it = found->constFind(node);
    if (it == found->constEnd())
        return StorageStatus::NotFound;
    *target = *it;
    return StorageStatus::Ok;
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

#pragma once

#include "storage.h"

// Shorthands for tests that look at what Storage returned.
namespace uwpx::test {

// The value, or T's default when there is none.
template<typename T> T valueOf(const StorageResult<T> &result) {
    return result.isOk() ? result.value() : T();
}

// findByNode, with the target (when found) copied out.
inline StorageStatus findByNode(Storage &storage, const QString &node, PushTarget *target) {
    const StorageResult<PushTarget> found = storage.findByNode(node);
    if (found.isOk())
        *target = found.value();
    return found.status();
}

// setAccounts, with the credentials (when stored) copied out.
inline StorageStatus setAccounts(Storage &storage, const QString &deviceId, int protocolVersion,
                                 const QList<AccountSpec> &accounts,
                                 QList<AccountCredentials> *credentials) {
    const auto stored = storage.setAccounts(deviceId, protocolVersion, accounts);
    if (stored.isOk())
        *credentials = stored.value();
    return stored.status();
}

} // namespace uwpx::test

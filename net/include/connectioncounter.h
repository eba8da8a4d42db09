#pragma once

#include <QHash>
#include <QString>

namespace uwpx {

// Connections open at once, overall and per client address: what the
// registration endpoint and the operator endpoint hold new connections to
// (docs/operations.md, "Limits"). Each endpoint decides what an address is
// (the registration endpoint counts an IPv6 client by its /64) and what
// happens at a limit.
class ConnectionCounter {
public:
    int total() const { return m_total; }
    // Whether `address` already has `max` connections open; never for the
    // empty address, which counts in the total only (a connection whose
    // client is not known yet).
    bool isFull(const QString &address, int max) const {
        return !address.isEmpty() && m_perAddress.value(address) >= max;
    }
    // One connection more from `address`, or one fewer.
    void add(const QString &address);
    void remove(const QString &address);

private:
    int m_total = 0;
    QHash<QString, int> m_perAddress;
};

} // namespace uwpx

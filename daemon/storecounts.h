#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <optional>

namespace uwpx {

class Storage;

// The store's counts for /metrics (uwpx_devices, uwpx_accounts,
// uwpx_devices_suspended). Counting is
// a COUNT(*) over a table, which on a store of millions of rows is not free,
// so a scrape never waits for it: it reads the last counts, which are taken
// off the event loop
// - a few seconds after this instance changed the store (changed()), at most
//   every kMinInterval (5 s) while changes go on, and
// - every kMaxInterval (60 s) anyway, for what other instances sharing a
//   PostgreSQL database and the hourly expiry change.
// So a figure is at most about 5 s behind this instance's own writes and
// 60 s behind anything else. A count that failed (the store is down) is
// unknown, and /metrics leaves it out, until a count succeeds again.
class StoreCounts : public QObject {
    Q_OBJECT
public:
    explicit StoreCounts(Storage &storage, QObject *parent = nullptr);

    // Counts now, then as above.
    void start();
    // This instance wrote to the store.
    void changed();

    std::optional<qint64> devices() const { return m_devices; }
    std::optional<qint64> accounts() const { return m_accounts; }
    std::optional<qint64> suspendedDevices() const { return m_suspendedDevices; }

private:
    void count();

    Storage &m_storage;
    QTimer m_next;
    QElapsedTimer m_sinceLastCount;
    bool m_counting = false;
    bool m_changedWhileCounting = false;
    std::optional<qint64> m_devices;
    std::optional<qint64> m_accounts;
    std::optional<qint64> m_suspendedDevices;
};

} // namespace uwpx

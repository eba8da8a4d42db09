#pragma once

#include "storagesettings.h"

#include <QObject>
#include <QString>
#include <QTimer>

#include <memory>
#include <mutex>

namespace uwpx {

class Storage;
class StorageConnection;

// Where threads of storage/ post to the Storage on its event loop: the
// workers their outcomes, listeners what they heard. It outlives the Storage
// (those threads hold it), so a worker that was stuck in a hung database past
// shutdown finds no receiver instead of a destroyed one.
struct StorageMailbox {
    std::mutex mutex;
    Storage *receiver = nullptr;
};

// Change notification (Storage::listen()): a connection of its own that only
// waits for notifications on one channel and has the mailbox's receiver emit
// Storage::notified for each. It needs the event loop of its thread (Qt
// delivers notifications through a socket notifier), and is checked every
// `checkIntervalMs` and opened again when lost.
class StorageListener : public QObject {
public:
    StorageListener(const StorageSettings &settings, const QString &channel,
                    std::shared_ptr<StorageMailbox> mailbox, int checkIntervalMs);
    ~StorageListener() override;

    // On the listener's thread, once it runs.
    void start();

private:
    void check();

    const StorageSettings m_settings;
    const QString m_channel;
    const std::shared_ptr<StorageMailbox> m_mailbox;
    const int m_checkIntervalMs;
    std::unique_ptr<StorageConnection> m_connection;
    QTimer m_check;
};

} // namespace uwpx

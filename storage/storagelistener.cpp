#include "storagelistener.h"

#include "storage.h"
#include "storageconnection.h"

#include <QMetaObject>

namespace uwpx {

StorageListener::StorageListener(const StorageSettings &settings, const QString &channel,
                                 std::shared_ptr<StorageMailbox> mailbox, int checkIntervalMs)
    : m_settings(settings)
    , m_channel(channel)
    , m_mailbox(std::move(mailbox))
    , m_checkIntervalMs(checkIntervalMs)
    , m_check(this) { // a child, so that it moves to the listener's thread too
    connect(&m_check, &QTimer::timeout, this, &StorageListener::check);
}

StorageListener::~StorageListener() = default;

void StorageListener::start() {
    check();
    m_check.start(m_checkIntervalMs);
}

void StorageListener::check() {
    if (m_connection && m_connection->isAlive())
        return;
    m_connection.reset();
    QString error;
    m_connection = StorageConnection::open(m_settings, &error);
    if (!m_connection)
        return; // tried again at the next check
    const auto mailbox = m_mailbox;
    const QString channel = m_channel;
    if (!m_connection->listen(channel, [mailbox, channel](const QString &payload) {
            const std::lock_guard lock(mailbox->mutex);
            if (mailbox->receiver)
                QMetaObject::invokeMethod(
                    mailbox->receiver,
                    [receiver = mailbox->receiver, channel, payload] {
                        Q_EMIT receiver->notified(channel, payload);
                    },
                    Qt::QueuedConnection);
        }))
        m_connection.reset(); // not subscribed: tried again at the next check
}

} // namespace uwpx

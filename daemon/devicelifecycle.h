#pragma once

#include <QDateTime>
#include <QObject>
#include <QTimer>

namespace uwpx {

class Storage;

// How long a device stays in the store, and when it gets no notifications
// (docs/protocol.md, "A device's life"). A device lives while it is heard
// from: by its own registration requests, and by every notification WNS
// accepts for it, since UWPX re-registers only when its channel or its
// accounts change and may stay silent for months while its pushes work.
// When WNS reports its channel gone (404/410) it is suspended, never
// removed: UWPX re-sends neither its accounts nor its XEP-0357 enable when it
// comes back with a new channel, so the accounts must still be here then.
// Only not being refreshed for `expireDays` removes a device.
class DeviceLifecycle : public QObject {
    Q_OBJECT
public:
    DeviceLifecycle(Storage &storage, int expireDays, QObject *parent = nullptr);

    // Removes the expired devices now, then once an hour.
    void start();

    // WNS said 404/410 for `channelUri`, the device's channel when it was sent.
    void onChannelGone(const QString &deviceId, const QString &channelUri);
    // WNS accepted a notification for the device, last refreshed at `refreshedAt`.
    void onDeviceReached(const QString &deviceId, const QDateTime &refreshedAt);

    void removeExpiredDevices();

    // [storage] expire_days changed (a configuration reload): the next hourly
    // run removes by the new figure.
    void setExpireDays(int days) { m_expireDays = days; }

private:
    Storage &m_storage;
    int m_expireDays;
    QTimer m_expiryTimer;
};

} // namespace uwpx

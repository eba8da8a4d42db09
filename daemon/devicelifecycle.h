#pragma once

#include <QDateTime>
#include <QObject>
#include <QTimer>

namespace uwpx {

class Storage;

// How long a device stays in the store (SPEC §4). A device lives while it is
// heard from: by its own registration requests, and by every notification
// WNS accepts for it, since UWPX re-registers only when its channel or its
// accounts change and may stay silent for months while its pushes work. It
// goes when WNS reports its channel gone (404/410), or when it has not been
// refreshed for `expireDays`.
class DeviceLifecycle : public QObject {
    Q_OBJECT
public:
    DeviceLifecycle(Storage &storage, int expireDays, QObject *parent = nullptr);

    // Removes the expired devices now, then once an hour.
    void start();

    // WNS said 404/410 for the device's channel.
    void onChannelGone(const QString &deviceId);
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

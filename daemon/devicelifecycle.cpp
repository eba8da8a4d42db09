#include "devicelifecycle.h"

#include "identity.h"
#include "logging.h"
#include "storage.h"

#include <chrono>

namespace uwpx {

namespace {

// Expiry counts in days, so a refresh a day is precise enough, and a
// delivered push costs a database write at most once a day per device.
constexpr qint64 kRefreshIntervalMs = 24 * 3600 * 1000;

} // namespace

DeviceLifecycle::DeviceLifecycle(Storage &storage, int expireDays, QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_expireDays(expireDays) {
    connect(&m_expiryTimer, &QTimer::timeout, this, &DeviceLifecycle::removeExpiredDevices);
}

void DeviceLifecycle::start() {
    removeExpiredDevices();
    m_expiryTimer.start(std::chrono::hours(1));
}

void DeviceLifecycle::onChannelGone(const QString &deviceId, const QString &channelUri) {
    // A failure is logged by the store; the device's next publish meets the
    // 404/410 again and tries once more.
    m_storage.suspendDevice(
        deviceId, channelUri,
        [device = deviceForLog(deviceId)](const StorageResult<bool> &suspended) {
            if (suspended.isOk() && suspended.value())
                qCInfo(lcServer).noquote() << "WNS reports the channel of device" << device
                                           << "gone; suspended it until it sends a new channel";
        });
}

void DeviceLifecycle::onDeviceReached(const QString &deviceId, const QDateTime &refreshedAt) {
    if (refreshedAt.msecsTo(QDateTime::currentDateTimeUtc()) < kRefreshIntervalMs)
        return;
    m_storage.refreshDevice(deviceId); // a failure is logged, and the next push tries again
}

void DeviceLifecycle::removeExpiredDevices() {
    const QDateTime cutoff = QDateTime::currentDateTimeUtc().addDays(-m_expireDays);
    m_storage.removeDevicesNotUpdatedSince(
        cutoff, [days = m_expireDays](const StorageResult<int> &removed) {
            if (removed.isOk() && removed.value() > 0)
                qCInfo(lcServer).noquote() << "removed" << removed.value()
                                           << "device(s) not refreshed for" << days << "days";
        });
}

} // namespace uwpx

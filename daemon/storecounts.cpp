#include "storecounts.h"

#include "storage.h"

#include <QPointer>

#include <chrono>

namespace uwpx {

namespace {

constexpr std::chrono::milliseconds kMinInterval = std::chrono::seconds(5);
constexpr std::chrono::milliseconds kMaxInterval = std::chrono::seconds(60);

std::optional<qint64> valueOf(const StorageResult<qint64> &result) {
    return result.isOk() ? std::optional<qint64>(result.value()) : std::nullopt;
}

} // namespace

StoreCounts::StoreCounts(Storage &storage, QObject *parent)
    : QObject(parent)
    , m_storage(storage) {
    m_next.setSingleShot(true);
    connect(&m_next, &QTimer::timeout, this, &StoreCounts::count);
}

void StoreCounts::start() {
    count();
}

void StoreCounts::changed() {
    if (m_counting) {
        m_changedWhileCounting = true;
        return;
    }
    const auto since = std::chrono::milliseconds(m_sinceLastCount.elapsed());
    const auto wait = since >= kMinInterval ? std::chrono::milliseconds(0) : kMinInterval - since;
    if (!m_next.isActive() || m_next.remainingTimeAsDuration() > wait)
        m_next.start(wait);
}

void StoreCounts::count() {
    if (m_counting)
        return;
    m_counting = true;
    m_changedWhileCounting = false;
    m_next.stop();
    m_sinceLastCount.start();
    // The store delivers nothing once it is gone; this object may go first.
    const QPointer<StoreCounts> self(this);
    m_storage.deviceCount([self](const StorageResult<qint64> &devices) {
        if (!self)
            return;
        self->m_devices = valueOf(devices);
        self->m_storage.accountCount([self](const StorageResult<qint64> &accounts) {
            if (!self)
                return;
            self->m_accounts = valueOf(accounts);
            self->m_storage.suspendedDeviceCount([self](const StorageResult<qint64> &suspended) {
                if (!self)
                    return;
                self->m_suspendedDevices = valueOf(suspended);
                self->m_counting = false;
                self->m_next.start(kMaxInterval);
                if (self->m_changedWhileCounting)
                    self->changed();
            });
        });
    });
}

} // namespace uwpx

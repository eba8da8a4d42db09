#include "componentleadership.h"

#include "instancelock.h"
#include "logging.h"
#include "xmppcomponent.h"

#include <algorithm>

namespace uwpx {

namespace {

// Holding the lock but refused: Prosody may not have seen the previous
// holder's connection close yet (it died a moment ago), so ask again soon,
// a few times.
constexpr int kRetryAfterConflictMs[] = {250, 500, 1000};
// Then another instance holds the link without the lock (it lost the lock's
// connection while the database was away): it gets the lock meanwhile. Or
// the XMPP server still keeps the connection of an instance whose host
// vanished (Prosody does not ping components): each pause is twice as long,
// up to half a minute, so that waiting asks the server a few times a minute.
constexpr int kRetreatMs = 5000;
constexpr int kMaxRetreatMs = 30000;

} // namespace

ComponentLeadership::ComponentLeadership(XmppComponent &xmpp, std::unique_ptr<InstanceLock> lock,
                                         QObject *parent)
    : QObject(parent)
    , m_xmpp(xmpp)
    , m_lock(std::move(lock))
    , m_retreatMs(kRetreatMs) {
    m_xmpp.setStandbyWaits(true);
    m_retry.setSingleShot(true);
    connect(&m_retry, &QTimer::timeout, this, [this] { m_xmpp.takeOverNow(); });
    m_retreat.setSingleShot(true);
    connect(&m_retreat, &QTimer::timeout, this, [this] {
        if (!m_released)
            m_lock->acquire();
    });
    connect(&m_xmpp, &XmppComponent::roleChanged, this, &ComponentLeadership::onRoleChanged);
    connect(&m_xmpp, &XmppComponent::conflict, this, &ComponentLeadership::onConflict);
    connect(m_lock.get(), &InstanceLock::acquired, this, &ComponentLeadership::onAcquired);
    connect(m_lock.get(), &InstanceLock::lost, this, [](const QString &why) {
        qCWarning(lcServer).noquote()
            << "lost the instance lock:" << why << "- taking it again when the database answers";
    });
}

ComponentLeadership::~ComponentLeadership() = default;

void ComponentLeadership::release() {
    m_released = true;
    m_retry.stop();
    m_retreat.stop();
    m_lock->release();
}

void ComponentLeadership::lockFreed() {
    if (!m_released && !m_retreat.isActive())
        m_lock->tryNow();
}

void ComponentLeadership::onRoleChanged(ComponentRole role) {
    if (role != ComponentRole::Connected || m_released)
        return;
    // Connected: the standbys are to wait for this instance.
    m_refusedWhileHolding = 0;
    m_retreatMs = kRetreatMs;
    m_retreat.stop();
    m_lock->acquire();
}

void ComponentLeadership::onConflict() {
    if (m_released)
        return;
    if (!m_lock->isHeld()) {
        // Wait on the database, not at the XMPP server's door.
        if (!m_retreat.isActive())
            m_lock->acquire();
        return;
    }
    if (m_refusedWhileHolding < int(std::size(kRetryAfterConflictMs))) {
        m_retry.start(kRetryAfterConflictMs[m_refusedWhileHolding++]);
        return;
    }
    qCWarning(lcServer).noquote()
        << "this instance holds the instance lock, but another one holds the component link: "
           "letting it have the lock";
    m_refusedWhileHolding = 0;
    m_lock->release();
    m_retreat.start(m_retreatMs);
    m_retreatMs = std::min(2 * m_retreatMs, kMaxRetreatMs);
}

void ComponentLeadership::onAcquired() {
    if (m_xmpp.role() != ComponentRole::Standby)
        return;
    qCInfo(lcServer).noquote() << "holding the instance lock: taking over the component link";
    m_xmpp.takeOverNow();
}

} // namespace uwpx

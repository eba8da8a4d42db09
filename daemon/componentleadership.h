#pragma once

#include "componentrole.h"

#include <QObject>
#include <QTimer>

#include <memory>

namespace uwpx {

class InstanceLock;
class XmppComponent;

// Which of the instances sharing PostgreSQL holds the component link, settled
// on the database instead of at the XMPP server's door (docs/deployment.md).
//
// Each instance connects once at start. The one the XMPP server admits
// (active) takes the instance lock; one it refuses with `conflict` (Prosody
// admits one connection per component) stands by and waits for the lock,
// which it gets when the active instance lets go: stopped, crashed, or its
// host gone past the database keepalives. Only then does it ask the XMPP
// server again. ejabberd refuses nobody: every instance is active and the
// lock decides nothing.
//
// If two instances ever both believe they may connect (the lock changed
// hands while the database was away), the XMPP server's `conflict` still
// decides: the lock holder asks a few times, then lets the lock go to the
// instance that holds the link.
class ComponentLeadership : public QObject {
    Q_OBJECT
public:
    ComponentLeadership(XmppComponent &xmpp, std::unique_ptr<InstanceLock> lock,
                        QObject *parent = nullptr);
    ~ComponentLeadership() override;

    // At shutdown, once the stream is closed: a standby may have the link.
    void release();
    // Another instance announced that it let go of the lock: ask for it at
    // once rather than at the next poll, so the XMPP server is without a
    // component for as short a time as possible.
    void lockFreed();

private:
    void onRoleChanged(ComponentRole role);
    void onConflict();
    void onAcquired();

    XmppComponent &m_xmpp;
    std::unique_ptr<InstanceLock> m_lock;
    bool m_released = false;
    // Refused although holding the lock: the next attempt, and then a pause
    // without the lock so that the instance holding the link can take it.
    int m_refusedWhileHolding = 0;
    int m_retreatMs; // the next pause; back to the first once the link is up
    QTimer m_retry;
    QTimer m_retreat;
};

} // namespace uwpx

#pragma once

#include "storagesettings.h"

#include <QObject>
#include <QString>

#include <memory>

namespace uwpx {

// A lock that one instance at a time holds among the instances sharing a
// PostgreSQL database: a session-level advisory lock on a connection (and a
// thread) of its own. It is released when released, when the connection is
// closed, and when the process dies: PostgreSQL frees it as soon as it sees
// the connection end, at once for a crash (the kernel closes the socket),
// after the keepalives ([storage] keepalives_*) when the host vanished.
//
// Waiting for it is waiting on the database (pg_try_advisory_lock five times
// a second on that connection, and at once when told that it came free),
// never asking anyone else. A SQLite file has
// one instance: create() returns nullptr there.
//
// Used for the component link: see docs/deployment.md.
class InstanceLock : public QObject {
    Q_OBJECT
public:
    // `name` tells locks of different purposes (and component JIDs) apart.
    static std::unique_ptr<InstanceLock> create(const StorageSettings &settings,
                                                const QString &name);
    ~InstanceLock() override;

    // Waits for the lock (on its own thread) until held, then emits
    // acquired(); nothing if it is held or being waited for already.
    void acquire();
    // Lets go of the lock, or stops waiting for it. Also done, and
    // announced, when this object goes (at shutdown).
    void release();
    // After each release, NOTIFY `channel` with `payload` on the lock's own
    // session (so the lock is free by the time anyone hears it), for the
    // other instances to tryNow() instead of at their next ask.
    void announceReleases(const QString &channel, const QString &payload);
    // While waiting: asks at once instead of at the next poll.
    void tryNow();
    // Whether this instance holds it, as far as the last check knew.
    bool isHeld() const { return m_held; }

Q_SIGNALS:
    void acquired();
    // The lock's connection failed while it was held: PostgreSQL has let go
    // of it, or will once it notices. It is waited for again if it is still
    // wanted.
    void lost(const QString &why);

private:
    struct Shared;
    InstanceLock(const StorageSettings &settings, const QString &name);
    void setWanted(bool wanted);

    std::shared_ptr<Shared> m_shared;
    bool m_wanted = false;
    bool m_held = false;
};

} // namespace uwpx

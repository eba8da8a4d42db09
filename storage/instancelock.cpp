#include "instancelock.h"

#include "dialect.h"
#include "reconnectpolicy.h"
#include "sqlstatements.h"
#include "storagelog.h"

#include <QAtomicInt>
#include <QCryptographicHash>
#include <QMetaObject>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QtEndian>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace uwpx {

namespace {

using namespace std::chrono_literals;

// How often a waiting instance asks for the lock (pg_try_advisory_lock: a
// blocking pg_advisory_lock would need a lock_timeout to stay stoppable, and
// PostgreSQL logs every such timeout as an ERROR, a line a second per
// standby in the database's log), and how often a held lock's connection is
// checked.
constexpr auto kPollInterval = 200ms;
constexpr auto kCheckInterval = 1s;
// How long the destructor waits for the thread (stuck in a database that
// stopped answering, it is left to the keepalives and the process's end).
constexpr auto kStopGrace = 2s;

// The advisory lock's 64-bit key, the same in every instance for one name.
qint64 keyOf(const QString &name) {
    const QByteArray digest =
        QCryptographicHash::hash(("uwpx-push-server " + name).toUtf8(), QCryptographicHash::Sha256);
    return qFromBigEndian<qint64>(digest.constData());
}

QString newConnectionName() {
    static QAtomicInt counter;
    return QStringLiteral("uwpx-instance-lock-%1").arg(counter.fetchAndAddRelaxed(1));
}

} // namespace

// What the lock's thread and the object share, under `mutex`. It outlives
// the object when the thread is stuck past the destructor's grace.
struct InstanceLock::Shared {
    StorageSettings settings;
    qint64 key = 0;
    QString name;

    std::mutex mutex;
    std::condition_variable wake;
    bool wanted = false;
    bool stopping = false;
    quint64 pokes = 0;     // tryNow() calls: ask at once, not at the next poll
    QString noticeChannel; // after letting go, NOTIFY this channel...
    QString noticePayload; // ...with this
    bool finished = false;
    std::condition_variable done;
    InstanceLock *owner = nullptr; // cleared by its destructor

    // Tells the owner on its thread, if it still exists.
    template<typename Call> void post(Call call) {
        const std::lock_guard lock(mutex);
        if (InstanceLock *receiver = owner)
            QMetaObject::invokeMethod(
                receiver, [receiver, call] { call(receiver); }, Qt::QueuedConnection);
    }

    // Sleeps up to `duration`; false when told to stop.
    bool pause(std::chrono::milliseconds duration) {
        std::unique_lock lock(mutex);
        wake.wait_for(lock, duration, [this] { return stopping; });
        return !stopping;
    }

    void run();
};

namespace {

// The lock's own connection: the keepalives go both ways (libpq probes the
// server; the server, told by SET, probes us), so a vanished peer ends it
// on either side.
bool openConnection(QSqlDatabase &db, const StorageSettings &settings, QString *error) {
    const Dialect *dialect = Dialect::find(settings.driver);
    if (!dialect->point(db, settings, error))
        return false;
    const int userTimeoutMs =
        1000 * (settings.keepalivesIdleS + settings.keepalivesIntervalS * settings.keepalivesCount);
    db.setConnectOptions(db.connectOptions() +
                         QStringLiteral(";tcp_user_timeout=%1").arg(userTimeoutMs));
    if (!db.open()) {
        *error = db.lastError().text().simplified();
        return false;
    }
    const QStringList session{
        QStringLiteral("SET tcp_keepalives_idle = %1").arg(settings.keepalivesIdleS),
        QStringLiteral("SET tcp_keepalives_interval = %1").arg(settings.keepalivesIntervalS),
        QStringLiteral("SET tcp_keepalives_count = %1").arg(settings.keepalivesCount),
    };
    for (const QString &statement : session) {
        QSqlQuery query(db);
        if (!query.exec(statement)) {
            *error = QStringLiteral("%1: %2").arg(statement, query.lastError().text().simplified());
            return false;
        }
    }
    // PostgreSQL 12 and later; the keepalives above decide on older servers.
    QSqlQuery userTimeout(db);
    if (!userTimeout.exec(QStringLiteral("SET tcp_user_timeout = %1").arg(userTimeoutMs)))
        qCDebug(lcStorage).noquote() << "the database has no tcp_user_timeout:"
                                     << userTimeout.lastError().text().simplified();
    return true;
}

} // namespace

void InstanceLock::Shared::run() {
    const QString connection = newConnectionName();
    {
        const Dialect &dialect = *Dialect::find(settings.driver);
        const SqlStatements &sql = SqlStatements::of(dialect);
        QSqlDatabase db = QSqlDatabase::addDatabase(dialect.qtDriver, connection);
        bool connected = false;
        bool held = false;
        QString lastError; // logged once per kind of failure, not per attempt
        auto fail = [&](const QString &why) {
            if (why != lastError)
                qCWarning(lcStorage).noquote() << "instance lock" << name << ":" << why;
            lastError = why;
            db.close();
            connected = false;
            if (std::exchange(held, false))
                post([why](InstanceLock *lock) {
                    lock->m_held = false;
                    Q_EMIT lock->lost(why);
                    // Still wanted? Then it is waited for again.
                });
        };
        for (;;) {
            bool wanted, stop;
            quint64 poked;
            {
                const std::lock_guard lock(mutex);
                stop = stopping;
                wanted = this->wanted && !stop;
                poked = pokes;
            }
            // A release (also the one at shutdown) is carried out, and
            // announced, before the thread stops.
            if (stop && !held)
                break;
            if (!connected && (wanted || held)) {
                QString why;
                connected = openConnection(db, settings, &why);
                if (!connected) {
                    fail(why);
                    if (!pause(ReconnectPolicy::kDelay))
                        break;
                    continue;
                }
                lastError.clear();
            }
            if (wanted && !held) {
                QSqlQuery query(db);
                query.prepare(sql.text(QStringLiteral("try_instance_lock")));
                query.bindValue(QStringLiteral(":key"), key);
                if (!query.exec() || !query.next()) {
                    fail(query.lastError().text().simplified());
                    if (!pause(ReconnectPolicy::kDelay))
                        break;
                    continue;
                }
                if (query.value(0).toBool()) {
                    held = true;
                    qCDebug(lcStorage).noquote() << "instance lock" << name << "acquired";
                    post([](InstanceLock *lock) {
                        // Released while the lock was being granted: the
                        // thread lets go of it next; nobody is told.
                        if (!lock->m_wanted)
                            return;
                        lock->m_held = true;
                        Q_EMIT lock->acquired();
                    });
                    continue;
                }
                // Another instance holds it: ask again shortly, or when told.
                std::unique_lock lock(mutex);
                wake.wait_for(lock, kPollInterval, [this, poked] {
                    return stopping || !this->wanted || pokes != poked;
                });
                continue;
            }
            if (!wanted && held) {
                QSqlQuery query(db);
                query.prepare(sql.text(QStringLiteral("release_instance_lock")));
                query.bindValue(QStringLiteral(":key"), key);
                if (!query.exec())
                    db.close(); // closing the session lets go of it too
                connected = db.isOpen();
                held = false;
                qCDebug(lcStorage).noquote() << "instance lock" << name << "released";
                // On the same session, so that whoever hears it finds the lock free.
                if (connected && !noticeChannel.isEmpty()) {
                    QSqlQuery notice(db);
                    notice.prepare(sql.text(QStringLiteral("notify")));
                    notice.bindValue(QStringLiteral(":channel"), noticeChannel);
                    notice.bindValue(QStringLiteral(":payload"), noticePayload);
                    notice.exec();
                }
                continue;
            }
            // Nothing to do but to notice a lost connection while it is held.
            {
                std::unique_lock lock(mutex);
                wake.wait_for(lock, kCheckInterval,
                              [this, wanted] { return stopping || this->wanted != wanted; });
            }
            if (held) {
                QSqlQuery probe(db);
                if (!probe.exec(QStringLiteral("SELECT 1")))
                    fail(probe.lastError().text().simplified());
            }
        }
        db.close(); // the session ends: PostgreSQL lets go of the lock
    }
    QSqlDatabase::removeDatabase(connection);
    const std::lock_guard lock(mutex);
    finished = true;
    done.notify_all();
}

std::unique_ptr<InstanceLock> InstanceLock::create(const StorageSettings &settings,
                                                   const QString &name) {
    const Dialect *dialect = Dialect::find(settings.driver);
    if (!dialect || !dialect->shared)
        return nullptr;
    return std::unique_ptr<InstanceLock>(new InstanceLock(settings, name));
}

InstanceLock::InstanceLock(const StorageSettings &settings, const QString &name)
    : m_shared(std::make_shared<Shared>()) {
    m_shared->settings = settings;
    m_shared->name = name;
    m_shared->key = keyOf(name);
    m_shared->owner = this;
    std::thread([shared = m_shared] { shared->run(); }).detach();
}

InstanceLock::~InstanceLock() {
    std::unique_lock lock(m_shared->mutex);
    m_shared->owner = nullptr;
    m_shared->stopping = true;
    m_shared->wake.notify_all();
    if (!m_shared->done.wait_for(lock, kStopGrace, [this] { return m_shared->finished; }))
        qCWarning(lcStorage).noquote()
            << "instance lock" << m_shared->name
            << ": the database does not answer; the lock goes with this process";
}

void InstanceLock::acquire() {
    setWanted(true);
}

void InstanceLock::release() {
    setWanted(false);
}

void InstanceLock::announceReleases(const QString &channel, const QString &payload) {
    const std::lock_guard lock(m_shared->mutex);
    m_shared->noticeChannel = channel;
    m_shared->noticePayload = payload;
}

void InstanceLock::tryNow() {
    const std::lock_guard lock(m_shared->mutex);
    ++m_shared->pokes;
    m_shared->wake.notify_all();
}

void InstanceLock::setWanted(bool wanted) {
    m_wanted = wanted;
    if (!wanted)
        m_held = false; // at once for the caller; the database follows
    const std::lock_guard lock(m_shared->mutex);
    m_shared->wanted = wanted;
    m_shared->wake.notify_all();
}

} // namespace uwpx

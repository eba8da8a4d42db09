// The instance lock (InstanceLock) on a throw-away PostgreSQL cluster
// (with-postgresql.sh): one holder at a time per name; a waiter gets it as
// soon as the holder lets go or its connection ends (a process that dies);
// names are independent; SQLite has none.

#include "instancelock.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlQuery>
#include <QTest>

using namespace uwpx;

class InstanceLockTest : public QObject {
    Q_OBJECT

private:
    StorageSettings m_settings;

    std::unique_ptr<InstanceLock> lock(const QString &name = QStringLiteral("component test")) {
        return InstanceLock::create(m_settings, name);
    }

private Q_SLOTS:
    void initTestCase() {
        // Fail, never skip, when the cluster is not there.
        QVERIFY2(!qEnvironmentVariable("UWPX_TEST_PG_PORT").isEmpty(),
                 "UWPX_TEST_PG_* are not set: run the suite through with-postgresql.sh");
        QVERIFY2(QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")),
                 "the Qt PostgreSQL driver (libqt6sql6-psql) is not installed");
        m_settings.driver = QStringLiteral("postgresql");
        m_settings.host = qEnvironmentVariable("UWPX_TEST_PG_HOST");
        m_settings.port = qEnvironmentVariable("UWPX_TEST_PG_PORT").toInt();
        m_settings.database = qEnvironmentVariable("UWPX_TEST_PG_DATABASE");
        m_settings.user = qEnvironmentVariable("UWPX_TEST_PG_USER");
        m_settings.password = qEnvironmentVariable("UWPX_TEST_PG_PASSWORD");
    }

    void sqliteHasNone() {
        StorageSettings sqlite;
        QVERIFY(!InstanceLock::create(sqlite, QStringLiteral("component test")));
    }

    // The second waits while the first holds it, and gets it within its next
    // ask (five a second) when the first lets go.
    void oneHolderAtATime() {
        auto first = lock();
        auto second = lock();
        QSignalSpy firstGot(first.get(), &InstanceLock::acquired);
        QSignalSpy secondGot(second.get(), &InstanceLock::acquired);
        first->acquire();
        QVERIFY(firstGot.wait(10000));
        QVERIFY(first->isHeld());
        second->acquire();
        QTest::qWait(1500); // past one of its waits on the database
        QCOMPARE(secondGot.size(), 0);
        QVERIFY(!second->isHeld());
        QElapsedTimer handover;
        handover.start();
        first->release();
        QVERIFY(secondGot.wait(5000));
        qInfo() << "released to acquired:" << handover.elapsed() << "ms";
        QVERIFY(handover.elapsed() < 500);
        QVERIFY(second->isHeld());
        QVERIFY(!first->isHeld());
    }

    // A holder that goes away without letting go (its connection ends, as
    // when its process dies) frees the lock too.
    void aHolderThatGoesFreesIt() {
        auto first = lock();
        auto second = lock();
        QSignalSpy firstGot(first.get(), &InstanceLock::acquired);
        QSignalSpy secondGot(second.get(), &InstanceLock::acquired);
        first->acquire();
        QVERIFY(firstGot.wait(10000));
        second->acquire();
        QTest::qWait(200);
        QCOMPARE(secondGot.size(), 0);
        QElapsedTimer gone;
        gone.start();
        first.reset();
        QVERIFY(secondGot.wait(5000));
        QVERIFY(gone.elapsed() < 1500);
    }

    // A release is announced on the database, and whoever hears it finds the
    // lock free already (the notice follows the unlock on the same session).
    void announcesAReleaseOnceItIsFree() {
        QSqlDatabase listener =
            QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), QStringLiteral("listener"));
        listener.setHostName(m_settings.host);
        listener.setPort(m_settings.port);
        listener.setDatabaseName(m_settings.database);
        listener.setUserName(m_settings.user);
        listener.setPassword(m_settings.password);
        QVERIFY(listener.open());
        QVERIFY(listener.driver()->subscribeToNotification(QStringLiteral("uwpx_test_free")));
        bool freeWhenHeard = false;
        QString heard;
        connect(listener.driver(), &QSqlDriver::notification, this,
                [&](const QString &, QSqlDriver::NotificationSource, const QVariant &payload) {
                    heard = payload.toString();
                    QSqlQuery probe(listener);
                    freeWhenHeard = probe.exec(QStringLiteral("SELECT pg_try_advisory_lock(1)")) &&
                                    probe.exec(QStringLiteral("SELECT pg_advisory_unlock(1)"));
                });
        auto holder = lock(QStringLiteral("component announced"));
        holder->announceReleases(QStringLiteral("uwpx_test_free"), QStringLiteral("announced"));
        QSignalSpy got(holder.get(), &InstanceLock::acquired);
        holder->acquire();
        QVERIFY(got.wait(10000));
        holder->release();
        QTRY_COMPARE_WITH_TIMEOUT(heard, QStringLiteral("announced"), 5000);
        QVERIFY(freeWhenHeard);
        listener.close();
        listener = QSqlDatabase();
        QSqlDatabase::removeDatabase(QStringLiteral("listener"));
    }

    // Each component JID has a lock of its own.
    void namesAreIndependent() {
        auto one = lock(QStringLiteral("component a.example"));
        auto other = lock(QStringLiteral("component b.example"));
        QSignalSpy oneGot(one.get(), &InstanceLock::acquired);
        QSignalSpy otherGot(other.get(), &InstanceLock::acquired);
        one->acquire();
        other->acquire();
        QVERIFY(oneGot.wait(10000) || oneGot.size() == 1);
        QTRY_COMPARE_WITH_TIMEOUT(otherGot.size(), 1, 10000);
    }
};

QTEST_GUILESS_MAIN(InstanceLockTest)
#include "tst_instancelock.moc"

// Which instance holds the component link, with the whole daemon
// (PushServer) on a throw-away PostgreSQL cluster (with-postgresql.sh) and a
// fake XMPP server that refuses it with `conflict`, as Prosody refuses a
// second connection for a component. The test plays the other instance's
// side of the instance lock with an InstanceLock of its own.
//
// A standby waits on the database, not at the XMPP server's door; and when
// the lock and the link are held by different instances (the lock changed
// hands while the database was away), the XMPP server's `conflict` decides:
// the lock holder asks a few times, then lets the other instance have it.

#include "config.h"
#include "fakexmppserver.h"
#include "instancelock.h"
#include "pushserver.h"
#include "testconfig.h"

#include <QSignalSpy>
#include <QSqlDatabase>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;
using namespace uwpx::test;

namespace {

const QString kComponentSecret = QStringLiteral("component-secret");

QString env(const char *name) {
    return qEnvironmentVariable(name);
}

} // namespace

class LeadershipTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    Config m_config;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        // Fail, never skip, when the cluster is not there.
        QVERIFY2(!env("UWPX_TEST_PG_PORT").isEmpty(),
                 "UWPX_TEST_PG_* are not set: run the suite through with-postgresql.sh");
        QVERIFY2(QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")),
                 "the Qt PostgreSQL driver (libqt6sql6-psql) is not installed");
    }

    void theXmppServersConflictDecides() {
        FakeXmppServer xmpp(kComponentSecret);
        QVERIFY(xmpp.listen());
        xmpp.setOccupied(true); // another instance holds the link
        const QString path = writeConfig(
            m_dir.path(), {{QStringLiteral("xmpp/port"), QString::number(xmpp.port())},
                           {QStringLiteral("xmpp/secret"), kComponentSecret},
                           {QStringLiteral("storage/driver"), QStringLiteral("postgresql")},
                           {QStringLiteral("storage/host"), env("UWPX_TEST_PG_HOST")},
                           {QStringLiteral("storage/port"), env("UWPX_TEST_PG_PORT")},
                           {QStringLiteral("storage/database"), env("UWPX_TEST_PG_DATABASE")},
                           {QStringLiteral("storage/user"), env("UWPX_TEST_PG_USER")},
                           {QStringLiteral("storage/password"), env("UWPX_TEST_PG_PASSWORD")}});
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &m_config, &errors, &warnings), qPrintable(errors.join('\n')));
        // That instance's claim on the lock (it lost the lock while the
        // database was away, and wants it back).
        auto other = InstanceLock::create(m_config.storage, QStringLiteral("component ") +
                                                                m_config.xmpp.componentJid);
        QVERIFY(other);
        QSignalSpy otherGot(other.get(), &InstanceLock::acquired);

        PushServer server(m_config);
        QString error;
        QVERIFY2(server.start(&error), qPrintable(error));
        // Refused at start; then, holding the free lock, once more.
        QTRY_VERIFY_WITH_TIMEOUT(xmpp.conflictCount() >= 2, 10000);
        other->acquire(); // waits: the daemon holds the lock
        // The daemon asks again after 0.25, 0.5 and 1 s, then hands the lock over.
        QVERIFY(otherGot.wait(10000));
        QCOMPARE(xmpp.conflictCount(), 5);
        // From now on it waits on the database (after a 5 s pause without
        // the lock): the XMPP server hears nothing.
        QTest::qWait(7000);
        QCOMPARE(xmpp.conflictCount(), 5);

        // The other instance leaves: the link and the lock come free.
        QSignalSpy accepted(&xmpp, &FakeXmppServer::handshakeAccepted);
        xmpp.setOccupied(false);
        other->release();
        QVERIFY(accepted.wait(10000));
        QCOMPARE(xmpp.conflictCount(), 5);

        // Now it holds the lock: another instance's claim waits.
        auto third = InstanceLock::create(m_config.storage, QStringLiteral("component ") +
                                                                m_config.xmpp.componentJid);
        QSignalSpy thirdGot(third.get(), &InstanceLock::acquired);
        third->acquire();
        QTest::qWait(1500);
        QCOMPARE(thirdGot.size(), 0);
        // A clean stop lets go of it.
        QSignalSpy stopped(&server, &PushServer::stopped);
        server.shutdown();
        QVERIFY(stopped.wait(10000));
        QVERIFY(thirdGot.wait(5000));
    }
};

QTEST_GUILESS_MAIN(LeadershipTest)
#include "tst_leadership.moc"

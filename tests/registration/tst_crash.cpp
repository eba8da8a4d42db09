// Durability and privacy of the real daemon process: an acknowledged
// registration survives SIGKILL at any moment, SIGTERM shuts down cleanly,
// and no bare JID reaches the database file or the log.

#include "registrationclient.h"
#include "storageconnection.h"
#include "storageresults.h"
#include "testconfig.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;
using namespace uwpx::test;

namespace {

const QString kJidDomain = QStringLiteral("crash-test.example");

QString deviceId(int i) {
    return QStringLiteral("c0ffee%1").arg(i, 16, 16, QLatin1Char('0'));
}
QString jid(int device, int account) {
    return QStringLiteral("user%1x%2@%3").arg(device).arg(account).arg(kJidDomain);
}

QByteArray frame(const QJsonObject &object) {
    return QJsonDocument(object).toJson(QJsonDocument::Compact) + '\0';
}

QByteArray registrationOf(int device) {
    QJsonArray accounts;
    for (int a = 0; a < 3; ++a)
        accounts.append(QJsonObject{{QStringLiteral("bare_jid"), jid(device, a)}});
    return frame({{"version", 1},
                  {"action", "set_channel_uri"},
                  {"device_id", deviceId(device)},
                  {"channel_uri", QStringLiteral("https://127.0.0.1/?token=%1").arg(device)}}) +
           frame({{"version", 1},
                  {"action", "set_push_accounts"},
                  {"device_id", deviceId(device)},
                  {"accounts", accounts}});
}

struct Acknowledged {
    QString node;
    QString secret;
};

} // namespace

class CrashTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_config;
    QByteArray m_allLogs;

    // Starts the daemon and returns the port it listens on (0 on failure).
    quint16 start(QProcess &process) {
        process.start(QStringLiteral(UWPX_BINARY), {QStringLiteral("--config"), m_config});
        static const QRegularExpression listening(
            QStringLiteral("listening for registrations on .* port (\\d+)"));
        QByteArray log;
        QSignalSpy output(&process, &QProcess::readyReadStandardError);
        while (output.wait(20000)) {
            log += process.readAllStandardError();
            const auto match = listening.match(QString::fromUtf8(log));
            if (match.hasMatch()) {
                m_allLogs += log;
                return quint16(match.captured(1).toUInt());
            }
        }
        m_allLogs += log + process.readAllStandardError();
        qWarning("daemon did not start: %s", log.constData());
        return 0;
    }

    void collectLogs(QProcess &process) { m_allLogs += process.readAllStandardError(); }

    QString dbPath() const { return m_dir.filePath(QStringLiteral("push.db")); }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_config = writeConfig(m_dir.path());
        QVERIFY(!m_config.isEmpty());
    }

    void acknowledgedRegistrationsSurviveSigkill() {
        QProcess daemon;
        const quint16 port = start(daemon);
        QVERIFY(port);
        RegistrationClient client;
        QVERIFY(client.connectTo(port, m_dir.filePath(QStringLiteral("ca.pem"))));

        // Pipeline many registrations and pull the plug in the middle of the
        // stream, right after an acknowledgement.
        constexpr int kDevices = 120;
        constexpr int kKillAfter = 75; // set_accounts acknowledgements
        QByteArray all;
        for (int d = 0; d < kDevices; ++d)
            all += registrationOf(d);
        client.sendRaw(all);

        QHash<QString, Acknowledged> acknowledged; // by bare JID
        int accountAcks = 0;
        for (int d = 0; accountAcks < kKillAfter; ++d) {
            const QJsonObject channelAck = client.receive();
            QCOMPARE(channelAck.value(QStringLiteral("status")).toInt(-1), 1);
            const QJsonObject accountsAck = client.receive();
            QCOMPARE(accountsAck.value(QStringLiteral("status")).toInt(-1), 1);
            for (const QJsonValue &item : accountsAck.value(QStringLiteral("accounts")).toArray()) {
                const QJsonObject account = item.toObject();
                acknowledged.insert(account.value(QStringLiteral("bare_jid")).toString(),
                                    {account.value(QStringLiteral("node")).toString(),
                                     account.value(QStringLiteral("secret")).toString()});
            }
            ++accountAcks;
        }
        daemon.kill(); // SIGKILL
        QVERIFY(daemon.waitForFinished(10000));
        collectLogs(daemon);
        QCOMPARE(acknowledged.size(), kKillAfter * 3);

        {
            QString error;
            StorageSettings settings;
            settings.path = dbPath();
            auto storage = StorageConnection::open(settings, &error);
            QVERIFY2(storage, qPrintable(error));
            for (auto it = acknowledged.cbegin(); it != acknowledged.cend(); ++it) {
                PushTarget target;
                QCOMPARE(test::findByNode(*storage, it->node, &target), StorageStatus::Ok);
                QCOMPARE(target.secret, it->secret);
                QCOMPARE(target.domain, kJidDomain);
            }
        }
        {
            QSqlDatabase db =
                QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("integrity"));
            db.setDatabaseName(dbPath());
            QVERIFY(db.open());
            QSqlQuery check(db);
            QVERIFY(check.exec(QStringLiteral("PRAGMA integrity_check")));
            QVERIFY(check.next());
            QCOMPARE(check.value(0).toString(), QStringLiteral("ok"));
        }
        QSqlDatabase::removeDatabase(QStringLiteral("integrity"));

        // The restarted server still knows them: re-registering keeps node and secret.
        QProcess again;
        const quint16 port2 = start(again);
        QVERIFY(port2);
        RegistrationClient client2;
        QVERIFY(client2.connectTo(port2, m_dir.filePath(QStringLiteral("ca.pem"))));
        const QByteArray both = registrationOf(0);
        client2.sendRaw(both);
        QCOMPARE(client2.receive().value(QStringLiteral("status")).toInt(-1), 1);
        const QJsonArray accounts = client2.receive().value(QStringLiteral("accounts")).toArray();
        QCOMPARE(accounts.size(), 3);
        for (const QJsonValue &item : accounts) {
            const QJsonObject account = item.toObject();
            const Acknowledged before =
                acknowledged.value(account.value(QStringLiteral("bare_jid")).toString());
            QCOMPARE(account.value(QStringLiteral("node")).toString(), before.node);
            QCOMPARE(account.value(QStringLiteral("secret")).toString(), before.secret);
        }

        // SIGTERM: a clean shutdown with exit status 0.
        again.terminate();
        QVERIFY(again.waitForFinished(10000));
        QCOMPARE(again.exitStatus(), QProcess::NormalExit);
        QCOMPARE(again.exitCode(), 0);
        collectLogs(again);
    }

    void noBareJidInDatabaseOrLog() {
        QByteArray stored;
        for (const QString &name : QDir(m_dir.path()).entryList({QStringLiteral("push.db*")})) {
            QFile file(m_dir.filePath(name));
            QVERIFY(file.open(QIODevice::ReadOnly));
            stored += file.readAll();
        }
        QVERIFY(stored.size() > 0);
        QVERIFY(!m_allLogs.isEmpty());
        for (const QByteArray &haystack : {stored, m_allLogs}) {
            QVERIFY(!haystack.contains("@" + kJidDomain.toUtf8()));
            QVERIFY(!haystack.contains("user0x0"));
        }
        // The domain itself is stored (docs/protocol.md), so the grep above could find it.
        QVERIFY(stored.contains(kJidDomain.toUtf8()));
    }
};

QTEST_GUILESS_MAIN(CrashTest)
#include "tst_crash.moc"

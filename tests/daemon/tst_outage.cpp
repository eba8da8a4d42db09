// The whole daemon while its database misbehaves: publishes are answered
// within their bound, registrations and /health stay responsive, the event
// loop never waits for the database, nothing acknowledged is lost, and
// pushes flow again promptly once the database is back.
//
// `outage` runs on SQLite: another connection holds the write lock (a second
// instance, a backup tool). `outage_postgresql` runs under with-postgresql.sh
// (UWPX_TEST_PG_*) with the daemon reaching PostgreSQL through
// uwpx-delay-relay, which the test freezes (a hung database), kills (a
// refused one) and restarts slow.

#include "config.h"
#include "fakewns.h"
#include "fakexmppserver.h"
#include "httpget.h"
#include "pushserver.h"
#include "registrationclient.h"
#include "storage.h"
#include "storageconnection.h"
#include "storageresults.h"
#include "testconfig.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <csignal>

using namespace uwpx;
using namespace uwpx::test;

namespace {

const QString kComponentSecret = QStringLiteral("component-secret");
constexpr int kStorageTimeoutS = 2;
// docs/protocol.md allows 25 s; the issue asks for every publish within 5 s while the
// database hangs.
constexpr qint64 kPublishBoundMs = 5000;

QString env(const char *name) {
    return qEnvironmentVariable(name);
}

// Measures how long the event loop went without turning: a timer every
// 5 ms; the longest gap between two of its ticks.
class LoopWatch : public QObject {
public:
    LoopWatch() {
        connect(&m_timer, &QTimer::timeout, this,
                [this] { m_longestMs = std::max(m_longestMs, m_sinceTick.restart()); });
    }
    void start() {
        m_longestMs = 0;
        m_sinceTick.start();
        m_timer.start(5);
    }
    qint64 longestGapMs() const { return m_longestMs; }

private:
    QTimer m_timer;
    QElapsedTimer m_sinceTick;
    qint64 m_longestMs = 0;
};

} // namespace

class OutageTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    FakeWns m_wns;
    FakeXmppServer m_xmpp{kComponentSecret};
    std::unique_ptr<PushServer> m_server;
    QNetworkAccessManager m_http;
    StorageSettings m_storage; // as the daemon reaches it (through the relay on PostgreSQL)
    StorageSettings m_direct;  // for checks: around the relay
    QString m_ca;
    QProcess m_relay;
    quint16 m_relayPort = 0;
    int m_devices = 0;
    int m_publishes = 0;
    QList<QPair<QString, QString>> m_acknowledged; // device, node: registrations answered status 1
    LoopWatch m_watch;

    bool isPostgresql() const { return !env("UWPX_TEST_PG_PORT").isEmpty(); }

    // Starts the relay to PostgreSQL on `port` (0: any) with an added round trip.
    bool startRelay(quint16 port, double delayMs) {
        m_relay.setProgram(QStringLiteral(UWPX_RELAY));
        m_relay.setArguments({QStringLiteral("--target"),
                              m_direct.host + QLatin1Char(':') + QString::number(m_direct.port),
                              QStringLiteral("--delay-ms"), QString::number(delayMs),
                              QStringLiteral("--listen"), QString::number(port)});
        m_relay.start();
        if (!m_relay.waitForReadyRead(10000))
            return false;
        m_relayPort = quint16(QJsonDocument::fromJson(m_relay.readLine())
                                  .object()
                                  .value(QStringLiteral("listening"))
                                  .toInt());
        return m_relayPort != 0;
    }

    void signalRelay(int signal) { ::kill(pid_t(m_relay.processId()), signal); }

    // GET on the operator endpoint: status code and body.
    QPair<int, QByteArray> get(const QString &path) {
        return httpGet(
            m_http,
            QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_server->metricsPort()).arg(path)));
    }

    // A device with one account, registered the way a client does; the
    // request's answer, and the node when it was acknowledged.
    QJsonObject registerDevice(QString *node = nullptr, qint64 *elapsedMs = nullptr) {
        const QString device = QStringLiteral("0a7a%1").arg(++m_devices, 12, 16, QLatin1Char('0'));
        QElapsedTimer clock;
        clock.start();
        RegistrationClient client;
        if (!client.connectTo(m_server->registrationPort(), m_ca))
            return {};
        QJsonObject answer = client.request({{"version", 2},
                                             {"action", "set_channel_uri"},
                                             {"device_id", device},
                                             {"channel_uri", m_wns.channelUri(device)}});
        if (answer.value(QStringLiteral("status")).toInt() == 1)
            answer = client.request({{"version", 2},
                                     {"action", "set_push_accounts"},
                                     {"device_id", device},
                                     {"accounts", QJsonArray{QJsonObject{{"account_id", "a"}}}}});
        if (elapsedMs)
            *elapsedMs = clock.elapsed();
        if (answer.value(QStringLiteral("status")).toInt() == 1) {
            const QJsonObject account =
                answer.value(QStringLiteral("accounts")).toArray().first().toObject();
            m_acknowledged << qMakePair(device, account.value(QStringLiteral("node")).toString());
            if (node)
                *node = account.value(QStringLiteral("node")).toString() + QLatin1Char(' ') +
                        account.value(QStringLiteral("secret")).toString();
        }
        return answer;
    }

    // Publishes to `nodeAndSecret` and returns the reply's verdict and how
    // long it took.
    QPair<QString, qint64> publish(const QString &nodeAndSecret) {
        const QStringList parts = nodeAndSecret.split(QLatin1Char(' '));
        const QString id = QStringLiteral("p%1").arg(++m_publishes);
        QElapsedTimer clock;
        clock.start();
        QSignalSpy received(&m_xmpp, &FakeXmppServer::stanzaReceived);
        m_xmpp.sendRaw(
            "<iq from='localhost' to='push.localhost' type='set' id='" + id.toUtf8() +
            "'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" +
            parts.value(0).toUtf8() +
            "'><item><notification xmlns='urn:xmpp:push:0'/></item></publish>"
            "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
            "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            "<field var='secret'><value>" +
            parts.value(1).toUtf8() + "</value></field></x></publish-options></pubsub></iq>");
        for (;;) {
            for (const XmlElement &stanza : m_xmpp.received()) {
                if (stanza.attribute(QStringLiteral("id")) != id)
                    continue;
                QString verdict = stanza.attribute(QStringLiteral("type"));
                if (const XmlElement *error = stanza.firstChild(QStringLiteral("error")))
                    verdict = error->attribute(QStringLiteral("type")) + QLatin1Char('/') +
                              (error->firstChildElement() ? error->firstChildElement()->name()
                                                          : QString());
                return {verdict, clock.elapsed()};
            }
            if (!received.wait(30000))
                return {QStringLiteral("no reply"), clock.elapsed()};
        }
    }

    // Registers every 200 ms until one is acknowledged (while the store
    // reconnects); whether one was within `ms`.
    bool registersWithin(int ms, QString *node = nullptr) {
        QElapsedTimer clock;
        clock.start();
        while (registerDevice(node).value(QStringLiteral("status")).toInt() != 1) {
            if (clock.elapsed() > ms)
                return false;
            QTest::qWait(200); // the pace of the probing requests, not a synchronisation
        }
        return true;
    }

    // Publishes every 200 ms until one is delivered; how long that took.
    qint64 untilDelivered(const QString &nodeAndSecret) {
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < 30000) {
            if (publish(nodeAndSecret).first == QLatin1String("result"))
                return clock.elapsed();
            QTest::qWait(200); // the pace of the probing publishes, not a synchronisation
        }
        return -1;
    }

    // The outage as clients and the XMPP server see it, for `seconds`:
    // publishes answered wait within the bound, registrations answered
    // "try again later" within the store's timeout, /health naming the store.
    void duringTheOutage(const QString &nodeAndSecret, int seconds, bool publishesDelivered) {
        QElapsedTimer outage;
        outage.start();
        m_watch.start();
        bool healthChecked = false;
        while (outage.elapsed() < seconds * 1000) {
            const auto [verdict, ms] = publish(nodeAndSecret);
            QVERIFY2(ms < kPublishBoundMs,
                     qPrintable(QStringLiteral("publish took %1 ms").arg(ms)));
            QCOMPARE(verdict, publishesDelivered ? QStringLiteral("result")
                                                 : QStringLiteral("wait/internal-server-error"));
            qint64 registrationMs = 0;
            const QJsonObject answer = registerDevice(nullptr, &registrationMs);
            QCOMPARE(answer.value(QStringLiteral("status")).toInt(-1), 0);
            QVERIFY2(answer.value(QStringLiteral("error"))
                         .toString()
                         .contains(QStringLiteral("try again later")),
                     qPrintable(answer.value(QStringLiteral("error")).toString()));
            QVERIFY2(registrationMs < 2 * (kStorageTimeoutS * 1000 + 1000),
                     qPrintable(QStringLiteral("registration took %1 ms").arg(registrationMs)));
            if (!healthChecked && outage.elapsed() > kStorageTimeoutS * 1000 + 500) {
                QElapsedTimer clock;
                clock.start();
                const auto [status, body] = get(QStringLiteral("/health"));
                QVERIFY2(clock.elapsed() < 1000, "/health waits for the database");
                QCOMPARE(status, 503);
                QCOMPARE(QJsonDocument::fromJson(body).object().value(QStringLiteral("storage")),
                         QJsonValue(QStringLiteral("unavailable")));
                healthChecked = true;
            }
        }
        QVERIFY(healthChecked);
        qInfo("longest event loop stall during the outage: %lld ms", m_watch.longestGapMs());
        QVERIFY2(m_watch.longestGapMs() < 200, "the event loop waited for the database");
    }

private Q_SLOTS:
    // Qt's complaints about objects used from the wrong thread are bugs of
    // ours (one kept the listener from ever reconnecting).
    void init() { QTest::failOnWarning(QRegularExpression(QStringLiteral("^QObject::"))); }

    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QString error;
        QVERIFY2(startFakeWns(m_wns, m_dir.path(), &error), qPrintable(error));
        QVERIFY(m_xmpp.listen());
        m_ca = m_dir.filePath(QStringLiteral("ca.pem"));

        QMap<QString, QString> keys{
            {QStringLiteral("xmpp/port"), QString::number(m_xmpp.port())},
            {QStringLiteral("xmpp/secret"), kComponentSecret},
            {QStringLiteral("wns/token_url"), m_wns.tokenUrl().toString()},
            {QStringLiteral("metrics/listen"), QStringLiteral("0")},
            {QStringLiteral("storage/timeout"), QString::number(kStorageTimeoutS)}};
        if (isPostgresql()) {
            QVERIFY2(QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")),
                     "the Qt PostgreSQL driver (libqt6sql6-psql) is not installed");
            m_direct.driver = QStringLiteral("postgresql");
            m_direct.host = env("UWPX_TEST_PG_HOST");
            m_direct.port = env("UWPX_TEST_PG_PORT").toInt();
            m_direct.database = env("UWPX_TEST_PG_DATABASE");
            m_direct.user = env("UWPX_TEST_PG_USER");
            m_direct.password = env("UWPX_TEST_PG_PASSWORD");
            QVERIFY2(startRelay(0, 0), "uwpx-delay-relay did not start");
            keys.insert(QStringLiteral("storage/driver"), QStringLiteral("postgresql"));
            keys.insert(QStringLiteral("storage/host"), QStringLiteral("127.0.0.1"));
            keys.insert(QStringLiteral("storage/port"), QString::number(m_relayPort));
            keys.insert(QStringLiteral("storage/database"), m_direct.database);
            keys.insert(QStringLiteral("storage/user"), m_direct.user);
            keys.insert(QStringLiteral("storage/password"), m_direct.password);
        }
        const QString path = writeConfig(m_dir.path(), keys);
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        m_storage = config.storage;
        if (!isPostgresql())
            m_direct = m_storage;
        m_server = std::make_unique<PushServer>(config);
        QVERIFY2(m_server->start(&error), qPrintable(error));
        QSignalSpy handshake(&m_xmpp, &FakeXmppServer::handshakeAccepted);
        QVERIFY(m_xmpp.handshakeCount() > 0 || handshake.wait(10000));
        QTRY_COMPARE_WITH_TIMEOUT(get(QStringLiteral("/health")).first, 200, 10000);
    }

    void cleanupTestCase() {
        if (m_relay.state() != QProcess::NotRunning) {
            signalRelay(SIGCONT);
            m_relay.kill();
            m_relay.waitForFinished();
        }
        m_server.reset();
    }

    // SQLite: a second instance or the backup tool holds the write lock.
    // Writes wait for it off the event loop and answer within the timeout;
    // lookups go on (WAL lets readers through).
    void aHeldWriteLockStallsNothing() {
        if (isPostgresql())
            QSKIP("the SQLite case");
        QString node;
        QCOMPARE(registerDevice(&node).value(QStringLiteral("status")).toInt(), 1);
        std::atomic<bool> locked{false};
        std::atomic<bool> release{false};
        std::unique_ptr<QThread> holder(QThread::create([&] {
            {
                QSqlDatabase db =
                    QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("holder"));
                db.setDatabaseName(m_direct.path);
                if (db.open()) {
                    QSqlQuery query(db);
                    locked = query.exec(QStringLiteral("BEGIN IMMEDIATE"));
                    while (!release)
                        QThread::msleep(10); // another process, busy with its transaction
                    query.exec(QStringLiteral("COMMIT"));
                }
            }
            QSqlDatabase::removeDatabase(QStringLiteral("holder"));
        }));
        holder->start();
        QTRY_VERIFY(locked);
        duringTheOutage(node, 6, /*publishesDelivered=*/true);
        release = true;
        QVERIFY(holder->wait(10000));
        QVERIFY(registersWithin(10000));
    }

    void aHungDatabaseStallsNothing() {
        if (!isPostgresql())
            QSKIP("needs PostgreSQL behind the relay (with-postgresql.sh)");
        QString node;
        QCOMPARE(registerDevice(&node).value(QStringLiteral("status")).toInt(), 1);
        signalRelay(SIGSTOP); // connections stay open; nothing answers
        duringTheOutage(node, 10, /*publishesDelivered=*/false);
        signalRelay(SIGCONT);
        const qint64 back = untilDelivered(node);
        qInfo("pushes delivered again %lld ms after the database answered", back);
        QVERIFY(back >= 0);
        QTRY_COMPARE_WITH_TIMEOUT(get(QStringLiteral("/health")).first, 200, 10000);
    }

    void aRefusingDatabaseIsUsedAgainAtOnce() {
        if (!isPostgresql())
            QSKIP("needs PostgreSQL behind the relay (with-postgresql.sh)");
        QString node;
        QCOMPARE(registerDevice(&node).value(QStringLiteral("status")).toInt(), 1);
        const quint16 port = m_relayPort;
        m_relay.kill(); // every connection reset, and the port refuses
        QVERIFY(m_relay.waitForFinished());
        duringTheOutage(node, 10, /*publishesDelivered=*/false);
        QVERIFY2(startRelay(port, 0), "uwpx-delay-relay did not start again on its port");
        const qint64 back = untilDelivered(node);
        qInfo("pushes delivered again %lld ms after the database came back", back);
        QVERIFY(back >= 0);
        QVERIFY2(back < 2000, qPrintable(QStringLiteral("took %1 ms").arg(back)));
    }

    void aSlowDatabaseIsWaitedForOffTheLoop() {
        if (!isPostgresql())
            QSKIP("needs PostgreSQL behind the relay (with-postgresql.sh)");
        const quint16 port = m_relayPort;
        m_relay.kill();
        QVERIFY(m_relay.waitForFinished());
        QVERIFY2(startRelay(port, 100), "uwpx-delay-relay did not start again on its port");
        QString node;
        QVERIFY(registersWithin(10000, &node));
        m_watch.start();
        for (int i = 0; i < 10; ++i) {
            const auto [verdict, ms] = publish(node);
            QCOMPARE(verdict, QStringLiteral("result"));
            QVERIFY2(ms < kPublishBoundMs,
                     qPrintable(QStringLiteral("publish took %1 ms").arg(ms)));
        }
        QCOMPARE(registerDevice().value(QStringLiteral("status")).toInt(), 1);
        QVERIFY2(m_watch.longestGapMs() < 200, "the event loop waited for the database");
    }

    // Instances sharing PostgreSQL wake each other (the one leaving a
    // component JID wakes a standby): a notification reaches a listener on
    // another connection, on its event loop; and again after the listening
    // connection went down with the database and came back.
    void instancesWakeEachOther() {
        if (!isPostgresql())
            QSKIP("one instance per SQLite file: nobody to wake");
        QString error;
        auto listener = Storage::open(m_storage, &error); // through the relay
        QVERIFY2(listener, qPrintable(error));
        auto notifier = Storage::open(m_direct, &error);
        QVERIFY2(notifier, qPrintable(error));
        QSignalSpy heard(listener.get(), &Storage::notified);
        listener->listen(QStringLiteral("uwpx_test"));
        // Listening starts on the listener's own thread: notify until heard.
        const auto notifyUntilHeard = [&](const QString &payload) {
            const auto wasHeard = [&] {
                return std::any_of(
                    heard.cbegin(), heard.cend(), [&](const QList<QVariant> &signal) {
                        return signal.at(0).toString() == QLatin1String("uwpx_test") &&
                               signal.at(1).toString() == payload;
                    });
            };
            return QTest::qWaitFor(
                [&] { return notifier->notify(QStringLiteral("uwpx_test"), payload), wasHeard(); },
                15000);
        };
        QVERIFY(notifyUntilHeard(QStringLiteral("push.localhost")));

        const quint16 port = m_relayPort;
        m_relay.kill();
        QVERIFY(m_relay.waitForFinished());
        QVERIFY2(startRelay(port, 0), "uwpx-delay-relay did not start again on its port");
        QVERIFY(notifyUntilHeard(QStringLiteral("after the outage")));
    }

    // Everything a client was told is stored is stored.
    void nothingAcknowledgedIsLost() {
        QString error;
        auto store = StorageConnection::open(m_direct, &error);
        QVERIFY2(store, qPrintable(error));
        QVERIFY(!m_acknowledged.isEmpty());
        for (const auto &[device, node] : std::as_const(m_acknowledged)) {
            PushTarget target;
            QCOMPARE(test::findByNode(*store, node, &target), StorageStatus::Ok);
            QCOMPARE(target.deviceId, device);
        }
    }
};

QTEST_GUILESS_MAIN(OutageTest)
#include "tst_outage.moc"

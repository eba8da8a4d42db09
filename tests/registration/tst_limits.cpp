// The registration endpoint under attack, with the limits per client of the
// example configuration (a little tighter): whatever one client address
// does, another client is served, and fast. The attacker connects from
// 127.0.0.2, the ordinary client from 127.0.0.1.

#include "config.h"
#include "fakewns.h"
#include "httpget.h"
#include "pushserver.h"
#include "registrationclient.h"
#include "testconfig.h"

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <vector>

using namespace uwpx;
using namespace uwpx::test;

namespace {

const QHostAddress kAttacker(QStringLiteral("127.0.0.2"));
constexpr int kHandshakeTimeoutS = 2;

QJsonObject setChannel(const QString &device, const QString &channel) {
    return {{"version", 2},
            {"action", "set_channel_uri"},
            {"device_id", device},
            {"channel_uri", channel}};
}

} // namespace

class LimitsTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    FakeWns m_wns;
    std::unique_ptr<PushServer> m_server;
    QString m_ca;
    QNetworkAccessManager m_http;
    int m_devices = 0;

    // An ordinary client's whole request: connect, TLS, one answer. Its
    // time goes to the log; it must stay short whatever the attacker does.
    void anOrdinaryClientIsServed() {
        QElapsedTimer clock;
        clock.start();
        RegistrationClient client;
        QVERIFY(client.connectTo(m_server->registrationPort(), m_ca, 5000));
        const QString device = QStringLiteral("0c1e%1").arg(++m_devices, 12, 16, QLatin1Char('0'));
        const QJsonObject answer = client.request(setChannel(device, m_wns.channelUri(device)));
        QCOMPARE(answer.value(QStringLiteral("status")).toInt(-1), 1);
        qInfo("an ordinary client was served in %lld ms", clock.elapsed());
        QVERIFY2(clock.elapsed() < 1000, qPrintable(QString::number(clock.elapsed())));
    }

    double refused(const QString &reason) {
        return metric("uwpx_refused_total{reason=\"" + reason.toUtf8() + "\"}");
    }

    // A series of /metrics; 0 while it has not been written.
    double metric(const QByteArray &series) {
        const QByteArray text =
            httpGet(
                m_http,
                QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(m_server->metricsPort())))
                .second;
        return metricValue(text, series).value_or(0);
    }

    // A TCP connection from the attacker's address that says nothing. (The
    // event loop runs while it connects: the server accepts on it.)
    std::unique_ptr<QTcpSocket> silentConnection() {
        auto socket = std::make_unique<QTcpSocket>();
        if (!socket->bind(kAttacker))
            return nullptr;
        QSignalSpy connected(socket.get(), &QTcpSocket::connected);
        socket->connectToHost(QHostAddress::LocalHost, m_server->registrationPort());
        if (socket->state() != QAbstractSocket::ConnectedState && !connected.wait(5000))
            return nullptr;
        return socket;
    }

    double refusedAtTheDoor() {
        return refused(QStringLiteral("handshakes")) +
               refused(QStringLiteral("connections_per_address"));
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QString error;
        QVERIFY2(startFakeWns(m_wns, m_dir.path(), &error), qPrintable(error));
        // registration_limits_proxy_on: the same limits with the PROXY
        // protocol on for a balancer none of these clients is: they count
        // per address from their first byte, the header check included.
        QMap<QString, QString> keys{
            {QStringLiteral("wns/token_url"), m_wns.tokenUrl().toString()},
            {QStringLiteral("metrics/listen"), QStringLiteral("0")},
            {QStringLiteral("registration/max_connections_per_address"), QStringLiteral("4")},
            {QStringLiteral("registration/rate_per_address"), QStringLiteral("5")},
            {QStringLiteral("registration/rate_per_device"), QStringLiteral("6")},
            {QStringLiteral("registration/test_push_interval"), QStringLiteral("10")},
            {QStringLiteral("registration/handshake_timeout"), QString::number(kHandshakeTimeoutS)},
            {QStringLiteral("registration/max_handshakes"), QStringLiteral("16")}};
        if (qEnvironmentVariableIsSet("UWPX_TEST_PROXY_PROTOCOL_FROM"))
            keys.insert(QStringLiteral("registration/proxy_protocol_from"),
                        qEnvironmentVariable("UWPX_TEST_PROXY_PROTOCOL_FROM"));
        const QString path = writeConfig(m_dir.path(), keys);
        m_ca = m_dir.filePath(QStringLiteral("ca.pem"));
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        m_server = std::make_unique<PushServer>(config);
        QVERIFY2(m_server->start(&error), qPrintable(error));
        // The attacker's address must work on this machine.
        QVERIFY2(silentConnection(), "cannot connect from 127.0.0.2");
    }

    void cleanupTestCase() { m_server.reset(); }

    // Qt 6.4's QSslServer stopped accepting for good after ~130 connections
    // that closed before their TLS handshake: a port scan took the endpoint
    // down until a restart.
    void acceptingNeverStops() {
        for (int i = 0; i < 400; ++i) {
            auto socket = silentConnection();
            QVERIFY(socket);
            socket->abort();
        }
        anOrdinaryClientIsServed();
        QVERIFY(silentConnection()); // the scanner's address is not stuck either
    }

    // Silent connections used to wait out the idle timeout in QSslServer's
    // queue, locking everyone out. A handful per address are let in (fewer
    // than the handshakes an address may have going), each with a short
    // deadline for its handshake.
    void silentConnectionsLockNobodyOut() {
        const double before = refusedAtTheDoor();
        std::vector<std::unique_ptr<QTcpSocket>> silent;
        for (int i = 0; i < 128; ++i) {
            auto socket = silentConnection();
            QVERIFY(socket);
            silent.push_back(std::move(socket));
        }
        anOrdinaryClientIsServed();
        QTRY_VERIFY(refusedAtTheDoor() >= before + 120);
        // The ones let in are closed at their handshake deadline.
        for (const auto &socket : silent)
            QTRY_COMPARE_WITH_TIMEOUT(socket->state(), QAbstractSocket::UnconnectedState,
                                      (kHandshakeTimeoutS + 5) * 1000);
        anOrdinaryClientIsServed();
    }

    // One address used to be able to hold every connection the server takes.
    void oneAddressCannotHoldEveryConnection() {
        std::vector<std::unique_ptr<RegistrationClient>> held;
        for (int i = 0; i < 4; ++i) {
            auto client = std::make_unique<RegistrationClient>();
            QVERIFY(client->connectTo(m_server->registrationPort(), m_ca, 5000, kAttacker));
            held.push_back(std::move(client));
        }
        const double before = refused(QStringLiteral("connections_per_address"));
        RegistrationClient fifth;
        QVERIFY(!fifth.connectTo(m_server->registrationPort(), m_ca, 5000, kAttacker));
        QTRY_COMPARE(refused(QStringLiteral("connections_per_address")), before + 1);
        anOrdinaryClientIsServed();
        held.clear(); // the address gets its connections back once they close
        QTRY_COMPARE(metric("uwpx_registration_connections"), 0.0);
    }

    // One client used to register ~124 devices a second (the store grew by
    // 16 MB/s): now its address gets its share, then "try again later".
    void requestsArePacedPerAddress() {
        RegistrationClient client;
        QVERIFY(client.connectTo(m_server->registrationPort(), m_ca, 5000, kAttacker));
        int served = 0;
        int tooMany = 0;
        for (int i = 0; i < 60; ++i) {
            const QString device = QStringLiteral("a7a7%1").arg(i, 12, 16, QLatin1Char('0'));
            const QJsonObject answer = client.request(setChannel(device, m_wns.channelUri(device)));
            if (answer.value(QStringLiteral("status")).toInt() == 1)
                ++served;
            else if (answer.value(QStringLiteral("error"))
                         .toString()
                         .contains(QStringLiteral("Too many requests")))
                ++tooMany;
        }
        QVERIFY2(served >= 20 && served <= 30, qPrintable(QString::number(served)));
        QCOMPARE(served + tooMany, 60);
        QVERIFY(refused(QStringLiteral("rate_per_address")) >= tooMany);
        anOrdinaryClientIsServed();
    }

    // One connection used to trigger ~3,800 test pushes a second to one
    // channel, and WNS throttles a channel that is sent to that often.
    void testPushesArePacedPerDevice() {
        RegistrationClient client;
        QVERIFY(client.connectTo(m_server->registrationPort(), m_ca, 5000));
        const QString device = QStringLiteral("7e577e577e577e57");
        QCOMPARE(client.request(setChannel(device, m_wns.channelUri(QStringLiteral("flood"))))
                     .value(QStringLiteral("status"))
                     .toInt(),
                 1);
        int tooMany = 0;
        for (int i = 0; i < 5; ++i) {
            const QJsonObject answer = client.request(
                {{"version", 2}, {"action", "request_test_push"}, {"device_id", device}});
            if (answer.value(QStringLiteral("error"))
                    .toString()
                    .contains(QStringLiteral("Too many requests")))
                ++tooMany;
        }
        QVERIFY(tooMany >= 3);
        QVERIFY(m_wns.channelRequests(FakeWns::channelPath(QStringLiteral("flood"))).size() <= 2);
        QVERIFY(refused(QStringLiteral("test_push_rate")) >= tooMany);
    }
};

QTEST_GUILESS_MAIN(LimitsTest)
#include "tst_limits.moc"

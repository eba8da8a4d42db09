// /health and /metrics as an operator's monitoring sees them: the whole
// daemon (PushServer) serves known traffic - registrations over TLS,
// publishes over its XEP-0114 link, notifications to the fake WNS - and the
// figures read back over HTTP must match it.

#include "config.h"
#include "fakewns.h"
#include "fakexmppserver.h"
#include "httpget.h"
#include "pushserver.h"
#include "registrationclient.h"
#include "testconfig.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;
using namespace uwpx::test;

namespace {

const QString kComponentSecret = QStringLiteral("component-secret");
const QString kDevice = QStringLiteral("0e7a0e7a0e7a0e7a0e7a");

QByteArray publishXml(const QString &id, const QString &node, const QString &secret) {
    return "<iq from='localhost' to='push.localhost' type='set' id='" + id.toUtf8() +
           "'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" + node.toUtf8() +
           "'><item><notification xmlns='urn:xmpp:push:0'/></item></publish>"
           "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
           "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
           "<field var='secret'><value>" +
           secret.toUtf8() + "</value></field></x></publish-options></pubsub></iq>";
}

} // namespace

class OperatorTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    FakeWns m_wns;
    FakeXmppServer m_xmpp{kComponentSecret};
    std::unique_ptr<PushServer> m_server;
    QNetworkAccessManager m_http;

    // GET on the operator endpoint: status code and body.
    QPair<int, QByteArray> get(const QString &path) {
        return httpGet(
            m_http,
            QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_server->metricsPort()).arg(path)));
    }

    // The value of one series in the Prometheus text, or -1 if absent.
    double metric(const QByteArray &text, const QByteArray &series) {
        return metricValue(text, series).value_or(-1);
    }

    // Sends publishes and waits until every one of them was answered.
    void publishAll(const QList<QByteArray> &stanzas, int expectedReplies) {
        const qsizetype before = m_xmpp.received().size();
        for (const QByteArray &stanza : stanzas)
            m_xmpp.sendRaw(stanza);
        QTRY_VERIFY_WITH_TIMEOUT(m_xmpp.received().size() >= before + expectedReplies, 20000);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QString error;
        QVERIFY2(startFakeWns(m_wns, m_dir.path(), &error), qPrintable(error));
        QVERIFY(m_xmpp.listen());
        const QString path = writeConfig(
            m_dir.path(), {{QStringLiteral("xmpp/port"), QString::number(m_xmpp.port())},
                           {QStringLiteral("xmpp/secret"), kComponentSecret},
                           {QStringLiteral("wns/token_url"), m_wns.tokenUrl().toString()},
                           {QStringLiteral("metrics/listen"), QStringLiteral("0")}});
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        QCOMPARE(config.metrics.address, QHostAddress(QHostAddress::LocalHost));
        m_server = std::make_unique<PushServer>(config);
        QVERIFY2(m_server->start(&error), qPrintable(error));
        QVERIFY(m_server->metricsPort() != 0);
        QSignalSpy handshake(&m_xmpp, &FakeXmppServer::handshakeAccepted);
        QVERIFY(m_xmpp.handshakeCount() > 0 || handshake.wait(10000));
    }

    void cleanupTestCase() { m_server.reset(); }

    void healthIsOkWhileEverythingIsUp() {
        // The component counts as up once the server's <handshake/> reached it.
        QTRY_COMPARE_WITH_TIMEOUT(get(QStringLiteral("/health")).first, 200, 10000);
        const auto [status, body] = get(QStringLiteral("/health"));
        QCOMPARE(status, 200);
        const QJsonObject health = QJsonDocument::fromJson(body).object();
        QCOMPARE(health.value(QStringLiteral("status")).toString(), QStringLiteral("ok"));
        QCOMPARE(health.value(QStringLiteral("storage")).toString(), QStringLiteral("ok"));
        QCOMPARE(health.value(QStringLiteral("xmpp")).toString(), QStringLiteral("connected"));
    }

    void metricsCountKnownTraffic() {
        RegistrationClient client;
        QVERIFY(client.connectTo(m_server->registrationPort(),
                                 m_dir.filePath(QStringLiteral("ca.pem"))));
        QCOMPARE(client
                     .request({{"version", 2},
                               {"action", "set_channel_uri"},
                               {"device_id", kDevice},
                               {"channel_uri", m_wns.channelUri(QStringLiteral("metrics"))}})
                     .value(QStringLiteral("status"))
                     .toInt(),
                 1);
        const QJsonObject registered =
            client.request({{"version", 2},
                            {"action", "set_push_accounts"},
                            {"device_id", kDevice},
                            {"accounts", QJsonArray{QJsonObject{{"account_id", "a"}},
                                                    QJsonObject{{"account_id", "b"}},
                                                    QJsonObject{{"account_id", "c"}}}}});
        QCOMPARE(registered.value(QStringLiteral("status")).toInt(), 1);
        QCOMPARE(client.request({{"version", 2}, {"action", "set_accounts"}, {"device_id", "zz"}})
                     .value(QStringLiteral("status"))
                     .toInt(-1),
                 0);
        const QJsonArray accounts = registered.value(QStringLiteral("accounts")).toArray();

        // 3 delivered (one per node: no rate limit in play), 1 forbidden, 1 unknown node.
        QList<QByteArray> publishes;
        for (int i = 0; i < 3; ++i) {
            const QJsonObject account = accounts[i].toObject();
            publishes << publishXml(QStringLiteral("ok%1").arg(i),
                                    account.value(QStringLiteral("node")).toString(),
                                    account.value(QStringLiteral("secret")).toString());
        }
        publishes << publishXml(QStringLiteral("bad-secret"),
                                accounts[0].toObject().value(QStringLiteral("node")).toString(),
                                QStringLiteral("guessed"));
        publishes << publishXml(QStringLiteral("no-node"), QStringLiteral("nosuchnode"),
                                QStringLiteral("x"));
        publishAll(publishes, 5);

        const auto [status, text] = get(QStringLiteral("/metrics"));
        QCOMPARE(status, 200);
        QCOMPARE(metric(text, R"(uwpx_publishes_total{outcome="delivered"})"), 3.0);
        QCOMPARE(metric(text, R"(uwpx_publishes_total{outcome="forbidden"})"), 1.0);
        QCOMPARE(metric(text, R"(uwpx_publishes_total{outcome="unknown_node"})"), 1.0);
        QCOMPARE(metric(text, R"(uwpx_publishes_total{outcome="transient"})"), 0.0);
        // Counted under the name the client used.
        QCOMPARE(metric(text, R"(uwpx_registration_requests_total{action="set_push_accounts",)"
                              R"(outcome="success"})"),
                 1.0);
        QCOMPARE(
            metric(
                text,
                R"(uwpx_registration_requests_total{action="set_channel_uri",outcome="success"})"),
            1.0);
        QCOMPARE(
            metric(text, R"(uwpx_registration_requests_total{action="invalid",outcome="error"})"),
            1.0);
        QCOMPARE(metric(text, R"(uwpx_wns_requests_total{status="200"})"), 3.0);
        QCOMPARE(metric(text, "uwpx_wns_request_duration_seconds_count"), 3.0);
        QCOMPARE(metric(text, "uwpx_wns_token_refreshes_total"), 1.0);
        QCOMPARE(metric(text, "uwpx_component_connected"), 1.0);
        QCOMPARE(metric(text, "uwpx_storage_available"), 1.0);
        QCOMPARE(metric(text, R"(uwpx_build_info{version=")" UWPX_VERSION R"("})"), 1.0);
        const QDateTime expiry =
            QSslCertificate::fromPath(m_dir.filePath(QStringLiteral("server.pem")))
                .first()
                .expiryDate();
        QCOMPARE(metric(text, "uwpx_certificate_expiry_timestamp_seconds"),
                 double(expiry.toSecsSinceEpoch()));
        // The store's counts are taken off the scrape, a few seconds after
        // writes at most (StoreCounts).
        QTRY_COMPARE_WITH_TIMEOUT(metric(get(QStringLiteral("/metrics")).second, "uwpx_devices"),
                                  1.0, 15000);
        QCOMPARE(metric(get(QStringLiteral("/metrics")).second, "uwpx_accounts"), 3.0);
        QVERIFY(text.contains("# TYPE uwpx_wns_request_duration_seconds histogram"));
    }

    void healthNamesTheLinkWhenItIsDown() {
        QSignalSpy gone(&m_xmpp, &FakeXmppServer::clientGone);
        m_xmpp.setMute(true); // the link stays down: reconnecting gets no stream
        m_xmpp.dropClient();
        QTRY_VERIFY_WITH_TIMEOUT(get(QStringLiteral("/health")).first == 503, 10000);
        const QJsonObject health =
            QJsonDocument::fromJson(get(QStringLiteral("/health")).second).object();
        QCOMPARE(health.value(QStringLiteral("status")).toString(), QStringLiteral("unhealthy"));
        QCOMPARE(health.value(QStringLiteral("xmpp")).toString(), QStringLiteral("disconnected"));
        QCOMPARE(health.value(QStringLiteral("storage")).toString(), QStringLiteral("ok"));
        QCOMPARE(metric(get(QStringLiteral("/metrics")).second, "uwpx_component_connected"), 0.0);
    }

    // Another instance holds the component JID (Prosody's `conflict`): this
    // one stands by, and is healthy, since it takes over when the other goes.
    void aStandbyIsHealthy() {
        m_xmpp.setMute(false);
        m_xmpp.setOccupied(true);
        m_xmpp.dropClient();
        QTRY_VERIFY_WITH_TIMEOUT(m_xmpp.conflictCount() > 0, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(QJsonDocument::fromJson(get(QStringLiteral("/health")).second)
                                      .object()
                                      .value(QStringLiteral("xmpp"))
                                      .toString(),
                                  QStringLiteral("standby"), 10000);
        QCOMPARE(get(QStringLiteral("/health")).first, 200);
        const QByteArray metrics = get(QStringLiteral("/metrics")).second;
        QCOMPARE(metric(metrics, R"(uwpx_component_role{role="standby"})"), 1.0);
        QCOMPARE(metric(metrics, R"(uwpx_component_role{role="connected"})"), 0.0);
        QCOMPARE(metric(metrics, "uwpx_component_connected"), 0.0);

        QSignalSpy handshake(&m_xmpp, &FakeXmppServer::handshakeAccepted);
        m_xmpp.setOccupied(false); // the other instance went away
        QVERIFY(handshake.wait(5000));
        QTRY_COMPARE_WITH_TIMEOUT(metric(get(QStringLiteral("/metrics")).second,
                                         R"(uwpx_component_role{role="connected"})"),
                                  1.0, 5000);
    }

    // What the operator endpoint answers to `request`; it closes the
    // connection after every answer.
    QByteArray rawExchange(const QByteArray &request) {
        QTcpSocket socket;
        QSignalSpy gone(&socket, &QTcpSocket::disconnected);
        socket.connectToHost(QHostAddress::LocalHost, m_server->metricsPort());
        socket.write(request);
        if (!gone.wait(5000))
            return {};
        return socket.readAll();
    }

    // The operator endpoint used to buffer any request body and keep any
    // number of idle connections without a timeout.
    void refusesBodiesAndOversizedRequests() {
        QVERIFY(rawExchange("POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" +
                            QByteArray(1000, 'x'))
                    .startsWith("HTTP/1.1 413"));
        QVERIFY(rawExchange("GET /metrics HTTP/1.1\r\nX-Padding: " + QByteArray(20000, 'x') +
                            "\r\n\r\n")
                    .startsWith("HTTP/1.1 413"));
        QVERIFY(rawExchange("DELETE /health HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 405"));
        QVERIFY(rawExchange("garbage\r\n\r\n").startsWith("HTTP/1.1 400"));
        QVERIFY(get(QStringLiteral("/health")).first != 0); // and it still serves
    }

    void idleConnectionsAreBoundedAndClosed() {
        const QHostAddress attacker(QStringLiteral("127.0.0.2"));
        std::vector<std::unique_ptr<QTcpSocket>> idle;
        for (int i = 0; i < 20; ++i) {
            auto socket = std::make_unique<QTcpSocket>();
            QVERIFY(socket->bind(attacker));
            QSignalSpy connected(socket.get(), &QTcpSocket::connected);
            socket->connectToHost(QHostAddress::LocalHost, m_server->metricsPort());
            QVERIFY(connected.wait(5000));
            idle.push_back(std::move(socket));
        }
        // One address gets 16; the monitoring from elsewhere is still served.
        QTRY_COMPARE(std::count_if(idle.cbegin(), idle.cend(),
                                   [](const auto &socket) {
                                       return socket->state() == QAbstractSocket::ConnectedState;
                                   }),
                     16);
        QCOMPARE(get(QStringLiteral("/health")).first, 200);
        // Those that never send a request are closed after 10 s.
        for (const auto &socket : idle)
            QTRY_COMPARE_WITH_TIMEOUT(socket->state(), QAbstractSocket::UnconnectedState, 15000);
        QVERIFY(metric(get(QStringLiteral("/metrics")).second,
                       R"(uwpx_refused_total{reason="operator_endpoint"})") >= 4);
    }
};

QTEST_GUILESS_MAIN(OperatorTest)
#include "tst_operator.moc"

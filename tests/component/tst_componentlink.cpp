// The XEP-0114 link against a local server playing Prosody's component port:
// handshake, refusal with backoff, reconnects, keepalive and a silent server.

#include "componentlink.h"
#include "fakexmppserver.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QTimer>

using namespace uwpx;
using uwpx::test::FakeXmppServer;

namespace {

const QString kSecret = QStringLiteral("component-Secret-7f3a");

// Every log line of the run, to show the secret never appears in one.
QStringList g_logLines;
QtMessageHandler g_previousHandler = nullptr;
void captureLog(QtMsgType type, const QMessageLogContext &context, const QString &message) {
    g_logLines.append(message);
    if (g_previousHandler)
        g_previousHandler(type, context, message);
}

XmppSettings settingsFor(const FakeXmppServer &server) {
    XmppSettings settings;
    settings.componentJid = QStringLiteral("push.example.org");
    settings.host = QStringLiteral("127.0.0.1");
    settings.port = server.port();
    settings.secret = kSecret;
    settings.keepaliveIntervalMs = 5000;
    settings.reconnectMinMs = 20;
    settings.reconnectMaxMs = 200;
    return settings;
}

} // namespace

class ComponentLinkTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        qRegisterMetaType<uwpx::XmlElement>();
        qRegisterMetaType<uwpx::ComponentRole>();
        g_previousHandler = qInstallMessageHandler(captureLog);
    }

    void cleanupTestCase() {
        qInstallMessageHandler(g_previousHandler);
        for (const QString &line : std::as_const(g_logLines))
            QVERIFY2(!line.contains(kSecret), qPrintable(line));
    }

    void completesTheHandshake() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        ComponentLink link(settingsFor(server));
        QSignalSpy connected(&link, &ComponentLink::connected);
        QVERIFY(!link.send(XmlElement(QStringLiteral("presence")))); // not yet
        link.start();
        QVERIFY(connected.wait());
        QVERIFY(link.isConnected());
        QCOMPARE(link.state(), ComponentLink::State::Connected);
        QCOMPARE(server.handshakeCount(), 1);
        QCOMPARE(link.reconnectCount(), 0);
    }

    void carriesStanzasBothWays() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        ComponentLink link(settingsFor(server));
        QSignalSpy connected(&link, &ComponentLink::connected);
        QSignalSpy incoming(&link, &ComponentLink::stanzaReceived);
        link.start();
        QVERIFY(connected.wait());

        // Split across writes and with two in one write.
        server.sendRaw("<iq type='get' id='a1' from='example.org' to='push.example.org'><pi");
        server.sendRaw("ng xmlns='urn:xmpp:ping'/></iq><message/><presence/>");
        QTRY_COMPARE(incoming.size(), 3);
        QCOMPARE(incoming.first().at(0).value<XmlElement>().attribute(QStringLiteral("id")),
                 QStringLiteral("a1"));

        QSignalSpy received(&server, &FakeXmppServer::stanzaReceived);
        XmlElement reply(QStringLiteral("iq"));
        reply.setAttribute(QStringLiteral("type"), QStringLiteral("result"))
            .setAttribute(QStringLiteral("id"), QStringLiteral("a1&'"));
        QVERIFY(link.send(reply));
        QVERIFY(received.wait());
        QCOMPARE(server.received().last().attribute(QStringLiteral("id")), QStringLiteral("a1&'"));
    }

    void retriesAWrongSecretWithGrowingBackoff() {
        FakeXmppServer server(QStringLiteral("another secret"));
        QVERIFY(server.listen());
        ComponentLink link(settingsFor(server));
        QSignalSpy failed(&link, &ComponentLink::attemptFailed);
        QList<int> delays;
        connect(&link, &ComponentLink::attemptFailed, this,
                [&] { delays.append(link.currentBackoffMs()); });
        link.start();
        QTRY_VERIFY_WITH_TIMEOUT(failed.size() >= 5, 10000);
        QVERIFY2(failed.first().at(0).toString().contains(QStringLiteral("not-authorized")),
                 qPrintable(failed.first().at(0).toString()));
        QVERIFY(!link.isConnected());
        // 20, 40, 80, 160 plus up to a quarter of jitter, then capped at 200
        // minus up to a fifth.
        const QList<int> low{20, 40, 80, 160, 160};
        const QList<int> high{25, 50, 100, 200, 200};
        for (int i = 0; i < 5; ++i) {
            QVERIFY2(
                delays.at(i) >= low.at(i) && delays.at(i) <= high.at(i),
                qPrintable(QStringLiteral("attempt %1 waited %2 ms").arg(i).arg(delays.at(i))));
        }

        // Once the secret is right, the next attempt gets through.
        QSignalSpy connected(&link, &ComponentLink::connected);
        server.setSecret(kSecret);
        QVERIFY(connected.wait(5000));
    }

    // Prosody refuses a second instance of a component with `conflict`: that
    // instance stands by, asks again at its standby interval (without a
    // failure or a warning per attempt), and takes over once the JID is free.
    void standsByWhileAnotherInstanceHoldsTheJid() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        server.setOccupied(true);
        XmppSettings settings = settingsFor(server);
        settings.standbyRetryMs = 100;
        ComponentLink link(settings);
        QSignalSpy roles(&link, &ComponentLink::roleChanged);
        QSignalSpy failed(&link, &ComponentLink::attemptFailed);
        QList<qint64> conflictsAtMs;
        QElapsedTimer clock;
        clock.start();
        connect(&server, &FakeXmppServer::conflictSent, this,
                [&] { conflictsAtMs << clock.elapsed(); });
        const qsizetype logged = g_logLines.size();
        link.start();
        QTRY_VERIFY(server.conflictCount() >= 4);
        QCOMPARE(link.role(), ComponentRole::Standby);
        QCOMPARE(roles.size(), 1);
        QCOMPARE(failed.size(), 0);
        QCOMPARE(g_logLines.mid(logged).filter(QStringLiteral("standing by")).size(), 1);
        // 100 ms give or take a fifth, plus connecting and the handshake.
        for (qsizetype i = 1; i < conflictsAtMs.size(); ++i) {
            const qint64 interval = conflictsAtMs[i] - conflictsAtMs[i - 1];
            QVERIFY2(interval >= 80 && interval <= 200, qPrintable(QString::number(interval)));
        }

        QSignalSpy connected(&link, &ComponentLink::connected);
        server.setOccupied(false);
        QVERIFY(connected.wait(2000));
        QCOMPARE(link.role(), ComponentRole::Connected);
        QCOMPARE(roles.last().at(0).value<ComponentRole>(), ComponentRole::Connected);
    }

    // Instances sharing a lock: a refused standby does not ask the server
    // again by itself (each refusal is an error line in Prosody's log), and
    // asks at once when told to.
    void aWaitingStandbyAsksOnlyWhenTold() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        server.setOccupied(true);
        XmppSettings settings = settingsFor(server);
        settings.standbyRetryMs = 100;
        ComponentLink link(settings);
        link.setStandbyWaits(true);
        QSignalSpy conflicts(&link, &ComponentLink::conflict);
        link.start();
        QVERIFY(conflicts.wait(5000));
        QCOMPARE(link.role(), ComponentRole::Standby);
        QTest::qWait(500); // five standby intervals: none used
        QCOMPARE(server.conflictCount(), 1);
        QCOMPARE(conflicts.size(), 1);

        // Told while still refused: one more attempt, then waiting again.
        link.takeOverNow();
        QTRY_COMPARE(server.conflictCount(), 2);
        QTest::qWait(300);
        QCOMPARE(server.conflictCount(), 2);

        QSignalSpy connected(&link, &ComponentLink::connected);
        server.setOccupied(false);
        link.takeOverNow();
        QVERIFY(connected.wait(2000));
        QCOMPARE(link.role(), ComponentRole::Connected);
    }

    // A clean goodbye: the stream ends, the server sees it end, and the link
    // stays down.
    void closesTheStreamAndStaysDown() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        ComponentLink link(settingsFor(server));
        QSignalSpy connected(&link, &ComponentLink::connected);
        link.start();
        QVERIFY(connected.wait());
        QSignalSpy gone(&server, &FakeXmppServer::clientGone);
        QSignalSpy closed(&link, &ComponentLink::closed);
        link.close();
        QVERIFY(closed.wait());
        QVERIFY(gone.size() == 1 || gone.wait());
        QCOMPARE(link.role(), ComponentRole::Disconnected);
        QCOMPARE(server.connectionCount(), 1); // no reconnect
    }

    void retriesARefusedConnection() {
        quint16 port = 0;
        {
            FakeXmppServer probe(kSecret);
            QVERIFY(probe.listen());
            port = probe.port();
        } // closed again: nothing listens there now
        XmppSettings settings;
        settings.componentJid = QStringLiteral("push.example.org");
        settings.port = port;
        settings.secret = kSecret;
        settings.reconnectMinMs = 10;
        settings.reconnectMaxMs = 40;
        ComponentLink link(settings);
        QSignalSpy failed(&link, &ComponentLink::attemptFailed);
        link.start();
        QTRY_VERIFY(failed.size() >= 3);
        QCOMPARE(link.reconnectCount(), 0);
    }

    void reconnectsWhenTheServerDropsTheConnection() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        ComponentLink link(settingsFor(server));
        QSignalSpy connected(&link, &ComponentLink::connected);
        QSignalSpy disconnected(&link, &ComponentLink::disconnected);
        link.start();
        QVERIFY(connected.wait());

        server.dropClient();
        QTRY_COMPARE(disconnected.size(), 1);
        QTRY_COMPARE(connected.size(), 2);
        QCOMPARE(link.reconnectCount(), 1);
        QCOMPARE(server.handshakeCount(), 2);

        // A polite close is a loss too.
        server.sendRaw("</stream:stream>");
        QTRY_COMPARE(disconnected.size(), 2);
        QTRY_COMPARE(connected.size(), 3);
        QCOMPARE(link.reconnectCount(), 2);
    }

    void reconnectsAfterAStreamErrorAndBadXml() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        ComponentLink link(settingsFor(server));
        QSignalSpy connected(&link, &ComponentLink::connected);
        QSignalSpy disconnected(&link, &ComponentLink::disconnected);
        link.start();
        QVERIFY(connected.wait());

        server.sendRaw("<stream:error><system-shutdown "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
        QTRY_COMPARE(disconnected.size(), 1);
        QVERIFY(disconnected.first().at(0).toString().contains(QStringLiteral("system-shutdown")));
        QTRY_COMPARE(connected.size(), 2);

        // Invalid UTF-8 cannot be skipped: the stream is broken. It used to
        // leave the link deaf (up, answering keepalives, reading nothing).
        QSignalSpy gone(&server, &FakeXmppServer::clientGone);
        server.sendRaw("<message><body>\xff\xfe</body></message>");
        QTRY_COMPARE(disconnected.size(), 2);
        QVERIFY(disconnected.last().at(0).toString().contains(QStringLiteral("UTF-8")));
        QTRY_COMPARE(connected.size(), 3);
    }

    void pingsAndStaysUpWhileTheServerAnswers() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        XmppSettings settings = settingsFor(server);
        settings.keepaliveIntervalMs = 50;
        ComponentLink link(settings);
        QSignalSpy connected(&link, &ComponentLink::connected);
        QSignalSpy disconnected(&link, &ComponentLink::disconnected);
        link.start();
        QVERIFY(connected.wait());
        QTRY_VERIFY(server.pingCount() >= 6);
        QCOMPARE(disconnected.size(), 0);
        const XmlElement ping = server.received().first();
        QCOMPARE(ping.attribute(QStringLiteral("to")), QStringLiteral("example.org"));
        QCOMPARE(ping.attribute(QStringLiteral("from")), QStringLiteral("push.example.org"));
    }

    void noticesASilentServer() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        XmppSettings settings = settingsFor(server);
        settings.keepaliveIntervalMs = 50;
        ComponentLink link(settings);
        QSignalSpy connected(&link, &ComponentLink::connected);
        QSignalSpy disconnected(&link, &ComponentLink::disconnected);
        link.start();
        QVERIFY(connected.wait());

        server.setSilent(true); // still connected, never answers
        QElapsedTimer clock;
        clock.start();
        QVERIFY(disconnected.wait(2000));
        // Two intervals of silence (100 ms) plus timer slack, far below a minute.
        QVERIFY2(clock.elapsed() < 1000, qPrintable(QString::number(clock.elapsed())));
        QVERIFY(disconnected.first().at(0).toString().contains(QStringLiteral("keepalive")));
        QVERIFY(server.pingCount() >= 1);

        server.setSilent(false);
        QTRY_COMPARE(connected.size(), 2);
    }

    // A server stuck in a stanza that never ends sends bytes but no stanza,
    // not even the answers to our pings (they queue behind it): the keepalive
    // notices it like a silent one, however slowly the bytes come.
    void noticesAServerStuckInAStanza() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        XmppSettings settings = settingsFor(server);
        settings.keepaliveIntervalMs = 50;
        ComponentLink link(settings);
        QSignalSpy connected(&link, &ComponentLink::connected);
        QSignalSpy disconnected(&link, &ComponentLink::disconnected);
        link.start();
        QVERIFY(connected.wait());
        server.sendRaw("<iq type='get' id='stuck' from='example.org' to='push.example.org'>"
                       "<query xmlns='urn:example:q' a='");
        QTimer trickle;
        connect(&trickle, &QTimer::timeout, &server, [&server] { server.sendRaw("a"); });
        trickle.start(10);
        QVERIFY(disconnected.wait(2000));
        QVERIFY2(disconnected.first().at(0).toString().contains(QStringLiteral("keepalive")),
                 qPrintable(disconnected.first().at(0).toString()));
        trickle.stop();
        QTRY_COMPARE(connected.size(), 2);
    }

    // Bytes that do not complete the handshake (whitespace, a trickle) do not
    // buy a server more time: the handshake has two keepalive intervals.
    void givesUpOnAServerThatTricklesInsteadOfCompletingTheHandshake() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        server.setStalling(true);
        XmppSettings settings = settingsFor(server);
        settings.keepaliveIntervalMs = 50;
        ComponentLink link(settings);
        QSignalSpy failed(&link, &ComponentLink::attemptFailed);
        QTimer trickle;
        connect(&trickle, &QTimer::timeout, &server, [&server] { server.sendRaw(" "); });
        trickle.start(10);
        link.start();
        QVERIFY(failed.wait(2000));
        QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("handshake")));
        QCOMPARE(server.handshakeCount(), 0);
    }

    void givesUpOnAServerThatNeverOpensTheStream() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        server.setMute(true);
        XmppSettings settings = settingsFor(server);
        settings.keepaliveIntervalMs = 50;
        ComponentLink link(settings);
        QSignalSpy failed(&link, &ComponentLink::attemptFailed);
        link.start();
        QVERIFY(failed.wait(2000));
        QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("handshake")));
        QTRY_VERIFY(server.connectionCount() >= 2);
    }

    void stopsForGood() {
        FakeXmppServer server(kSecret);
        QVERIFY(server.listen());
        ComponentLink link(settingsFor(server));
        QSignalSpy connected(&link, &ComponentLink::connected);
        QSignalSpy disconnected(&link, &ComponentLink::disconnected);
        link.start();
        QVERIFY(connected.wait());
        QSignalSpy gone(&server, &FakeXmppServer::clientGone);
        link.close();
        QCOMPARE(disconnected.size(), 1);
        QVERIFY(gone.wait());
        QCOMPARE(link.state(), ComponentLink::State::Stopped);
        QCOMPARE(server.connectionCount(), 1);
    }
};

QTEST_GUILESS_MAIN(ComponentLinkTest)
#include "tst_componentlink.moc"

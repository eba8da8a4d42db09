// End to end: a fake XMPP server sends publishes over a real XEP-0114 link
// to the component, which delivers through a real WnsClient to the fake WNS
// and answers per docs/protocol.md.

#include "fakewns.h"
#include "fakexmppserver.h"
#include "payload.h"
#include "storage.h"
#include "storageconnection.h"
#include "storageresults.h"
#include "testpki.h"
#include "wnsclient.h"
#include "xmppcomponent.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;
using uwpx::test::FakeWns;
using uwpx::test::FakeXmppServer;

namespace {

const QString kComponentSecret = QStringLiteral("xep-0114-secret");
const QString kSid = QStringLiteral("ms-app://s-1-15-2-1234");
const QString kWnsSecret = QStringLiteral("wns-client-secret");
const QString kDevice = QStringLiteral("00112233445566778899aabbccddeeff");

QByteArray publishXml(const QString &node, const QString &secret, const QString &id) {
    return "<iq from='example.org' type='set' id='" + id.toUtf8() +
           "' to='push.example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
           "<publish node='" +
           node.toUtf8() +
           "'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' "
           "type='submit'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
           "<field var='pending-subscription-count' label='Pending'><value>1</value></field>"
           "<field var='last-message-body'><value>secret plans</value></field></x>"
           "</notification></item></publish><publish-options><x xmlns='jabber:x:data' "
           "type='submit'><field var='FORM_TYPE'><value>"
           "http://jabber.org/protocol/pubsub#publish-options</value></field>"
           "<field var='secret'><value>" +
           secret.toUtf8() + "</value></field></x></publish-options></pubsub></iq>";
}

QString verdictOf(const XmlElement &reply) {
    if (reply.attribute(QStringLiteral("type")) != QLatin1String("error"))
        return reply.attribute(QStringLiteral("type"));
    const XmlElement *error = reply.firstChild(QStringLiteral("error"));
    return error->attribute(QStringLiteral("type")) + QLatin1Char('/') +
           error->firstChildElement()->name();
}

} // namespace

class XmppComponentTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    test::TestPki m_pki;
    std::unique_ptr<FakeWns> m_fakeWns;
    std::unique_ptr<StorageConnection> m_store; // the fixture, read and written directly
    std::unique_ptr<Storage> m_storage;         // what the code under test uses
    std::unique_ptr<WnsClient> m_wns;
    std::unique_ptr<FakeXmppServer> m_server;
    std::unique_ptr<XmppComponent> m_component;
    std::optional<QSignalSpy> m_answered; // of m_component
    AccountCredentials m_account;
    int m_counter = 0;

    // Sends a publish through the link and returns the reply's verdict.
    QString publish(const QString &id, const QString &secret = {}) {
        QSignalSpy received(m_server.get(), &FakeXmppServer::stanzaReceived);
        m_server->sendRaw(
            publishXml(m_account.node, secret.isNull() ? m_account.secret : secret, id));
        for (;;) {
            for (const XmlElement &stanza : m_server->received()) {
                if (stanza.attribute(QStringLiteral("id")) == id)
                    return verdictOf(stanza);
            }
            if (!received.wait(15000))
                return QStringLiteral("no reply");
        }
    }

    // The verdict of the reply to the IQ `id` the server sent, once it is there.
    QString answerTo(const QString &id) {
        QSignalSpy received(m_server.get(), &FakeXmppServer::stanzaReceived);
        for (;;) {
            for (const XmlElement &stanza : m_server->received()) {
                if (stanza.attribute(QStringLiteral("id")) == id)
                    return verdictOf(stanza);
            }
            if (!received.wait(10000))
                return QStringLiteral("no reply");
        }
    }

    void startComponent(int publishTimeoutMs) {
        XmppSettings settings;
        settings.componentJid = QStringLiteral("push.example.org");
        settings.port = m_server->port();
        settings.secret = kComponentSecret;
        settings.publishTimeoutMs = publishTimeoutMs;
        m_component = std::make_unique<XmppComponent>(settings, *m_storage, *m_wns);
        m_answered.emplace(m_component.get(), &XmppComponent::publishAnswered);
        QSignalSpy connected(m_component.get(), &XmppComponent::connected);
        m_component->start();
        QVERIFY(connected.wait());
        QVERIFY(m_component->isConnected());
    }

private Q_SLOTS:
    void initTestCase() {
        qRegisterMetaType<uwpx::XmlElement>();
        qRegisterMetaType<uwpx::PublishOutcome>();
        QVERIFY(m_dir.isValid());
        QString error;
        QVERIFY2(test::TestPki::create(m_dir.path(), &m_pki, &error), qPrintable(error));
        m_fakeWns = std::make_unique<FakeWns>();
        QVERIFY2(m_fakeWns->listen(m_pki.serverCertificate, m_pki.serverKey, 0, &error),
                 qPrintable(error));
    }

    void init() {
        m_fakeWns->reset();
        m_fakeWns->setCredentials(kSid, kWnsSecret);

        StorageSettings storageSettings;
        storageSettings.path = m_dir.filePath(QStringLiteral("db%1/push.db").arg(++m_counter));
        QString error;
        m_store = StorageConnection::open(storageSettings, &error);
        QVERIFY2(m_store, qPrintable(error));
        m_storage = Storage::open(storageSettings, &error);
        QVERIFY2(m_storage, qPrintable(error));
        QVERIFY(m_store->setChannelUri(kDevice, m_fakeWns->channelUri(QStringLiteral("dev")), 2)
                    .isOk());
        QList<AccountCredentials> credentials;
        QCOMPARE(test::setAccounts(*m_store, kDevice, 2, {AccountSpec{QStringLiteral("acct"), {}}},
                                   &credentials),
                 StorageStatus::Ok);
        m_account = credentials.first();

        WnsSettings wns;
        wns.packageSid = kSid;
        wns.clientSecret = kWnsSecret;
        wns.tokenUrl = m_fakeWns->tokenUrl();
        wns.channelHosts = {QStringLiteral("127.0.0.1")};
        wns.caFile = m_pki.caCertificate;
        wns.requestTimeoutMs = 5000;
        wns.maxAttempts = 1; // a 503 is the verdict, not a retry
        wns.sendBudgetMs = 10000;
        m_wns = std::make_unique<WnsClient>(wns);

        m_server = std::make_unique<FakeXmppServer>(kComponentSecret);
        QVERIFY(m_server->listen());
    }

    void cleanup() {
        m_answered.reset();
        m_component.reset();
        m_server.reset();
        m_wns.reset();
        m_storage.reset();
        m_store.reset();
    }

    void deliversAPublishToWns() {
        startComponent(10000);
        QCOMPARE(publish(QStringLiteral("p1")), QStringLiteral("result"));
        const QList<FakeWns::Request> sent =
            m_fakeWns->channelRequests(FakeWns::channelPath(QStringLiteral("dev")));
        QCOMPARE(sent.size(), 1);
        QCOMPARE(sent.first().body, payload::forPublish(2, QStringLiteral("acct"), 0, 1));
        QVERIFY(!sent.first().body.contains("secret plans"));
        QCOMPARE(m_answered->size(), 1);
        QCOMPARE(m_answered->first().at(0).value<PublishOutcome>(), PublishOutcome::Delivered);
    }

    void answersForbiddenForAWrongSecret() {
        startComponent(10000);
        QCOMPARE(publish(QStringLiteral("p1"), QStringLiteral("guess")),
                 QStringLiteral("auth/forbidden"));
        QVERIFY(m_fakeWns->channelRequests().isEmpty());
    }

    void answersWaitWhenWnsFails() {
        startComponent(10000);
        m_fakeWns->scriptChannel(FakeWns::channelPath(QStringLiteral("dev")),
                                 {FakeWns::answer(503)});
        QCOMPARE(publish(QStringLiteral("p1")), QStringLiteral("wait/internal-server-error"));
    }

    void answersWaitWhenTheChannelIsGone() {
        startComponent(10000);
        m_fakeWns->scriptChannel(FakeWns::channelPath(QStringLiteral("dev")),
                                 {FakeWns::answer(410)});
        QCOMPARE(publish(QStringLiteral("p1")), QStringLiteral("wait/recipient-unavailable"));
        QCOMPARE(m_answered->size(), 1);
        QCOMPARE(m_answered->first().at(0).value<PublishOutcome>(), PublishOutcome::Gone);
    }

    void answersWaitWhenWnsDoesNotAnswerInTime() {
        startComponent(/*publishTimeoutMs=*/300);
        m_fakeWns->scriptChannel(FakeWns::channelPath(QStringLiteral("dev")), {FakeWns::stalled()});
        QElapsedTimer clock;
        clock.start();
        QCOMPARE(publish(QStringLiteral("p1")), QStringLiteral("wait/internal-server-error"));
        QVERIFY(clock.elapsed() < 3000);
        m_fakeWns->releaseStalled();
    }

    void answersEveryIqAfterAReconnect() {
        startComponent(10000);
        QSignalSpy connected(m_component.get(), &XmppComponent::connected);
        m_server->dropClient();
        QVERIFY(connected.wait(10000));
        QCOMPARE(m_component->reconnectCount(), 1);
        QCOMPARE(publish(QStringLiteral("after")), QStringLiteral("result"));
    }

    // SIGTERM's goodbye: a publish already accepted is answered before the
    // stream closes (here `wait`, as WNS never answers it), then the server
    // sees the stream end.
    void answersAcceptedPublishesBeforeClosing() {
        startComponent(20000);
        m_fakeWns->scriptChannel(FakeWns::channelPath(QStringLiteral("dev")), {FakeWns::stalled()});
        QSignalSpy atWns(m_fakeWns.get(), &FakeWns::channelRequestReceived);
        m_server->sendRaw(publishXml(m_account.node, m_account.secret, QStringLiteral("last")));
        QVERIFY(atWns.wait());
        QSignalSpy gone(m_server.get(), &FakeXmppServer::clientGone);
        QSignalSpy stopped(m_component.get(), &XmppComponent::stopped);
        m_component->shutdown();
        QVERIFY(stopped.wait(15000));
        QVERIFY(gone.size() == 1 || gone.wait());
        QString verdict;
        for (const XmlElement &stanza : m_server->received()) {
            if (stanza.attribute(QStringLiteral("id")) == QLatin1String("last"))
                verdict = verdictOf(stanza);
        }
        QCOMPARE(verdict, QStringLiteral("wait/internal-server-error"));
        QVERIFY(!m_component->isConnected());
        m_fakeWns->releaseStalled();
    }

    // Any user can make its server relay a large IQ to the component (Prosody
    // relays up to 256 KiB from its users, 512 KiB from other servers): it is
    // answered like any other, and one over our limit is answered with an
    // error and skipped. The link stays up either way.
    void answersLargeStanzasWithoutDroppingTheLink() {
        startComponent(10000);
        QSignalSpy disconnected(m_component.get(), &XmppComponent::disconnected);
        const QByteArray filler(500 * 1024, 'a');
        m_server->sendRaw("<iq type='get' id='big' from='example.org' to='push.example.org'>"
                          "<query xmlns='urn:example:big'>" +
                          filler + "</query></iq>");
        QCOMPARE(answerTo(QStringLiteral("big")), QStringLiteral("cancel/service-unavailable"));
        m_server->sendRaw("<iq type='get' id='huge' from='example.org' to='push.example.org'>"
                          "<query xmlns='urn:example:big'>" +
                          filler.repeated(3) + "</query></iq>");
        QCOMPARE(answerTo(QStringLiteral("huge")), QStringLiteral("modify/policy-violation"));
        // Not well-formed inside its tags (an undeclared entity): skipped too.
        m_server->sendRaw("<iq type='get' id='odd' from='example.org' to='push.example.org'>"
                          "<query xmlns='urn:example:odd'>&unknown;</query></iq>");
        QCOMPARE(answerTo(QStringLiteral("odd")), QStringLiteral("modify/bad-request"));
        QCOMPARE(publish(QStringLiteral("after")), QStringLiteral("result"));
        QCOMPARE(disconnected.size(), 0);
    }

    // A start tag may declare thousands of namespaces: over 64 attributes
    // the IQ is skipped, but still answered, and the link stays up.
    void answersAnIqOfThousandsOfNamespaceDeclarations() {
        startComponent(10000);
        QSignalSpy disconnected(m_component.get(), &XmppComponent::disconnected);
        QByteArray declarations;
        for (int i = 0; i < 3000; ++i)
            declarations +=
                " xmlns:n" + QByteArray::number(i) + "='urn:example:" + QByteArray::number(i) + "'";
        m_server->sendRaw("<iq type='get' id='ns3000' from='example.org' to='push.example.org'" +
                          declarations + "><query xmlns='urn:example:q'/></iq>");
        QCOMPARE(answerTo(QStringLiteral("ns3000")), QStringLiteral("modify/policy-violation"));
        QCOMPARE(publish(QStringLiteral("after")), QStringLiteral("result"));
        QCOMPARE(disconnected.size(), 0);
    }

    // A server gone wrong starts an IQ and never ends it (an attribute value
    // never closed). Skipping it for ever would leave the link deaf to every
    // publish behind it: past 16 MiB it is answered, the stream fails and
    // the link reconnects at once, and publishes are served again.
    void reconnectsPastAStanzaThatNeverEnds() {
        startComponent(10000);
        QSignalSpy disconnected(m_component.get(), &XmppComponent::disconnected);
        QSignalSpy connected(m_component.get(), &XmppComponent::connected);
        m_server->sendRaw("<iq type='get' id='endless' from='example.org' to='push.example.org'>"
                          "<query xmlns='urn:example:q' a='" +
                          QByteArray(17 * 1024 * 1024, 'a'));
        QVERIFY(disconnected.wait(10000));
        QCOMPARE(answerTo(QStringLiteral("endless")), QStringLiteral("modify/policy-violation"));
        QVERIFY(connected.size() == 1 || connected.wait(10000));
        QCOMPARE(publish(QStringLiteral("after")), QStringLiteral("result"));
    }

    // A server that sends requests but does not read our answers: the
    // component stops reading it (TCP holds the rest back) instead of
    // queueing answers without bound, and answers every one once the server
    // reads again.
    void stopsReadingAServerThatDoesNotReadItsAnswers() {
        startComponent(10000);
        m_server->setReading(false);
        // Each answer echoes its request's 20 KB payload (RFC 6120 §8.3.1).
        constexpr int kPings = 2500;
        const QByteArray payload(20000, 'p');
        QByteArray pings;
        for (int i = 0; i < kPings; ++i)
            pings += "<iq type='get' id='f" + QByteArray::number(i) +
                     "' from='example.org' to='push.example.org'><q xmlns='urn:example:q'>" +
                     payload + "</q></iq>";
        m_server->sendRaw(pings);
        // Once the component stops reading, what the server sends stays with
        // the server: without back-pressure it would all be read (and the
        // answers queued in the component's memory).
        qint64 last = -1;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                const qint64 now = m_server->unsentBytes();
                const bool settled = now == last && now > 1024 * 1024;
                last = now;
                return settled;
            }(),
            20000);
        QVERIFY(m_component->isConnected());
        m_server->setReading(true);
        QTRY_VERIFY_WITH_TIMEOUT(m_server->received().size() >= kPings, 60000);
        QCOMPARE(m_server->received().last().attribute(QStringLiteral("id")),
                 QStringLiteral("f%1").arg(kPings - 1));
    }
};

QTEST_GUILESS_MAIN(XmppComponentTest)
#include "tst_xmppcomponent.moc"

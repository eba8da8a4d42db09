// The XEP-0357 publish path and the IQ router: every row of the reply table
// (docs/protocol.md), domain learning, the publish timeout, the per-node rate limit, and
// the other IQs. First against a scripted WNS (exact control over verdicts
// and their timing), then end to end: fake XMPP server -> component -> real
// WnsClient -> fake WNS.

#include "fakewns.h"
#include "fakexmppserver.h"
#include "iqrouter.h"
#include "payload.h"
#include "storage.h"
#include "storageconnection.h"
#include "storageresults.h"
#include "testpki.h"
#include "wnsclient.h"
#include "xmppcomponent.h"

#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;
using uwpx::test::FakeWns;
using uwpx::test::FakeXmppServer;

namespace {

const QString kComponent = QStringLiteral("push.example.org");
const QString kDeviceV2 = QStringLiteral("00112233445566778899aabbccddeeff");
const QString kDeviceV1 = QStringLiteral("ffeeddccbbaa99887766554433221100");
const QString kChannel = QStringLiteral("https://db5p.notify.windows.com/?token=AwYAAAB");

// A publish the way ejabberd/Prosody shape it; `secret` null leaves out
// publish-options altogether.
// A publish with the summary form's fields as given (the XML of its
// <field>s), or without any summary form when `fields` is null (ejabberd).
QByteArray publishWithSummary(const QString &node, const QString &secret,
                              const QByteArray &fields) {
    QByteArray summary;
    if (!fields.isNull())
        summary = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
                  "<value>urn:xmpp:push:summary</value></field>" +
                  fields + "</x>";
    return "<iq type='set' from='example.org' to='push.example.org' id='pub-s'>"
           "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" +
           node.toUtf8() + "'><item><notification xmlns='urn:xmpp:push:0'>" + summary +
           "</notification></item></publish><publish-options><x xmlns='jabber:x:data' "
           "type='submit'><field var='FORM_TYPE'><value>"
           "http://jabber.org/protocol/pubsub#publish-options</value></field>"
           "<field var='secret'><value>" +
           secret.toUtf8() + "</value></field></x></publish-options></pubsub></iq>";
}

QByteArray publishXml(const QString &node, const QString &secret,
                      const QString &from = QStringLiteral("example.org"),
                      const QString &id = QStringLiteral("pub-1"), int messageCount = 3) {
    QByteArray xml =
        "<iq type='set' from='" + from.toUtf8() + "' to='push.example.org' id='" + id.toUtf8() +
        "'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" + node.toUtf8() +
        "'><item><notification xmlns='urn:xmpp:push:0'>"
        "<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'>"
        "<value>urn:xmpp:push:summary</value></field><field var='message-count'>"
        "<value>" +
        QByteArray::number(messageCount) +
        "</value></field><field var='last-message-sender'>"
        "<value>romeo@example.org/orchard</value></field>"
        "<field var='last-message-body'><value>Wherefore art thou</value></field>"
        "</x></notification></item></publish>";
    if (!secret.isNull())
        xml += "<publish-options><x xmlns='jabber:x:data' type='submit'>"
               "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options"
               "</value></field><field var='secret'><value>" +
               secret.toUtf8() + "</value></field></x></publish-options>";
    return xml + "</pubsub></iq>";
}

XmlElement parse(const QByteArray &xml) {
    StanzaReader reader;
    QSignalSpy stanzas(&reader, &StanzaReader::stanzaReceived);
    reader.addData("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                   "xmlns='jabber:component:accept' id='x'>" +
                   xml);
    return stanzas.isEmpty() ? XmlElement() : stanzas.first().at(0).value<XmlElement>();
}

// "result", or "<error type>/<condition>".
QString verdictOf(const XmlElement &reply) {
    const QString type = reply.attribute(QStringLiteral("type"));
    if (type != QLatin1String("error"))
        return type;
    const XmlElement *error = reply.firstChild(QStringLiteral("error"));
    if (!error || !error->firstChildElement())
        return QStringLiteral("error without condition");
    const XmlElement *condition = error->firstChildElement();
    if (condition->namespaceUri() != QLatin1String("urn:ietf:params:xml:ns:xmpp-stanzas"))
        return QStringLiteral("condition in the wrong namespace");
    return error->attribute(QStringLiteral("type")) + QLatin1Char('/') + condition->name();
}

// A WNS stand-in whose verdicts the test hands out.
struct ScriptedWns {
    QList<WnsNotification> sent;
    QList<WnsClient::Done> waiting;
    std::optional<WnsResult> autoAnswer;

    PushPublisher::Sender sender() {
        return [this](const WnsNotification &notification, WnsClient::Done done) {
            sent.append(notification);
            if (autoAnswer)
                done(*autoAnswer);
            else
                waiting.append(std::move(done));
        };
    }
    void answerNext(WnsResult::Outcome outcome, int status = 0, bool throttled = false) {
        waiting.takeFirst()(WnsResult{outcome, status, QStringLiteral("scripted"), throttled});
    }
};

WnsResult result(WnsResult::Outcome outcome, int status = 200) {
    return WnsResult{outcome, status, QStringLiteral("scripted")};
}

} // namespace

class PublishTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_counter = 0;
    QString m_dbPath;
    std::unique_ptr<StorageConnection> m_store; // the fixture, read and written directly
    std::unique_ptr<Storage> m_storage;         // what the code under test uses
    AccountCredentials m_v2;                    // domain not learned yet
    AccountCredentials m_v1;                    // domain example.org
    AccountCredentials m_other;

    ScriptedWns m_wns;
    std::unique_ptr<PushPublisher> m_publisher;
    std::unique_ptr<IqRouter> m_router;
    std::unique_ptr<QSignalSpy> m_replies;
    std::unique_ptr<QSignalSpy> m_answered; // publishAnswered of m_router

    void makeRouter(int publishTimeoutMs = 5000, int rateWindowMs = 0) {
        m_answered.reset();
        m_replies.reset();
        m_router.reset();
        m_publisher = std::make_unique<PushPublisher>(
            *m_storage, m_wns.sender(), PushPublisher::Options{publishTimeoutMs, rateWindowMs});
        m_router = std::make_unique<IqRouter>(kComponent, *m_publisher);
        m_replies = std::make_unique<QSignalSpy>(m_router.get(), &IqRouter::reply);
        m_answered = std::make_unique<QSignalSpy>(m_router.get(), &IqRouter::publishAnswered);
    }

    XmlElement lastReply() const { return m_replies->last().at(0).value<XmlElement>(); }

    // Routes one stanza and returns the reply's verdict once it is there.
    QString route(const QByteArray &xml) {
        const qsizetype before = m_replies->size();
        m_router->route(parse(xml));
        if (m_replies->size() == before && !m_replies->wait(10000))
            return QStringLiteral("no reply");
        return verdictOf(lastReply());
    }

    // Publishes answered with this outcome so far.
    quint64 count(PublishOutcome outcome) const {
        return quint64(std::count_if(m_answered->cbegin(), m_answered->cend(),
                                     [outcome](const QList<QVariant> &arguments) {
                                         return arguments.at(0).value<PublishOutcome>() == outcome;
                                     }));
    }

private Q_SLOTS:
    void initTestCase() {
        qRegisterMetaType<uwpx::XmlElement>();
        qRegisterMetaType<uwpx::PublishOutcome>();
        QVERIFY(m_dir.isValid());
    }

    void init() {
        StorageSettings settings;
        settings.path = m_dir.filePath(QStringLiteral("db%1/push.db").arg(++m_counter));
        m_dbPath = settings.path;
        QString error;
        m_store = StorageConnection::open(settings, &error);
        QVERIFY2(m_store, qPrintable(error));
        m_storage = Storage::open(settings, &error);
        QVERIFY2(m_storage, qPrintable(error));
        QVERIFY(m_store->setChannelUri(kDeviceV2, kChannel, 2).isOk());
        QVERIFY(m_store->setChannelUri(kDeviceV1, kChannel + QStringLiteral("v1"), 1).isOk());
        QList<AccountCredentials> credentials;
        QCOMPARE(test::setAccounts(*m_store, kDeviceV2, 2,
                                   {AccountSpec{QStringLiteral("acct-1"), QString()},
                                    AccountSpec{QStringLiteral("acct-2"), QString()}},
                                   &credentials),
                 StorageStatus::Ok);
        m_v2 = credentials.at(0);
        m_other = credentials.at(1);
        QCOMPARE(test::setAccounts(
                     *m_store, kDeviceV1, 1,
                     {AccountSpec{QStringLiteral("ab12cd"), QStringLiteral("example.org")}},
                     &credentials),
                 StorageStatus::Ok);
        m_v1 = credentials.at(0);
        m_wns = ScriptedWns();
        m_wns.autoAnswer = result(WnsResult::Outcome::Delivered);
        makeRouter();
    }

    void cleanup() {
        m_answered.reset();
        m_replies.reset();
        m_router.reset();
        m_publisher.reset();
        m_storage.reset();
        m_store.reset();
    }

    void deliversAndAnswersResult() {
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)), QStringLiteral("result"));
        const XmlElement reply = lastReply();
        QCOMPARE(reply.attribute(QStringLiteral("id")), QStringLiteral("pub-1"));
        QCOMPARE(reply.attribute(QStringLiteral("to")), QStringLiteral("example.org"));
        QCOMPARE(reply.attribute(QStringLiteral("from")), kComponent);
        QVERIFY(reply.children().isEmpty());

        QCOMPARE(m_wns.sent.size(), 1);
        const WnsNotification sent = m_wns.sent.first();
        QCOMPARE(sent.channelUri, kChannel + QStringLiteral("v1"));
        QCOMPARE(sent.coalesceKey, m_v1.node);
        QCOMPARE(sent.deviceId, kDeviceV1);
        QCOMPARE(sent.payload, payload::forPublish(1, QStringLiteral("ab12cd"), 3, 0));
        // The body and sender never leave.
        QVERIFY(!sent.payload.contains("Wherefore"));
        QVERIFY(!sent.payload.contains("romeo"));
        QCOMPARE(count(PublishOutcome::Delivered), 1u);
    }

    // A delivered push keeps the device alive (docs/protocol.md); a refused one does not.
    void reportsTheDevicesWnsAccepted() {
        QSignalSpy reached(m_publisher.get(), &PushPublisher::deviceReached);
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)), QStringLiteral("result"));
        QCOMPARE(reached.size(), 1);
        QCOMPARE(reached.first().at(0).toString(), kDeviceV1);
        PushTarget target;
        QCOMPARE(test::findByNode(*m_store, m_v1.node, &target), StorageStatus::Ok);
        QCOMPARE(reached.first().at(1).toDateTime(), target.deviceRefreshedAt);

        for (auto outcome : {WnsResult::Outcome::Gone, WnsResult::Outcome::Transient,
                             WnsResult::Outcome::Permanent}) {
            m_wns.autoAnswer = result(outcome, 0);
            QVERIFY(route(publishXml(m_v1.node, m_v1.secret)) != QStringLiteral("result"));
        }
        QCOMPARE(reached.size(), 1);
    }

    void learnsAV2DomainFromTheFirstAcceptedPublish() {
        // A wrong secret teaches nothing.
        QCOMPARE(route(publishXml(m_v2.node, QStringLiteral("nope"), QStringLiteral("evil.org"))),
                 QStringLiteral("auth/forbidden"));
        PushTarget target;
        QCOMPARE(test::findByNode(*m_store, m_v2.node, &target), StorageStatus::Ok);
        QVERIFY(target.domain.isEmpty());

        QCOMPARE(route(publishXml(m_v2.node, m_v2.secret, QStringLiteral("Example.org"))),
                 QStringLiteral("result"));
        // Stored behind the answer: the publish does not wait for it.
        QTRY_VERIFY(test::findByNode(*m_store, m_v2.node, &target) == StorageStatus::Ok &&
                    target.domain == QStringLiteral("example.org"));
        QCOMPARE(m_wns.sent.last().payload, payload::forPublish(2, QStringLiteral("acct-1"), 3, 0));

        // From then on, only that domain may publish.
        QCOMPARE(route(publishXml(m_v2.node, m_v2.secret, QStringLiteral("evil.org"))),
                 QStringLiteral("auth/forbidden"));
        QCOMPARE(route(publishXml(m_v2.node, m_v2.secret, QStringLiteral("example.org"))),
                 QStringLiteral("result"));
    }

    void answersUnknownNodeItemNotFound() {
        QCOMPARE(route(publishXml(QStringLiteral("no-such-node"), m_v1.secret)),
                 QStringLiteral("cancel/item-not-found"));
        // The error carries the original payload back.
        const XmlElement reply = lastReply();
        QVERIFY(reply.firstChild(QStringLiteral("pubsub"),
                                 QStringLiteral("http://jabber.org/protocol/pubsub")));
        QCOMPARE(reply.attribute(QStringLiteral("id")), QStringLiteral("pub-1"));
        QCOMPARE(count(PublishOutcome::UnknownNode), 1u);
        QVERIFY(m_wns.sent.isEmpty());
    }

    void answersForbiddenForAWrongOrMissingSecretOrDomain_data() {
        QTest::addColumn<QString>("secret");
        QTest::addColumn<QString>("from");
        QTest::newRow("wrong secret") << QStringLiteral("wrong") << QStringLiteral("example.org");
        QTest::newRow("another node's secret") << QString() << QStringLiteral("example.org");
        QTest::newRow("missing secret")
            << QStringLiteral("<none>") << QStringLiteral("example.org");
        QTest::newRow("empty secret") << QStringLiteral("") << QStringLiteral("example.org");
        QTest::newRow("wrong domain") << QStringLiteral("<right>") << QStringLiteral("evil.org");
        QTest::newRow("subdomain")
            << QStringLiteral("<right>") << QStringLiteral("sub.example.org");
    }
    void answersForbiddenForAWrongOrMissingSecretOrDomain() {
        QFETCH(QString, secret);
        QFETCH(QString, from);
        if (secret.isNull())
            secret = m_other.secret;
        else if (secret == QLatin1String("<right>"))
            secret = m_v1.secret;
        else if (secret == QLatin1String("<none>"))
            secret = QString();
        QCOMPARE(route(publishXml(m_v1.node, secret, from)), QStringLiteral("auth/forbidden"));
        QCOMPARE(count(PublishOutcome::Forbidden), 1u);
        QVERIFY(m_wns.sent.isEmpty());
    }

    void answersMalformedPublishesBadRequest() {
        QByteArray noNode = publishXml(m_v1.node, m_v1.secret);
        noNode.replace("node='" + m_v1.node.toUtf8() + "'", "");
        QCOMPARE(route(noNode), QStringLiteral("modify/bad-request"));
        QByteArray noNotification = publishXml(m_v1.node, m_v1.secret);
        noNotification.replace("urn:xmpp:push:0", "urn:example:other");
        QCOMPARE(route(noNotification), QStringLiteral("modify/bad-request"));
        QCOMPARE(count(PublishOutcome::BadRequest), 2u);
    }

    void mapsEveryWnsVerdict_data() {
        QTest::addColumn<int>("outcome");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<int>("counted");
        QTest::addColumn<bool>("throttled"); // as WnsClient says it
        QTest::newRow("200") << int(WnsResult::Outcome::Delivered) << 200
                             << QStringLiteral("result") << int(PublishOutcome::Delivered) << false;
        // The device is suspended, not forgotten: `wait` keeps the user's
        // registration for the day it comes back with a new channel.
        QTest::newRow("410 gone") << int(WnsResult::Outcome::Gone) << 410
                                  << QStringLiteral("wait/recipient-unavailable")
                                  << int(PublishOutcome::Gone) << false;
        QTest::newRow("503") << int(WnsResult::Outcome::Transient) << 503
                             << QStringLiteral("wait/internal-server-error")
                             << int(PublishOutcome::Transient) << false;
        QTest::newRow("no token") << int(WnsResult::Outcome::Transient) << 0
                                  << QStringLiteral("wait/internal-server-error")
                                  << int(PublishOutcome::Transient) << false;
        QTest::newRow("429") << int(WnsResult::Outcome::Transient) << 429
                             << QStringLiteral("wait/resource-constraint")
                             << int(PublishOutcome::Transient) << true;
        QTest::newRow("406") << int(WnsResult::Outcome::Transient) << 406
                             << QStringLiteral("wait/resource-constraint")
                             << int(PublishOutcome::Transient) << true;
        QTest::newRow("200 channelthrottled")
            << int(WnsResult::Outcome::Transient) << 200
            << QStringLiteral("wait/resource-constraint") << int(PublishOutcome::Transient) << true;
        // Our fault, never a reason for ejabberd to drop the user's push.
        QTest::newRow("403 permanent") << int(WnsResult::Outcome::Permanent) << 403
                                       << QStringLiteral("wait/internal-server-error")
                                       << int(PublishOutcome::Transient) << false;
    }
    void mapsEveryWnsVerdict() {
        QFETCH(int, outcome);
        QFETCH(int, status);
        QFETCH(QString, expected);
        QFETCH(int, counted);
        QFETCH(bool, throttled);
        m_wns.autoAnswer.reset();
        m_router->route(parse(publishXml(m_v1.node, m_v1.secret)));
        QTRY_COMPARE(m_wns.waiting.size(), 1);
        QCOMPARE(m_replies->size(), 0); // waits for WNS
        m_wns.answerNext(WnsResult::Outcome(outcome), status, throttled);
        QCOMPARE(m_replies->size(), 1);
        QCOMPARE(verdictOf(lastReply()), expected);
        QCOMPARE(count(PublishOutcome(counted)), 1u);
    }

    // WNS said the channel is gone: the device keeps its accounts, and its
    // publishes are answered `wait` with no WNS request until it sends a new
    // channel (docs/protocol.md, "A device's life").
    void answersWaitForASuspendedDeviceWithoutAskingWns() {
        QCOMPARE(test::valueOf(m_store->suspendDevice(kDeviceV1, kChannel + QStringLiteral("v1"))),
                 true);
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)),
                 QStringLiteral("wait/recipient-unavailable"));
        QCOMPARE(count(PublishOutcome::Suspended), 1u);
        // The secret is still checked first.
        QCOMPARE(route(publishXml(m_v1.node, QStringLiteral("guess"))),
                 QStringLiteral("auth/forbidden"));
        QVERIFY(m_wns.sent.isEmpty());

        const QString fresh = kChannel + QStringLiteral("v1-new");
        QCOMPARE(test::valueOf(m_store->setChannelUri(kDeviceV1, fresh, 1)), true);
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)), QStringLiteral("result"));
        QCOMPARE(m_wns.sent.size(), 1);
        QCOMPARE(m_wns.sent.first().channelUri, fresh);
    }

    // Raw notifications default to low priority, which Windows holds back
    // while the device sleeps on battery: anything that may be a message
    // goes out high, subscription requests alone medium.
    void choosesThePriorityByWhatThePublishAnnounces_data() {
        QTest::addColumn<QByteArray>("fields");
        QTest::addColumn<int>("priority");
        const auto field = [](const char *var, const char *value) {
            return QByteArray("<field var='") + var + "'><value>" + value + "</value></field>";
        };
        QTest::newRow("Prosody: message-count 1, New Message!")
            << field("message-count", "1") + field("pending-subscription-count", "") +
                   field("last-message-body", "New Message!")
            << int(WnsPriority::High);
        QTest::newRow("ejabberd: no message-count, a body")
            << field("last-message-body", "New message") << int(WnsPriority::High);
        QTest::newRow("ejabberd: no summary at all") << QByteArray() << int(WnsPriority::High);
        QTest::newRow("a sender only")
            << field("last-message-sender", "juliet@example.org") << int(WnsPriority::High);
        QTest::newRow("subscription requests only")
            << field("message-count", "0") + field("pending-subscription-count", "2")
            << int(WnsPriority::Medium);
        QTest::newRow("messages and subscription requests")
            << field("message-count", "1") + field("pending-subscription-count", "2")
            << int(WnsPriority::High);
    }
    void choosesThePriorityByWhatThePublishAnnounces() {
        QFETCH(QByteArray, fields);
        QFETCH(int, priority);
        QCOMPARE(route(publishWithSummary(m_v1.node, m_v1.secret, fields)),
                 QStringLiteral("result"));
        QCOMPARE(m_wns.sent.size(), 1);
        QCOMPARE(int(m_wns.sent.first().priority), priority);
    }

    void answersWaitWhenWnsIsTooSlow() {
        makeRouter(/*publishTimeoutMs=*/100);
        m_wns.autoAnswer.reset();
        QElapsedTimer clock;
        clock.start();
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)),
                 QStringLiteral("wait/internal-server-error"));
        QVERIFY(clock.elapsed() >= 90);
        // The late verdict is ignored: still exactly one reply.
        m_wns.answerNext(WnsResult::Outcome::Delivered, 200);
        QCOMPARE(m_replies->size(), 1);
        QCOMPARE(count(PublishOutcome::Transient), 1u);
        QCOMPARE(count(PublishOutcome::Delivered), 0u);
    }

    void answersWaitWhenStorageFails() {
        // Drop a table behind Storage's back: every lookup now fails.
        {
            QSqlDatabase db =
                QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("saboteur"));
            db.setDatabaseName(m_dbPath);
            QVERIFY(db.open());
            QSqlQuery query(db);
            QVERIFY(query.exec(QStringLiteral("DROP TABLE accounts")));
        }
        QSqlDatabase::removeDatabase(QStringLiteral("saboteur"));
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)),
                 QStringLiteral("wait/internal-server-error"));
        QCOMPARE(count(PublishOutcome::Transient), 1u);
    }

    void coalescesPublishesWithinTheRateWindow() {
        makeRouter(5000, /*rateWindowMs=*/200);
        m_wns.autoAnswer.reset();
        m_router->route(parse(publishXml(m_v1.node, m_v1.secret, QStringLiteral("example.org"),
                                         QStringLiteral("a"), 1)));
        QTRY_COMPARE(m_wns.sent.size(), 1);
        // Inside the window: answered at once, nothing sent yet.
        for (int i = 2; i <= 4; ++i)
            QCOMPARE(route(publishXml(m_v1.node, m_v1.secret, QStringLiteral("example.org"),
                                      QStringLiteral("c%1").arg(i), i)),
                     QStringLiteral("result"));
        QCOMPARE(m_wns.sent.size(), 1);
        QCOMPARE(count(PublishOutcome::Coalesced), 3u);
        // Refusals are not coalesced.
        QCOMPARE(route(publishXml(m_v1.node, QStringLiteral("bad"))),
                 QStringLiteral("auth/forbidden"));
        // Another node has its own window.
        m_router->route(parse(publishXml(m_v2.node, m_v2.secret, QStringLiteral("example.org"),
                                         QStringLiteral("o"))));
        QTRY_COMPARE(m_wns.sent.size(), 2);

        m_wns.answerNext(WnsResult::Outcome::Delivered, 200);
        QCOMPARE(verdictOf(lastReply()), QStringLiteral("result"));
        QCOMPARE(lastReply().attribute(QStringLiteral("id")), QStringLiteral("a"));
        m_wns.answerNext(WnsResult::Outcome::Delivered, 200);
        QCOMPARE(lastReply().attribute(QStringLiteral("id")), QStringLiteral("o"));

        // One trailing send with the latest counts at the end of the window.
        QTRY_COMPARE(m_wns.sent.size(), 3);
        QCOMPARE(m_wns.sent.last().payload, payload::forPublish(1, QStringLiteral("ab12cd"), 4, 0));
        QCOMPARE(m_wns.sent.last().coalesceKey, m_v1.node);
    }

    void sendsAgainAfterTheWindow() {
        makeRouter(5000, /*rateWindowMs=*/50);
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)), QStringLiteral("result"));
        QCOMPARE(count(PublishOutcome::Delivered), 1u);
        QTest::qWait(80); // let the window pass: this is the behaviour under test
        QCOMPARE(route(publishXml(m_v1.node, m_v1.secret)), QStringLiteral("result"));
        QCOMPARE(count(PublishOutcome::Delivered), 2u);
        QCOMPARE(count(PublishOutcome::Coalesced), 0u);
        QCOMPARE(m_wns.sent.size(), 2);
    }

    void answersDiscoInfo() {
        QCOMPARE(route("<iq type='get' id='d1' from='example.org' to='push.example.org'>"
                       "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
                 QStringLiteral("result"));
        const XmlElement *query = lastReply().firstChild(
            QStringLiteral("query"), QStringLiteral("http://jabber.org/protocol/disco#info"));
        QVERIFY(query);
        const XmlElement *identity = query->firstChild(QStringLiteral("identity"));
        QVERIFY(identity);
        QCOMPARE(identity->attribute(QStringLiteral("category")), QStringLiteral("pubsub"));
        QCOMPARE(identity->attribute(QStringLiteral("type")), QStringLiteral("push"));
        QStringList features;
        for (const XmlElement *feature : query->childrenNamed(QStringLiteral("feature")))
            features << feature->attribute(QStringLiteral("var"));
        QVERIFY(features.contains(QStringLiteral("urn:xmpp:push:0")));
        QVERIFY(features.contains(QStringLiteral("http://jabber.org/protocol/disco#info")));
        // Serialised, the namespace is declared exactly where it applies.
        QVERIFY(lastReply()
                    .toXml(QStringLiteral("jabber:component:accept"))
                    .startsWith("<iq type='result' from='push.example.org' to='example.org' "
                                "id='d1'><query xmlns='http://jabber.org/protocol/disco#info'>"));
    }

    void answersPings() {
        QCOMPARE(route("<iq type='get' id='p' from='example.org' to='push.example.org'>"
                       "<ping xmlns='urn:xmpp:ping'/></iq>"),
                 QStringLiteral("result"));
        QCOMPARE(lastReply().attribute(QStringLiteral("id")), QStringLiteral("p"));
    }

    void refusesOtherRequests() {
        QCOMPARE(route("<iq type='get' id='v' from='example.org' to='push.example.org'>"
                       "<query xmlns='jabber:iq:version'/></iq>"),
                 QStringLiteral("cancel/service-unavailable"));
        QVERIFY(
            lastReply().firstChild(QStringLiteral("query"), QStringLiteral("jabber:iq:version")));
        QCOMPARE(route("<iq type='set' id='s' from='example.org' to='push.example.org'>"
                       "<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='x'/>"
                       "</pubsub></iq>"),
                 QStringLiteral("cancel/service-unavailable"));
        QCOMPARE(route("<iq type='get' id='e' from='example.org' to='push.example.org'/>"),
                 QStringLiteral("modify/bad-request"));
        QCOMPARE(route("<iq type='bogus' id='b' from='example.org'><ping xmlns='urn:xmpp:ping'/>"
                       "</iq>"),
                 QStringLiteral("modify/bad-request"));
    }

    void consumesAnswersMessagesAndPresences() {
        m_router->route(parse("<iq type='result' id='keepalive-1' from='example.org'/>"));
        m_router->route(parse("<iq type='error' id='keepalive-2' from='example.org'><error "
                              "type='cancel'><service-unavailable "
                              "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
        m_router->route(parse("<message from='a@example.org' to='push.example.org'><body>hi"
                              "</body></message>"));
        m_router->route(parse("<presence from='a@example.org' to='push.example.org'/>"));
        QCOMPARE(m_replies->size(), 0);
    }
};

QTEST_GUILESS_MAIN(PublishTest)
#include "tst_publish.moc"

// Reading XEP-0357 publishes in the shapes Prosody 0.12 and ejabberd 23.01
// really send (docs/xmpp-servers.md), and refusing malformed ones.

#include "publishrequest.h"
#include "stanzareader.h"

#include <QSignalSpy>
#include <QTest>

using namespace uwpx;

namespace {

XmlElement parseStanza(const QByteArray &xml) {
    StanzaReader reader;
    QSignalSpy stanzas(&reader, &StanzaReader::stanzaReceived);
    QSignalSpy failed(&reader, &StanzaReader::failed);
    reader.addData("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                   "xmlns='jabber:component:accept' id='x'>" +
                   xml);
    if (!failed.isEmpty())
        qWarning() << failed.first();
    return stanzas.isEmpty() ? XmlElement() : stanzas.first().at(0).value<XmlElement>();
}

const QByteArray kOptions =
    "<publish-options><x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE' type='hidden'>"
    "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
    "<field var='secret'><value>s3cr3t</value></field></x></publish-options>";

// Prosody: summary form of type 'form', message-count 1, empty counts and
// sender, a placeholder body.
const QByteArray kProsody =
    "<iq id='lx7' to='push.example.org' type='set' from='example.org'>"
    "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='node-1'><item>"
    "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'>"
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>"
    "<field var='message-count'><value>1</value></field>"
    "<field var='pending-subscription-count'><value/></field>"
    "<field var='last-message-sender'><value/></field>"
    "<field var='last-message-body'><value>New Message!</value></field>"
    "</x></notification></item></publish>" +
    kOptions + "</pubsub></iq>";

// ejabberd: type 'submit' with labels, no message-count.
const QByteArray kEjabberd =
    "<iq xml:lang='en' to='push.example.org' from='Example.ORG' type='set' id='9f2'>"
    "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='node-1'><item>"
    "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>"
    "<field label='Pending subscriptions' var='pending-subscription-count'>"
    "<value>2</value></field>"
    "<field var='last-message-sender' label='Last message sender'>"
    "<value>juliet@example.org/balcony</value></field>"
    "<field label='Last message body' var='last-message-body'><value>New message</value></field>"
    "</x></notification></item></publish>"
    "<publish-options><x type='submit' xmlns='jabber:x:data'>"
    "<field type='hidden' var='FORM_TYPE'>"
    "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
    "<field var='secret'><value>s3cr3t</value></field></x></publish-options></pubsub></iq>";

// ejabberd's keepalive wake-up and its no-include-options case: no form at all.
const QByteArray kEjabberdBare =
    "<iq type='set' id='w1' from='example.org' to='push.example.org'>"
    "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='node-1'><item>"
    "<notification xmlns='urn:xmpp:push:0'/></item></publish>" +
    kOptions + "</pubsub></iq>";

} // namespace

class PublishRequestTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readsProsodysPublish() {
        const XmlElement iq = parseStanza(kProsody);
        QVERIFY(PublishRequest::isPublish(iq));
        QString why;
        const auto request = PublishRequest::parse(iq, &why);
        QVERIFY2(request, qPrintable(why));
        QCOMPARE(request->id, QStringLiteral("lx7"));
        QCOMPARE(request->node, QStringLiteral("node-1"));
        QCOMPARE(request->secret, QStringLiteral("s3cr3t"));
        QCOMPARE(request->senderDomain, QStringLiteral("example.org"));
        QCOMPARE(request->messageCount, 1);
        QCOMPARE(request->pendingSubscriptionCount, 0); // empty value
    }

    void readsEjabberdsPublish() {
        const XmlElement iq = parseStanza(kEjabberd);
        QString why;
        const auto request = PublishRequest::parse(iq, &why);
        QVERIFY2(request, qPrintable(why));
        QCOMPARE(request->messageCount, 0); // left out
        QCOMPARE(request->pendingSubscriptionCount, 2);
        QCOMPARE(request->secret, QStringLiteral("s3cr3t"));
        QCOMPARE(request->senderDomain, QStringLiteral("example.org")); // lowercased
    }

    void readsAPublishWithoutASummary() {
        QString why;
        const auto request = PublishRequest::parse(parseStanza(kEjabberdBare), &why);
        QVERIFY2(request, qPrintable(why));
        QCOMPARE(request->messageCount, 0);
        QCOMPARE(request->pendingSubscriptionCount, 0);
        QCOMPARE(request->secret, QStringLiteral("s3cr3t"));
    }

    void treatsUnreadableCountsAsZero_data() {
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<int>("expected");
        QTest::newRow("number") << QByteArray("<value>7</value>") << 7;
        QTest::newRow("spaces") << QByteArray("<value> 3 </value>") << 3;
        QTest::newRow("empty") << QByteArray("<value></value>") << 0;
        QTest::newRow("no value") << QByteArray() << 0;
        QTest::newRow("word") << QByteArray("<value>many</value>") << 0;
        QTest::newRow("negative") << QByteArray("<value>-4</value>") << 0;
        QTest::newRow("overflow") << QByteArray("<value>99999999999999999999</value>") << 0;
    }
    void treatsUnreadableCountsAsZero() {
        QFETCH(QByteArray, value);
        QFETCH(int, expected);
        QByteArray xml = kProsody;
        xml.replace("<field var='message-count'><value>1</value></field>",
                    "<field var='message-count'>" + value + "</field>");
        QString why;
        const auto request = PublishRequest::parse(parseStanza(xml), &why);
        QVERIFY2(request, qPrintable(why));
        QCOMPARE(request->messageCount, expected);
    }

    void ignoresASummaryOfAnotherFormType() {
        QByteArray xml = kProsody;
        xml.replace("urn:xmpp:push:summary", "urn:example:other");
        const auto request = PublishRequest::parse(parseStanza(xml), nullptr);
        QVERIFY(request);
        QCOMPARE(request->messageCount, 0);
    }

    void findsTheSecretWithoutFormType() {
        QByteArray xml = kEjabberdBare;
        xml.replace("<value>http://jabber.org/protocol/pubsub#publish-options</value>", "");
        QString why;
        const auto request = PublishRequest::parse(parseStanza(xml), &why);
        QVERIFY2(request, qPrintable(why));
        QCOMPARE(request->secret, QStringLiteral("s3cr3t"));
    }

    void leavesTheSecretEmptyWhenMissing() {
        QByteArray xml = kEjabberdBare;
        xml.replace(kOptions, "");
        QString why;
        const auto request = PublishRequest::parse(parseStanza(xml), &why);
        QVERIFY2(request, qPrintable(why));
        QVERIFY(request->secret.isEmpty());
    }

    void refusesMalformedPublishes_data() {
        QTest::addColumn<QByteArray>("xml");
        QByteArray noNode = kEjabberdBare;
        noNode.replace(" node='node-1'", "");
        QTest::newRow("no node") << noNode;
        QByteArray emptyNode = kEjabberdBare;
        emptyNode.replace("node='node-1'", "node=''");
        QTest::newRow("empty node") << emptyNode;
        QByteArray noNotification = kEjabberdBare;
        noNotification.replace("<notification xmlns='urn:xmpp:push:0'/>", "");
        QTest::newRow("no notification") << noNotification;
        QByteArray wrongNs = kEjabberdBare;
        wrongNs.replace("urn:xmpp:push:0", "urn:xmpp:push:1");
        QTest::newRow("notification namespace") << wrongNs;
        QByteArray noItem = kEjabberdBare;
        noItem.replace("<item><notification xmlns='urn:xmpp:push:0'/></item>", "");
        QTest::newRow("no item") << noItem;
        QByteArray noFrom = kEjabberdBare;
        noFrom.replace(" from='example.org'", "");
        QTest::newRow("no sender") << noFrom;
    }
    void refusesMalformedPublishes() {
        QFETCH(QByteArray, xml);
        const XmlElement iq = parseStanza(xml);
        QVERIFY(!iq.isNull());
        QVERIFY(PublishRequest::isPublish(iq));
        QString why;
        QVERIFY(!PublishRequest::parse(iq, &why));
        QVERIFY(!why.isEmpty());
    }

    void recognisesWhatIsNotAPublish() {
        QVERIFY(!PublishRequest::isPublish(
            parseStanza("<iq type='get' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                        "<publish node='n'/></pubsub></iq>")));
        QVERIFY(!PublishRequest::isPublish(
            parseStanza("<iq type='set' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                        "<subscribe node='n'/></pubsub></iq>")));
        QVERIFY(!PublishRequest::isPublish(parseStanza("<message><body>x</body></message>")));
    }
};

QTEST_GUILESS_MAIN(PublishRequestTest)
#include "tst_publishrequest.moc"

// The incoming half of the XMPP stream: the stream header, stanzas split and
// coalesced anyhow, restricted XML, the stanza size limit, stream errors and
// the stream's end; and the outgoing half's escaping.

#include "stanzareader.h"
#include "xmlelement.h"

#include <QSignalSpy>
#include <QTest>

using namespace uwpx;

namespace {

const QByteArray kHeader =
    "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns='jabber:component:accept' from='push.example.org' id='a1b2c3'>";

// A publish the way Prosody sends it, with a non-ASCII body to split inside
// a UTF-8 sequence and escaped characters.
const QByteArray kPublish =
    "<iq type='set' to='push.example.org' from='example.org' id='p1'>"
    "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n1'><item>"
    "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'>"
    "<field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
    "<field var='message-count'><value>1</value></field>"
    "<field var='last-message-body'><value>Grüße &amp; &lt;3 — 😀</value></field>"
    "</x></notification></item></publish></pubsub></iq>";

// The stream header, then `stanza` in pieces of 1,000 bytes.
void readAfterHeader(StanzaReader &reader, const QByteArray &stanza) {
    reader.addData(kHeader);
    for (qsizetype offset = 0; offset < stanza.size(); offset += 1000)
        reader.addData(stanza.mid(offset, 1000));
}

struct Collector {
    explicit Collector(StanzaReader *reader)
        : opened(reader, &StanzaReader::streamOpened)
        , stanzas(reader, &StanzaReader::stanzaReceived)
        , streamErrors(reader, &StanzaReader::streamErrorReceived)
        , closed(reader, &StanzaReader::streamClosed)
        , failed(reader, &StanzaReader::failed)
        , rejected(reader, &StanzaReader::stanzaRejected) {}

    XmlElement stanza(int i) const { return stanzas.at(i).at(0).value<XmlElement>(); }
    QString failure() const {
        return failed.isEmpty() ? QString() : failed.first().at(0).toString();
    }

    QSignalSpy opened;
    QSignalSpy stanzas;
    QSignalSpy streamErrors;
    QSignalSpy closed;
    QSignalSpy failed;
    QSignalSpy rejected;

    XmlElement rejectedStanza(int i) const { return rejected.at(i).at(0).value<XmlElement>(); }
    QString rejectedWhy(int i) const { return rejected.at(i).at(2).toString(); }
};

} // namespace

class StanzaReaderTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { qRegisterMetaType<uwpx::XmlElement>(); }

    void readsTheStreamHeader() {
        StanzaReader reader;
        Collector c(&reader);
        reader.addData(kHeader);
        QCOMPARE(c.opened.size(), 1);
        const auto header = c.opened.first().at(0).value<XmlElement>();
        QCOMPARE(header.attribute(QStringLiteral("id")), QStringLiteral("a1b2c3"));
        QCOMPARE(header.attribute(QStringLiteral("from")), QStringLiteral("push.example.org"));
        QVERIFY(reader.isStreamOpen());
        QVERIFY(c.failed.isEmpty());
    }

    void readsInputSplitByteByByte() {
        StanzaReader reader;
        Collector c(&reader);
        const QByteArray all = kHeader + kPublish + " " + kPublish;
        for (char byte : all)
            reader.addData(QByteArray(1, byte));
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.opened.size(), 1);
        QCOMPARE(c.stanzas.size(), 2);
        const XmlElement iq = c.stanza(1);
        QCOMPARE(iq.name(), QStringLiteral("iq"));
        QCOMPARE(iq.namespaceUri(), QStringLiteral("jabber:component:accept"));
        QCOMPARE(iq.attribute(QStringLiteral("id")), QStringLiteral("p1"));
        const XmlElement *pubsub = iq.firstChild(QStringLiteral("pubsub"));
        QVERIFY(pubsub);
        QCOMPARE(pubsub->namespaceUri(), QStringLiteral("http://jabber.org/protocol/pubsub"));
        const XmlElement *form =
            pubsub->firstChild(QStringLiteral("publish"))
                ->firstChild(QStringLiteral("item"))
                ->firstChild(QStringLiteral("notification"))
                ->firstChild(QStringLiteral("x"), QStringLiteral("jabber:x:data"));
        QVERIFY(form);
        QCOMPARE(form->children().size(), 3);
        QCOMPARE(form->children().at(2).firstChild(QStringLiteral("value"))->text(),
                 QStringLiteral("Grüße & <3 — 😀"));
    }

    void readsSeveralStanzasFromOneChunk() {
        StanzaReader reader;
        Collector c(&reader);
        reader.addData(kHeader + kPublish + "\n<presence from='a@b'/>\n" + kPublish +
                       "<message to='x'><body>hi</body></message>");
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.stanzas.size(), 4);
        QCOMPARE(c.stanza(1).name(), QStringLiteral("presence"));
        QCOMPARE(c.stanza(3).firstChild(QStringLiteral("body"))->text(), QStringLiteral("hi"));
    }

    void acceptsWhitespaceKeepalives() {
        StanzaReader reader(1024);
        Collector c(&reader);
        reader.addData(kHeader);
        for (int i = 0; i < 5000; ++i)
            reader.addData(" ");
        reader.addData("<iq type='result' id='k'/>");
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.stanzas.size(), 1);
    }

    void rejectsADoctype() {
        StanzaReader reader;
        Collector c(&reader);
        reader.addData("<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY boom \"x\">]>" +
                       kHeader.mid(21));
        QCOMPARE(c.failed.size(), 1);
        QCOMPARE(c.failure(), QStringLiteral("restricted-xml"));
        QCOMPARE(c.opened.size(), 0);
    }

    void rejectsEntityDeclarationsAndUnknownReferences_data() {
        QTest::addColumn<QByteArray>("input");
        QTest::newRow("internal subset")
            << QByteArray("<!DOCTYPE x [<!ENTITY lol \"lol\"><!ENTITY lol1 "
                          "\"&lol;&lol;&lol;\">]>" +
                          kHeader.mid(21));
        QTest::newRow("processing instruction") << QByteArray(kHeader + "<?evil x?>");
        QTest::newRow("comment") << QByteArray(kHeader + "<iq><!-- hi --></iq>");
        QTest::newRow("comment between stanzas") << QByteArray(kHeader + "<!-- hi --><iq/>");
        QTest::newRow("not a stream") << QByteArray("<html><body/></html>");
        QTest::newRow("text between stanzas") << QByteArray(kHeader + "hello<iq/>");
        QTest::newRow("invalid UTF-8")
            << QByteArray(kHeader + "<message><body>\xff\xfe</body></message>");
        QTest::newRow("a header of too many attributes")
            << QByteArray("<stream:stream" + QByteArray(" a='b'").repeated(100) + ">");
        // It would leave the link deaf: nothing can follow it.
        QTest::newRow("a stream end tag that never ends")
            << QByteArray(kHeader + "</stream:stream" + QByteArray(100000, ' '));
    }
    void rejectsEntityDeclarationsAndUnknownReferences() {
        QFETCH(QByteArray, input);
        StanzaReader reader;
        Collector c(&reader);
        reader.addData(input);
        QCOMPARE(c.failed.size(), 1);
        QCOMPARE(c.stanzas.size(), 0);
        // Nothing more comes out once the input broke the rules.
        reader.addData(kPublish);
        QCOMPARE(c.stanzas.size(), 0);
        QCOMPARE(c.failed.size(), 1);
        QVERIFY(reader.hasFailed());
    }

    void acceptsPredefinedAndCharacterReferences() {
        StanzaReader reader;
        Collector c(&reader);
        reader.addData(kHeader + "<message id='&apos;&quot;'><body>&#x41;&#66;&amp;&gt;</body>"
                                 "</message>");
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.stanza(0).attribute(QStringLiteral("id")), QStringLiteral("'\""));
        QCOMPARE(c.stanza(0).firstChild(QStringLiteral("body"))->text(), QStringLiteral("AB&>"));
    }

    // What a user can make its server relay to us, malformed or too big for
    // us, costs that stanza only: it is skipped, its IQ can be answered, and
    // the stream goes on.
    void skipsWhatItCannotTakeAndGoesOn_data() {
        QTest::addColumn<QByteArray>("stanza");
        QTest::addColumn<QString>("why");
        QTest::newRow("undeclared entity")
            << QByteArray("<iq type='get' id='x1'><q>&boom;</q></iq>") << "not well-formed";
        QTest::newRow("undeclared entity in text")
            << QByteArray("<iq type='get' id='x1'><body>&lol1;</body></iq>") << "not well-formed";
        QTest::newRow("mismatched tags")
            << QByteArray("<iq type='get' id='x1'><a></b></iq>") << "not well-formed";
        QTest::newRow("larger than the limit")
            << QByteArray("<iq type='get' id='x1'><body>" + QByteArray(5000, 'a') + "</body></iq>")
            << "larger than 4096 bytes";
        QTest::newRow("an unfinished start tag that keeps growing")
            << QByteArray("<iq type='get' id='x1'><q" + QByteArray(100000, ' ') + "/></iq>")
            << "larger than 4096 bytes";
        QTest::newRow("nested 9000 deep")
            << QByteArray("<iq type='get' id='x1'>" + QByteArray("<a>").repeated(9000) +
                          QByteArray("</a>").repeated(9000) + "</iq>")
            << "nested deeper than 32";
        // QXmlStreamReader handles attributes in quadratic time: 100,000 of
        // them took it minutes. The framer counts them before it parses.
        QTest::newRow("an element of 100,000 attributes")
            << QByteArray("<iq type='get' id='x1'><q" + QByteArray(" a='b'").repeated(100000) +
                          "/></iq>")
            << "more than 64 attributes";
    }
    void skipsWhatItCannotTakeAndGoesOn() {
        QFETCH(QByteArray, stanza);
        QFETCH(QString, why);
        StanzaReader reader(4096);
        Collector c(&reader);
        readAfterHeader(reader, stanza);
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.rejected.size(), 1);
        QVERIFY2(c.rejectedWhy(0).contains(why), qPrintable(c.rejectedWhy(0)));
        const XmlElement shell = c.rejectedStanza(0);
        QCOMPARE(shell.name(), QStringLiteral("iq"));
        QCOMPARE(shell.attribute(QStringLiteral("id")), QStringLiteral("x1"));
        QVERIFY(shell.children().isEmpty());
        // The stream goes on.
        reader.addData(kPublish);
        QCOMPARE(c.stanzas.size(), 1);
        QCOMPARE(c.stanza(0).attribute(QStringLiteral("id")), QStringLiteral("p1"));
    }

    // A stanza whose own start tag breaks a limit is skipped too, though
    // there is nothing to answer it with.
    void skipsAStanzaWhoseStartTagIsTooLarge() {
        StanzaReader reader(4096);
        Collector c(&reader);
        reader.addData(kHeader + "<iq id='" + QByteArray(10000, 'a') + "'/>" + kPublish);
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.rejected.size(), 1);
        QVERIFY(c.rejectedStanza(0).isNull());
        QCOMPARE(c.stanzas.size(), 1);
    }

    // An element may declare any number of namespaces in its start tag.
    // Over 64 attributes the stanza is skipped, but its IQ can still be
    // answered: the reply needs only its name, id, type, from and to.
    void answersAStanzaOfThousandsOfNamespaceDeclarations_data() {
        QByteArray declarations;
        for (int i = 0; i < 3000; ++i)
            declarations +=
                " xmlns:n" + QByteArray::number(i) + "='urn:example:" + QByteArray::number(i) + "'";
        QTest::addColumn<QByteArray>("stanza");
        QTest::newRow("declarations after the id")
            << QByteArray("<iq type='get' id='ns3000' from='example.org' to='push.example.org'" +
                          declarations + "><query xmlns='urn:example:q'/></iq>");
        QTest::newRow("declarations before the id")
            << QByteArray("<iq" + declarations +
                          " type='get' id='ns3000' from='example.org' to='push.example.org'>"
                          "<query xmlns='urn:example:q'/></iq>");
        QTest::newRow("a prefixed stanza, an empty element")
            << QByteArray("<c:iq xmlns:c='jabber:component:accept'" + declarations +
                          "\n type = \"get\" id='ns3000' from='example.org' "
                          "to='push.example.org'/>");
    }
    void answersAStanzaOfThousandsOfNamespaceDeclarations() {
        QFETCH(QByteArray, stanza);
        StanzaReader reader;
        Collector c(&reader);
        readAfterHeader(reader, stanza);
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.rejected.size(), 1);
        QVERIFY2(c.rejectedWhy(0).contains(QLatin1String("more than 64 attributes")),
                 qPrintable(c.rejectedWhy(0)));
        const XmlElement shell = c.rejectedStanza(0);
        QCOMPARE(shell.name(), QStringLiteral("iq"));
        QCOMPARE(shell.namespaceUri(), QStringLiteral("jabber:component:accept"));
        QCOMPARE(shell.attribute(QStringLiteral("id")), QStringLiteral("ns3000"));
        QCOMPARE(shell.attribute(QStringLiteral("type")), QStringLiteral("get"));
        QCOMPARE(shell.attribute(QStringLiteral("from")), QStringLiteral("example.org"));
        QCOMPARE(shell.attribute(QStringLiteral("to")), QStringLiteral("push.example.org"));
        // The stream goes on.
        reader.addData(kPublish);
        QCOMPARE(c.stanzas.size(), 1);
    }

    // A stanza that never ends (a server gone wrong) is not skipped for ever:
    // the link would stay deaf to everything behind it. One that has not
    // ended within 16 MiB (docs/operations.md, "Limits") fails the stream,
    // after it is reported for an answer; up to there it is skipped.
    void failsTheStreamOnAStanzaThatNeverEnds_data() {
        QTest::addColumn<QByteArray>("start");
        QTest::addColumn<QByteArray>("filler");
        QTest::addColumn<bool>("answerable");
        QTest::newRow("an attribute value never closed")
            << QByteArray("<iq type='get' id='e1'><q a='") << QByteArray("a") << true;
        QTest::newRow("an attribute value of the stanza's own start tag")
            << QByteArray("<iq type='get' id='e1' a='") << QByteArray("a") << false;
        QTest::newRow("text") << QByteArray("<iq type='get' id='e1'><body>") << QByteArray("a")
                              << true;
        QTest::newRow("CDATA") << QByteArray("<iq type='get' id='e1'><![CDATA[") << QByteArray("a")
                               << true;
        QTest::newRow("elements that never close, skipped for their depth")
            << QByteArray("<iq type='get' id='e1'>") << QByteArray("<a>") << true;
    }
    void failsTheStreamOnAStanzaThatNeverEnds() {
        QFETCH(QByteArray, start);
        QFETCH(QByteArray, filler);
        QFETCH(bool, answerable);
        constexpr qsizetype kSkippedAtMost = 16 * 1024 * 1024;
        QByteArray stanza = start;
        stanza += filler.repeated((kSkippedAtMost + 1 - start.size()) / filler.size() + 1);
        stanza.truncate(kSkippedAtMost + 1);

        StanzaReader reader(4096);
        Collector c(&reader);
        reader.addData(kHeader);
        for (qsizetype offset = 0; offset < kSkippedAtMost; offset += 1024 * 1024)
            reader.addData(
                stanza.mid(offset, qMin<qsizetype>(1024 * 1024, kSkippedAtMost - offset)));
        // Up to the limit it is skipped; one byte more fails the stream.
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.rejected.size(), 0);
        reader.addData(stanza.last(1));
        QCOMPARE(c.failed.size(), 1);
        QCOMPARE(c.failure(), QStringLiteral("policy-violation"));
        QVERIFY2(c.failed.first().at(1).toString().contains(QLatin1String("does not end")),
                 qPrintable(c.failed.first().at(1).toString()));
        QCOMPARE(c.rejected.size(), 1);
        const XmlElement shell = c.rejectedStanza(0);
        QCOMPARE(shell.isNull(), !answerable);
        if (answerable)
            QCOMPARE(shell.attribute(QStringLiteral("id")), QStringLiteral("e1"));
        reader.addData(kPublish);
        QCOMPARE(c.stanzas.size(), 0);
    }

    void manySmallStanzasAreNotOneBigOne() {
        StanzaReader reader(2048);
        Collector c(&reader);
        QByteArray many = kHeader;
        for (int i = 0; i < 200; ++i)
            many += "<iq type='result' id='k" + QByteArray::number(i) + "'/>";
        reader.addData(many);
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        QCOMPARE(c.stanzas.size(), 200);
    }

    void reportsAStreamError() {
        StanzaReader reader;
        Collector c(&reader);
        reader.addData(kHeader + "<stream:error><not-authorized "
                                 "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                                 "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Bad secret</text>"
                                 "</stream:error></stream:stream>");
        QCOMPARE(c.streamErrors.size(), 1);
        QCOMPARE(c.streamErrors.first().at(0).toString(), QStringLiteral("not-authorized"));
        QCOMPARE(c.streamErrors.first().at(1).toString(), QStringLiteral("Bad secret"));
        QCOMPARE(c.stanzas.size(), 0);
        QCOMPARE(c.closed.size(), 1);
    }

    void reportsTheStreamEnd() {
        StanzaReader reader;
        Collector c(&reader);
        reader.addData(kHeader + "<handshake/>");
        QCOMPARE(c.stanzas.size(), 1);
        reader.addData("</stream:stream>");
        QCOMPARE(c.closed.size(), 1);
        QVERIFY(!reader.isStreamOpen());
        QVERIFY(c.failed.isEmpty());
    }

    void escapesWhatItWrites() {
        XmlElement iq(QStringLiteral("iq"), QStringLiteral("jabber:component:accept"));
        iq.setAttribute(QStringLiteral("id"), QStringLiteral("a'b\"c<d>&e\t\n\r"));
        XmlElement &child =
            iq.appendChild(XmlElement(QStringLiteral("x"), QStringLiteral("urn:x")));
        child.setText(QStringLiteral("</x><evil/>&amp;\x01ok😀\r\n"));
        child.appendChild(XmlElement(QStringLiteral("y"))); // inherits urn:x
        const QByteArray xml = iq.toXml(QStringLiteral("jabber:component:accept"));
        QCOMPARE(xml,
                 QByteArray(
                     "<iq id='a&apos;b&quot;c&lt;d&gt;&amp;e&#x9;&#xA;&#xD;'><x xmlns='urn:x'>"
                     "&lt;/x&gt;&lt;evil/&gt;&amp;amp;ok\xF0\x9F\x98\x80&#xD;&#xA;<y/></x></iq>"));

        // What we write, we read back unchanged (minus the character XML cannot carry).
        StanzaReader reader;
        Collector c(&reader);
        reader.addData(kHeader + xml);
        QVERIFY2(c.failed.isEmpty(), qPrintable(c.failure()));
        const XmlElement back = c.stanza(0);
        QCOMPARE(back.attribute(QStringLiteral("id")), QStringLiteral("a'b\"c<d>&e\t\n\r"));
        QCOMPARE(back.firstChild(QStringLiteral("x"), QStringLiteral("urn:x"))->text(),
                 QStringLiteral("</x><evil/>&amp;ok😀\r\n"));
        QVERIFY(back.firstChild(QStringLiteral("x"))
                    ->firstChild(QStringLiteral("y"), QStringLiteral("urn:x")));
    }
};

QTEST_GUILESS_MAIN(StanzaReaderTest)
#include "tst_stanzareader.moc"

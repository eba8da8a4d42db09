// Fuzzes what the user's XMPP server sends on the component link. The input
// is the stream after our stream header: the server's header is put in front
// unless the input starts with its own (<?xml or <stream:stream). StanzaReader
// reads it twice, whole and in pieces of varying sizes, and must report the
// same events both times: its limits are exact to the byte, wherever the
// input is cut. Each stanza then goes through PublishRequest and IqRouter's
// reply builders, and everything we would send back (the stanza
// re-serialised, a result, an error echoing the payload, the error answering
// a skipped stanza) must parse again to the same XML.

#include "fuzzsupport.h"
#include "iqrouter.h"
#include "publishrequest.h"
#include "stanzareader.h"
#include "xmlelement.h"
#include "xmppnamespaces.h"

#include <QStringDecoder>

using namespace uwpx;
using fuzz::check;

namespace {

// What Prosody and ejabberd send first (after our own header).
const QByteArray kServerHeader =
    "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns='jabber:component:accept' from='push.example.org' id='a1b2c3'>";

// The daemon's limits are 1 MiB a stanza and 16 MiB skipped, which no
// fuzzer input reaches; the limits are counted the same way whatever they
// are, so the inputs are read with ones they can reach, in the same ratio.
// What we send back is read with the daemon's.
constexpr qsizetype kInputMaxStanzaBytes = 4096;
constexpr qsizetype kInputMaxSkippedBytes = 16 * kInputMaxStanzaBytes;

struct Reading {
    QList<QByteArray> events;
    QList<XmlElement> stanzas;
    QList<XmlElement> rejected; // the shells of skipped stanzas
    bool failed = false;
};

Reading read(const QList<QByteArray> &pieces,
             qsizetype maxStanzaBytes = StanzaReader::DefaultMaxStanzaBytes,
             qsizetype maxSkippedBytes = StanzaReader::DefaultMaxSkippedBytes) {
    Reading out;
    StanzaReader reader(maxStanzaBytes, maxSkippedBytes);
    QObject::connect(&reader, &StanzaReader::streamOpened, [&out](const XmlElement &header) {
        out.events << "opened " + header.toXml();
    });
    QObject::connect(&reader, &StanzaReader::stanzaReceived, [&out](const XmlElement &stanza) {
        out.events << "stanza " + stanza.toXml(ns::component);
        out.stanzas << stanza;
    });
    QObject::connect(
        &reader, &StanzaReader::stanzaRejected,
        [&out](const XmlElement &stanza, const QString &condition, const QString &reason) {
            check(!reason.isEmpty(), "a skipped stanza says why");
            check(condition == QLatin1String("policy-violation") ||
                      condition == QLatin1String("bad-request"),
                  "a skipped stanza has a stanza error condition");
            out.events << "rejected " +
                              (stanza.isNull() ? QByteArray("(no shell)")
                                               : stanza.toXml(ns::component)) +
                              ' ' + reason.toUtf8();
            out.rejected << stanza;
        });
    QObject::connect(&reader, &StanzaReader::streamErrorReceived,
                     [&out](const QString &condition, const QString &text) {
                         out.events << "stream error " + condition.toUtf8() + ' ' + text.toUtf8();
                     });
    QObject::connect(&reader, &StanzaReader::streamClosed,
                     [&out] { out.events << QByteArray("closed"); });
    QObject::connect(&reader, &StanzaReader::failed,
                     [&out](const QString &condition, const QString &reason) {
                         check(!out.failed, "a reader fails once");
                         out.events << "failed " + condition.toUtf8() + ' ' + reason.toUtf8();
                         out.failed = true;
                     });
    for (const QByteArray &piece : pieces)
        reader.addData(piece);
    check(reader.hasFailed() == out.failed, "hasFailed() is whether failed() was emitted");
    return out;
}

// What we send back must read as what we meant: the user's server closes the
// stream on XML it cannot parse, or cannot match a reply whose id changed.
void checkReadsBack(const XmlElement &element, const char *what) {
    const QByteArray xml = element.toXml(ns::component);
    const Reading again = read({kServerHeader + xml});
    check(again.stanzas.size() == 1 && again.events.size() == 2, what,
          xml + "\n---\n" + again.events.join('\n'));
    check(again.stanzas.first().toXml(ns::component) == xml, what, xml);
}

void examine(const XmlElement &stanza) {
    checkReadsBack(stanza, "a stanza re-serialised reads back the same");
    checkReadsBack(IqRouter::resultFor(stanza), "an IQ result reads back the same");
    checkReadsBack(
        IqRouter::errorFor(stanza, QStringLiteral("modify"), QStringLiteral("bad-request")),
        "an IQ error echoing the payload reads back the same");

    QString why;
    const bool isPublish = PublishRequest::isPublish(stanza);
    const std::optional<PublishRequest> request = PublishRequest::parse(stanza, &why);
    if (!request) {
        check(!why.isEmpty(), "a refused publish says why");
        return;
    }
    check(isPublish || stanza.attribute(QStringLiteral("type")) != QLatin1String("set") ||
              stanza.name() != QLatin1String("iq"),
          "an iq set that parses as a publish is one");
    check(!request->node.isEmpty() && !request->senderDomain.isEmpty(),
          "a publish has a node and a sender domain");
    check(request->senderDomain == request->senderDomain.toLower(),
          "the sender domain is lowercase");
    check(request->messageCount >= 0 && request->pendingSubscriptionCount >= 0,
          "counts are never negative");
}

// A skipped stanza is answered from its top-level element alone
// (IqRouter::refuse): that answer must read back too.
void examineRejected(const XmlElement &shell) {
    if (shell.isNull())
        return;
    check(shell.children().isEmpty() && shell.text().isEmpty(),
          "a skipped stanza is handed over without its content", shell.toXml(ns::component));
    checkReadsBack(
        IqRouter::errorFor(shell, QStringLiteral("modify"), QStringLiteral("policy-violation")),
        "the IQ error answering a skipped stanza reads back the same");
}

// The bytes before the one at which a UTF-8 decoder, fed byte by byte, first
// reports an error (all of them if none does). The reader decodes each piece
// before it reads any of it, so it reads at most these.
QByteArray validUtf8Prefix(const QByteArray &bytes) {
    QStringDecoder decoder(QStringDecoder::Utf8);
    for (qsizetype i = 0; i < bytes.size(); ++i) {
        const QString text = decoder.decode(QByteArrayView(bytes).sliced(i, 1));
        if (decoder.hasError())
            return bytes.first(i);
    }
    return bytes;
}

QList<QByteArray> withoutFailure(const Reading &reading) {
    return reading.failed ? reading.events.first(reading.events.size() - 1) : reading.events;
}

bool isPrefix(const QList<QByteArray> &prefix, const QList<QByteArray> &of) {
    return prefix.size() <= of.size() && of.first(prefix.size()) == prefix;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz::initQt(argc, argv);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const bool ownHeader = input.startsWith("<?xml") || input.startsWith("<stream:stream");
    const QByteArray stream = ownHeader ? input : kServerHeader + input;

    const Reading whole = read({stream}, kInputMaxStanzaBytes, kInputMaxSkippedBytes);
    const Reading pieced = read(fuzz::pieces(stream), kInputMaxStanzaBytes, kInputMaxSkippedBytes);
    const QByteArray valid = validUtf8Prefix(stream);
    if (valid.size() == stream.size()) {
        check(whole.events == pieced.events, "reading in pieces gives what reading whole gives",
              whole.events.join('\n') + "\n---\n" + pieced.events.join('\n'));
    } else {
        // Invalid UTF-8 fails the stream (the link reconnects), wherever it
        // is cut; what comes before the failure depends on the cut (the
        // piece holding the bad byte is dropped whole), but is always what
        // the valid bytes before it give.
        check(whole.failed && pieced.failed, "invalid UTF-8 fails the stream",
              whole.events.join('\n') + "\n---\n" + pieced.events.join('\n'));
        const Reading validPart = read({valid}, kInputMaxStanzaBytes, kInputMaxSkippedBytes);
        check(isPrefix(withoutFailure(whole), validPart.events) &&
                  isPrefix(withoutFailure(pieced), validPart.events),
              "before invalid UTF-8 fails the stream, the reader reports only what precedes it",
              validPart.events.join('\n') + "\n---\n" + pieced.events.join('\n'));
    }
    for (const XmlElement &stanza : whole.stanzas)
        examine(stanza);
    for (const XmlElement &shell : whole.rejected)
        examineRejected(shell);
    return 0;
}

#include "stanzareader.h"

#include "xmppnamespaces.h"

#include <QXmlStreamReader>

#include <utility>

namespace uwpx {

namespace {

const QByteArray kCdataStart = "[CDATA[";
// An XML declaration before the stream header, and the stream's end tag, are short.
constexpr qsizetype kMaxDeclarationBytes = 256;

bool isXmlSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Builds the element tree of the top-level element that follows the stream
// header's start tag in `reader`. Returns a null element and says why when
// the element is not well-formed.
XmlElement parseElement(QXmlStreamReader &reader, QString *why) {
    XmlElement root;
    QList<XmlElement *> open;
    bool inStream = false;
    while (!reader.atEnd()) {
        switch (reader.readNext()) {
        case QXmlStreamReader::StartElement: {
            if (!std::exchange(inStream, true))
                break; // the stream header, read for its namespaces only
            XmlElement element(reader.name().toString(), reader.namespaceUri().toString());
            for (const QXmlStreamAttribute &attribute : reader.attributes()) {
                // Only unprefixed and xml: attributes survive: a reply echoing
                // other prefixed attributes would need their declarations too.
                const QStringView attributeNs = attribute.namespaceUri();
                if (attributeNs.isEmpty() || attributeNs == ns::xml)
                    element.setAttribute(attribute.qualifiedName().toString(),
                                         attribute.value().toString());
            }
            if (open.isEmpty()) {
                root = std::move(element);
                open.append(&root);
            } else {
                open.append(&open.last()->appendChild(std::move(element)));
            }
            break;
        }
        case QXmlStreamReader::EndElement:
            if (open.isEmpty())
                break;
            open.removeLast();
            if (open.isEmpty())
                return root;
            break;
        case QXmlStreamReader::Characters:
            if (!open.isEmpty())
                open.last()->appendText(reader.text().toString());
            break;
        case QXmlStreamReader::Invalid:
            *why = reader.errorString();
            return {};
        case QXmlStreamReader::EntityReference:
            *why = QStringLiteral("entity reference &%1; is not allowed")
                       .arg(reader.name().toString());
            return {};
        default:
            break; // the document start, the stream's own start tag
        }
    }
    *why = QStringLiteral("the element does not end");
    return {};
}

} // namespace

StanzaReader::StanzaReader(qsizetype maxStanzaBytes, qsizetype maxSkippedBytes, QObject *parent)
    : QObject(parent)
    , m_maxStanzaBytes(maxStanzaBytes)
    , m_maxSkippedBytes(qMax(maxSkippedBytes, maxStanzaBytes)) {}

StanzaReader::~StanzaReader() = default;

void StanzaReader::addData(const QByteArray &bytes) {
    if (m_failed)
        return;
    const QString decoded = m_utf8.decode(bytes); // only to know that it decodes
    if (m_utf8.hasError()) {
        fail(QStringLiteral("not-well-formed"), QStringLiteral("the stream is not valid UTF-8"));
        return;
    }
    for (const char c : bytes) {
        step(c);
        if (m_failed)
            return;
    }
}

// One byte through the framer: it follows tags, quotes and CDATA, and hands
// each complete top-level element on.
void StanzaReader::step(char c) {
    switch (m_lexer) {
    case Lexer::Text:
        if (c == '<')
            m_lexer = Lexer::TagOpen;
        else if (m_depth >= 2)
            keep(c);
        else if (!isXmlSpace(c))
            fail(QStringLiteral("not-well-formed"), QStringLiteral("text outside a stanza"));
        return;

    case Lexer::TagOpen:
        if (c == '/') {
            if (m_depth == 0) {
                fail(QStringLiteral("not-well-formed"), QStringLiteral("an end tag first"));
                return;
            }
            m_lexer = Lexer::EndTag;
            m_markup.clear();
            if (m_depth >= 2) {
                keep('<');
                keep(c);
            }
        } else if (c == '!') {
            if (m_depth < 2) {
                fail(QStringLiteral("restricted-xml"),
                     QStringLiteral("a DOCTYPE or comment is not allowed"));
                return;
            }
            m_lexer = Lexer::Bang;
            m_markup.clear();
            keep('<');
            keep(c);
        } else if (c == '?') {
            if (m_depth != 0 || !m_header.isEmpty()) {
                fail(QStringLiteral("restricted-xml"),
                     QStringLiteral("processing instructions are not allowed"));
                return;
            }
            m_lexer = Lexer::Declaration;
            m_markup.clear();
        } else {
            m_lexer = Lexer::StartTag;
            tagStarted();
            keep('<');
            keep(c);
            m_previous = c;
        }
        return;

    case Lexer::StartTag:
        keep(c);
        if (m_failed)
            return;
        if (m_quote) {
            if (c == m_quote)
                m_quote = 0;
            return;
        }
        if (c == '"' || c == '\'') {
            m_quote = c;
        } else if (c == '=') {
            if (++m_attributes > MaxAttributes) {
                if (m_depth == 0)
                    fail(QStringLiteral("policy-violation"),
                         QStringLiteral("the stream header has more than %1 attributes")
                             .arg(MaxAttributes));
                else
                    reject(QStringLiteral("an element with more than %1 attributes")
                               .arg(MaxAttributes));
            }
        } else if (c == '>') {
            startTagEnded(m_previous == '/');
            return;
        } else if (c == '<') {
            fail(QStringLiteral("not-well-formed"), QStringLiteral("'<' inside a tag"));
            return;
        }
        m_previous = c;
        return;

    case Lexer::EndTag:
        if (m_depth >= 2) {
            keep(c);
        } else if ((m_markup += c).size() > kMaxDeclarationBytes) {
            // The stream's own end tag is short; one that never ends would
            // leave the link deaf.
            fail(QStringLiteral("policy-violation"), QStringLiteral("a stream end tag too long"));
            return;
        }
        if (c == '>' && !m_failed)
            endTagEnded();
        return;

    case Lexer::Bang:
        keep(c);
        m_markup += c;
        if (!kCdataStart.startsWith(m_markup)) {
            fail(QStringLiteral("restricted-xml"),
                 QStringLiteral("a DOCTYPE or comment is not allowed"));
            return;
        }
        if (m_markup == kCdataStart) {
            m_lexer = Lexer::Cdata;
            m_cdataEnd = 0;
        }
        return;

    case Lexer::Cdata:
        keep(c);
        if (c == ']')
            m_cdataEnd = std::min(m_cdataEnd + 1, 2);
        else if (c == '>' && m_cdataEnd == 2)
            m_lexer = Lexer::Text;
        else
            m_cdataEnd = 0;
        return;

    case Lexer::Declaration:
        // <?xml version='1.0'?> before the header says nothing we need.
        m_markup += c;
        if (m_markup.size() > kMaxDeclarationBytes)
            fail(QStringLiteral("not-well-formed"), QStringLiteral("an XML declaration too long"));
        else if (c == '>' && m_markup.endsWith("?>"))
            m_lexer = Lexer::Text;
        return;
    }
}

// Where the bytes of tags and text go: into the header before the stream
// is open, into the top-level element being read unless it is skipped.
void StanzaReader::keep(char c) {
    if (m_failed)
        return;
    if (m_depth == 0) {
        m_header += c;
        if (m_header.size() > MaxHeaderBytes)
            fail(QStringLiteral("policy-violation"),
                 QStringLiteral("the stream header exceeds %1 bytes").arg(MaxHeaderBytes));
        return;
    }
    if (m_lexer == Lexer::StartTag && m_depth == 1)
        m_shell.add(c);
    if (++m_stanzaBytes > m_maxSkippedBytes) {
        overrun();
        return;
    }
    if (!m_rejected.isEmpty())
        return;
    m_stanza += c;
    if (m_stanza.size() > m_maxStanzaBytes)
        reject(QStringLiteral("a stanza larger than %1 bytes").arg(m_maxStanzaBytes));
}

void StanzaReader::tagStarted() {
    m_attributes = 0;
    m_quote = 0;
    if (m_depth == 1) { // a new top-level element
        m_stanza.clear();
        m_stanzaBytes = 0;
        m_shell.clear();
        m_shellComplete = false;
        m_rejected.clear();
    }
}

void StanzaReader::startTagEnded(bool empty) {
    m_lexer = Lexer::Text;
    if (m_depth == 0) {
        openStream();
        return;
    }
    if (m_depth == 1)
        m_shellComplete = true;
    if (empty) {
        if (m_depth == 1)
            elementEnded();
        return;
    }
    ++m_depth;
    if (m_depth - 1 > MaxDepth && m_rejected.isEmpty())
        reject(QStringLiteral("elements nested deeper than %1").arg(MaxDepth));
}

void StanzaReader::endTagEnded() {
    m_lexer = Lexer::Text;
    if (m_depth == 1) {
        m_depth = 0;
        Q_EMIT streamClosed();
        return;
    }
    if (--m_depth == 1)
        elementEnded();
}

void StanzaReader::elementEnded() {
    if (m_rejected.isEmpty())
        finishStanza();
    else
        Q_EMIT stanzaRejected(shellOf(m_shell.startTag()), QStringLiteral("policy-violation"),
                              m_rejected);
    m_stanza.clear();
    m_stanzaBytes = 0;
    m_shell.clear();
    m_shellComplete = false;
    m_rejected.clear();
}

void StanzaReader::openStream() {
    QXmlStreamReader reader;
    reader.setNamespaceProcessing(true);
    reader.addData(m_header);
    while (!reader.atEnd() && reader.readNext() != QXmlStreamReader::StartElement) {
    }
    if (reader.tokenType() != QXmlStreamReader::StartElement) {
        fail(QStringLiteral("not-well-formed"), reader.errorString());
        return;
    }
    const QString name = reader.name().toString();
    const QString ns = reader.namespaceUri().toString();
    if (name != QLatin1String("stream") || ns != ns::streams) {
        fail(QStringLiteral("invalid-namespace"),
             QStringLiteral("expected <stream:stream>, got <%1 xmlns='%2'>").arg(name, ns));
        return;
    }
    XmlElement header(name, ns);
    for (const QXmlStreamAttribute &attribute : reader.attributes())
        header.setAttribute(attribute.qualifiedName().toString(), attribute.value().toString());
    m_depth = 1;
    // Every stanza is parsed in the header's namespace context.
    Q_EMIT streamOpened(header);
}

void StanzaReader::finishStanza() {
    QXmlStreamReader reader;
    reader.setNamespaceProcessing(true);
    reader.addData(m_header);
    reader.addData(m_stanza);
    QString why;
    const XmlElement stanza = parseElement(reader, &why);
    if (stanza.isNull()) {
        Q_EMIT stanzaRejected(shellOf(m_shell.startTag()), QStringLiteral("bad-request"),
                              QStringLiteral("a stanza that is not well-formed: ") + why);
        return;
    }
    if (stanza.is(QStringLiteral("error"), ns::streams)) {
        QString condition;
        QString text;
        for (const XmlElement &child : stanza.children()) {
            if (child.namespaceUri() != ns::streamErrors)
                continue;
            if (child.name() == QLatin1String("text"))
                text = child.text();
            else
                condition = child.name();
        }
        Q_EMIT streamErrorReceived(condition, text);
        return;
    }
    Q_EMIT stanzaReceived(stanza);
}

// The top-level element of a skipped stanza, attributes only: enough to
// answer it. Null when its start tag itself broke a limit or does not parse.
XmlElement StanzaReader::shellOf(const QByteArray &startTag) const {
    if (startTag.isEmpty() || startTag.size() > MaxHeaderBytes)
        return {};
    QXmlStreamReader reader;
    reader.setNamespaceProcessing(true);
    reader.addData(m_header);
    reader.addData(startTag);
    int starts = 0;
    while (!reader.atEnd()) {
        const QXmlStreamReader::TokenType token = reader.readNext();
        if (token == QXmlStreamReader::Invalid)
            return {};
        if (token != QXmlStreamReader::StartElement || ++starts < 2)
            continue;
        if (reader.attributes().size() > MaxAttributes)
            return {};
        XmlElement shell(reader.name().toString(), reader.namespaceUri().toString());
        for (const QXmlStreamAttribute &attribute : reader.attributes()) {
            if (attribute.namespaceUri().isEmpty())
                shell.setAttribute(attribute.qualifiedName().toString(),
                                   attribute.value().toString());
        }
        return shell;
    }
    return {};
}

void StanzaReader::reject(const QString &reason) {
    if (m_rejected.isEmpty())
        m_rejected = reason;
    m_stanza.clear();
    m_stanza.squeeze();
}

// The stanza has run past what is skipped: it is answered (when its start
// tag is complete) and the stream fails, so that the link reconnects instead
// of staying deaf for as long as the bytes run on.
void StanzaReader::overrun() {
    const QString reason =
        QStringLiteral("a stanza that does not end within %1 bytes").arg(m_maxSkippedBytes);
    const QString condition = QStringLiteral("policy-violation");
    Q_EMIT stanzaRejected(m_shellComplete ? shellOf(m_shell.startTag()) : XmlElement(), condition,
                          reason);
    fail(condition, reason);
}

void StanzaReader::fail(const QString &condition, const QString &reason) {
    if (m_failed)
        return;
    m_failed = true;
    m_stanza.clear();
    Q_EMIT failed(condition, reason);
}

} // namespace uwpx

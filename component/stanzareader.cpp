#include "stanzareader.h"

#include "xmppnamespaces.h"

namespace uwpx {

namespace {
// Input is fed to QXmlStreamReader in pieces of at most this many bytes, so
// the size limit is exact to within one piece without tracking the parser's
// byte position.
constexpr qsizetype PieceBytes = 512;
} // namespace

StanzaReader::StanzaReader(qsizetype maxStanzaBytes, QObject *parent)
    : QObject(parent)
    , m_maxStanzaBytes(maxStanzaBytes) {
    m_reader.setNamespaceProcessing(true);
}

StanzaReader::~StanzaReader() = default;

void StanzaReader::addData(const QByteArray &bytes) {
    for (qsizetype offset = 0; offset < bytes.size() && !m_failed; offset += PieceBytes)
        feed(bytes.mid(offset, PieceBytes));
}

void StanzaReader::feed(const QByteArray &piece) {
    m_pieceStart = m_bytesFed;
    m_bytesFed += piece.size();
    m_reader.addData(piece);
    processTokens();
    // QXmlStreamReader holds whitespace back until the next tag starts, so
    // whitespace keepalives between stanzas would otherwise add up towards
    // the limit. Between stanzas (the last significant byte closed a tag)
    // they are harmless and move the mark.
    const QByteArray significant = piece.trimmed();
    if (significant.isEmpty()) {
        if (m_open.isEmpty() && m_streamOpen && m_lastSignificant == '>')
            m_mark = m_bytesFed;
    } else {
        m_lastSignificant = significant.back();
    }
    if (!m_failed && m_bytesFed - m_mark > m_maxStanzaBytes + PieceBytes) {
        fail(QStringLiteral("policy-violation"),
             QStringLiteral("a stanza exceeds %1 bytes").arg(m_maxStanzaBytes));
    }
}

void StanzaReader::processTokens() {
    while (!m_failed) {
        const QXmlStreamReader::TokenType token = m_reader.readNext();
        switch (token) {
        case QXmlStreamReader::Invalid:
            if (m_reader.error() != QXmlStreamReader::PrematureEndOfDocumentError)
                fail(QStringLiteral("not-well-formed"), m_reader.errorString());
            return; // premature end: wait for more bytes
        case QXmlStreamReader::StartDocument:
            if (!m_reader.documentEncoding().isEmpty() &&
                m_reader.documentEncoding().compare(QLatin1String("utf-8"), Qt::CaseInsensitive))
                fail(QStringLiteral("unsupported-encoding"), QStringLiteral("not UTF-8"));
            break;
        case QXmlStreamReader::DTD:
            fail(QStringLiteral("restricted-xml"), QStringLiteral("a DOCTYPE is not allowed"));
            return;
        case QXmlStreamReader::EntityReference:
            fail(QStringLiteral("restricted-xml"),
                 QStringLiteral("entity reference &%1; is not allowed")
                     .arg(m_reader.name().toString()));
            return;
        case QXmlStreamReader::ProcessingInstruction:
        case QXmlStreamReader::Comment:
            fail(QStringLiteral("restricted-xml"),
                 QStringLiteral("comments and processing instructions are not allowed"));
            return;
        case QXmlStreamReader::StartElement:
            startElement();
            break;
        case QXmlStreamReader::EndElement:
            endElement();
            break;
        case QXmlStreamReader::Characters:
            if (!m_open.isEmpty()) {
                m_open.last()->appendText(m_reader.text().toString());
            } else if (!m_reader.isWhitespace()) {
                fail(QStringLiteral("not-well-formed"), QStringLiteral("text outside a stanza"));
            } else {
                m_mark = m_pieceStart; // whitespace keepalive between stanzas
            }
            break;
        case QXmlStreamReader::EndDocument:
        case QXmlStreamReader::NoToken:
            break;
        }
    }
}

void StanzaReader::startElement() {
    const QString name = m_reader.name().toString();
    const QString ns = m_reader.namespaceUri().toString();
    if (!m_streamOpen) {
        if (name != QLatin1String("stream") || ns != ns::streams) {
            fail(QStringLiteral("invalid-namespace"),
                 QStringLiteral("expected <stream:stream>, got <%1 xmlns='%2'>").arg(name, ns));
            return;
        }
        XmlElement header(name, ns);
        for (const QXmlStreamAttribute &attribute : m_reader.attributes())
            header.setAttribute(attribute.qualifiedName().toString(), attribute.value().toString());
        m_streamOpen = true;
        m_mark = m_pieceStart;
        Q_EMIT streamOpened(header);
        return;
    }

    XmlElement element(name, ns);
    for (const QXmlStreamAttribute &attribute : m_reader.attributes()) {
        // Only unprefixed and xml: attributes survive: a reply echoing other
        // prefixed attributes would need their namespace declarations too.
        const QStringView attributeNs = attribute.namespaceUri();
        if (attributeNs.isEmpty() || attributeNs == ns::xml)
            element.setAttribute(attribute.qualifiedName().toString(),
                                 attribute.value().toString());
    }
    if (m_open.isEmpty()) {
        m_stanza = std::make_unique<XmlElement>(std::move(element));
        m_open.append(m_stanza.get());
    } else {
        m_open.append(&m_open.last()->appendChild(std::move(element)));
    }
}

void StanzaReader::endElement() {
    if (m_open.isEmpty()) {
        // The only element open outside a stanza is the stream itself.
        m_streamOpen = false;
        Q_EMIT streamClosed();
        return;
    }
    m_open.removeLast();
    if (!m_open.isEmpty())
        return;

    m_mark = m_pieceStart;
    const std::unique_ptr<XmlElement> stanza = std::move(m_stanza);
    if (stanza->is(QStringLiteral("error"), ns::streams)) {
        QString condition;
        QString text;
        for (const XmlElement &child : stanza->children()) {
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
    Q_EMIT stanzaReceived(*stanza);
}

void StanzaReader::fail(const QString &condition, const QString &reason) {
    if (m_failed)
        return;
    m_failed = true;
    m_open.clear();
    m_stanza.reset();
    Q_EMIT failed(condition, reason);
}

} // namespace uwpx

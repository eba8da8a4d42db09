#pragma once

#include "xmlelement.h"

#include <QObject>
#include <QXmlStreamReader>

#include <memory>

namespace uwpx {

// Reads one incoming XMPP stream as bytes arrive: the stream header, then
// each complete top-level element (a stanza, <handshake/>, <stream:error/>).
// Input may be split anywhere (byte by byte) or carry many stanzas at once.
//
// Restricted XML (RFC 6120 §11.1): a DOCTYPE, entity declarations or
// references, processing instructions and comments are refused, as is any
// stanza larger than the size limit. After the first error the reader ignores
// further input; the owner closes the stream and starts a new reader.
class StanzaReader : public QObject {
    Q_OBJECT
public:
    static constexpr qsizetype DefaultMaxStanzaBytes = 64 * 1024;

    explicit StanzaReader(qsizetype maxStanzaBytes = DefaultMaxStanzaBytes,
                          QObject *parent = nullptr);
    ~StanzaReader() override;

    void addData(const QByteArray &bytes);
    bool hasFailed() const { return m_failed; }
    bool isStreamOpen() const { return m_streamOpen; }

Q_SIGNALS:
    // <stream:stream ...> has arrived; `header` carries its attributes (id, from).
    void streamOpened(const uwpx::XmlElement &header);
    void stanzaReceived(const uwpx::XmlElement &stanza);
    // <stream:error>: `condition` is the RFC 6120 condition element's name.
    void streamErrorReceived(const QString &condition, const QString &text);
    // </stream:stream>
    void streamClosed();
    // The input broke the rules. `condition` is the stream error to send back
    // (not-well-formed, restricted-xml, policy-violation, ...).
    void failed(const QString &condition, const QString &reason);

private:
    void feed(const QByteArray &piece);
    void processTokens();
    void startElement();
    void endElement();
    void fail(const QString &condition, const QString &reason);

    QXmlStreamReader m_reader;
    qsizetype m_maxStanzaBytes;
    qint64 m_bytesFed = 0;
    // Bytes fed before the piece in which the current stanza (or the gap
    // before it) began: the size limit counts from here.
    qint64 m_mark = 0;
    qint64 m_pieceStart = 0;
    char m_lastSignificant = 0; // the last non-whitespace byte fed
    bool m_streamOpen = false;
    bool m_failed = false;
    // The stanza being built, root first; empty between stanzas.
    QList<XmlElement *> m_open;
    std::unique_ptr<XmlElement> m_stanza;
};

} // namespace uwpx

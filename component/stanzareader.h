#pragma once

#include "stanzashell.h"
#include "xmlelement.h"

#include <QByteArray>
#include <QObject>
#include <QStringDecoder>

namespace uwpx {

// Reads one incoming XMPP stream as bytes arrive: the stream header, then
// each complete top-level element (a stanza, <handshake/>, <stream:error/>).
// Input may be split anywhere (byte by byte) or carry many stanzas at once.
//
// In two steps, so that no input can make it slow or large: a framer walks
// the bytes once (tags, quotes, CDATA) and cuts the stream into top-level
// elements, enforcing the limits on the way; each element within them is
// then parsed on its own by QXmlStreamReader, in the stream header's
// namespace context. The limits hold in time linear in the input and in
// memory bounded by them:
//   - a stanza: maxStanzaBytes (1 MiB; Prosody relays up to 512 KiB from
//     other servers, ejabberd by default any size), nesting of 32 elements,
//     64 attributes per element;
//   - the stream header: 4 KiB.
// A stanza over a limit, or one that is not well-formed inside its tags, is
// skipped: the stream goes on at its end, and stanzaRejected() hands over its
// top-level element (attributes only, however many it has) so that an IQ can
// still be answered. Skipping is bounded too: a stanza that has not ended
// within maxSkippedBytes (16 MiB) is taken for one that never will (a server
// gone wrong: an attribute value opened and never closed), and the stream
// fails, after its rejection, instead of staying deaf while the bytes run on.
// Anything a user makes its server relay ends, and is skipped.
//
// The stream itself fails (failed(); the owner closes it and starts a new
// reader) on what cannot be skipped: invalid UTF-8, text between stanzas,
// and the constructs restricted XML forbids (RFC 6120 §11.1: a DOCTYPE,
// comments, processing instructions; entity references other than the
// predefined ones make their stanza not well-formed).
class StanzaReader : public QObject {
    Q_OBJECT
public:
    static constexpr qsizetype DefaultMaxStanzaBytes = 1024 * 1024;
    static constexpr qsizetype DefaultMaxSkippedBytes = 16 * DefaultMaxStanzaBytes;
    static constexpr int MaxDepth = 32;
    static constexpr int MaxAttributes = 64;
    static constexpr qsizetype MaxHeaderBytes = 4096;

    explicit StanzaReader(qsizetype maxStanzaBytes = DefaultMaxStanzaBytes,
                          qsizetype maxSkippedBytes = DefaultMaxSkippedBytes,
                          QObject *parent = nullptr);
    ~StanzaReader() override;

    void addData(const QByteArray &bytes);
    bool hasFailed() const { return m_failed; }
    bool isStreamOpen() const { return m_depth > 0; }
    // In the open stream, outside any stanza: what was read so far ended one.
    bool isBetweenStanzas() const { return m_depth == 1 && m_lexer == Lexer::Text; }

Q_SIGNALS:
    // <stream:stream ...> has arrived; `header` carries its attributes (id, from).
    void streamOpened(const uwpx::XmlElement &header);
    void stanzaReceived(const uwpx::XmlElement &stanza);
    // A stanza was skipped: too large, too deep, too many attributes
    // (`condition` policy-violation), or not well-formed inside (bad-request).
    // A stanza that never ends is reported here too, just before failed().
    // `stanza` is its top-level element without content (null when even that
    // could not be read); `reason` says what was wrong.
    void stanzaRejected(const uwpx::XmlElement &stanza, const QString &condition,
                        const QString &reason);
    // <stream:error>: `condition` is the RFC 6120 condition element's name.
    void streamErrorReceived(const QString &condition, const QString &text);
    // </stream:stream>
    void streamClosed();
    // The input broke the rules. `condition` is the stream error to send back
    // (not-well-formed, restricted-xml, policy-violation, ...).
    void failed(const QString &condition, const QString &reason);

private:
    enum class Lexer {
        Text,        // character data, or whitespace between tags
        TagOpen,     // just after '<'
        StartTag,    // in <name ...>
        EndTag,      // in </name>
        Bang,        // in <! (only <![CDATA[ is allowed)
        Declaration, // in <? ... ?> before the stream header
        Cdata,       // in <![CDATA[ ... ]]>
    };

    void step(char c);
    void keep(char c);
    void tagStarted();
    void startTagEnded(bool empty);
    void endTagEnded();
    void elementEnded();
    void openStream();
    void finishStanza();
    void reject(const QString &reason);
    void overrun();
    XmlElement shellOf(const QByteArray &startTag) const;
    void fail(const QString &condition, const QString &reason);

    const qsizetype m_maxStanzaBytes;
    const qsizetype m_maxSkippedBytes;
    QStringDecoder m_utf8{QStringDecoder::Utf8};
    bool m_failed = false;

    // The framer's state.
    Lexer m_lexer = Lexer::Text;
    int m_depth = 0;      // 0: before the stream; 1: in the stream; 2+: in a stanza
    int m_attributes = 0; // in the start tag being read
    char m_quote = 0;     // the quote an attribute value in that tag is in, if any
    char m_previous = 0;  // the byte before, in tags ('/' before '>': empty element)
    QByteArray m_markup;  // what follows "<!" (CDATA or the forbidden), "<?" or "</stream"
    int m_cdataEnd = 0;   // how much of "]]>" was just seen

    QByteArray m_header;                 // the stream header's start tag, the stanzas' context
    QByteArray m_stanza;                 // the top-level element being read, while it is kept
    qsizetype m_stanzaBytes = 0;         // its size so far, kept or skipped
    StanzaShell m_shell{MaxHeaderBytes}; // its start tag (for a reply when it is rejected)
    bool m_shellComplete = false;        // whether that start tag has ended
    QString m_rejected;                  // why the element being read is skipped, if it is
};

} // namespace uwpx

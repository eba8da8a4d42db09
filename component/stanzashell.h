#pragma once

#include <QByteArray>

namespace uwpx {

// The start tag of a top-level element as its bytes stream in, reduced to
// what an answer needs: the element's name and the attributes a reply or a
// log line reads (xmlns, the element's own prefix declaration, id, type,
// from, to, xml:lang). Every other attribute costs nothing, so a stanza
// skipped for carrying too many (3,000 namespace declarations) can still be
// answered. What it keeps is bounded: past maxBytes it gives up.
//
// It follows quotes the way StanzaReader's framer does (any quote in a tag
// opens a value), so both agree on where the tag ends.
class StanzaShell {
public:
    explicit StanzaShell(qsizetype maxBytes)
        : m_maxBytes(maxBytes) {}

    void clear();
    // The next byte of the start tag, from its '<' to its '>'.
    void add(char c);
    // The reduced start tag ("<iq id='x' type='get'>"); empty when what it
    // had to keep passed the bound.
    QByteArray startTag() const;

private:
    enum class Part {
        Name,          // the element's name, just after '<'
        Between,       // between attributes
        AttributeName, // in an attribute's name
        AfterName,     // after it, before '='
        BeforeValue,   // after '=', before the quote
        Value,         // in a quoted value
    };

    bool wanted(const QByteArray &attribute) const;
    void keep(const QByteArray &bytes);

    const qsizetype m_maxBytes;
    Part m_part = Part::Name;
    QByteArray m_tag;       // what is kept: '<', the name, the wanted attributes
    QByteArray m_name;      // the element's qualified name
    QByteArray m_attribute; // the attribute being read (a short prefix of it)
    char m_quote = 0;
    bool m_keepingValue = false;
    bool m_overflow = false;
};

} // namespace uwpx

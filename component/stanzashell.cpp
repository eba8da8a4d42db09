#include "stanzashell.h"

namespace uwpx {

namespace {

// No attribute an answer needs has a longer name; longer ones are not kept.
constexpr qsizetype kMaxAttributeName = 64;

bool isXmlSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

} // namespace

void StanzaShell::clear() {
    m_part = Part::Name;
    m_tag.clear();
    m_name.clear();
    m_attribute.clear();
    m_quote = 0;
    m_keepingValue = false;
    m_overflow = false;
}

void StanzaShell::add(char c) {
    if (m_overflow)
        return;
    if (m_part == Part::Value) {
        if (c == m_quote)
            m_part = Part::Between;
        if (m_keepingValue)
            keep(QByteArray(1, c));
        return;
    }
    if (c == '"' || c == '\'') {
        // The framer takes any quote for a value's start; so does this.
        m_keepingValue = m_part == Part::BeforeValue && wanted(m_attribute);
        if (m_keepingValue)
            keep(' ' + m_attribute + '=' + c);
        m_quote = c;
        m_part = Part::Value;
        return;
    }
    if (c == '<' && m_tag.isEmpty()) {
        keep("<");
        return;
    }
    const bool space = isXmlSpace(c);
    switch (m_part) {
    case Part::Name:
        if (space || c == '/' || c == '>') {
            m_part = Part::Between;
        } else {
            m_name += c;
            keep(QByteArray(1, c));
        }
        return;
    case Part::AttributeName:
        if (space) {
            m_part = Part::AfterName;
            return;
        }
        if (c == '=') {
            m_part = Part::BeforeValue;
            return;
        }
        if (m_attribute.size() <= kMaxAttributeName)
            m_attribute += c;
        return;
    case Part::AfterName:
    case Part::Between:
    case Part::BeforeValue:
        if (space || c == '/' || c == '>')
            return;
        if (c == '=') {
            if (m_part == Part::AfterName)
                m_part = Part::BeforeValue;
            return;
        }
        m_attribute = QByteArray(1, c);
        m_part = Part::AttributeName;
        return;
    case Part::Value:
        return; // handled above
    }
}

QByteArray StanzaShell::startTag() const {
    if (m_overflow || m_tag.isEmpty())
        return {};
    return m_tag + '>';
}

bool StanzaShell::wanted(const QByteArray &attribute) const {
    if (attribute == "id" || attribute == "type" || attribute == "from" || attribute == "to" ||
        attribute == "xmlns" || attribute == "xml:lang")
        return true;
    // <foo:iq xmlns:foo='jabber:component:accept'> needs its prefix declared.
    const qsizetype colon = m_name.indexOf(':');
    return colon > 0 && attribute == "xmlns:" + m_name.left(colon);
}

void StanzaShell::keep(const QByteArray &bytes) {
    m_tag += bytes;
    if (m_tag.size() > m_maxBytes) {
        m_overflow = true;
        m_tag.clear();
        m_tag.squeeze();
    }
}

} // namespace uwpx

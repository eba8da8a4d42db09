#include "xmlelement.h"

namespace uwpx {

XmlElement::XmlElement(QString name, QString namespaceUri)
    : m_name(std::move(name))
    , m_namespaceUri(std::move(namespaceUri)) {}

bool XmlElement::hasAttribute(const QString &name) const {
    for (const Attribute &attribute : m_attributes) {
        if (attribute.first == name)
            return true;
    }
    return false;
}

QString XmlElement::attribute(const QString &name, const QString &fallback) const {
    for (const Attribute &attribute : m_attributes) {
        if (attribute.first == name)
            return attribute.second;
    }
    return fallback;
}

XmlElement &XmlElement::setAttribute(const QString &name, const QString &value) {
    for (Attribute &attribute : m_attributes) {
        if (attribute.first == name) {
            attribute.second = value;
            return *this;
        }
    }
    m_attributes.append({name, value});
    return *this;
}

XmlElement &XmlElement::setText(const QString &text) {
    m_text = text;
    return *this;
}

XmlElement &XmlElement::appendChild(XmlElement child) {
    m_children.append(std::move(child));
    return m_children.last();
}

const XmlElement *XmlElement::firstChild(const QString &name, const QString &namespaceUri) const {
    for (const XmlElement &child : m_children) {
        if (child.m_name == name && (namespaceUri.isNull() || child.m_namespaceUri == namespaceUri))
            return &child;
    }
    return nullptr;
}

const XmlElement *XmlElement::firstChildElement() const {
    return m_children.isEmpty() ? nullptr : &m_children.first();
}

QList<const XmlElement *> XmlElement::childrenNamed(const QString &name,
                                                    const QString &namespaceUri) const {
    QList<const XmlElement *> found;
    for (const XmlElement &child : m_children) {
        if (child.m_name == name && (namespaceUri.isNull() || child.m_namespaceUri == namespaceUri))
            found.append(&child);
    }
    return found;
}

QByteArray XmlElement::toXml(const QString &parentNamespace) const {
    QString out;
    write(&out, parentNamespace);
    return out.toUtf8();
}

void XmlElement::write(QString *out, const QString &parentNamespace) const {
    const QString ns = m_namespaceUri.isEmpty() ? parentNamespace : m_namespaceUri;
    *out += QLatin1Char('<') + m_name;
    if (ns != parentNamespace)
        *out += QStringLiteral(" xmlns='") + xml::escape(ns) + QLatin1Char('\'');
    for (const Attribute &attribute : m_attributes) {
        *out += QLatin1Char(' ') + attribute.first + QStringLiteral("='") +
                xml::escape(attribute.second) + QLatin1Char('\'');
    }
    if (m_text.isEmpty() && m_children.isEmpty()) {
        *out += QStringLiteral("/>");
        return;
    }
    *out += QLatin1Char('>');
    *out += xml::escape(m_text);
    for (const XmlElement &child : m_children)
        child.write(out, ns);
    *out += QStringLiteral("</") + m_name + QLatin1Char('>');
}

namespace xml {

QString escape(const QString &text) {
    QString out;
    out.reserve(text.size());
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text.at(i);
        switch (c.unicode()) {
        case '&':
            out += QStringLiteral("&amp;");
            continue;
        case '<':
            out += QStringLiteral("&lt;");
            continue;
        case '>':
            out += QStringLiteral("&gt;");
            continue;
        case '\'':
            out += QStringLiteral("&apos;");
            continue;
        case '"':
            out += QStringLiteral("&quot;");
            continue;
        // A reader turns these into spaces in attribute values and a CR into
        // LF anywhere: as references they come back as they went (an IQ's id
        // must, or the server cannot match our answer to its request).
        case '\t':
            out += QStringLiteral("&#x9;");
            continue;
        case '\n':
            out += QStringLiteral("&#xA;");
            continue;
        case '\r':
            out += QStringLiteral("&#xD;");
            continue;
        default:
            break;
        }
        if (c.isHighSurrogate() && i + 1 < text.size() && text.at(i + 1).isLowSurrogate()) {
            out += c;
            out += text.at(++i);
            continue;
        }
        const char16_t u = c.unicode();
        const bool allowed = u == 0x9 || u == 0xA || u == 0xD || (u >= 0x20 && u < 0xD800) ||
                             (u >= 0xE000 && u <= 0xFFFD);
        if (allowed)
            out += c;
    }
    return out;
}

} // namespace xml

} // namespace uwpx

#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <utility>

namespace uwpx {

// A small element tree: what the component needs to read a stanza and build
// a reply, nothing more. Text is kept as one string per element (stanzas we
// care about never mix text and child elements).
//
// An empty namespace URI means "the parent's namespace": elements we build
// need not repeat it, and toXml() declares a namespace only where it changes.
class XmlElement {
public:
    using Attribute = std::pair<QString, QString>;

    XmlElement() = default;
    explicit XmlElement(QString name, QString namespaceUri = {});

    bool isNull() const { return m_name.isEmpty(); }
    const QString &name() const { return m_name; }
    const QString &namespaceUri() const { return m_namespaceUri; }
    bool is(const QString &name, const QString &namespaceUri) const {
        return m_name == name && m_namespaceUri == namespaceUri;
    }

    // Attributes in document order; names are qualified ("xml:lang").
    const QList<Attribute> &attributes() const { return m_attributes; }
    bool hasAttribute(const QString &name) const;
    QString attribute(const QString &name, const QString &fallback = {}) const;
    XmlElement &setAttribute(const QString &name, const QString &value);

    const QString &text() const { return m_text; }
    XmlElement &setText(const QString &text);
    void appendText(const QString &text) { m_text += text; }

    const QList<XmlElement> &children() const { return m_children; }
    // Returns the stored copy, so callers can keep filling it in.
    XmlElement &appendChild(XmlElement child);
    // The first child with that name (and namespace, unless it is null), or nullptr.
    const XmlElement *firstChild(const QString &name, const QString &namespaceUri = {}) const;
    const XmlElement *firstChildElement() const;
    QList<const XmlElement *> childrenNamed(const QString &name,
                                            const QString &namespaceUri = {}) const;

    // Serialises with every attribute value and text escaped. `parentNamespace`
    // is the namespace in force around the element (for a stanza: the
    // stream's default namespace), so xmlns is only written where needed.
    QByteArray toXml(const QString &parentNamespace = {}) const;

private:
    void write(QString *out, const QString &parentNamespace) const;

    QString m_name;
    QString m_namespaceUri;
    QList<Attribute> m_attributes;
    QString m_text;
    QList<XmlElement> m_children;
};

namespace xml {
// Escapes for both attribute values (quoted with either quote) and text, and
// drops characters XML 1.0 cannot carry at all (most C0 controls, lone
// surrogates), which would otherwise make the receiving server close the stream.
QString escape(const QString &text);
} // namespace xml

} // namespace uwpx

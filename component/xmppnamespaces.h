#pragma once

#include <QString>

// The XML namespaces the component speaks, spelled once.
namespace uwpx::ns {

inline const QString component = QStringLiteral("jabber:component:accept");
inline const QString streams = QStringLiteral("http://etherx.jabber.org/streams");
inline const QString streamErrors = QStringLiteral("urn:ietf:params:xml:ns:xmpp-streams");
inline const QString stanzaErrors = QStringLiteral("urn:ietf:params:xml:ns:xmpp-stanzas");
inline const QString xml = QStringLiteral("http://www.w3.org/XML/1998/namespace");
inline const QString pubsub = QStringLiteral("http://jabber.org/protocol/pubsub");
inline const QString publishOptions =
    QStringLiteral("http://jabber.org/protocol/pubsub#publish-options");
inline const QString push = QStringLiteral("urn:xmpp:push:0");
inline const QString pushSummary = QStringLiteral("urn:xmpp:push:summary");
inline const QString dataForms = QStringLiteral("jabber:x:data");
inline const QString discoInfo = QStringLiteral("http://jabber.org/protocol/disco#info");
inline const QString ping = QStringLiteral("urn:xmpp:ping");

} // namespace uwpx::ns

#include "xmppcomponent.h"

#include "xmpplog.h"

namespace uwpx {

XmppComponent::XmppComponent(const XmppSettings &settings, Storage &storage, WnsClient &wns,
                             QObject *parent)
    : QObject(parent)
    , m_link(settings)
    , m_publisher(storage, wns, PushPublisher::Options::from(settings))
    , m_router(settings.componentJid, m_publisher) {
    wire();
}

XmppComponent::XmppComponent(const XmppSettings &settings, Storage &storage,
                             PushPublisher::Sender sender, const PushPublisher::Options &options,
                             QObject *parent)
    : QObject(parent)
    , m_link(settings)
    , m_publisher(storage, std::move(sender), options)
    , m_router(settings.componentJid, m_publisher) {
    wire();
}

XmppComponent::~XmppComponent() = default;

void XmppComponent::wire() {
    connect(&m_link, &ComponentLink::stanzaReceived, &m_router, &IqRouter::route);
    // A reply whose link went down in the meantime is lost; the user's server
    // has already bounced or timed out that publish on its side.
    connect(&m_router, &IqRouter::reply, &m_link, [this](const XmlElement &stanza) {
        if (!m_link.send(stanza))
            qCInfo(lcXmpp).noquote() << "reply to iq" << stanza.attribute(QStringLiteral("id"))
                                     << "lost: the component link is down";
    });
    connect(&m_link, &ComponentLink::connected, this, &XmppComponent::connected);
    connect(&m_link, &ComponentLink::disconnected, this, &XmppComponent::disconnected);
}

} // namespace uwpx

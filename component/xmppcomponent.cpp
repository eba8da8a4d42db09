#include "xmppcomponent.h"

#include "componentlink.h"
#include "iqrouter.h"
#include "pushpublisher.h"
#include "xmpplog.h"

namespace uwpx {

class XmppComponent::Private {
public:
    Private(const XmppSettings &settings, Storage &storage, WnsClient &wns)
        : link(settings)
        , publisher(storage, wns, PushPublisher::Options::from(settings))
        , router(settings.componentJid, publisher) {}

    // Declaration order is destruction order in reverse: the router and
    // publisher go before the link they answer on.
    ComponentLink link;
    PushPublisher publisher;
    IqRouter router;
};

XmppComponent::XmppComponent(const XmppSettings &settings, Storage &storage, WnsClient &wns,
                             QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(settings, storage, wns)) {
    ComponentLink *link = &d->link;
    connect(link, &ComponentLink::stanzaReceived, &d->router, &IqRouter::route);
    // A reply whose link went down in the meantime is lost; the user's server
    // has already bounced or timed out that publish on its side.
    connect(&d->router, &IqRouter::reply, link, [link](const XmlElement &stanza) {
        if (!link->send(stanza))
            qCInfo(lcXmpp).noquote() << "reply to iq" << stanza.attribute(QStringLiteral("id"))
                                     << "lost: the component link is down";
    });
    connect(link, &ComponentLink::connected, this, &XmppComponent::connected);
    connect(link, &ComponentLink::disconnected, this, &XmppComponent::disconnected);
    connect(&d->router, &IqRouter::publishAnswered, this, &XmppComponent::publishAnswered);
    connect(&d->publisher, &PushPublisher::deviceReached, this, &XmppComponent::deviceReached);
}

XmppComponent::~XmppComponent() = default;

void XmppComponent::start() {
    d->link.start();
}

void XmppComponent::stop() {
    d->link.stop();
}

bool XmppComponent::isConnected() const {
    return d->link.isConnected();
}

int XmppComponent::reconnectCount() const {
    return d->link.reconnectCount();
}

} // namespace uwpx

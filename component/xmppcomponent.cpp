#include "xmppcomponent.h"

#include "componentlink.h"
#include "iqrouter.h"
#include "pushpublisher.h"
#include "xmpplog.h"

#include <QTimer>

namespace uwpx {

namespace {

// At shutdown, how long accepted publishes may wait for WNS before they are
// answered `wait`, and then how long lookups may take.
constexpr int kShutdownGraceMs = 3000;

} // namespace

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
    bool shuttingDown = false;
    bool closing = false;
};

XmppComponent::XmppComponent(const XmppSettings &settings, Storage &storage, WnsClient &wns,
                             QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(settings, storage, wns)) {
    ComponentLink *link = &d->link;
    connect(link, &ComponentLink::stanzaReceived, &d->router, &IqRouter::route);
    connect(link, &ComponentLink::stanzaRejected, &d->router, &IqRouter::refuse);
    connect(link, &ComponentLink::stanzaRejected, this,
            [this] { Q_EMIT refused(RefusalReason::Stanza); });
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
    connect(link, &ComponentLink::roleChanged, this, &XmppComponent::roleChanged);
    connect(link, &ComponentLink::conflict, this, &XmppComponent::conflict);
    connect(link, &ComponentLink::closed, this, &XmppComponent::stopped);
}

XmppComponent::~XmppComponent() = default;

void XmppComponent::start() {
    d->link.start();
}

void XmppComponent::shutdown() {
    if (d->shuttingDown)
        return;
    d->shuttingDown = true;
    // New publishes keep being served while the accepted ones finish: until
    // the stream closes, the server still routes them here.
    auto close = [this] {
        if (!std::exchange(d->closing, true))
            d->link.close();
    };
    if (d->router.pendingPublishes() == 0) {
        close();
        return;
    }
    connect(&d->router, &IqRouter::publishesSettled, this, close);
    QTimer::singleShot(kShutdownGraceMs, this, [this, close] {
        d->publisher.answerWaitingNow(QStringLiteral("the push server is stopping"));
        // Lookups still under way answer within the store's timeout.
        QTimer::singleShot(kShutdownGraceMs, this, close);
    });
}

void XmppComponent::takeOverNow() {
    d->link.takeOverNow();
}

void XmppComponent::setStandbyWaits(bool waits) {
    d->link.setStandbyWaits(waits);
}

ComponentRole XmppComponent::role() const {
    return d->link.role();
}

bool XmppComponent::isConnected() const {
    return d->link.isConnected();
}

int XmppComponent::reconnectCount() const {
    return d->link.reconnectCount();
}

} // namespace uwpx

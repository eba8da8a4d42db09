#pragma once

#include "componentlink.h"
#include "iqrouter.h"
#include "pushpublisher.h"

#include <QObject>

namespace uwpx {

class Storage;
class WnsClient;

// The XMPP side of the daemon in one object (SPEC §5): the component link to
// the operator's server, the router answering its IQs and the publisher
// turning publishes into WNS notifications.
//
//   socket bytes -> StanzaReader -> ComponentLink -> IqRouter -> PublishRequest
//                -> PushPublisher -> WnsClient, and the reply back the same way.
//
// Storage and the WNS client belong to the caller and must outlive this.
class XmppComponent : public QObject {
    Q_OBJECT
public:
    XmppComponent(const XmppSettings &settings, Storage &storage, WnsClient &wns,
                  QObject *parent = nullptr);
    // For tests: notifications go to `sender` instead of a WnsClient.
    XmppComponent(const XmppSettings &settings, Storage &storage, PushPublisher::Sender sender,
                  const PushPublisher::Options &options, QObject *parent = nullptr);
    ~XmppComponent() override;

    void start() { m_link.start(); }
    void stop() { m_link.stop(); }

    bool isConnected() const { return m_link.isConnected(); }
    int reconnectCount() const { return m_link.reconnectCount(); }
    const PublishCounters &publishCounters() const { return m_router.publishCounters(); }

    ComponentLink &link() { return m_link; }
    IqRouter &router() { return m_router; }
    PushPublisher &publisher() { return m_publisher; }

Q_SIGNALS:
    void connected();
    void disconnected(const QString &reason);

private:
    void wire();

    // Declaration order is destruction order in reverse: the router and
    // publisher go before the link they answer on.
    ComponentLink m_link;
    PushPublisher m_publisher;
    IqRouter m_router;
};

} // namespace uwpx

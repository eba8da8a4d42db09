#pragma once

#include "componentrole.h"
#include "publishoutcome.h"
#include "refusalreason.h"
#include "xmppsettings.h"

#include <QDateTime>
#include <QObject>

#include <memory>

namespace uwpx {

class Storage;
class WnsClient;

// The XMPP side of the daemon in one object (docs/protocol.md): the component link to
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
    ~XmppComponent() override;

    void start();
    // A clean goodbye: publishes already accepted are answered (those still
    // waiting for WNS after a few seconds get `wait`), then the stream is
    // closed, so the XMPP server turns to another instance at once. Emits
    // stopped() when done.
    void shutdown();
    // A standby connects at once: the active instance said it is leaving,
    // or this instance now holds the instance lock.
    void takeOverNow();
    // A standby waits for takeOverNow() instead of asking the XMPP server
    // every second (see ComponentLink::setStandbyWaits).
    void setStandbyWaits(bool waits);

    bool isConnected() const;
    ComponentRole role() const;
    // How many times the link was established again after its first handshake.
    int reconnectCount() const;

Q_SIGNALS:
    void connected();
    void disconnected(const QString &reason);
    void roleChanged(uwpx::ComponentRole role);
    // The XMPP server refused this instance: another one holds the JID.
    void conflict();
    // shutdown() is done: the stream is closed.
    void stopped();
    // Something from outside was turned away: a stanza too large, too deep
    // or malformed (RefusalReason::Stanza), for the operator's metrics.
    void refused(uwpx::RefusalReason reason);
    // Every publish is answered exactly once; this says how.
    void publishAnswered(uwpx::PublishOutcome outcome);
    // WNS accepted a publish's notification for this device, which the store
    // last saw refreshed at `refreshedAt`.
    void deviceReached(const QString &deviceId, const QDateTime &refreshedAt);

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace uwpx

#pragma once

#include "pushpublisher.h"
#include "xmlelement.h"

#include <QObject>

namespace uwpx {

// Decides what each incoming stanza is and answers every IQ get/set exactly
// once: publishes go to the PushPublisher, disco#info and XEP-0199 pings are
// answered here, anything else gets a stanza error. IQ results and errors
// (answers to our keepalive pings), messages and presences are consumed.
class IqRouter : public QObject {
    Q_OBJECT
public:
    IqRouter(const QString &componentJid, PushPublisher &publisher, QObject *parent = nullptr);

    void route(const uwpx::XmlElement &stanza);
    // A stanza the reader skipped (too large, malformed): an IQ request still
    // gets the error `condition`, so its sender is not left waiting.
    void refuse(const uwpx::XmlElement &stanza, const QString &condition, const QString &reason);

    // Publishes routed and not answered yet.
    int pendingPublishes() const { return m_pendingPublishes; }

    // Replies built here, for callers and tests that want them.
    static XmlElement resultFor(const XmlElement &iq);
    static XmlElement errorFor(const XmlElement &iq, const QString &type, const QString &condition);

Q_SIGNALS:
    // A reply to send back on the link.
    void reply(const uwpx::XmlElement &stanza);
    void publishAnswered(uwpx::PublishOutcome outcome);
    // The last pending publish was answered.
    void publishesSettled();

private:
    void routePublish(const XmlElement &iq);
    void answerPublish(const XmlElement &iq, const PublishVerdict &verdict);
    XmlElement discoInfo(const XmlElement &iq) const;

    QString m_componentJid;
    PushPublisher &m_publisher;
    int m_pendingPublishes = 0;
};

} // namespace uwpx

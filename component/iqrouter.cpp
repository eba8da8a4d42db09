#include "iqrouter.h"

#include "identity.h"
#include "xmpplog.h"
#include "xmppnamespaces.h"

#include <QPointer>

namespace uwpx {

IqRouter::IqRouter(const QString &componentJid, PushPublisher &publisher, QObject *parent)
    : QObject(parent)
    , m_componentJid(componentJid)
    , m_publisher(publisher) {}

XmlElement IqRouter::resultFor(const XmlElement &iq) {
    XmlElement result(QStringLiteral("iq"));
    result.setAttribute(QStringLiteral("type"), QStringLiteral("result"));
    if (iq.hasAttribute(QStringLiteral("to")))
        result.setAttribute(QStringLiteral("from"), iq.attribute(QStringLiteral("to")));
    if (iq.hasAttribute(QStringLiteral("from")))
        result.setAttribute(QStringLiteral("to"), iq.attribute(QStringLiteral("from")));
    result.setAttribute(QStringLiteral("id"), iq.attribute(QStringLiteral("id")));
    return result;
}

XmlElement IqRouter::errorFor(const XmlElement &iq, const QString &type, const QString &condition) {
    XmlElement reply = resultFor(iq);
    reply.setAttribute(QStringLiteral("type"), QStringLiteral("error"));
    // RFC 6120 §8.3.1: the error may carry the original payload, which lets
    // the user's server match it; it holds nothing of ours.
    if (const XmlElement *original = iq.firstChildElement())
        reply.appendChild(*original);
    XmlElement &error = reply.appendChild(XmlElement(QStringLiteral("error")));
    error.setAttribute(QStringLiteral("type"), type);
    error.appendChild(XmlElement(condition, ns::stanzaErrors));
    return reply;
}

void IqRouter::route(const XmlElement &stanza) {
    if (stanza.name() != QLatin1String("iq"))
        return; // messages and presences mean nothing to a push service
    const QString type = stanza.attribute(QStringLiteral("type"));
    if (type == QLatin1String("result") || type == QLatin1String("error"))
        return; // answers to our keepalive pings; the link already saw them
    if (type != QLatin1String("get") && type != QLatin1String("set")) {
        Q_EMIT reply(errorFor(stanza, QStringLiteral("modify"), QStringLiteral("bad-request")));
        return;
    }

    if (PublishRequest::isPublish(stanza)) {
        routePublish(stanza);
        return;
    }
    const XmlElement *payload = stanza.firstChildElement();
    if (type == QLatin1String("get") && payload &&
        payload->is(QStringLiteral("query"), ns::discoInfo)) {
        Q_EMIT reply(discoInfo(stanza));
        return;
    }
    if (type == QLatin1String("get") && payload && payload->is(QStringLiteral("ping"), ns::ping)) {
        Q_EMIT reply(resultFor(stanza));
        return;
    }
    if (!payload) {
        Q_EMIT reply(errorFor(stanza, QStringLiteral("modify"), QStringLiteral("bad-request")));
        return;
    }
    Q_EMIT reply(errorFor(stanza, QStringLiteral("cancel"), QStringLiteral("service-unavailable")));
}

void IqRouter::refuse(const XmlElement &stanza, const QString &condition, const QString &reason) {
    qCInfo(lcXmpp).noquote() << "skipped a stanza from"
                             << jidDomain(stanza.attribute(QStringLiteral("from"))) << ":"
                             << reason;
    const QString type = stanza.attribute(QStringLiteral("type"));
    if (stanza.name() != QLatin1String("iq") ||
        (type != QLatin1String("get") && type != QLatin1String("set")))
        return;
    // RFC 6120 §8.3.3.12: a stanza over a local limit violates policy.
    Q_EMIT reply(errorFor(stanza, QStringLiteral("modify"), condition));
}

void IqRouter::routePublish(const XmlElement &iq) {
    QString why;
    const std::optional<PublishRequest> request = PublishRequest::parse(iq, &why);
    if (!request) {
        qCInfo(lcXmpp).noquote() << "malformed publish from"
                                 << jidDomain(iq.attribute(QStringLiteral("from"))) << ":" << why;
        answerPublish(iq, {PublishOutcome::BadRequest, false, why});
        return;
    }
    ++m_pendingPublishes;
    m_publisher.publish(*request,
                        [self = QPointer<IqRouter>(this), iq](const PublishVerdict &verdict) {
                            if (!self)
                                return;
                            self->answerPublish(iq, verdict);
                            if (--self->m_pendingPublishes == 0)
                                Q_EMIT self->publishesSettled();
                        });
}

void IqRouter::answerPublish(const XmlElement &iq, const PublishVerdict &verdict) {
    Q_EMIT publishAnswered(verdict.outcome);
    switch (verdict.outcome) {
    case PublishOutcome::Delivered:
    case PublishOutcome::Coalesced:
        Q_EMIT reply(resultFor(iq));
        return;
    case PublishOutcome::UnknownNode:
        Q_EMIT reply(errorFor(iq, QStringLiteral("cancel"), QStringLiteral("item-not-found")));
        return;
    case PublishOutcome::Gone:
    case PublishOutcome::Suspended:
        // The device is suspended until it sends a new channel; any error but
        // `wait` would end the registration it cannot make again.
        Q_EMIT reply(errorFor(iq, QStringLiteral("wait"), QStringLiteral("recipient-unavailable")));
        return;
    case PublishOutcome::Forbidden:
        Q_EMIT reply(errorFor(iq, QStringLiteral("auth"), QStringLiteral("forbidden")));
        return;
    case PublishOutcome::BadRequest:
        Q_EMIT reply(errorFor(iq, QStringLiteral("modify"), QStringLiteral("bad-request")));
        return;
    case PublishOutcome::Transient:
        // `wait` is the only error that keeps the user's registration alive
        // on both Prosody and ejabberd (docs/xmpp-servers.md).
        Q_EMIT reply(errorFor(iq, QStringLiteral("wait"),
                              verdict.throttled ? QStringLiteral("resource-constraint")
                                                : QStringLiteral("internal-server-error")));
        return;
    }
}

XmlElement IqRouter::discoInfo(const XmlElement &iq) const {
    XmlElement result = resultFor(iq);
    XmlElement &query = result.appendChild(XmlElement(QStringLiteral("query"), ns::discoInfo));
    const XmlElement *asked = iq.firstChildElement();
    if (asked->hasAttribute(QStringLiteral("node")))
        query.setAttribute(QStringLiteral("node"), asked->attribute(QStringLiteral("node")));
    query.appendChild(XmlElement(QStringLiteral("identity")))
        .setAttribute(QStringLiteral("category"), QStringLiteral("pubsub"))
        .setAttribute(QStringLiteral("type"), QStringLiteral("push"))
        .setAttribute(QStringLiteral("name"), QStringLiteral("UWPX push server"));
    for (const QString &feature : {ns::push, ns::discoInfo, ns::ping})
        query.appendChild(XmlElement(QStringLiteral("feature")))
            .setAttribute(QStringLiteral("var"), feature);
    return result;
}

} // namespace uwpx

#pragma once

#include "xmlelement.h"

#include <QString>

#include <optional>

namespace uwpx {

// What the publish path needs from an XEP-0357 publish (docs/protocol.md), read from
// the shapes Prosody and ejabberd really send (docs/xmpp-servers.md). The
// summary's last-message-body and last-message-sender are deliberately never
// kept (only whether they are there): they must not reach WNS, and what is
// not kept cannot leak.
struct PublishRequest {
    QString id;
    QString from; // the user's server, as stamped by it
    QString to;   // us
    QString node;
    QString secret;       // from publish-options; empty when missing
    QString senderDomain; // domain part of `from`, lowercased
    int messageCount = 0; // missing or unreadable counts are 0
    int pendingSubscriptionCount = 0;
    // The summary announces subscription requests and nothing about messages
    // (no message count, body or sender): the one push that need not wake a
    // sleeping device at once (docs/protocol.md, "Notifications"). A publish
    // without a summary (ejabberd) may be a message, so it is not this.
    bool announcesOnlySubscriptions = false;

    // Whether `iq` is an <iq type='set'> carrying a pubsub <publish>: such an
    // iq goes to parse() and is either a publish or a bad request.
    static bool isPublish(const XmlElement &iq);

    // nullopt for a malformed publish (no node, no item, no notification, no
    // sender), with the reason in *why.
    static std::optional<PublishRequest> parse(const XmlElement &iq, QString *why);
};

} // namespace uwpx

#include "publishrequest.h"

#include "identity.h"
#include "xmppnamespaces.h"

namespace uwpx {

namespace {

// A data form's FORM_TYPE, or an empty string if it has none.
QString formType(const XmlElement &form) {
    for (const XmlElement *field : form.childrenNamed(QStringLiteral("field"))) {
        if (field->attribute(QStringLiteral("var")) == QLatin1String("FORM_TYPE")) {
            const XmlElement *value = field->firstChild(QStringLiteral("value"));
            return value ? value->text().trimmed() : QString();
        }
    }
    return {};
}

// The first value of field `var`, or a null string if the field is absent.
QString fieldValue(const XmlElement &form, const QString &var) {
    for (const XmlElement *field : form.childrenNamed(QStringLiteral("field"))) {
        if (field->attribute(QStringLiteral("var")) == var) {
            const XmlElement *value = field->firstChild(QStringLiteral("value"));
            return value ? value->text() : QStringLiteral("");
        }
    }
    return {};
}

// The first jabber:x:data form below `parent` of that FORM_TYPE.
const XmlElement *findForm(const XmlElement *parent, const QString &type) {
    if (!parent)
        return nullptr;
    for (const XmlElement *form : parent->childrenNamed(QStringLiteral("x"), ns::dataForms)) {
        if (formType(*form) == type)
            return form;
    }
    return nullptr;
}

// Prosody sends empty counts, ejabberd leaves message-count out: both mean
// "no number", which WNS gets as 0. Garbage is treated the same way rather
// than as a bad request, because an error reply would disable the user's push.
int count(const XmlElement *form, const QString &var) {
    if (!form)
        return 0;
    bool ok = false;
    const int value = fieldValue(*form, var).trimmed().toInt(&ok);
    return ok && value >= 0 ? value : 0;
}

const XmlElement *publishElement(const XmlElement &iq) {
    const XmlElement *pubsub = iq.firstChild(QStringLiteral("pubsub"), ns::pubsub);
    return pubsub ? pubsub->firstChild(QStringLiteral("publish"), ns::pubsub) : nullptr;
}

} // namespace

bool PublishRequest::isPublish(const XmlElement &iq) {
    return iq.name() == QLatin1String("iq") && iq.attribute(QStringLiteral("type")) == "set" &&
           publishElement(iq) != nullptr;
}

std::optional<PublishRequest> PublishRequest::parse(const XmlElement &iq, QString *whyOut) {
    QString ignored;
    QString *why = whyOut ? whyOut : &ignored;
    const XmlElement *publish = publishElement(iq);
    if (!publish) {
        *why = QStringLiteral("no pubsub publish");
        return std::nullopt;
    }
    PublishRequest request;
    request.id = iq.attribute(QStringLiteral("id"));
    request.from = iq.attribute(QStringLiteral("from"));
    request.to = iq.attribute(QStringLiteral("to"));
    request.node = publish->attribute(QStringLiteral("node"));
    request.senderDomain = jidDomain(request.from);
    if (request.node.isEmpty()) {
        *why = QStringLiteral("publish without a node");
        return std::nullopt;
    }
    if (request.senderDomain.isEmpty()) {
        *why = QStringLiteral("publish without a sender");
        return std::nullopt;
    }
    const XmlElement *item = publish->firstChild(QStringLiteral("item"), ns::pubsub);
    const XmlElement *notification =
        item ? item->firstChild(QStringLiteral("notification"), ns::push) : nullptr;
    if (!notification) {
        *why = QStringLiteral("publish without an urn:xmpp:push:0 notification");
        return std::nullopt;
    }

    const XmlElement *summary = findForm(notification, ns::pushSummary);
    request.messageCount = count(summary, QStringLiteral("message-count"));
    request.pendingSubscriptionCount = count(summary, QStringLiteral("pending-subscription-count"));
    // Whether body and sender are present is all that is read of them.
    const auto present = [summary](const char *var) {
        return !fieldValue(*summary, QLatin1String(var)).trimmed().isEmpty();
    };
    request.announcesOnlySubscriptions =
        summary && request.pendingSubscriptionCount > 0 && request.messageCount == 0 &&
        !present("last-message-body") && !present("last-message-sender");

    // Only the secret field of the options matters.
    const XmlElement *pubsub = iq.firstChild(QStringLiteral("pubsub"), ns::pubsub);
    const XmlElement *options = pubsub->firstChild(QStringLiteral("publish-options"));
    const XmlElement *form = findForm(options, ns::publishOptions);
    if (!form && options) // a client that left FORM_TYPE out of its enable form
        form = options->firstChild(QStringLiteral("x"), ns::dataForms);
    if (form)
        request.secret = fieldValue(*form, QStringLiteral("secret")).trimmed();
    return request;
}

} // namespace uwpx

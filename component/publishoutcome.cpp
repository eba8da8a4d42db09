#include "publishoutcome.h"

namespace uwpx {

QString publishOutcomeName(PublishOutcome outcome) {
    switch (outcome) {
    case PublishOutcome::Delivered:
        return QStringLiteral("delivered");
    case PublishOutcome::Coalesced:
        return QStringLiteral("coalesced");
    case PublishOutcome::UnknownNode:
        return QStringLiteral("unknown_node");
    case PublishOutcome::Forbidden:
        return QStringLiteral("forbidden");
    case PublishOutcome::Transient:
        return QStringLiteral("transient");
    case PublishOutcome::Gone:
        return QStringLiteral("gone");
    case PublishOutcome::Suspended:
        return QStringLiteral("suspended");
    case PublishOutcome::BadRequest:
        return QStringLiteral("bad_request");
    }
    return QStringLiteral("unknown");
}

} // namespace uwpx

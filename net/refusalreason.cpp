#include "refusalreason.h"

namespace uwpx {

QString refusalReasonName(RefusalReason reason) {
    switch (reason) {
    case RefusalReason::Connections:
        return QStringLiteral("connections");
    case RefusalReason::ConnectionsPerAddress:
        return QStringLiteral("connections_per_address");
    case RefusalReason::Handshakes:
        return QStringLiteral("handshakes");
    case RefusalReason::HandshakeTimeout:
        return QStringLiteral("handshake_timeout");
    case RefusalReason::RatePerAddress:
        return QStringLiteral("rate_per_address");
    case RefusalReason::RatePerDevice:
        return QStringLiteral("rate_per_device");
    case RefusalReason::TestPushRate:
        return QStringLiteral("test_push_rate");
    case RefusalReason::ProxyHeader:
        return QStringLiteral("proxy_header");
    case RefusalReason::ProxyUntrusted:
        return QStringLiteral("proxy_untrusted");
    case RefusalReason::Stanza:
        return QStringLiteral("stanza");
    case RefusalReason::OperatorEndpoint:
        return QStringLiteral("operator_endpoint");
    }
    return QStringLiteral("unknown");
}

} // namespace uwpx

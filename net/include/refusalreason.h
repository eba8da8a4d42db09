#pragma once

#include <QMetaType>
#include <QString>

namespace uwpx {

// Why something from outside was turned away by a limit: a connection, a
// request or a stanza. The endpoints report these; the operator's metrics
// count them as uwpx_refused_total{reason} (docs/operations.md, "Metrics").
enum class RefusalReason {
    Connections,           // [registration] max_connections
    ConnectionsPerAddress, // [registration] max_connections_per_address
    Handshakes,            // [registration] max_handshakes, or too many from one address
    HandshakeTimeout,      // [registration] handshake_timeout passed, or (the PROXY protocol
                           // on) a client left before its first byte
    RatePerAddress,        // [registration] rate_per_address
    RatePerDevice,         // [registration] rate_per_device
    TestPushRate,          // [registration] test_push_interval
    ProxyHeader,           // a trusted balancer's connection without a valid PROXY header
    ProxyUntrusted,        // a PROXY header from an address not in proxy_protocol_from
    Stanza,                // an XMPP stanza over the limits, answered with an error
    OperatorEndpoint,      // the /health and /metrics endpoint's own limits
};

// The `reason` label, as docs/operations.md lists it: "connections",
// "connections_per_address", ... Dashboards and alerts select on these.
QString refusalReasonName(RefusalReason reason);

} // namespace uwpx

Q_DECLARE_METATYPE(uwpx::RefusalReason)

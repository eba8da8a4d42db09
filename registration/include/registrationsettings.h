#pragma once

#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>

namespace uwpx {

// The [registration] section (docs/configuration.md).
struct RegistrationSettings {
    QHostAddress address = QHostAddress::AnyIPv4;
    quint16 port = 1997;
    QString certificate; // PEM file
    QString privateKey;  // PEM file
    int idleTimeoutMs = 60000;
    int maxConnections = 1000;

    // What one client address may take (IPv6: one /64): connections open
    // at once, and requests per second on average (bursts of four times as
    // many). Many clients may share an address (carrier-grade NAT).
    int maxConnectionsPerAddress = 32;
    double requestsPerSecondPerAddress = 5;
    // What one device may ask: requests per minute, and the seconds between
    // two test pushes (each is a WNS request to its channel).
    double requestsPerMinutePerDevice = 6;
    int testPushIntervalMs = 10000;
    // The TLS handshake must be done within this, well before the idle
    // timeout; at most this many handshakes run at once (a few per address).
    int handshakeTimeoutMs = 10000;
    int maxHandshakes = 256;

    // Load balancers (addresses with prefix lengths) whose connections start
    // with a PROXY protocol header naming the client, which the limits and
    // logs then see ([registration] proxy_protocol_from). Empty: off, and
    // nobody may send one.
    QList<QPair<QHostAddress, int>> proxyProtocolFrom;
};

} // namespace uwpx

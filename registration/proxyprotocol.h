#pragma once

#include <QByteArrayView>
#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>

// The PROXY protocol header a TCP load balancer (HAProxy's send-proxy and
// send-proxy-v2) puts in front of a connection to say whose it is: version 1
// is one text line, version 2 a binary block. Only the client's address is
// used; TLVs are skipped. See docs/deployment.md for where it is accepted.
namespace uwpx::proxy {

// Version 1's longest line ("PROXY TCP6 " and two full IPv6 addresses and
// ports, CRLF included), from the protocol's own text.
constexpr qsizetype kMaxV1Bytes = 107;
// Version 2: the 16 bytes before the addresses, and at most this much of
// addresses and TLVs (HAProxy sends 12 or 36 bytes of addresses, plus TLVs
// only when configured to). More is refused, never buffered.
constexpr qsizetype kV2FixedBytes = 16;
constexpr qsizetype kMaxV2PayloadBytes = 1024;
constexpr qsizetype kMaxHeaderBytes = kV2FixedBytes + kMaxV2PayloadBytes;

struct Header {
    int version = 0;
    // false for version 2's LOCAL (the balancer's own health check),
    // version 1's UNKNOWN and families other than TCP over IPv4 or IPv6: the
    // connection's own peer address stands, as the protocol asks.
    bool hasClient = false;
    QHostAddress client;
    quint16 clientPort = 0;
};

struct ParseResult {
    enum class Status {
        Incomplete, // a header may still follow: more bytes are needed
        Invalid,    // no header, or a broken one: close the connection
        Complete,
    };
    Status status = Status::Incomplete;
    Header header;
    qsizetype length = 0; // Complete: how many bytes the header took
    QString error;        // Invalid: why, for the log
};

// Reads the header at the start of `data`. Bytes after a complete header
// (the TLS handshake) are not looked at. Incomplete never needs more than
// kMaxHeaderBytes: a header not complete by then is Invalid.
ParseResult parse(QByteArrayView data);

// An IPv4 client reached over an IPv6 socket ("::ffff:192.0.2.1") as the
// IPv4 address it is, so that limits and the trusted list see one address.
QHostAddress unmapped(const QHostAddress &address);

// An address or CIDR of [registration] proxy_protocol_from.
using Subnet = QPair<QHostAddress, int>;

// Whether `peer` is in one of `subnets`.
bool isTrusted(const QList<Subnet> &subnets, const QHostAddress &peer);

} // namespace uwpx::proxy

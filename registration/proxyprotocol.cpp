#include "proxyprotocol.h"

#include <QtEndian>

namespace uwpx::proxy {

namespace {

using Status = ParseResult::Status;

const QByteArrayView kV1Signature("PROXY ");
const char kV2SignatureBytes[] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                  '\n', 'Q',  'U',  'I',  'T',  '\n'};
const QByteArrayView kV2Signature(kV2SignatureBytes, sizeof kV2SignatureBytes);

ParseResult invalid(const QString &why) {
    ParseResult result;
    result.status = Status::Invalid;
    result.error = why;
    return result;
}

ParseResult complete(const Header &header, qsizetype length) {
    ParseResult result;
    result.status = Status::Complete;
    result.header = header;
    result.length = length;
    return result;
}

// Whether `data` is a start of `signature` or begins with all of it.
bool matchesSoFar(QByteArrayView data, QByteArrayView signature) {
    const qsizetype n = std::min(data.size(), signature.size());
    return data.first(n) == signature.first(n);
}

// A port of version 1: decimal, 0 to 65535.
bool parsePort(QByteArrayView text, quint16 *port) {
    if (text.isEmpty() || text.size() > 5)
        return false;
    uint value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + uint(c - '0');
    }
    if (value > 65535)
        return false;
    *port = quint16(value);
    return true;
}

bool parseAddress(QByteArrayView text, QAbstractSocket::NetworkLayerProtocol family,
                  QHostAddress *address) {
    // Only the characters an address of that family has: QHostAddress would
    // also take scope ids and other spellings the protocol does not allow.
    for (const char c : text) {
        const bool digit = c >= '0' && c <= '9';
        const bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        const bool ok = family == QAbstractSocket::IPv4Protocol ? digit || c == '.'
                                                                : hex || c == ':' || c == '.';
        if (!ok)
            return false;
    }
    return !text.isEmpty() && address->setAddress(QString::fromLatin1(text)) &&
           address->protocol() == family;
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 1997\r\n", or "PROXY UNKNOWN ...\r\n".
ParseResult parseV1(QByteArrayView data) {
    const qsizetype newline = data.indexOf('\n');
    if (newline < 0) {
        if (data.size() >= kMaxV1Bytes)
            return invalid(QStringLiteral("PROXY v1 line longer than 107 bytes"));
        return {};
    }
    const qsizetype length = newline + 1;
    if (length > kMaxV1Bytes)
        return invalid(QStringLiteral("PROXY v1 line longer than 107 bytes"));
    if (newline == 0 || data[newline - 1] != '\r')
        return invalid(QStringLiteral("PROXY v1 line does not end with CRLF"));
    const QByteArrayView line = data.first(newline - 1).sliced(kV1Signature.size());
    const QList<QByteArrayView> fields = [&line] {
        QList<QByteArrayView> parts;
        qsizetype start = 0;
        for (qsizetype i = 0; i <= line.size(); ++i) {
            if (i == line.size() || line[i] == ' ') {
                parts << line.sliced(start, i - start);
                start = i + 1;
            }
        }
        return parts;
    }();
    Header header;
    header.version = 1;
    if (fields.value(0) == "UNKNOWN")
        return complete(header, length); // the rest of the line is to be ignored
    const bool tcp4 = fields.value(0) == "TCP4";
    if (!tcp4 && fields.value(0) != "TCP6")
        return invalid(QStringLiteral("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN"));
    const auto family = tcp4 ? QAbstractSocket::IPv4Protocol : QAbstractSocket::IPv6Protocol;
    QHostAddress destination;
    quint16 destinationPort = 0;
    if (fields.size() != 5 || !parseAddress(fields[1], family, &header.client) ||
        !parseAddress(fields[2], family, &destination) ||
        !parsePort(fields[3], &header.clientPort) || !parsePort(fields[4], &destinationPort))
        return invalid(QStringLiteral("PROXY v1 line has no valid addresses and ports"));
    header.hasClient = true;
    return complete(header, length);
}

// The 12-byte signature, version and command, family and transport, the
// length of what follows (big-endian), then addresses and TLVs.
ParseResult parseV2(QByteArrayView data) {
    if (data.size() < kV2FixedBytes)
        return {};
    const auto versionCommand = quint8(data[12]);
    if (versionCommand >> 4 != 2)
        return invalid(QStringLiteral("PROXY v2 header of an unknown version"));
    const int command = versionCommand & 0x0f;
    if (command > 1)
        return invalid(QStringLiteral("PROXY v2 header with an unknown command"));
    const auto familyTransport = quint8(data[13]);
    const qsizetype payload = qFromBigEndian<quint16>(data.data() + 14);
    if (payload > kMaxV2PayloadBytes)
        return invalid(QStringLiteral("PROXY v2 header with %1 bytes of addresses, more than %2")
                           .arg(payload)
                           .arg(kMaxV2PayloadBytes));
    const qsizetype length = kV2FixedBytes + payload;
    if (data.size() < length)
        return {};
    Header header;
    header.version = 2;
    if (command == 0) // LOCAL: the balancer speaking for itself
        return complete(header, length);
    const int family = familyTransport >> 4;
    const int transport = familyTransport & 0x0f;
    const auto *addresses = reinterpret_cast<const uchar *>(data.data() + kV2FixedBytes);
    constexpr int kInet = 1, kInet6 = 2, kStream = 1;
    if (family > 3 || transport > 2)
        return invalid(QStringLiteral("PROXY v2 header with an unknown address family"));
    if (transport != kStream || (family != kInet && family != kInet6))
        return complete(header, length); // UNSPEC, UNIX, UDP: nothing we can use
    if (family == kInet) {
        if (payload < 12)
            return invalid(QStringLiteral("PROXY v2 header too short for IPv4 addresses"));
        header.client = QHostAddress(qFromBigEndian<quint32>(addresses));
        header.clientPort = qFromBigEndian<quint16>(addresses + 8);
    } else {
        if (payload < 36)
            return invalid(QStringLiteral("PROXY v2 header too short for IPv6 addresses"));
        header.client = QHostAddress(addresses);
        header.clientPort = qFromBigEndian<quint16>(addresses + 32);
    }
    header.hasClient = true;
    return complete(header, length);
}

} // namespace

ParseResult parse(QByteArrayView data) {
    if (data.isEmpty())
        return {};
    if (matchesSoFar(data, kV1Signature))
        return data.size() < kV1Signature.size() ? ParseResult{} : parseV1(data);
    if (matchesSoFar(data, kV2Signature))
        return data.size() < kV2Signature.size() ? ParseResult{} : parseV2(data);
    return invalid(QStringLiteral("no PROXY protocol header"));
}

QHostAddress unmapped(const QHostAddress &address) {
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    return isV4 ? QHostAddress(v4) : address;
}

bool isTrusted(const QList<Subnet> &subnets, const QHostAddress &peer) {
    const QHostAddress address = unmapped(peer);
    for (const Subnet &subnet : subnets) {
        if (address.isInSubnet(subnet.first, subnet.second) ||
            peer.isInSubnet(subnet.first, subnet.second))
            return true;
    }
    return false;
}

} // namespace uwpx::proxy

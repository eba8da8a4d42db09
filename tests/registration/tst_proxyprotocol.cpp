// The PROXY protocol header a load balancer sends before a client's TLS
// handshake ([registration] proxy_protocol_from): the parser (version 1
// text, version 2 binary; TCP4, TCP6, UNKNOWN, LOCAL; broken and oversized
// headers) and the receiver on a real socket (a header trickled in, one too
// slow, a header from a peer not trusted), which must never read a byte of
// the TLS handshake behind the header.

#include "proxyheaderreceiver.h"
#include "proxyprotocol.h"

#include <QSignalSpy>
#include <QTest>
#include <QtEndian>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace uwpx;
using Status = proxy::ParseResult::Status;

Q_DECLARE_METATYPE(uwpx::proxy::Header)

namespace {

const QByteArray kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
// What follows the header: the start of a TLS ClientHello.
const QByteArray kClientHello("\x16\x03\x01\x02\x00\x01", 6);

// A version 2 header: command (0 LOCAL, 1 PROXY), family/transport byte,
// then the address block.
QByteArray v2(int command, quint8 familyTransport, const QByteArray &addresses) {
    QByteArray header = kV2Signature;
    header.append(char(0x20 | command));
    header.append(char(familyTransport));
    const quint16 length = qToBigEndian<quint16>(quint16(addresses.size()));
    header.append(reinterpret_cast<const char *>(&length), 2);
    return header + addresses;
}

QByteArray bigEndian16(quint16 value) {
    const quint16 be = qToBigEndian(value);
    return QByteArray(reinterpret_cast<const char *>(&be), 2);
}

// The 16 bytes before the addresses, any of them as given.
QByteArray v2Fixed(quint8 versionCommand, quint8 familyTransport, quint16 length) {
    return kV2Signature + char(versionCommand) + char(familyTransport) + bigEndian16(length);
}

QByteArray inet(const char *source, const char *destination, quint16 sport, quint16 dport) {
    QByteArray block;
    for (const char *text : {source, destination}) {
        const quint32 be = qToBigEndian(QHostAddress(QString::fromLatin1(text)).toIPv4Address());
        block.append(reinterpret_cast<const char *>(&be), 4);
    }
    return block + bigEndian16(sport) + bigEndian16(dport);
}

QByteArray inet6(const char *source, const char *destination, quint16 sport, quint16 dport) {
    QByteArray block;
    for (const char *text : {source, destination}) {
        const Q_IPV6ADDR address = QHostAddress(QString::fromLatin1(text)).toIPv6Address();
        block.append(reinterpret_cast<const char *>(address.c), 16);
    }
    return block + bigEndian16(sport) + bigEndian16(dport);
}

} // namespace

class ProxyProtocolTest : public QObject {
    Q_OBJECT

private:
    // A connected pair of non-blocking stream sockets: [0] is the server's
    // accepted descriptor, [1] the balancer's end.
    struct Pair {
        int fds[2] = {-1, -1};
        Pair() { ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds); }
        ~Pair() {
            if (fds[1] >= 0)
                ::close(fds[1]);
        }
        void send(const QByteArray &bytes) const {
            QCOMPARE(::write(fds[1], bytes.constData(), size_t(bytes.size())),
                     ssize_t(bytes.size()));
        }
    };

    // What is left in the socket once the receiver handed it on.
    static QByteArray rest(qintptr descriptor) {
        char buffer[64];
        const ssize_t n = ::recv(int(descriptor), buffer, sizeof buffer, MSG_DONTWAIT);
        return n > 0 ? QByteArray(buffer, n) : QByteArray();
    }

private Q_SLOTS:
    void initTestCase() { qRegisterMetaType<proxy::Header>(); }

    void parses_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("version");
        QTest::addColumn<QString>("client"); // empty: none named
        QTest::addColumn<int>("port");
        QTest::newRow("v1 TCP4") << QByteArray("PROXY TCP4 192.0.2.7 198.51.100.1 56324 1997\r\n")
                                 << 1 << "192.0.2.7" << 56324;
        QTest::newRow("v1 TCP6") << QByteArray("PROXY TCP6 2001:db8::7 2001:db8::1 4000 1997\r\n")
                                 << 1 << "2001:db8::7" << 4000;
        QTest::newRow("v1 longest") << QByteArray("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
                                                  "ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                                                  "65535 65535\r\n")
                                    << 1 << "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" << 65535;
        QTest::newRow("v1 UNKNOWN") << QByteArray("PROXY UNKNOWN\r\n") << 1 << "" << 0;
        QTest::newRow("v1 UNKNOWN with addresses")
            << QByteArray("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n") << 1 << "" << 0;
        QTest::newRow("v2 TCP4") << v2(1, 0x11, inet("203.0.113.9", "10.0.0.1", 40000, 1997)) << 2
                                 << "203.0.113.9" << 40000;
        QTest::newRow("v2 TCP6") << v2(1, 0x21, inet6("2001:db8::9", "2001:db8::1", 5, 1997)) << 2
                                 << "2001:db8::9" << 5;
        QTest::newRow("v2 TCP4 with TLVs")
            << v2(1, 0x11, inet("203.0.113.9", "10.0.0.1", 1, 2) + QByteArray("\x04\x00\x01x", 4))
            << 2 << "203.0.113.9" << 1;
        QTest::newRow("v2 LOCAL") << v2(0, 0x00, {}) << 2 << "" << 0;
        QTest::newRow("v2 LOCAL with addresses")
            << v2(0, 0x11, inet("10.0.0.2", "10.0.0.1", 1, 2)) << 2 << "" << 0;
        QTest::newRow("v2 UNSPEC") << v2(1, 0x00, {}) << 2 << "" << 0;
        QTest::newRow("v2 UNIX") << v2(1, 0x31, QByteArray(216, 'x')) << 2 << "" << 0;
    }

    // A header is read whole, and the TLS bytes behind it are not counted in.
    void parses() {
        QFETCH(QByteArray, bytes);
        QFETCH(int, version);
        QFETCH(QString, client);
        QFETCH(int, port);
        const proxy::ParseResult result = proxy::parse(bytes + kClientHello);
        QCOMPARE(result.status, Status::Complete);
        QCOMPARE(result.length, bytes.size());
        QCOMPARE(result.header.version, version);
        QCOMPARE(result.header.hasClient, !client.isEmpty());
        if (!client.isEmpty()) {
            QCOMPARE(result.header.client, QHostAddress(client));
            QCOMPARE(int(result.header.clientPort), port);
        }
        // Every part of it is incomplete, never invalid.
        for (qsizetype n = 0; n < bytes.size(); ++n)
            QCOMPARE(proxy::parse(bytes.first(n)).status, Status::Incomplete);
    }

    void refuses_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::newRow("TLS without a header") << kClientHello;
        QTest::newRow("HTTP") << QByteArray("GET / HTTP/1.1\r\n");
        QTest::newRow("lower case") << QByteArray("proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n");
        QTest::newRow("v1 TCP5") << QByteArray("PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n");
        QTest::newRow("v1 IPv6 as TCP4") << QByteArray("PROXY TCP4 ::1 ::2 1 2\r\n");
        QTest::newRow("v1 IPv4 as TCP6") << QByteArray("PROXY TCP6 1.2.3.4 1.2.3.5 1 2\r\n");
        QTest::newRow("v1 a name") << QByteArray("PROXY TCP4 localhost 1.2.3.5 1 2\r\n");
        QTest::newRow("v1 scope id") << QByteArray("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n");
        QTest::newRow("v1 port too big") << QByteArray("PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n");
        QTest::newRow("v1 negative port") << QByteArray("PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n");
        QTest::newRow("v1 missing port") << QByteArray("PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n");
        QTest::newRow("v1 two spaces") << QByteArray("PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n");
        QTest::newRow("v1 LF only") << QByteArray("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n");
        QTest::newRow("v1 too long") << QByteArray("PROXY UNKNOWN ") + QByteArray(100, 'x');
        QTest::newRow("v1 too long, then CRLF")
            << QByteArray("PROXY UNKNOWN ") + QByteArray(100, 'x') + "\r\n";
        QTest::newRow("v2 version 1") << v2Fixed(0x11, 0x11, 0);
        QTest::newRow("v2 command 2") << v2Fixed(0x22, 0x11, 0);
        QTest::newRow("v2 family 4") << v2(1, 0x41, {});
        QTest::newRow("v2 IPv4 too short") << v2(1, 0x11, QByteArray(11, '\0'));
        QTest::newRow("v2 IPv6 too short") << v2(1, 0x21, QByteArray(35, '\0'));
        QTest::newRow("v2 oversized") << v2Fixed(0x21, 0x11, proxy::kMaxV2PayloadBytes + 1);
        QTest::newRow("v2 broken signature") << QByteArray("\r\n\r\n\0\r\nQUIT\r", 12);
    }

    void refuses() {
        QFETCH(QByteArray, bytes);
        const proxy::ParseResult result = proxy::parse(bytes);
        QCOMPARE(result.status, Status::Invalid);
        QVERIFY(!result.error.isEmpty());
    }

    // The largest header waits for its last byte; one byte more is too much.
    void boundsVersion2() {
        const QByteArray largest = v2(1, 0x11, QByteArray(proxy::kMaxV2PayloadBytes, '\0'));
        QCOMPARE(largest.size(), proxy::kMaxHeaderBytes);
        QCOMPARE(proxy::parse(largest.chopped(1)).status, Status::Incomplete);
        QCOMPARE(proxy::parse(largest).status, Status::Complete);
    }

    void trustsListedBalancersOnly() {
        const QList<proxy::Subnet> subnets{
            {QHostAddress(QStringLiteral("10.0.0.5")), 32},
            {QHostAddress(QStringLiteral("192.168.1.0")), 24},
            {QHostAddress(QStringLiteral("fd00::")), 64},
        };
        QVERIFY(proxy::isTrusted(subnets, QHostAddress(QStringLiteral("10.0.0.5"))));
        QVERIFY(!proxy::isTrusted(subnets, QHostAddress(QStringLiteral("10.0.0.6"))));
        QVERIFY(proxy::isTrusted(subnets, QHostAddress(QStringLiteral("192.168.1.77"))));
        QVERIFY(proxy::isTrusted(subnets, QHostAddress(QStringLiteral("fd00::77"))));
        QVERIFY(!proxy::isTrusted(subnets, QHostAddress(QStringLiteral("fd00:0:0:1::77"))));
        // A balancer reaching a [::] listener over IPv4.
        QVERIFY(proxy::isTrusted(subnets, QHostAddress(QStringLiteral("::ffff:10.0.0.5"))));
        QVERIFY(!proxy::isTrusted({}, QHostAddress(QStringLiteral("10.0.0.5"))));
    }

    // A header in pieces, as a slow balancer or a busy network delivers it:
    // read whole, and the TLS handshake behind it left in the socket.
    void receivesAHeaderInPieces_data() {
        QTest::addColumn<QByteArray>("header");
        QTest::newRow("v1") << QByteArray("PROXY TCP4 192.0.2.7 198.51.100.1 56324 1997\r\n");
        QTest::newRow("v2") << v2(1, 0x11, inet("203.0.113.9", "10.0.0.1", 40000, 1997));
    }

    void receivesAHeaderInPieces() {
        QFETCH(QByteArray, header);
        Pair pair;
        ProxyHeaderReceiver receiver(pair.fds[0], ProxyHeaderReceiver::Mode::Required, 5000);
        QSignalSpy received(&receiver, &ProxyHeaderReceiver::received);
        QSignalSpy failed(&receiver, &ProxyHeaderReceiver::failed);
        const QByteArray bytes = header + kClientHello;
        for (qsizetype at = 0; at < header.size(); at += 7) {
            pair.send(bytes.mid(at, at + 7 < header.size() ? 7 : -1));
            QTest::qWait(5); // each piece its own read
        }
        QTRY_COMPARE(received.size(), 1);
        QCOMPARE(failed.size(), 0);
        const qintptr descriptor = received.first().at(0).value<qintptr>();
        const auto parsed = received.first().at(1).value<proxy::Header>();
        QVERIFY(parsed.hasClient);
        QVERIFY(parsed.client.toString() == QStringLiteral("192.0.2.7") ||
                parsed.client.toString() == QStringLiteral("203.0.113.9"));
        QCOMPARE(rest(descriptor), kClientHello);
        ::close(int(descriptor));
    }

    void refusesWhatIsNoHeader_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<bool>("closeAfter");
        QTest::newRow("TLS straight away") << kClientHello << false;
        QTest::newRow("garbage") << QByteArray("hello\r\n") << false;
        QTest::newRow("oversized v1")
            << QByteArray("PROXY UNKNOWN ") + QByteArray(200, 'x') << false;
        QTest::newRow("oversized v2") << v2Fixed(0x21, 0x11, 0xffff) << false;
        QTest::newRow("closed halfway") << QByteArray("PROXY TCP4 1.2.3.4") << true;
    }

    void refusesWhatIsNoHeader() {
        QFETCH(QByteArray, bytes);
        QFETCH(bool, closeAfter);
        Pair pair;
        ProxyHeaderReceiver receiver(pair.fds[0], ProxyHeaderReceiver::Mode::Required, 5000);
        QSignalSpy received(&receiver, &ProxyHeaderReceiver::received);
        QSignalSpy failed(&receiver, &ProxyHeaderReceiver::failed);
        pair.send(bytes);
        if (closeAfter) {
            ::close(pair.fds[1]);
            pair.fds[1] = -1;
        }
        QTRY_COMPARE(failed.size(), 1);
        QCOMPARE(refusalReasonName(failed.first().at(0).value<RefusalReason>()),
                 QStringLiteral("proxy_header"));
        QCOMPARE(received.size(), 0);
        // The descriptor is closed: the balancer's end sees it.
        if (!closeAfter) {
            char byte;
            QTRY_COMPARE(::recv(pair.fds[1], &byte, 1, MSG_DONTWAIT), ssize_t(0));
        }
    }

    // A balancer that opens a connection and sends nothing (or half a header)
    // holds it for the deadline, not for ever.
    void givesUpOnASlowHeader() {
        Pair pair;
        ProxyHeaderReceiver receiver(pair.fds[0], ProxyHeaderReceiver::Mode::Required, 200);
        QSignalSpy failed(&receiver, &ProxyHeaderReceiver::failed);
        pair.send("PROXY TCP4 ");
        QVERIFY(failed.wait(5000));
        QCOMPARE(refusalReasonName(failed.first().at(0).value<RefusalReason>()),
                 QStringLiteral("proxy_header"));
    }

    // From a peer not trusted: a header is refused, a TLS handshake passes.
    void refusesAHeaderFromAnUntrustedPeer_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<bool>("refused");
        QTest::newRow("v1") << QByteArray("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r\n") + kClientHello
                            << true;
        QTest::newRow("v2") << v2(1, 0x11, inet("1.2.3.4", "1.2.3.5", 1, 2)) + kClientHello << true;
        QTest::newRow("TLS") << kClientHello << false;
    }

    void refusesAHeaderFromAnUntrustedPeer() {
        QFETCH(QByteArray, bytes);
        QFETCH(bool, refused);
        Pair pair;
        ProxyHeaderReceiver receiver(pair.fds[0], ProxyHeaderReceiver::Mode::Forbidden, 5000);
        QSignalSpy received(&receiver, &ProxyHeaderReceiver::received);
        QSignalSpy failed(&receiver, &ProxyHeaderReceiver::failed);
        pair.send(bytes);
        QTRY_COMPARE(received.size() + failed.size(), 1);
        if (refused) {
            QCOMPARE(refusalReasonName(failed.first().at(0).value<RefusalReason>()),
                     QStringLiteral("proxy_untrusted"));
            return;
        }
        const qintptr descriptor = received.first().at(0).value<qintptr>();
        QCOMPARE(received.first().at(1).value<proxy::Header>().version, 0);
        QCOMPARE(rest(descriptor), kClientHello); // all of it left for TLS
        ::close(int(descriptor));
    }
};

QTEST_GUILESS_MAIN(ProxyProtocolTest)
#include "tst_proxyprotocol.moc"

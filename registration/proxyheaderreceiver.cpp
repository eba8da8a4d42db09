#include "proxyheaderreceiver.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

namespace uwpx {

namespace {

using Status = proxy::ParseResult::Status;

// recv(2) on a non-blocking socket: bytes read, 0 at the peer's end, -1
// with errno (EAGAIN: nothing yet).
qsizetype receive(qintptr descriptor, char *into, qsizetype size, int flags) {
    for (;;) {
        const ssize_t n = ::recv(int(descriptor), into, size_t(size), flags);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

} // namespace

ProxyHeaderReceiver::ProxyHeaderReceiver(qintptr descriptor, Mode mode, int timeoutMs,
                                         QObject *parent)
    : QObject(parent)
    , m_descriptor(descriptor)
    , m_mode(mode)
    , m_notifier(descriptor, QSocketNotifier::Read) {
    connect(&m_notifier, &QSocketNotifier::activated, this, &ProxyHeaderReceiver::readable);
    m_deadline.setSingleShot(true);
    connect(&m_deadline, &QTimer::timeout, this,
            [this] { fail(missingHeader(), QStringLiteral("no PROXY protocol header in time")); });
    m_deadline.start(timeoutMs);
}

ProxyHeaderReceiver::~ProxyHeaderReceiver() {
    if (m_descriptor >= 0)
        ::close(int(m_descriptor));
}

void ProxyHeaderReceiver::readable() {
    if (m_descriptor < 0)
        return;
    // Peek at what may belong to the header, decide, then consume exactly
    // what does: everything peeked while the header is still incomplete (it
    // is all header), or up to the header's end.
    char peeked[proxy::kMaxHeaderBytes];
    const qsizetype room = m_mode == Mode::Forbidden ? 1 : proxy::kMaxHeaderBytes - m_header.size();
    const qsizetype n = receive(m_descriptor, peeked, room, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        fail(missingHeader(), n == 0 ? QStringLiteral("closed before its PROXY protocol header")
                                     : QString::fromLocal8Bit(std::strerror(errno)));
        return;
    }
    const proxy::ParseResult result =
        proxy::parse(QByteArray(m_header).append(peeked, n)); // at most kMaxHeaderBytes
    if (m_mode == Mode::Forbidden) {
        // A TLS handshake starts with 0x16, which begins no header.
        if (result.status != Status::Invalid) {
            fail(RefusalReason::ProxyUntrusted,
                 QStringLiteral("sent a PROXY protocol header but is not in "
                                "[registration] proxy_protocol_from"));
            return;
        }
        finish();
        Q_EMIT received(std::exchange(m_descriptor, -1), proxy::Header{});
        return;
    }
    switch (result.status) {
    case Status::Invalid:
        fail(RefusalReason::ProxyHeader, result.error);
        return;
    case Status::Incomplete: {
        m_header.append(peeked, n);
        receive(m_descriptor, peeked, n, 0); // what was peeked is still there
        return;
    }
    case Status::Complete: {
        const qsizetype rest = result.length - m_header.size();
        if (receive(m_descriptor, peeked, rest, 0) != rest) {
            fail(RefusalReason::ProxyHeader,
                 QStringLiteral("lost the PROXY protocol header while reading it"));
            return;
        }
        finish();
        Q_EMIT received(std::exchange(m_descriptor, -1), result.header);
        return;
    }
    }
}

RefusalReason ProxyHeaderReceiver::missingHeader() const {
    // From a peer not trusted nothing was missing: it is a client that did
    // not start its TLS handshake.
    return m_mode == Mode::Required ? RefusalReason::ProxyHeader : RefusalReason::HandshakeTimeout;
}

void ProxyHeaderReceiver::fail(RefusalReason reason, const QString &why) {
    finish();
    ::close(int(std::exchange(m_descriptor, -1)));
    Q_EMIT failed(reason, why);
}

void ProxyHeaderReceiver::finish() {
    m_notifier.setEnabled(false);
    m_deadline.stop();
}

} // namespace uwpx

#include "tcplistener.h"

#include <QTcpServer>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace uwpx {

TcpListener::TcpListener(std::function<void(qintptr)> take, QObject *parent)
    : QObject(parent)
    , m_take(std::move(take)) {
    m_resume.setSingleShot(true);
    m_resume.setInterval(kPauseMs);
    connect(&m_resume, &QTimer::timeout, this, [this] {
        if (m_notifier)
            m_notifier->setEnabled(true);
    });
}

TcpListener::~TcpListener() {
    close();
}

bool TcpListener::listen(const QHostAddress &address, quint16 port, QString *error) {
    close();
    // QTcpServer knows how to bind any address (IPv6, dual stack); the
    // listening socket it makes is kept under a descriptor of our own.
    QTcpServer binder;
    const auto fail = [&](const QString &why) {
        *error = QStringLiteral("%1:%2: %3").arg(address.toString()).arg(port).arg(why);
        return false;
    };
    if (!binder.listen(address, port))
        return fail(binder.errorString());
    m_descriptor = ::fcntl(int(binder.socketDescriptor()), F_DUPFD_CLOEXEC, 0);
    if (m_descriptor < 0)
        return fail(QString::fromLocal8Bit(std::strerror(errno)));
    m_port = binder.serverPort();
    binder.close();
    m_notifier = std::make_unique<QSocketNotifier>(m_descriptor, QSocketNotifier::Read);
    connect(m_notifier.get(), &QSocketNotifier::activated, this, &TcpListener::acceptReady);
    return true;
}

void TcpListener::close() {
    m_resume.stop();
    m_notifier.reset();
    if (m_descriptor >= 0)
        ::close(m_descriptor);
    m_descriptor = -1;
}

void TcpListener::closeDescriptor(qintptr descriptor) {
    ::close(int(descriptor));
}

void TcpListener::acceptReady() {
    for (int i = 0; i < kBatch; ++i) {
        const int descriptor =
            ::accept4(m_descriptor, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (descriptor >= 0) {
            m_take(descriptor);
            if (m_descriptor < 0) // closed by the receiver
                return;
            continue;
        }
        const int failure = errno;
        switch (failure) {
        case EAGAIN:
#if EAGAIN != EWOULDBLOCK
        case EWOULDBLOCK:
#endif
            return;
        // The connection at the head of the queue went away or failed
        // (accept(2) asks to treat these as "try again"); the next may be fine.
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            continue;
        default: // EMFILE, ENFILE, ENOBUFS, ENOMEM: only time helps
            m_notifier->setEnabled(false);
            m_resume.start();
            Q_EMIT paused(QString::fromLocal8Bit(std::strerror(failure)));
            return;
        }
    }
}

} // namespace uwpx

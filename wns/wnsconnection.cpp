#include "wnsconnection.h"

#include <QSslSocket>

namespace uwpx {

namespace {

constexpr int kIdleCloseMs = 60000;

} // namespace

WnsConnection::WnsConnection(const QString &host, quint16 port, const QSslConfiguration &tls,
                             QObject *parent)
    : QObject(parent)
    , m_host(host)
    , m_port(port)
    , m_tls(tls) {
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &WnsConnection::onTimeout);
}

WnsConnection::~WnsConnection() = default;

bool WnsConnection::isConnected() const {
    return m_socket && m_socket->state() == QAbstractSocket::ConnectedState;
}

void WnsConnection::send(const QByteArray &request, int timeoutMs, Done done) {
    Q_ASSERT(!isBusy());
    ++m_sequence;
    m_request = request;
    m_timeoutMs = timeoutMs;
    m_done = std::move(done);
    m_answered = false;
    m_resent = false;
    m_timer.start(timeoutMs);
    start();
}

void WnsConnection::start() {
    m_parser.reset();
    m_received.clear();
    if (m_socket && m_socket->state() == QAbstractSocket::ConnectedState &&
        m_socket->isEncrypted()) {
        m_reused = true;
        m_socket->write(m_request);
        return;
    }
    dropSocket();
    m_reused = false;
    m_socket = new QSslSocket(this);
    m_socket->setSslConfiguration(m_tls);
    connect(m_socket, &QSslSocket::encrypted, this, [this] { m_socket->write(m_request); });
    connect(m_socket, &QSslSocket::readyRead, this, &WnsConnection::onReadyRead);
    connect(m_socket, &QSslSocket::disconnected, this, &WnsConnection::onClosed);
    connect(m_socket, &QSslSocket::errorOccurred, this, &WnsConnection::onClosed);
    // The name given here is the one the certificate must carry.
    m_socket->connectToHostEncrypted(m_host, m_port);
}

void WnsConnection::abort() {
    ++m_sequence;
    m_done = nullptr;
    m_answered = false;
    m_timer.stop();
    dropSocket();
}

void WnsConnection::onReadyRead() {
    m_received += m_socket->readAll();
    if (!awaitingAnswer()) {
        dropSocket(); // nothing was asked: not a server to keep talking to
        return;
    }
    switch (m_parser.feed(m_received)) {
    case HttpResponseParser::State::Incomplete:
        return;
    case HttpResponseParser::State::Complete:
        // Bytes beyond the response would be an answer to nothing.
        complete({m_parser.status(), m_parser.headers(), {}},
                 m_parser.keepAlive() && m_received.isEmpty());
        return;
    case HttpResponseParser::State::Error:
        complete({0, {}, QStringLiteral("unreadable response: %1").arg(m_parser.error())}, false);
        return;
    }
}

// The socket closed or failed (one of the two signals; the socket is
// dropped at the first, so the other does not follow).
void WnsConnection::onClosed() {
    if (!awaitingAnswer()) {
        dropSocket();
        return;
    }
    if (m_reused && !m_parser.hasStarted() && !m_resent) {
        // Nothing came back on a connection used before: the server had
        // closed it while idle, as we wrote to it.
        m_resent = true;
        dropSocket();
        start();
        return;
    }
    m_received += m_socket->readAll();
    if (m_parser.feed(m_received) != HttpResponseParser::State::Complete &&
        m_parser.finishAtClose() != HttpResponseParser::State::Complete) {
        const QString why = m_socket->error() == QAbstractSocket::RemoteHostClosedError
                                ? m_parser.error()
                                : m_socket->errorString();
        complete({0, {}, why}, false);
        return;
    }
    complete({m_parser.status(), m_parser.headers(), {}}, false);
}

void WnsConnection::onTimeout() {
    if (!awaitingAnswer()) {
        dropSocket(); // idle for a minute
        return;
    }
    complete({0, {}, QStringLiteral("no answer within %1 ms").arg(m_timeoutMs)}, false);
}

void WnsConnection::complete(HttpResult result, bool keepConnection) {
    m_answered = true;
    m_timer.stop();
    if (keepConnection)
        m_timer.start(kIdleCloseMs);
    else
        dropSocket();
    // From the event loop: the caller may send the next request on this
    // connection, or destroy it, which must not happen inside the socket's
    // own signal.
    QMetaObject::invokeMethod(
        this,
        [this, sequence = m_sequence, result = std::move(result)] {
            if (sequence != m_sequence || !m_done)
                return; // aborted meanwhile
            std::exchange(m_done, nullptr)(result);
        },
        Qt::QueuedConnection);
}

void WnsConnection::dropSocket() {
    if (!m_socket)
        return;
    QSslSocket *socket = std::exchange(m_socket, nullptr);
    socket->disconnect(this);
    socket->abort();
    // Possibly inside one of its signals: deleted from the event loop.
    socket->deleteLater();
}

} // namespace uwpx

#include "registrationconnection.h"

#include "registrationlog.h"
#include "registrationprotocol.h"
#include "registrationservice.h"

#include <QPointer>
#include <QSslSocket>
#include <QStringDecoder>

namespace uwpx {

namespace {

bool isValidUtf8(const QByteArray &bytes) {
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString text = decoder.decode(bytes);
    return !decoder.hasError();
}

} // namespace

RegistrationConnection::RegistrationConnection(QSslSocket *socket, const QString &client,
                                               const QString &peer, RegistrationService &service,
                                               int idleTimeoutMs, QObject *parent)
    : QObject(parent)
    , m_socket(socket)
    , m_client(client)
    , m_peer(peer)
    , m_service(service) {
    m_socket->setParent(this);
    // The timer restarts with every complete message, so a client that
    // trickles a message byte by byte is closed like an idle one.
    m_idleTimer.setSingleShot(true);
    m_idleTimer.setInterval(idleTimeoutMs);
    connect(&m_idleTimer, &QTimer::timeout, this, [this] {
        qCInfo(lcRegistration).noquote() << "closing idle connection from" << m_peer;
        close();
    });
    // Read at most one message ahead of the one being handled, and stop
    // handling while the client does not read our answers: a client that
    // pipelines faster than it reads is held back by TCP, not by our memory.
    m_socket->setReadBufferSize(kReadAhead);
    connect(m_socket, &QSslSocket::readyRead, this, &RegistrationConnection::onReadyRead);
    connect(m_socket, &QSslSocket::encryptedBytesWritten, this, [this] {
        if (!m_busy && unsentBytes() < kMaxUnsentBytes)
            onReadyRead();
    });
    connect(m_socket, &QSslSocket::disconnected, this, &RegistrationConnection::close);
    connect(m_socket, &QSslSocket::errorOccurred, this, [this](QAbstractSocket::SocketError) {
        if (m_socket->state() != QAbstractSocket::ConnectedState)
            close();
    });
    m_idleTimer.start();
    // Data may have arrived together with the end of the TLS handshake.
    QMetaObject::invokeMethod(this, &RegistrationConnection::onReadyRead, Qt::QueuedConnection);
}

void RegistrationConnection::onReadyRead() {
    if (m_closing)
        return;
    if (m_buffer.size() < kReadAhead)
        m_buffer += m_socket->read(kReadAhead - m_buffer.size());
    const qsizetype end = m_buffer.indexOf('\0');
    if (end < 0 ? m_buffer.size() > kMaxMessageSize : end > kMaxMessageSize) {
        closeWithError(QStringLiteral("Message too long: the limit is 64 KiB."));
        return;
    }
    processNextMessage();
}

qint64 RegistrationConnection::unsentBytes() const {
    return m_socket->bytesToWrite() + m_socket->encryptedBytesToWrite();
}

void RegistrationConnection::processNextMessage() {
    if (m_busy || m_closing || unsentBytes() >= kMaxUnsentBytes)
        return;
    const qsizetype end = m_buffer.indexOf('\0');
    if (end < 0)
        return;
    const QByteArray message = m_buffer.left(end);
    m_buffer.remove(0, end + 1);
    m_idleTimer.start();
    if (!isValidUtf8(message)) {
        closeWithError(QStringLiteral("Invalid message: not UTF-8."));
        return;
    }

    m_busy = true;
    QPointer<RegistrationConnection> self(this);
    m_service.handle(message, m_client, [self](const QByteArray &response, bool) {
        if (!self || self->m_closing)
            return;
        self->m_socket->write(registration::frame(response));
        self->m_busy = false;
        self->m_idleTimer.start();
        // The next message may already be waiting; later ones re-check the limit.
        QMetaObject::invokeMethod(self, &RegistrationConnection::onReadyRead, Qt::QueuedConnection);
    });
}

void RegistrationConnection::closeWithError(const QString &error) {
    qCInfo(lcRegistration).noquote()
        << "closing connection from" << m_peer << "after a framing error:" << error;
    if (!m_busy)
        m_socket->write(registration::frame(registration::errorResponse(2, error)));
    close();
}

void RegistrationConnection::close() {
    if (m_closing)
        return;
    m_closing = true;
    m_idleTimer.stop();
    // disconnectFromHost flushes what we wrote (an error response) first; a
    // peer that does not read it gets cut off after a grace period.
    connect(m_socket, &QSslSocket::disconnected, this, &RegistrationConnection::finish);
    QTimer::singleShot(5000, this, [this] {
        m_socket->abort();
        finish();
    });
    m_socket->disconnectFromHost();
    if (m_socket->state() == QAbstractSocket::UnconnectedState)
        finish();
}

void RegistrationConnection::finish() {
    if (m_finished)
        return;
    m_finished = true;
    Q_EMIT closed();
    deleteLater();
}

} // namespace uwpx

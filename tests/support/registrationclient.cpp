#include "registrationclient.h"

#include <QDeadlineTimer>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QSslConfiguration>

namespace uwpx::test {

bool RegistrationClient::connectTo(quint16 port, const QString &caFile, int timeoutMs,
                                   const QHostAddress &from) {
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(caFile, QSsl::Pem));
    tls.setProtocol(QSsl::TlsV1_2OrLater);
    m_socket.setSslConfiguration(tls);
    QSignalSpy encrypted(&m_socket, &QSslSocket::encrypted);
    if (!from.isNull() && !m_socket.bind(from))
        return false;
    // The certificate is for "localhost"; the address is IPv4 loopback.
    m_socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), port, QStringLiteral("localhost"));
    return encrypted.wait(timeoutMs);
}

void RegistrationClient::sendRaw(const QByteArray &bytes) {
    m_socket.write(bytes);
    m_socket.flush();
}

void RegistrationClient::send(const QJsonObject &message) {
    sendRaw(QJsonDocument(message).toJson(QJsonDocument::Compact) + '\0');
}

QJsonObject RegistrationClient::receive(int timeoutMs) {
    const QDeadlineTimer deadline(timeoutMs);
    QSignalSpy readyRead(&m_socket, &QSslSocket::readyRead);
    while (!m_buffer.contains('\0')) {
        m_buffer += m_socket.readAll();
        if (m_buffer.contains('\0'))
            break;
        if (deadline.hasExpired() || m_socket.state() != QAbstractSocket::ConnectedState ||
            !readyRead.wait(int(deadline.remainingTime())))
            break;
    }
    m_buffer += m_socket.readAll();
    const qsizetype end = m_buffer.indexOf('\0');
    if (end < 0)
        return {};
    const QByteArray message = m_buffer.left(end);
    m_buffer.remove(0, end + 1);
    return QJsonDocument::fromJson(message).object();
}

QJsonObject RegistrationClient::request(const QJsonObject &message, int timeoutMs) {
    send(message);
    return receive(timeoutMs);
}

bool RegistrationClient::waitForDisconnect(int timeoutMs) {
    if (m_socket.state() == QAbstractSocket::UnconnectedState)
        return true;
    QSignalSpy disconnected(&m_socket, &QSslSocket::disconnected);
    return disconnected.wait(timeoutMs) || m_socket.state() == QAbstractSocket::UnconnectedState;
}

} // namespace uwpx::test

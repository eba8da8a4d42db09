#pragma once

#include <QByteArray>
#include <QHostAddress>
#include <QJsonObject>
#include <QSslSocket>
#include <QString>

namespace uwpx::test {

// A UWPX client's side of the registration protocol (docs/protocol.md) for tests: TLS
// to the endpoint, NUL-framed JSON. Waiting runs the event loop, so the
// server may live in the same thread.
class RegistrationClient {
public:
    // Trusts `caFile` (the test CA) for the server's certificate. `from` is
    // the local address to connect from (another client: 127.0.0.2, ...).
    bool connectTo(quint16 port, const QString &caFile, int timeoutMs = 10000,
                   const QHostAddress &from = {});

    // Sends raw bytes as they are (for framing tests).
    void sendRaw(const QByteArray &bytes);
    void send(const QJsonObject &message);

    // The next NUL-terminated response; an empty object if none arrived in time
    // or it was not JSON.
    QJsonObject receive(int timeoutMs = 10000);
    QJsonObject request(const QJsonObject &message, int timeoutMs = 10000);

    // Waits for the server to close the connection.
    bool waitForDisconnect(int timeoutMs = 10000);
    bool isConnected() const { return m_socket.state() == QAbstractSocket::ConnectedState; }
    QSslSocket &socket() { return m_socket; }

private:
    QSslSocket m_socket;
    QByteArray m_buffer;
};

} // namespace uwpx::test

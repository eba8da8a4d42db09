#pragma once

#include <QByteArray>
#include <QObject>
#include <QTimer>

class QSslSocket;

namespace uwpx {

class RegistrationService;

// One client's TLS connection: splits the byte stream into NUL-terminated
// messages, hands them to the service one at a time and writes the responses
// back in request order (docs/protocol.md). Framing violations close the connection.
class RegistrationConnection : public QObject {
    Q_OBJECT
public:
    static constexpr qsizetype kMaxMessageSize = 64 * 1024;
    static constexpr qsizetype kReadAhead = 2 * kMaxMessageSize;
    static constexpr qint64 kMaxUnsentBytes = 256 * 1024;

    // Takes ownership of `socket` (it becomes our child). `client` names the
    // client for the service's limits (RegistrationServer::clientKey), `peer`
    // is its address for the log (a balancer's PROXY header may have named it).
    RegistrationConnection(QSslSocket *socket, const QString &client, const QString &peer,
                           RegistrationService &service, int idleTimeoutMs,
                           QObject *parent = nullptr);

Q_SIGNALS:
    void closed();

private:
    void onReadyRead();
    void processNextMessage();
    qint64 unsentBytes() const;
    void closeWithError(const QString &error);
    void close();
    void finish();

    QSslSocket *m_socket;
    const QString m_client;
    const QString m_peer;
    RegistrationService &m_service;
    QByteArray m_buffer;
    QTimer m_idleTimer;
    bool m_busy = false; // a request is being handled (WNS may take a while)
    bool m_closing = false;
    bool m_finished = false;
};

} // namespace uwpx

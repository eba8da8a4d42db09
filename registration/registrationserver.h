#pragma once

#include "connectioncounter.h"
#include "refusalreason.h"
#include "registrationsettings.h"
#include "tcplistener.h"

#include <QDateTime>
#include <QObject>
#include <QSslConfiguration>

#include <memory>
#include <optional>
#include <unordered_map>

class QSslSocket;

namespace uwpx {

class RegistrationService;

// The TLS endpoint UWPX clients register with (docs/protocol.md). Accepts connections
// on [registration] listen, holds each to the limits per client address and
// overall, completes its TLS handshake within a deadline of its own, then
// gives it to a RegistrationConnection.
//
// Behind a load balancer that sends the PROXY protocol ([registration]
// proxy_protocol_from), the client is the one its header names; see
// ProxyHeaderReceiver.
//
// Accepting never stops. Connections come straight from the listening socket
// (Qt 6.4's QSslServer stops accepting for good once enough connections
// closed during their handshake: a port scan did it), and when the process
// runs out of file descriptors, accepting pauses for a second (TcpListener).
class RegistrationServer : public QObject {
    Q_OBJECT
public:
    RegistrationServer(const RegistrationSettings &settings, RegistrationService &service,
                       QObject *parent = nullptr);
    ~RegistrationServer() override;

    // Loads certificate and key and starts listening; false with *error set
    // if either fails.
    bool listen(QString *error);
    // Reads certificate and key again (SIGHUP after a renewal); on failure
    // keeps serving with the old ones.
    bool reloadTls();
    // A configuration reload: the limits of `settings` apply to connections
    // accepted from now on, and its certificate and key are loaded as by
    // reloadTls(). The listening address stays (that needs a restart).
    bool reconfigure(const RegistrationSettings &settings);
    // The notAfter of the certificate in use.
    QDateTime certificateExpiry() const { return m_certificateExpiry; }
    quint16 port() const;
    void close();
    // Connections open now, handshaking or not.
    int connectionCount() const { return m_connections.total(); }

    // What a client is, for the limits: its address; for IPv6 its /64, the
    // least a single subscriber gets.
    static QString clientKey(const QHostAddress &address);

Q_SIGNALS:
    // A connection turned away: Connections, ConnectionsPerAddress,
    // Handshakes, HandshakeTimeout, ProxyHeader, ProxyUntrusted.
    void refused(uwpx::RefusalReason reason);

private:
    bool loadTls(QString *error);
    void accept(qintptr descriptor);
    // Why a new connection from `client` (a clientKey(); empty while a
    // balancer's header has not named it yet) is turned away; none if not.
    std::optional<RefusalReason> refusal(const QString &client) const;
    // A connection before its TLS handshake: counted in, or out again.
    void addPending(const QString &client);
    void removePending(const QString &client);
    // With the PROXY protocol on: reads (or rules out) the header first.
    void receiveProxyHeader(qintptr descriptor, const QHostAddress &peer);
    // The TLS handshake of a connection from `client` (the peer, or the
    // client a trusted balancer named).
    void startTls(qintptr descriptor, const QHostAddress &client);
    // Once per socket: its handshake is over, and it either becomes a
    // RegistrationConnection or goes.
    void handshakeEnded(QSslSocket *socket, bool encrypted);
    void refuse(QSslSocket *socket, const QString &peer, RefusalReason reason);

    RegistrationSettings m_settings;
    RegistrationService &m_service;
    QSslConfiguration m_tls;
    QDateTime m_certificateExpiry;
    TcpListener m_listener;
    ConnectionCounter m_connections; // open, handshaking or not
    ConnectionCounter m_handshakes;
    // The connections whose TLS handshake is under way, each with its
    // deadline; a connection leaves when its handshake ends, however it ends.
    struct Handshake;
    std::unordered_map<QSslSocket *, std::unique_ptr<Handshake>> m_handshaking;
};

} // namespace uwpx

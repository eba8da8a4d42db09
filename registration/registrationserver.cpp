#include "registrationserver.h"

#include "proxyheaderreceiver.h"
#include "registrationconnection.h"
#include "registrationlog.h"
#include "tlsfiles.h"

#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>
#include <QTimer>

#include <sys/socket.h>
#include <unistd.h>

namespace uwpx {

namespace {

// Handshakes one client address may have going at once: a client needs one.
constexpr int kMaxHandshakesPerClient = 8;

QHostAddress peerAddressOf(qintptr descriptor) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(int(descriptor), reinterpret_cast<sockaddr *>(&address), &length) != 0)
        return {};
    return proxy::unmapped(QHostAddress(reinterpret_cast<const sockaddr *>(&address)));
}

} // namespace

struct RegistrationServer::Handshake {
    QString client; // what it counts against (clientKey())
    QString peer;   // the client's address, for the log
    QTimer deadline;
};

RegistrationServer::RegistrationServer(const RegistrationSettings &settings,
                                       RegistrationService &service, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_service(service)
    , m_listener([this](qintptr descriptor) { accept(descriptor); }) {
    connect(&m_listener, &TcpListener::paused, this, [](const QString &reason) {
        qCWarning(lcRegistration).noquote()
            << "cannot accept connections:" << reason << "- trying again in a second";
    });
}

RegistrationServer::~RegistrationServer() = default;

quint16 RegistrationServer::port() const {
    return m_listener.port();
}

void RegistrationServer::close() {
    m_listener.close();
}

QString RegistrationServer::clientKey(const QHostAddress &address) {
    bool v4 = false;
    const quint32 ipv4 = address.toIPv4Address(&v4);
    if (v4)
        return QHostAddress(ipv4).toString();
    Q_IPV6ADDR ipv6 = address.toIPv6Address();
    std::fill(std::begin(ipv6.c) + 8, std::end(ipv6.c), 0);
    return QHostAddress(ipv6).toString() + QStringLiteral("/64");
}

bool RegistrationServer::loadTls(QString *error) {
    const QList<QSslCertificate> chain = tls::readCertificateChain(m_settings.certificate);
    if (chain.isEmpty()) {
        *error = QStringLiteral("cannot load the certificate %1").arg(m_settings.certificate);
        return false;
    }
    const QSslKey key = tls::readPrivateKey(m_settings.privateKey);
    if (key.isNull()) {
        *error = QStringLiteral("cannot load the private key %1").arg(m_settings.privateKey);
        return false;
    }
    if (!tls::keyMatchesCertificate(key, chain.first())) {
        *error = QStringLiteral("the private key %1 does not belong to the certificate %2")
                     .arg(m_settings.privateKey, m_settings.certificate);
        return false;
    }

    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificateChain(chain);
    configuration.setPrivateKey(key);
    configuration.setProtocol(QSsl::TlsV1_2OrLater);
    configuration.setPeerVerifyMode(
        QSslSocket::VerifyNone); // clients are not asked for certificates
    // Only new connections see the new configuration; open ones keep theirs.
    m_tls = configuration;
    m_certificateExpiry = chain.first().expiryDate();
    return true;
}

bool RegistrationServer::reloadTls() {
    QString error;
    if (!loadTls(&error)) {
        qCWarning(lcRegistration).noquote() << "keeping the old certificate:" << error;
        return false;
    }
    qCInfo(lcRegistration).noquote() << "reloaded the TLS certificate and key";
    return true;
}

bool RegistrationServer::reconfigure(const RegistrationSettings &settings) {
    const QHostAddress address = m_settings.address;
    const quint16 port = m_settings.port;
    m_settings = settings;
    m_settings.address = address;
    m_settings.port = port;
    return reloadTls();
}

bool RegistrationServer::listen(QString *error) {
    if (!loadTls(error))
        return false;
    QString why;
    if (!m_listener.listen(m_settings.address, m_settings.port, &why)) {
        *error = QStringLiteral("cannot listen on ") + why;
        return false;
    }
    qCInfo(lcRegistration).noquote()
        << "listening for registrations on" << m_settings.address.toString() << "port"
        << m_listener.port();
    return true;
}

void RegistrationServer::accept(qintptr descriptor) {
    const QHostAddress peer = peerAddressOf(descriptor);
    if (m_settings.proxyProtocolFrom.isEmpty())
        startTls(descriptor, peer);
    else
        receiveProxyHeader(descriptor, peer);
}

std::optional<RefusalReason> RegistrationServer::refusal(const QString &client) const {
    if (m_connections.total() >= m_settings.maxConnections)
        return RefusalReason::Connections;
    if (m_connections.isFull(client, m_settings.maxConnectionsPerAddress))
        return RefusalReason::ConnectionsPerAddress;
    if (m_handshakes.total() >= m_settings.maxHandshakes ||
        m_handshakes.isFull(client, kMaxHandshakesPerClient))
        return RefusalReason::Handshakes;
    return std::nullopt;
}

void RegistrationServer::addPending(const QString &client) {
    m_connections.add(client);
    m_handshakes.add(client);
}

void RegistrationServer::removePending(const QString &client) {
    m_connections.remove(client);
    m_handshakes.remove(client);
}

void RegistrationServer::receiveProxyHeader(qintptr descriptor, const QHostAddress &peer) {
    // Until a balancer's header names the client, its connection counts
    // against the totals only (per address it would count against the
    // balancer); anyone else's counts against its own address from the start.
    const bool trusted = proxy::isTrusted(m_settings.proxyProtocolFrom, peer);
    const QString client = trusted ? QString() : clientKey(peer);
    if (const std::optional<RefusalReason> why = refusal(client)) {
        qCDebug(lcRegistration).noquote()
            << "refusing a connection from" << peer.toString() << ":" << refusalReasonName(*why);
        Q_EMIT refused(*why);
        ::close(int(descriptor));
        return;
    }
    addPending(client);
    using Mode = ProxyHeaderReceiver::Mode;
    auto *receiver = new ProxyHeaderReceiver(descriptor, trusted ? Mode::Required : Mode::Forbidden,
                                             m_settings.handshakeTimeoutMs, this);
    connect(receiver, &ProxyHeaderReceiver::received, this,
            [this, receiver, peer, client](qintptr descriptor, const proxy::Header &header) {
                removePending(client); // startTls counts it again, as the client's
                receiver->deleteLater();
                startTls(descriptor, header.hasClient ? proxy::unmapped(header.client) : peer);
            });
    connect(receiver, &ProxyHeaderReceiver::failed, this,
            [this, receiver, peer, client](RefusalReason reason, const QString &why) {
                removePending(client);
                receiver->deleteLater();
                qCInfo(lcRegistration).noquote()
                    << "refusing a connection from" << peer.toString() << ":" << why;
                Q_EMIT refused(reason);
            });
}

void RegistrationServer::startTls(qintptr descriptor, const QHostAddress &clientAddress) {
    auto *socket = TcpListener::adopt<QSslSocket>(descriptor, this);
    if (!socket)
        return;
    const QString peer = clientAddress.toString();
    const QString client = clientKey(clientAddress);
    if (const std::optional<RefusalReason> why = refusal(client)) {
        refuse(socket, peer, *why);
        return;
    }
    addPending(client);

    // Whichever comes first ends the handshake: success, failure, the deadline.
    auto handshake = std::make_unique<Handshake>();
    handshake->client = client;
    handshake->peer = peer;
    QTimer &deadline = handshake->deadline;
    m_handshaking.emplace(socket, std::move(handshake));
    deadline.setSingleShot(true);
    connect(&deadline, &QTimer::timeout, this, [this, socket] {
        Q_EMIT refused(RefusalReason::HandshakeTimeout);
        handshakeEnded(socket, false);
    });
    connect(socket, &QSslSocket::encrypted, this, [this, socket] { handshakeEnded(socket, true); });
    connect(socket, &QSslSocket::disconnected, this,
            [this, socket] { handshakeEnded(socket, false); });
    connect(socket, &QSslSocket::errorOccurred, this,
            [this, socket, peer](QAbstractSocket::SocketError) {
                qCDebug(lcRegistration).noquote()
                    << "TLS handshake with" << peer << "failed:" << socket->errorString();
                handshakeEnded(socket, false);
            });
    deadline.start(m_settings.handshakeTimeoutMs);
    socket->setSslConfiguration(m_tls);
    socket->startServerEncryption();
}

void RegistrationServer::handshakeEnded(QSslSocket *socket, bool encrypted) {
    auto entry = m_handshaking.extract(socket);
    if (entry.empty())
        return; // ended already
    // Destroyed on return, deadline included, also when it is the deadline
    // that fired: no timer outlives its handshake.
    const std::unique_ptr<Handshake> handshake = std::move(entry.mapped());
    const QString &client = handshake->client;
    const QString &peer = handshake->peer;
    socket->disconnect(this);
    m_handshakes.remove(client);
    auto release = [this, client] { m_connections.remove(client); };
    if (!encrypted) {
        release();
        socket->abort();
        socket->deleteLater();
        return;
    }
    auto *connection =
        new RegistrationConnection(socket, client, peer, m_service, m_settings.idleTimeoutMs, this);
    connect(connection, &RegistrationConnection::closed, this, release);
}

void RegistrationServer::refuse(QSslSocket *socket, const QString &peer, RefusalReason reason) {
    qCDebug(lcRegistration).noquote()
        << "refusing a connection from" << peer << ":" << refusalReasonName(reason);
    Q_EMIT refused(reason);
    socket->abort();
    socket->deleteLater();
}

} // namespace uwpx

#include "registrationserver.h"

#include "registrationconnection.h"
#include "registrationlog.h"

#include <QFile>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>

namespace uwpx {

RegistrationServer::RegistrationServer(const RegistrationSettings &settings,
                                       RegistrationService &service, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_service(service) {
    connect(&m_server, &QSslServer::pendingConnectionAvailable, this,
            &RegistrationServer::acceptConnections);
    connect(&m_server, &QSslServer::errorOccurred, this,
            [](QSslSocket *socket, QAbstractSocket::SocketError) {
                qCInfo(lcRegistration).noquote()
                    << "TLS handshake with" << socket->peerAddress().toString()
                    << "failed:" << socket->errorString();
            });
}

bool RegistrationServer::loadTls(QString *error) {
    const QList<QSslCertificate> chain =
        QSslCertificate::fromPath(m_settings.certificate, QSsl::Pem);
    QFile keyFile(m_settings.privateKey);
    if (chain.isEmpty() || !keyFile.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot load the certificate %1 or the key %2")
                     .arg(m_settings.certificate, m_settings.privateKey);
        return false;
    }
    const QByteArray pem = keyFile.readAll();
    QSslKey key(pem, QSsl::Rsa);
    if (key.isNull())
        key = QSslKey(pem, QSsl::Ec);
    if (key.isNull()) {
        *error = QStringLiteral("cannot load the private key %1").arg(m_settings.privateKey);
        return false;
    }

    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setLocalCertificateChain(chain);
    tls.setPrivateKey(key);
    tls.setProtocol(QSsl::TlsV1_2OrLater);
    tls.setPeerVerifyMode(QSslSocket::VerifyNone); // clients are not asked for certificates
    // Only new connections see the new configuration; open ones keep theirs.
    m_server.setSslConfiguration(tls);
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

bool RegistrationServer::listen(QString *error) {
    if (!loadTls(error))
        return false;
    m_server.setHandshakeTimeout(m_settings.idleTimeoutMs);
    m_server.setMaxPendingConnections(128);

    if (!m_server.listen(m_settings.address, m_settings.port)) {
        *error = QStringLiteral("cannot listen on %1:%2: %3")
                     .arg(m_settings.address.toString())
                     .arg(m_settings.port)
                     .arg(m_server.errorString());
        return false;
    }
    qCInfo(lcRegistration).noquote()
        << "listening for registrations on" << m_settings.address.toString() << "port"
        << m_server.serverPort();
    return true;
}

void RegistrationServer::acceptConnections() {
    while (m_server.hasPendingConnections()) {
        auto *socket = qobject_cast<QSslSocket *>(m_server.nextPendingConnection());
        if (!socket)
            continue;
        if (m_connections >= m_settings.maxConnections) {
            qCWarning(lcRegistration).noquote()
                << "refusing a connection: already" << m_connections << "open";
            socket->abort();
            socket->deleteLater();
            continue;
        }
        ++m_connections;
        auto *connection =
            new RegistrationConnection(socket, m_service, m_settings.idleTimeoutMs, this);
        connect(connection, &RegistrationConnection::closed, this, [this] { --m_connections; });
    }
}

} // namespace uwpx

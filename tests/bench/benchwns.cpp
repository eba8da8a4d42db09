#include "bench.h"

#include <QFile>
#include <QSslCertificate>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QThread>
#include <QUrl>

namespace uwpx::bench {

namespace {

QByteArray headerValue(const QByteArray &head, const QByteArray &lowerName) {
    // Header names are case-insensitive; this scans a lowered copy.
    const QByteArray lower = head.toLower();
    const qsizetype at = lower.indexOf("\r\n" + lowerName + ':');
    if (at < 0)
        return {};
    const qsizetype start = at + 3 + lowerName.size();
    const qsizetype end = head.indexOf("\r\n", start);
    return head.mid(start, end - start).trimmed();
}

} // namespace

BenchWns::BenchWns(const QString &certFile, const QString &keyFile, int latencyMs)
    : m_certFile(certFile)
    , m_keyFile(keyFile)
    , m_latencyMs(latencyMs) {}

BenchWns::~BenchWns() = default;

bool BenchWns::listen(int ports) {
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(m_certFile, QSsl::Pem);
    QFile keyIn(m_keyFile);
    if (chain.isEmpty() || !keyIn.open(QIODevice::ReadOnly))
        return false;
    const QByteArray keyPem = keyIn.readAll();
    QSslKey key(keyPem, QSsl::Ec, QSsl::Pem);
    if (key.isNull())
        key = QSslKey(keyPem, QSsl::Rsa, QSsl::Pem);
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setLocalCertificateChain(chain);
    tls.setPrivateKey(key);
    tls.setPeerVerifyMode(QSslSocket::VerifyNone);
    for (int i = 0; i < ports; ++i) {
        auto *server = new QSslServer(this);
        server->setSslConfiguration(tls);
        connect(server, &QTcpServer::pendingConnectionAvailable, this,
                [this, server] { onNewConnection(server); });
        if (!server->listen(QHostAddress::LocalHost, 0))
            return false;
        m_servers << server;
        m_ports << server->serverPort();
    }
    return true;
}

void BenchWns::onNewConnection(QSslServer *server) {
    while (server->hasPendingConnections()) {
        auto *socket = qobject_cast<QSslSocket *>(server->nextPendingConnection());
        if (!socket)
            continue;
        ++connections;
        connect(socket, &QSslSocket::readyRead, this, [this, socket] { process(socket); });
        connect(socket, &QSslSocket::disconnected, this, [this, socket] {
            m_buffers.remove(socket);
            socket->deleteLater();
        });
        if (socket->bytesAvailable() > 0)
            process(socket);
    }
}

void BenchWns::process(QSslSocket *socket) {
    QByteArray &buffer = m_buffers[socket];
    buffer += socket->readAll();
    for (;;) {
        const qsizetype headEnd = buffer.indexOf("\r\n\r\n");
        if (headEnd < 0)
            return;
        const QByteArray head = buffer.left(headEnd);
        const qsizetype length = headerValue(head, "content-length").toLongLong();
        if (buffer.size() < headEnd + 4 + length)
            return;
        buffer.remove(0, headEnd + 4 + length);

        const qsizetype space = head.indexOf(' ');
        const QByteArray path = head.mid(space + 1, head.indexOf(' ', space + 1) - space - 1);
        if (path.startsWith("/accesstoken.srf")) {
            ++tokenRequests;
            const QByteArray body = QByteArrayLiteral("{\"token_type\":\"bearer\",\"access_token\":"
                                                      "\"bench-token\",\"expires_in\":86400}");
            respond(socket,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        QByteArray::number(body.size()) + "\r\n\r\n" + body);
            continue;
        }
        if (headerValue(head, "authorization") != "Bearer bench-token" || length <= 0) {
            ++badRequests;
            respond(socket, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            continue;
        }
        ++channelRequests;
        respond(socket, QByteArrayLiteral("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                          "X-WNS-Status: received\r\n"
                                          "X-WNS-DeviceConnectionStatus: connected\r\n"
                                          "X-WNS-Msg-ID: 1A2B3C4D5E6F\r\n\r\n"));
    }
}

void BenchWns::respond(QSslSocket *socket, const QByteArray &response) {
    if (m_latencyMs <= 0) {
        socket->write(response);
        return;
    }
    // Equal delays fire in order, so answers keep their requests' order.
    QTimer::singleShot(m_latencyMs, Qt::PreciseTimer, socket,
                       [socket, response] { socket->write(response); });
}

WnsThread::WnsThread(const QString &certFile, const QString &keyFile, int latencyMs)
    : m_thread(std::make_unique<QThread>())
    , m_wns(new BenchWns(certFile, keyFile, latencyMs)) {
    m_wns->moveToThread(m_thread.get());
    QObject::connect(m_thread.get(), &QThread::finished, m_wns, &QObject::deleteLater);
    m_thread->start();
}

WnsThread::~WnsThread() {
    m_thread->quit();
    m_thread->wait();
}

bool WnsThread::start(int ports) {
    bool ok = false;
    QMetaObject::invokeMethod(m_wns, "listen", Qt::BlockingQueuedConnection, Q_RETURN_ARG(bool, ok),
                              Q_ARG(int, ports));
    return ok;
}

QUrl WnsThread::tokenUrl() const {
    return QUrl(QStringLiteral("https://127.0.0.1:%1/accesstoken.srf").arg(m_wns->ports().at(0)));
}

QString WnsThread::channelUri(int index) const {
    const QList<quint16> ports = m_wns->ports();
    return QStringLiteral("https://127.0.0.1:%1/channel/%2")
        .arg(ports.at(index % ports.size()))
        .arg(index);
}

} // namespace uwpx::bench

#include "operatorendpoint.h"

#include "logging.h"

#include <QPointer>
#include <QTcpSocket>
#include <QTimer>

namespace uwpx {

namespace {

QByteArray reasonPhrase(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

} // namespace

// One client: reads one request head, hands it on, writes the answer, closes.
class OperatorEndpoint::Connection : public QObject {
public:
    Connection(QTcpSocket *socket, const QString &address, OperatorEndpoint *endpoint)
        : QObject(endpoint)
        , m_socket(socket)
        , m_address(address)
        , m_endpoint(endpoint) {
        m_socket->setParent(this);
        m_socket->setReadBufferSize(kMaxHeadBytes + 1);
        m_timer.setSingleShot(true);
        connect(&m_timer, &QTimer::timeout, this,
                [this] { refuse(408, QStringLiteral("no request within 10 s")); });
        m_timer.start(kRequestTimeoutMs);
        connect(m_socket, &QTcpSocket::readyRead, this, &Connection::onReadyRead);
        connect(m_socket, &QTcpSocket::disconnected, this, &Connection::finish);
        connect(m_socket, &QTcpSocket::errorOccurred, this, &Connection::finish);
    }

    void respond(const Response &response) {
        if (m_answered)
            return;
        m_answered = true;
        m_timer.stop();
        QByteArray bytes = "HTTP/1.1 " + QByteArray::number(response.status) + ' ' +
                           reasonPhrase(response.status) + "\r\n";
        if (!response.contentType.isEmpty())
            bytes += "Content-Type: " + response.contentType + "\r\n";
        bytes += "Content-Length: " + QByteArray::number(response.body.size()) + "\r\n";
        bytes += "Connection: close\r\n\r\n";
        if (!m_headOnly)
            bytes += response.body;
        m_socket->write(bytes);
        // The client has 10 s to take the answer, then the connection goes.
        disconnect(&m_timer, nullptr, this, nullptr);
        connect(&m_timer, &QTimer::timeout, this, &Connection::finish);
        m_timer.start(kRequestTimeoutMs);
        m_socket->disconnectFromHost();
    }

    void refuse(int status, const QString &why) {
        Q_EMIT m_endpoint->requestRefused(why);
        respond({status, "text/plain; charset=utf-8", reasonPhrase(status) + '\n'});
    }

private:
    void onReadyRead() {
        if (m_answered) {
            m_socket->readAll(); // nothing more is read after the request
            return;
        }
        m_head += m_socket->read(kMaxHeadBytes + 1 - m_head.size());
        const qsizetype end = m_head.indexOf("\r\n\r\n");
        if (end < 0) {
            if (m_head.size() > kMaxHeadBytes)
                refuse(413, QStringLiteral("a request head over 8 KiB"));
            return;
        }
        const QList<QByteArray> lines = m_head.left(end).split('\n');
        const QList<QByteArray> requestLine = lines.first().trimmed().split(' ');
        if (requestLine.size() != 3 || !requestLine[2].startsWith("HTTP/1.")) {
            refuse(400, QStringLiteral("a malformed request line"));
            return;
        }
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QByteArray line = lines[i].trimmed().toLower();
            const bool body =
                (line.startsWith("content-length:") && line.mid(15).trimmed() != "0") ||
                line.startsWith("transfer-encoding:");
            if (body) {
                refuse(413, QStringLiteral("a request with a body"));
                return;
            }
        }
        m_headOnly = requestLine[0] == "HEAD";
        m_endpoint->serve(this, requestLine[0], requestLine[1]);
    }

    void finish() {
        if (m_finished)
            return;
        m_finished = true;
        m_socket->abort();
        m_endpoint->m_connections.remove(m_address);
        deleteLater();
    }

    QTcpSocket *m_socket;
    const QString m_address;
    OperatorEndpoint *m_endpoint;
    QTimer m_timer;
    QByteArray m_head;
    bool m_headOnly = false;
    bool m_answered = false;
    bool m_finished = false;
};

OperatorEndpoint::OperatorEndpoint(QObject *parent)
    : QObject(parent)
    , m_listener([this](qintptr descriptor) { accept(descriptor); }) {
    connect(&m_listener, &TcpListener::paused, this, [](const QString &reason) {
        qCWarning(lcServer).noquote()
            << "the operator endpoint cannot accept:" << reason << "- trying again in a second";
    });
}

OperatorEndpoint::~OperatorEndpoint() = default;

void OperatorEndpoint::route(const QByteArray &path, Handler handler) {
    m_routes.insert(path, std::move(handler));
}

bool OperatorEndpoint::listen(const MetricsSettings &settings, QString *error) {
    QString why;
    if (!m_listener.listen(settings.address, settings.port, &why)) {
        *error = QStringLiteral("cannot listen for metrics on ") + why;
        return false;
    }
    qCInfo(lcServer).noquote() << "serving /health and /metrics on" << settings.address.toString()
                               << "port" << m_listener.port();
    return true;
}

void OperatorEndpoint::accept(qintptr descriptor) {
    auto *socket = TcpListener::adopt<QTcpSocket>(descriptor, this);
    if (!socket)
        return;
    const QString address = socket->peerAddress().toString();
    if (m_connections.total() >= kMaxConnections ||
        m_connections.isFull(address, kMaxConnectionsPerAddress)) {
        Q_EMIT requestRefused(QStringLiteral("too many connections"));
        socket->abort();
        socket->deleteLater();
        return;
    }
    m_connections.add(address);
    new Connection(socket, address, this); // a child: it deletes itself when done
}

void OperatorEndpoint::serve(Connection *connection, const QByteArray &method,
                             const QByteArray &path) {
    if (method != "GET" && method != "HEAD") {
        connection->refuse(405, QStringLiteral("a method other than GET"));
        return;
    }
    const qsizetype query = path.indexOf('?');
    const auto route = m_routes.constFind(query < 0 ? path : path.left(query));
    if (route == m_routes.cend()) {
        connection->respond({404, "text/plain; charset=utf-8", "Not Found\n"});
        return;
    }
    (*route)([connection = QPointer<Connection>(connection)](const Response &response) {
        if (connection)
            connection->respond(response);
    });
}

} // namespace uwpx

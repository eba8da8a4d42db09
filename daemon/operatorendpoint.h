#pragma once

#include "config.h"
#include "connectioncounter.h"
#include "tcplistener.h"

#include <QByteArray>
#include <QHash>
#include <QObject>

#include <functional>

namespace uwpx {

// Plain HTTP/1.1 for the operator's monitoring, never for clients: routes
// such as GET /health and GET /metrics, each answered once, perhaps later
// (a handler may wait for the store). One request per connection, which is
// closed after the answer.
//
// Bounded, since the port may be reachable by more than the operator: a
// request head of at most 8 KiB and no body; the request must arrive within
// 10 s; at most 64 connections at once and 16 from one address, more are
// closed at once. Accepting never stops: when the process runs out of file
// descriptors, it pauses for a second and tries again.
class OperatorEndpoint : public QObject {
    Q_OBJECT
public:
    struct Response {
        int status = 200;
        QByteArray contentType;
        QByteArray body;
    };
    using Done = std::function<void(const Response &)>;
    using Handler = std::function<void(const Done &)>;

    static constexpr qsizetype kMaxHeadBytes = 8 * 1024;
    static constexpr int kRequestTimeoutMs = 10000;
    static constexpr int kMaxConnections = 64;
    static constexpr int kMaxConnectionsPerAddress = 16;

    explicit OperatorEndpoint(QObject *parent = nullptr);
    ~OperatorEndpoint() override;

    // GET `path` is answered by `handler`.
    void route(const QByteArray &path, Handler handler);
    bool listen(const MetricsSettings &settings, QString *error);
    quint16 port() const { return m_listener.port(); }

Q_SIGNALS:
    // A connection closed unanswered: too many open, a request too large,
    // malformed, or too slow.
    void requestRefused(const QString &why);

private:
    class Connection;
    void accept(qintptr descriptor);
    void serve(Connection *connection, const QByteArray &method, const QByteArray &path);

    TcpListener m_listener;
    QHash<QByteArray, Handler> m_routes;
    ConnectionCounter m_connections;
};

} // namespace uwpx

#pragma once

#include "wnsconnection.h"

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QSslConfiguration>
#include <QTimer>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace uwpx {

// The keep-alive HTTPS connections to WNS hosts. WNS documents HTTP/1.1
// without pipelining, so each request in flight holds one connection: a host
// (host and port) gets up to `connectionsPerHost` of them, and requests
// beyond that wait in line, in order. With WNS's latency, the number of
// connections, not the CPU, bounds how many notifications per second reach a
// host. Connections the server closed while idle, and hosts no longer used,
// are let go once a minute: channel URIs name many hosts over months.
class WnsConnectionPool : public QObject {
    Q_OBJECT
public:
    // The answer, and how long the request took once it had a connection.
    using Done = std::function<void(const HttpResult &, qint64 elapsedMs)>;

    WnsConnectionPool(const QSslConfiguration &tls, int connectionsPerHost, int requestTimeoutMs,
                      QObject *parent = nullptr);
    ~WnsConnectionPool() override;

    // Sends `request`, a complete HTTP/1.1 message, to host:port once a
    // connection is free. `done` is called once, from the event loop, unless
    // cancel() comes first; it may destroy the pool. Returns the request's
    // ticket, never 0.
    quint64 send(const QString &host, quint16 port, const QByteArray &request, Done done);
    // Forgets a request: takes it out of line, or drops the connection it is
    // half way through.
    void cancel(quint64 ticket);

private:
    struct Waiting {
        quint64 ticket = 0;
        QByteArray request;
    };
    struct Lane {
        QString host;
        quint16 port = 443;
        std::deque<Waiting> waiting;
        std::vector<std::unique_ptr<WnsConnection>> connections;
    };
    struct Ticket {
        QString lane;
        Done done;
        WnsConnection *connection = nullptr; // once it is on its way
        QElapsedTimer clock;                 // since then
    };

    void dispatch(const QString &laneKey);
    WnsConnection *freeConnection(Lane &lane);
    void finish(quint64 ticket, const HttpResult &result);
    void sweep();

    const QSslConfiguration m_tls;
    const int m_connectionsPerHost;
    const int m_requestTimeoutMs;
    std::map<QString, Lane> m_lanes; // by "host:port"
    QHash<quint64, Ticket> m_tickets;
    quint64 m_nextTicket = 1;
    QTimer m_sweepTimer;
};

} // namespace uwpx

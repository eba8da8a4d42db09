#include "wnsconnectionpool.h"

namespace uwpx {

namespace {

constexpr int kSweepIntervalMs = 60000;

} // namespace

WnsConnectionPool::WnsConnectionPool(const QSslConfiguration &tls, int connectionsPerHost,
                                     int requestTimeoutMs, QObject *parent)
    : QObject(parent)
    , m_tls(tls)
    , m_connectionsPerHost(connectionsPerHost)
    , m_requestTimeoutMs(requestTimeoutMs) {
    m_sweepTimer.setInterval(kSweepIntervalMs);
    connect(&m_sweepTimer, &QTimer::timeout, this, &WnsConnectionPool::sweep);
}

WnsConnectionPool::~WnsConnectionPool() = default;

quint64 WnsConnectionPool::send(const QString &host, quint16 port, const QByteArray &request,
                                Done done) {
    const QString key = host + QLatin1Char(':') + QString::number(port);
    Lane &lane = m_lanes[key];
    if (lane.host.isEmpty()) {
        lane.host = host;
        lane.port = port;
    }
    const quint64 ticket = m_nextTicket++;
    m_tickets.insert(ticket, Ticket{key, std::move(done), nullptr, {}});
    lane.waiting.push_back({ticket, request});
    if (!m_sweepTimer.isActive())
        m_sweepTimer.start();
    dispatch(key);
    return ticket;
}

void WnsConnectionPool::cancel(quint64 ticket) {
    const auto it = m_tickets.find(ticket);
    if (it == m_tickets.end())
        return;
    WnsConnection *connection = it->connection;
    const QString lane = it->lane;
    m_tickets.erase(it); // a waiting one is skipped when its turn comes
    if (connection) {
        connection->abort();
        dispatch(lane);
    }
}

// Starts waiting requests while the lane has a free connection or room for
// one more.
void WnsConnectionPool::dispatch(const QString &laneKey) {
    const auto found = m_lanes.find(laneKey);
    if (found == m_lanes.end())
        return;
    Lane &lane = found->second;
    while (!lane.waiting.empty()) {
        const auto ticket = m_tickets.find(lane.waiting.front().ticket);
        if (ticket == m_tickets.end()) {
            lane.waiting.pop_front(); // cancelled while waiting
            continue;
        }
        WnsConnection *connection = freeConnection(lane);
        if (!connection)
            return;
        const QByteArray request = std::move(lane.waiting.front().request);
        lane.waiting.pop_front();
        ticket->connection = connection;
        ticket->clock.start();
        connection->send(
            request, m_requestTimeoutMs,
            [this, id = ticket.key()](const HttpResult &result) { finish(id, result); });
    }
}

// An idle connection that is still open saves a TLS handshake; a closed
// idle one reconnects; a new one is opened while the host has room.
WnsConnection *WnsConnectionPool::freeConnection(Lane &lane) {
    WnsConnection *closed = nullptr;
    for (const auto &connection : lane.connections) {
        if (connection->isBusy())
            continue;
        if (connection->isConnected())
            return connection.get();
        closed = connection.get();
    }
    if (closed)
        return closed;
    if (int(lane.connections.size()) >= m_connectionsPerHost)
        return nullptr;
    lane.connections.push_back(std::make_unique<WnsConnection>(lane.host, lane.port, m_tls));
    return lane.connections.back().get();
}

void WnsConnectionPool::finish(quint64 id, const HttpResult &result) {
    const auto it = m_tickets.find(id);
    if (it == m_tickets.end())
        return;
    const Ticket ticket = std::move(*it);
    m_tickets.erase(it);
    // The connection serves the next request in line before `done` runs: it
    // may destroy this pool.
    dispatch(ticket.lane);
    ticket.done(result, ticket.clock.elapsed());
}

void WnsConnectionPool::sweep() {
    for (auto lane = m_lanes.begin(); lane != m_lanes.end();) {
        auto &connections = lane->second.connections;
        connections.erase(std::remove_if(connections.begin(), connections.end(),
                                         [](const std::unique_ptr<WnsConnection> &connection) {
                                             return !connection->isBusy() &&
                                                    !connection->isConnected();
                                         }),
                          connections.end());
        if (connections.empty() && lane->second.waiting.empty())
            lane = m_lanes.erase(lane);
        else
            ++lane;
    }
    if (m_lanes.empty())
        m_sweepTimer.stop();
}

} // namespace uwpx

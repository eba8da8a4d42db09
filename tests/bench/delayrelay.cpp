// uwpx-delay-relay: a TCP relay on 127.0.0.1 that adds a round trip. Every
// accepted connection is forwarded to --target HOST:PORT, and the bytes of
// each direction leave half of --delay-ms after they arrived, in order.
// uwpx-bench puts it in front of PostgreSQL to play a database on another
// host. It is a plain process: SIGSTOP freezes it (a hung database:
// connections open, nothing answers), SIGCONT thaws it, killing it makes the
// database refuse. Prints one JSON line with its port on stdout once it
// listens.
//
// The delays are kept by a timerfd per direction (nanosecond deadlines on
// CLOCK_MONOTONIC, woken through the event loop), since QTimer counts whole
// milliseconds and a 1.15 ms round trip is 0.575 ms each way.

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSocketNotifier>
#include <QTcpServer>
#include <QTcpSocket>

#include <cmath>
#include <cstdio>
#include <deque>

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

namespace {

qint64 nowNs() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return qint64(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// One direction of a connection: what `from` sends is written to `to`
// `delayNs` later. When `from` closes, `to` is closed once the bytes before
// the close are out.
class Pipe : public QObject {
    Q_OBJECT
public:
    Pipe(QTcpSocket *from, QTcpSocket *to, qint64 delayNs, QObject *parent)
        : QObject(parent)
        , m_from(from)
        , m_to(to)
        , m_delayNs(delayNs)
        , m_timer(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC))
        , m_notifier(m_timer, QSocketNotifier::Read) {
        connect(from, &QTcpSocket::readyRead, this, &Pipe::take);
        connect(from, &QTcpSocket::stateChanged, this, [this](QAbstractSocket::SocketState state) {
            if (state == QAbstractSocket::UnconnectedState && !m_closing) {
                take(); // what arrived with the close
                m_closing = true;
                m_closeAtNs = nowNs() + m_delayNs;
                deliver();
            }
        });
        // Due bytes wait while `to` connects; a `to` that fails or closes ends this direction.
        connect(to, &QTcpSocket::stateChanged, this, &Pipe::deliver);
        connect(&m_notifier, &QSocketNotifier::activated, this, [this] {
            quint64 expirations = 0;
            if (::read(m_timer, &expirations, sizeof expirations) < 0) {
                // EAGAIN: re-armed since it fired; deliver() looks at the clock anyway
            }
            deliver();
        });
    }
    ~Pipe() override {
        m_notifier.setEnabled(false);
        ::close(m_timer);
    }

    bool isDone() const { return m_done; }

signals:
    void done();

private:
    struct Chunk {
        qint64 dueNs;
        QByteArray bytes;
    };

    void take() {
        const QByteArray bytes = m_from->readAll();
        if (bytes.isEmpty())
            return;
        m_chunks.push_back({nowNs() + m_delayNs, bytes});
        deliver();
    }

    // Writes what is due, then sleeps until the next chunk (or the close) is.
    void deliver() {
        if (m_done)
            return;
        const qint64 now = nowNs();
        const bool writable = m_to->state() == QAbstractSocket::ConnectedState;
        bool wrote = false;
        while (writable && !m_chunks.empty() && m_chunks.front().dueNs <= now) {
            m_to->write(m_chunks.front().bytes);
            m_chunks.pop_front();
            wrote = true;
        }
        if (wrote)
            m_to->flush(); // now, not on the next turn of the event loop
        if (m_closing && (m_chunks.empty() || m_to->state() == QAbstractSocket::UnconnectedState) &&
            m_closeAtNs <= now) {
            m_chunks.clear();
            m_done = true;
            m_to->disconnectFromHost(); // after what is still in its write buffer
            emit done();
            return;
        }
        qint64 nextNs = 0;
        if (!m_chunks.empty())
            nextNs = m_chunks.front().dueNs;
        else if (m_closing)
            nextNs = m_closeAtNs;
        if (nextNs > now) { // (what is due already waits for `to` to connect)
            itimerspec at{};
            at.it_value.tv_sec = nextNs / 1000000000;
            at.it_value.tv_nsec = nextNs % 1000000000;
            timerfd_settime(m_timer, TFD_TIMER_ABSTIME, &at, nullptr);
        }
    }

    QTcpSocket *m_from;
    QTcpSocket *m_to;
    const qint64 m_delayNs;
    const int m_timer;
    QSocketNotifier m_notifier;
    std::deque<Chunk> m_chunks;
    bool m_closing = false;
    qint64 m_closeAtNs = 0;
    bool m_done = false;
};

// An accepted connection and its connection to the target; gone once both
// directions are closed.
class Relayed : public QObject {
    Q_OBJECT
public:
    Relayed(QTcpSocket *client, const QString &host, quint16 port, qint64 delayNs)
        : m_client(client) {
        client->setParent(this);
        m_upstream = new QTcpSocket(this);
        for (QTcpSocket *socket : {m_client, m_upstream})
            socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        connect(m_upstream, &QTcpSocket::connected, this,
                [this] { m_upstream->setSocketOption(QAbstractSocket::LowDelayOption, 1); });
        const Pipe *out = new Pipe(m_client, m_upstream, delayNs, this);
        const Pipe *back = new Pipe(m_upstream, m_client, delayNs, this);
        for (const Pipe *pipe : {out, back})
            connect(pipe, &Pipe::done, this, [this, out, back] {
                if (out->isDone() && back->isDone())
                    deleteLater();
            });
        m_upstream->connectToHost(host, port);
    }

private:
    QTcpSocket *m_client;
    QTcpSocket *m_upstream;
};

} // namespace

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "A TCP relay on 127.0.0.1 that forwards every connection to --target and delays the "
        "bytes of each direction by half of --delay-ms (an added round trip)."));
    parser.addHelpOption();
    const QCommandLineOption targetOption(QStringLiteral("target"),
                                          QStringLiteral("Where to forward to: HOST:PORT."),
                                          QStringLiteral("host:port"));
    const QCommandLineOption delayOption(
        QStringLiteral("delay-ms"),
        QStringLiteral("The round trip to add, in milliseconds (may be fractional)."),
        QStringLiteral("ms"), QStringLiteral("0"));
    const QCommandLineOption listenOption(QStringLiteral("listen"),
                                          QStringLiteral("The port to listen on (0: a free one)."),
                                          QStringLiteral("port"), QStringLiteral("0"));
    parser.addOptions({targetOption, delayOption, listenOption});
    parser.process(app);

    const QString target = parser.value(targetOption);
    const qsizetype colon = target.lastIndexOf(QLatin1Char(':'));
    bool portOk = false;
    const quint16 targetPort = colon > 0 ? target.mid(colon + 1).toUShort(&portOk) : 0;
    const QString targetHost = target.left(colon);
    bool delayOk = false;
    const double delayMs = parser.value(delayOption).toDouble(&delayOk);
    bool listenOk = false;
    const quint16 listenPort = parser.value(listenOption).toUShort(&listenOk);
    if (!portOk || targetPort == 0 || targetHost.isEmpty() || !delayOk || !(delayMs >= 0) ||
        !listenOk) {
        std::fprintf(stderr, "uwpx-delay-relay: need --target HOST:PORT, --delay-ms >= 0 and "
                             "--listen PORT\n");
        return 2;
    }
    const qint64 halfDelayNs = std::llround(delayMs * 1e6 / 2);

    QTcpServer server;
    server.setMaxPendingConnections(1000);
    QObject::connect(&server, &QTcpServer::newConnection, &server, [&] {
        while (QTcpSocket *client = server.nextPendingConnection())
            new Relayed(client, targetHost, targetPort, halfDelayNs);
    });
    if (!server.listen(QHostAddress::LocalHost, listenPort)) {
        std::fprintf(stderr, "uwpx-delay-relay: cannot listen on 127.0.0.1:%u: %s\n",
                     unsigned(listenPort), qPrintable(server.errorString()));
        return 1;
    }
    const QJsonObject line{{QStringLiteral("listening"), int(server.serverPort())},
                           {QStringLiteral("target"), target},
                           {QStringLiteral("delay_ms"), delayMs}};
    std::printf("%s\n", QJsonDocument(line).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
    return app.exec();
}

#include "delayrelay.moc"

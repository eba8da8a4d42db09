#pragma once

// uwpx-bench: load scenarios against the real uwpx-push-server process (see
// RESULTS.md). The tool plays everything around the daemon: the user's XMPP
// server (XEP-0114 component port), WNS (a lean local HTTPS endpoint in its
// own thread) and UWPX clients (TLS registration connections).

#include <QByteArray>
#include <QElapsedTimer>
#include <QFile>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QObject>
#include <QPointer>
#include <QProcess>
#include <QSslConfiguration>
#include <QString>
#include <QTcpServer>
#include <QThread>
#include <QTimer>
#include <QUrl>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

class QSslServer;
class QSslSocket;
class QTcpSocket;

namespace uwpx::bench {

// Latency samples in microseconds and their percentiles.
class Samples {
public:
    void add(qint64 us) { m_values.push_back(us); }
    size_t size() const { return m_values.size(); }
    // p in [0, 100]; 0 when empty.
    double percentileMs(double p);
    double maxMs();
    // {"p50":…,"p90":…,"p99":…,"max":…} in milliseconds.
    QJsonObject toJson();

private:
    std::vector<qint64> m_values;
    bool m_sorted = false;
};

// Runs the event loop until `done` returns true or `timeoutMs` passed;
// returns done().
bool waitFor(const std::function<bool()> &done, int timeoutMs);

// A throw-away directory with a CA, a server certificate for 127.0.0.1 /
// localhost (tests/support/testpki.h) and a configuration for the daemon.
struct Workspace {
    QString dir;
    QString caFile;
    QString certFile;
    QString keyFile;
};

// The daemon under test, as its own process: RSS and CPU are the server's.
class ServerProcess : public QObject {
    Q_OBJECT
public:
    explicit ServerProcess(QObject *parent = nullptr);
    ~ServerProcess() override;

    // Starts `binary --config configFile` and waits until it logs its
    // registration port. Its stderr goes to logFile.
    bool start(const QString &binary, const QString &configFile, const QString &logFile,
               QString *error, int timeoutMs = 60000);
    void stop();

    qint64 pid() const;
    quint16 registrationPort() const { return m_registrationPort; }
    // Wall time from spawning the process to its "listening" line.
    qint64 msToListening() const { return m_msToListening; }
    qint64 startedAtMs() const { return m_startedAtMs; }
    // Warning, critical and fatal lines the server logged.
    int problemLines() const { return m_problems; }
    QStringList problemSamples() const { return m_problemSamples; }

    struct Usage {
        qint64 rssKb = 0;
        qint64 peakRssKb = 0;
        double cpuSeconds = 0; // utime + stime
    };
    Usage usage() const;

private:
    void onStderr();

    QProcess m_process;
    QElapsedTimer m_clock;
    QByteArray m_buffer;
    std::unique_ptr<QFile> m_log;
    quint16 m_registrationPort = 0;
    qint64 m_msToListening = 0;
    qint64 m_startedAtMs = 0;
    int m_problems = 0;
    QStringList m_problemSamples;
};

// A lean WNS: the token endpoint and channels answering 200 received after
// `latencyMs`, on one or more ports of 127.0.0.1. Lives in its own thread.
class BenchWns : public QObject {
    Q_OBJECT
public:
    BenchWns(const QString &certFile, const QString &keyFile, int latencyMs);
    ~BenchWns() override;

    // Call in the owning thread (see WnsThread).
    Q_INVOKABLE bool listen(int ports);
    QList<quint16> ports() const { return m_ports; }

    std::atomic<quint64> channelRequests{0};
    std::atomic<quint64> tokenRequests{0};
    std::atomic<quint64> badRequests{0};
    std::atomic<quint64> connections{0};

private:
    void onNewConnection(QSslServer *server);
    void process(QSslSocket *socket);
    void respond(QSslSocket *socket, const QByteArray &response);

    QString m_certFile;
    QString m_keyFile;
    int m_latencyMs;
    QList<QSslServer *> m_servers;
    QList<quint16> m_ports;
    QHash<QSslSocket *, QByteArray> m_buffers;
};

// Runs a BenchWns in a thread of its own.
class WnsThread {
public:
    WnsThread(const QString &certFile, const QString &keyFile, int latencyMs);
    ~WnsThread();
    bool start(int ports);
    BenchWns &wns() { return *m_wns; }
    QUrl tokenUrl() const;
    // Channel URIs spread round-robin over the fake's ports.
    QString channelUri(int index) const;

private:
    std::unique_ptr<QThread> m_thread;
    BenchWns *m_wns;
};

// One account of a registered device, as a publish needs it.
struct PushTarget {
    QByteArray node;
    QByteArray secret;
};

// Plays the user's XMPP server: accepts the component's XEP-0114 connection,
// checks the handshake, answers keepalive pings, and sends publishes while
// timing their replies.
class XmppLoad : public QObject {
    Q_OBJECT
public:
    XmppLoad(const QString &secret, QObject *parent = nullptr);
    ~XmppLoad() override;

    bool listen();
    quint16 port() const { return m_server.serverPort(); }
    bool isReady() const { return m_ready; }
    qint64 readyAtMs() const { return m_readyAtMs; } // on QDateTime's epoch ms

    struct Result {
        quint64 sent = 0;
        quint64 answered = 0;
        quint64 results = 0;
        QHash<QString, quint64> errors; // "type/condition" -> count
        double seconds = 0;             // first send to last reply
        Samples latency;
        bool linkLost = false;
    };

    // Sends publishes round-robin over `targets` for `durationMs`: at `rate`
    // per second, or as fast as replies come back (rate 0) with at most
    // `window` unanswered. `wrongSecret` sends a bad secret (for lookup
    // latency without WNS). Then waits up to 30 s for the stragglers.
    Result run(const QList<PushTarget> &targets, int rate, int durationMs, int window,
               bool wrongSecret = false, bool random = false);

    // One publish at a time, `count` times, to random targets: round trips.
    Result sequential(const QList<PushTarget> &targets, int count, bool wrongSecret);

private:
    void onNewConnection();
    void onReadyRead();
    void parse();
    void handleIq(const QByteArray &startTag, const QByteArray &whole);
    void sendPublish(const PushTarget &target, bool wrongSecret);

    QTcpServer m_server;
    QString m_secret;
    QPointer<QTcpSocket> m_socket;
    QByteArray m_buffer;
    int m_stage = 0; // 0: stream header, 1: handshake, 2: stanzas
    bool m_ready = false;
    qint64 m_readyAtMs = 0;
    QByteArray m_streamId = "bench-stream";

    // Current run.
    Result *m_result = nullptr;
    QElapsedTimer m_clock;
    std::vector<qint64> m_sentAtNs; // by publish sequence number
    quint64 m_outstanding = 0;
    qint64 m_firstSendNs = -1;
    qint64 m_lastReplyNs = 0;
    std::function<void()> m_onReply;
};

// UWPX clients: TLS connections to the registration endpoint, each sending
// requests one after the other.
class RegistrationLoad : public QObject {
    Q_OBJECT
public:
    RegistrationLoad(quint16 port, const QString &caFile, QObject *parent = nullptr);
    ~RegistrationLoad() override;

    struct Result {
        quint64 requests = 0;
        quint64 setAccounts = 0;
        quint64 errors = 0;
        QStringList errorSamples;
        double seconds = 0;
        Samples latency;            // every request
        Samples setAccountsLatency; // set_accounts only
    };

    // Registers `devices` devices (set_channel_uri, then set_accounts with
    // `accountsPerDevice` v1 accounts) over `clients` persistent connections
    // and returns every account's node and secret.
    bool enroll(int devices, int accountsPerDevice, int clients,
                const std::function<QString(int)> &channelUri, QList<PushTarget> *targets,
                Result *result);

    // `clients` connections looping set_channel_uri + set_accounts (3
    // accounts) for `durationMs`; a new TLS connection per request unless
    // `persistent`.
    Result loop(int clients, bool persistent, int durationMs,
                const std::function<QString(int)> &channelUri);

private:
    struct Client;
    void connectClient(Client *client);
    void sendNext(Client *client);
    void onReadyRead(Client *client);

    quint16 m_port;
    QSslConfiguration m_tls;
    std::vector<std::unique_ptr<Client>> m_clients;
    Result *m_result = nullptr;
    QElapsedTimer m_clock;
    bool m_stopping = false;
    int m_finishedClients = 0;
    std::function<QString(int)> m_channelUri;
    QList<PushTarget> *m_targets = nullptr;
    int m_accountsPerDevice = 3;
    int m_nextDevice = 0;
    int m_deviceLimit = 0; // enroll: devices to register; 0 = loop forever
};

// The push scenario's store with --store postgresql: a fresh database in the
// cluster that tests/storage/with-postgresql.sh started (UWPX_TEST_PG_*),
// behind uwpx-delay-relay when a round trip is to be added. Destroy it after
// the daemon stopped: it stops the relay and drops the database.
class PostgresqlStore {
public:
    PostgresqlStore();
    ~PostgresqlStore();

    // Creates the database; starts the relay in front of the cluster when
    // delayMs > 0.
    bool start(const QString &relayBinary, double delayMs, QString *error);
    // The daemon's [storage] keys: the relay, or the cluster when no delay.
    QMap<QString, QString> configKeys() const;
    bool relayed() const { return m_relayPort != 0; }

    // `count` round trips of SELECT 1 on a connection of its own: on the
    // daemon's path (through the relay, if any), or straight to the cluster.
    bool selectOneRtt(bool daemonPath, int count, Samples *samples, QString *error);

private:
    QString m_host;
    int m_port;
    QString m_adminDatabase;
    QString m_user;
    QString m_password;
    QString m_database;
    bool m_created = false;
    QProcess m_relay;
    quint16 m_relayPort = 0;
};

QString deviceId(int index, int salt = 0);

} // namespace uwpx::bench

// uwpx-bench: benchmark scenarios against the real uwpx-push-server process.
// Each scenario prints its figures as one JSON line on stdout; progress goes
// to stderr. See tests/bench/RESULTS.md for how to run it and what it found.

#include "bench.h"

#include "credentials.h"
#include "storageconnection.h"
#include "storeadmin.h"
#include "testconfig.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRandomGenerator>
#include <QTemporaryDir>

#include <cmath>
#include <cstdio>

using namespace uwpx::bench;

namespace {

const QString kComponentSecret = QStringLiteral("bench-component-secret");

struct Options {
    QString server;
    QString workdir;
    int durationMs = 10000;
    int devices = 0; // scenario default when 0
    int accounts = 3;
    int rate = 1000;
    int window = 1000;
    int wnsLatencyMs = 0;
    int wnsPorts = 1;
    int wnsConnections = 0; // wns.connections_per_host; 0: the server's default
    int clients = 16;
    int lookups = 2000;
    QString store;        // scale: the SQLite file; push: sqlite | postgresql
    double dbDelayMs = 0; // push --store postgresql: round trip added by uwpx-delay-relay
    QString relay;
};

void progress(const QString &text) {
    std::fprintf(stderr, "uwpx-bench: %s\n", qPrintable(text));
    std::fflush(stderr);
}

void emitLine(const QJsonObject &line) {
    std::printf("%s\n", QJsonDocument(line).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
}

double round2(double value) {
    return std::round(value * 100.0) / 100.0;
}

double round3(double value) {
    return std::round(value * 1000.0) / 1000.0;
}

double mib(qint64 kb) {
    return round2(double(kb) / 1024.0);
}

quint16 freePort() {
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

// Scrapes the server's /metrics: "name{labels}" -> value.
QHash<QString, double> scrapeMetrics(quint16 port) {
    QHash<QString, double> values;
    QNetworkAccessManager network;
    QNetworkReply *reply =
        network.get(QNetworkRequest(QUrl(QStringLiteral("http://127.0.0.1:%1/metrics").arg(port))));
    waitFor([reply] { return reply->isFinished(); }, 10000);
    for (const QByteArray &line : reply->readAll().split('\n')) {
        if (line.isEmpty() || line.startsWith('#'))
            continue;
        const qsizetype space = line.lastIndexOf(' ');
        values.insert(QString::fromUtf8(line.left(space)), line.mid(space + 1).toDouble());
    }
    reply->deleteLater();
    return values;
}

double publishes(const QHash<QString, double> &metrics, const char *outcome) {
    return metrics.value(
        QStringLiteral("uwpx_publishes_total{outcome=\"%1\"}").arg(QLatin1String(outcome)));
}

// Everything a scenario runs against: certificates, the fake WNS, the
// component port and the daemon.
class Rig {
public:
    explicit Rig(const Options &options)
        : m_options(options) {}

    bool start(const QString &dir, const QMap<QString, QString> &extra = {}) {
        m_dir = dir;
        // The first call makes the certificates, the second the real config.
        if (uwpx::test::writeConfig(dir).isEmpty())
            return fail(QStringLiteral("cannot write a configuration (openssl missing?)"));
        const QDir d(dir);
        caFile = d.filePath(QStringLiteral("ca.pem"));
        wns = std::make_unique<WnsThread>(d.filePath(QStringLiteral("server.pem")),
                                          d.filePath(QStringLiteral("server.key")),
                                          m_options.wnsLatencyMs);
        if (!wns->start(m_options.wnsPorts))
            return fail(QStringLiteral("the fake WNS cannot listen"));
        xmpp = std::make_unique<XmppLoad>(kComponentSecret);
        if (!xmpp->listen())
            return fail(QStringLiteral("the component port cannot listen"));
        metricsPort = freePort();
        QMap<QString, QString> keys{
            {QStringLiteral("xmpp/component_jid"), QStringLiteral("push.bench")},
            {QStringLiteral("xmpp/port"), QString::number(xmpp->port())},
            {QStringLiteral("xmpp/secret"), kComponentSecret},
            {QStringLiteral("wns/token_url"), wns->tokenUrl().toString()},
            {QStringLiteral("wns/channel_hosts"), QStringLiteral("127.0.0.1")},
            {QStringLiteral("metrics/listen"), QString::number(metricsPort)},
        };
        if (m_options.wnsConnections > 0)
            keys.insert(QStringLiteral("wns/connections_per_host"),
                        QString::number(m_options.wnsConnections));
        keys.insert(extra);
        const QString config = uwpx::test::writeConfig(dir, keys);
        QString error;
        if (!server.start(m_options.server, config, d.filePath(QStringLiteral("server.log")),
                          &error))
            return fail(error);
        if (!waitFor([this] { return xmpp->isReady(); }, 30000))
            return fail(QStringLiteral("the component did not connect"));
        readyMs = xmpp->readyAtMs() - server.startedAtMs();
        return true;
    }

    QString channelUri(int index) const { return wns->channelUri(index); }

    bool fail(const QString &why) {
        error = why;
        return false;
    }

    QString caFile;
    std::unique_ptr<WnsThread> wns;
    std::unique_ptr<XmppLoad> xmpp;
    ServerProcess server;
    quint16 metricsPort = 0;
    qint64 readyMs = 0;
    QString error;

private:
    const Options &m_options;
    QString m_dir;
};

QJsonObject errorsJson(const QHash<QString, quint64> &errors) {
    QJsonObject out;
    for (auto it = errors.cbegin(); it != errors.cend(); ++it)
        out.insert(it.key(), double(it.value()));
    return out;
}

// 1. push: pre-registered devices, publishes at a fixed rate and open throttle.
bool runPush(const Options &options, const QString &dir) {
    const int devices = options.devices > 0 ? options.devices : 2000;
    // Declared before the rig: the database is dropped after the daemon stopped.
    std::unique_ptr<PostgresqlStore> postgresql;
    QMap<QString, QString> storeKeys;
    QJsonObject storeFields{{QStringLiteral("store"), QStringLiteral("sqlite")}};
    if (options.store == QLatin1String("postgresql")) {
        postgresql = std::make_unique<PostgresqlStore>();
        QString error;
        Samples daemonPath;
        Samples direct;
        if (!postgresql->start(options.relay, options.dbDelayMs, &error) ||
            !postgresql->selectOneRtt(true, 500, &daemonPath, &error) ||
            (postgresql->relayed() && !postgresql->selectOneRtt(false, 500, &direct, &error))) {
            progress(QStringLiteral("push: ") + error);
            return false;
        }
        storeKeys = postgresql->configKeys();
        if (!postgresql->relayed())
            direct = daemonPath;
        // What the relay really adds: the VM's wake-ups come on top of the delay.
        const double added = daemonPath.percentileMs(50) - direct.percentileMs(50);
        progress(postgresql->relayed()
                     ? QStringLiteral("push: PostgreSQL behind uwpx-delay-relay (+%1 ms): "
                                      "SELECT 1 p50 %2 ms direct, %3 ms through the relay "
                                      "(+%4 ms)")
                           .arg(options.dbDelayMs)
                           .arg(direct.percentileMs(50))
                           .arg(daemonPath.percentileMs(50))
                           .arg(round3(added))
                     : QStringLiteral("push: PostgreSQL direct: SELECT 1 p50 %1 ms")
                           .arg(direct.percentileMs(50)));
        storeFields = {
            {QStringLiteral("store"), QStringLiteral("postgresql")},
            {QStringLiteral("db_delay_ms"), postgresql->relayed() ? options.dbDelayMs : 0},
            {QStringLiteral("db_rtt_ms"), daemonPath.toJson()},
            {QStringLiteral("db_rtt_direct_ms"), direct.toJson()},
            {QStringLiteral("db_added_rtt_ms"), round3(added)},
        };
    } else if (!options.store.isEmpty() && options.store != QLatin1String("sqlite")) {
        progress(QStringLiteral("push: --store is sqlite or postgresql, not ") + options.store);
        return false;
    }
    Rig rig(options);
    if (!rig.start(dir, storeKeys)) {
        progress(QStringLiteral("push: ") + rig.error);
        return false;
    }
    progress(QStringLiteral("push: registering %1 devices").arg(devices));
    RegistrationLoad registrations(rig.server.registrationPort(), rig.caFile);
    QList<PushTarget> targets;
    RegistrationLoad::Result enrolled;
    if (!registrations.enroll(
            devices, options.accounts, 8, [&rig](int i) { return rig.channelUri(i); }, &targets,
            &enrolled)) {
        progress(QStringLiteral("push: registration failed: %1 errors %2")
                     .arg(enrolled.errors)
                     .arg(enrolled.errorSamples.join(QLatin1Char(' '))));
        return false;
    }
    progress(QStringLiteral("push: %1 nodes registered in %2 s")
                 .arg(targets.size())
                 .arg(enrolled.seconds));

    // A new daemon's first publishes pay for its WNS token, its TLS
    // connections to WNS and, on PostgreSQL, preparing the lookup on each
    // storage connection: tens of milliseconds, once per process life. The
    // figures are for a running server, so half a second at the offered rate
    // goes first and is only summed up here.
    {
        XmppLoad::Result warmUp = rig.xmpp->run(targets, options.rate, 500, options.window);
        progress(QStringLiteral("push: warm-up, not counted: %1 publishes, p50 %2 ms, max %3 ms")
                     .arg(warmUp.answered)
                     .arg(warmUp.latency.percentileMs(50))
                     .arg(warmUp.latency.maxMs()));
    }
    bool ok = true;
    for (const int rate : {options.rate, 0}) {
        // Let the previous run's rate windows and trailing sends run out.
        waitFor([] { return false; }, 1500);
        const auto metricsBefore = scrapeMetrics(rig.metricsPort);
        const auto usageBefore = rig.server.usage();
        const quint64 wnsBefore = rig.wns->wns().channelRequests;
        progress(
            rate > 0
                ? QStringLiteral("push: %1 publishes/s for %2 ms").arg(rate).arg(options.durationMs)
                : QStringLiteral("push: open throttle (%1 in flight) for %2 ms")
                      .arg(options.window)
                      .arg(options.durationMs));
        XmppLoad::Result result = rig.xmpp->run(targets, rate, options.durationMs, options.window);
        // Trailing sends of coalesced publishes go out up to a window later.
        waitFor([] { return false; }, 1200);
        const auto usage = rig.server.usage();
        const auto metrics = scrapeMetrics(rig.metricsPort);
        const quint64 wnsRequests = rig.wns->wns().channelRequests - wnsBefore;
        const double cpu = usage.cpuSeconds - usageBefore.cpuSeconds;
        quint64 errors = 0;
        for (const quint64 count : std::as_const(result.errors))
            errors += count;
        QJsonObject line{
            {QStringLiteral("scenario"), QStringLiteral("push")},
            {QStringLiteral("mode"), rate > 0 ? QStringLiteral("rate") : QStringLiteral("open")},
            {QStringLiteral("devices"), devices},
            {QStringLiteral("nodes"), targets.size()},
            {QStringLiteral("offered_per_s"), rate},
            {QStringLiteral("window"), rate > 0 ? 0 : options.window},
            {QStringLiteral("wns_latency_ms"), options.wnsLatencyMs},
            {QStringLiteral("wns_ports"), options.wnsPorts},
            {QStringLiteral("wns_connections"), options.wnsConnections},
            {QStringLiteral("sent"), double(result.sent)},
            {QStringLiteral("answered"), double(result.answered)},
            {QStringLiteral("seconds"), round2(result.seconds)},
            {QStringLiteral("publishes_per_s"),
             result.seconds > 0 ? round2(result.answered / result.seconds) : 0},
            {QStringLiteral("delivered"),
             publishes(metrics, "delivered") - publishes(metricsBefore, "delivered")},
            {QStringLiteral("coalesced"),
             publishes(metrics, "coalesced") - publishes(metricsBefore, "coalesced")},
            {QStringLiteral("latency_ms"), result.latency.toJson()},
            {QStringLiteral("wns_requests"), double(wnsRequests)},
            {QStringLiteral("errors"), double(errors)},
            {QStringLiteral("error_replies"), errorsJson(result.errors)},
            {QStringLiteral("link_lost"), result.linkLost},
            {QStringLiteral("server_cpu_s"), round2(cpu)},
            {QStringLiteral("server_cpu_per_1k"),
             result.answered > 0 ? round2(cpu * 1000.0 / result.answered) : 0},
            {QStringLiteral("server_rss_mib"), mib(usage.rssKb)},
            {QStringLiteral("server_peak_rss_mib"), mib(usage.peakRssKb)},
            {QStringLiteral("server_warnings"), rig.server.problemLines()},
        };
        for (auto it = storeFields.constBegin(); it != storeFields.constEnd(); ++it)
            line.insert(it.key(), it.value());
        emitLine(line);
        ok = ok && result.answered > 0 && result.answered == result.sent && errors == 0 &&
             !result.linkLost && wnsRequests > 0;
    }
    if (rig.server.problemLines() > 0) {
        progress(QStringLiteral("push: server warnings: ") +
                 rig.server.problemSamples().join(QStringLiteral(" | ")));
        ok = false;
    }
    return ok;
}

// 2. register: K clients looping set_channel_uri + set_accounts.
bool runRegister(const Options &options, const QString &dir) {
    Rig rig(options);
    if (!rig.start(dir)) {
        progress(QStringLiteral("register: ") + rig.error);
        return false;
    }
    bool ok = true;
    for (const bool persistent : {true, false}) {
        progress(
            QStringLiteral("register: %1 clients, %2 connections, %3 ms")
                .arg(options.clients)
                .arg(persistent ? QStringLiteral("persistent") : QStringLiteral("new per request"))
                .arg(options.durationMs));
        RegistrationLoad load(rig.server.registrationPort(), rig.caFile);
        const auto usageBefore = rig.server.usage();
        RegistrationLoad::Result result = load.loop(options.clients, persistent, options.durationMs,
                                                    [&rig](int i) { return rig.channelUri(i); });
        const auto usage = rig.server.usage();
        emitLine({
            {QStringLiteral("scenario"), QStringLiteral("register")},
            {QStringLiteral("connections"),
             persistent ? QStringLiteral("persistent") : QStringLiteral("per_request")},
            {QStringLiteral("clients"), options.clients},
            {QStringLiteral("seconds"), round2(result.seconds)},
            {QStringLiteral("requests"), double(result.requests)},
            {QStringLiteral("requests_per_s"),
             result.seconds > 0 ? round2(result.requests / result.seconds) : 0},
            {QStringLiteral("set_accounts_per_s"),
             result.seconds > 0 ? round2(result.setAccounts / result.seconds) : 0},
            {QStringLiteral("latency_ms"), result.latency.toJson()},
            {QStringLiteral("set_accounts_latency_ms"), result.setAccountsLatency.toJson()},
            {QStringLiteral("errors"), double(result.errors)},
            {QStringLiteral("error_samples"), QJsonArray::fromStringList(result.errorSamples)},
            {QStringLiteral("server_cpu_s"), round2(usage.cpuSeconds - usageBefore.cpuSeconds)},
            {QStringLiteral("server_rss_mib"), mib(usage.rssKb)},
            {QStringLiteral("server_peak_rss_mib"), mib(usage.peakRssKb)},
        });
        ok = ok && result.requests > 0 && result.errors == 0;
    }
    if (rig.server.problemLines() > 0) {
        progress(QStringLiteral("register: server warnings: ") +
                 rig.server.problemSamples().join(QStringLiteral(" | ")));
        ok = false;
    }
    return ok;
}

QString accountKey(const QString &device, int account) {
    // v1: SHA-256 of device id + bare JID (docs/protocol.md).
    return QString::fromLatin1(
        QCryptographicHash::hash(
            (device + QStringLiteral("user%1@example.org").arg(account)).toUtf8(),
            QCryptographicHash::Sha256)
            .toHex());
}

qint64 fileSize(const QString &path) {
    return QFileInfo(path).size();
}

// Fills a store the way uwpx-pushctl import does (StoreAdmin), committing
// every 10,000 devices, with nodes and secrets made as the daemon makes them;
// keeps a sample of those next to it for the lookups.
bool generateStore(const QString &path, int devices, int accounts, double *seconds) {
    QFile::remove(path);
    QFile::remove(path + QStringLiteral("-wal"));
    QFile::remove(path + QStringLiteral("-shm"));
    uwpx::StorageSettings settings;
    settings.path = path;
    QString error;
    auto admin = uwpx::StoreAdmin::open(settings, &error);
    if (!admin) {
        progress(QStringLiteral("scale: ") + error);
        return false;
    }
    QFile sample(path + QStringLiteral(".sample"));
    if (!sample.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return false;
    const int every = std::max(1, devices * accounts / 20000);
    QElapsedTimer clock;
    clock.start();
    int n = 0;
    for (int start = 0; start < devices; start += 10000) {
        QList<uwpx::ImportedDevice> batch;
        for (int i = start; i < std::min(devices, start + 10000); ++i) {
            const QString device = deviceId(i, 0x5c);
            QList<uwpx::ImportedAccount> imported;
            for (int a = 0; a < accounts; ++a)
                imported << uwpx::ImportedAccount{accountKey(device, a),
                                                  QStringLiteral("example.org"),
                                                  uwpx::credentials::newNode(),
                                                  uwpx::credentials::newSecret(),
                                                  {}};
            batch << uwpx::ImportedDevice{
                device, QStringLiteral("https://127.0.0.1/channel/%1").arg(i), 1, imported, {}};
        }
        const auto report = admin->importDevices(batch, false);
        if (!report.isOk()) {
            progress(QStringLiteral("scale: ") + report.error());
            return false;
        }
        for (const uwpx::ImportedDevice &device : std::as_const(batch)) {
            for (const uwpx::ImportedAccount &account : device.accounts) {
                if (n++ % every == 0)
                    sample.write(account.node.toUtf8() + ' ' + account.secret.toUtf8() + '\n');
            }
        }
        if ((start / 10000) % 10 == 9)
            progress(QStringLiteral("scale: %1 devices in %2 s")
                         .arg(start + 10000)
                         .arg(clock.elapsed() / 1000.0));
    }
    *seconds = clock.elapsed() / 1000.0;
    return true;
}

// 3. scale: a big store, start-up, memory and lookups at that size.
bool runScale(const Options &options, const QString &dir) {
    const int devices = options.devices > 0 ? options.devices : 1000000;
    const QString store = options.store.isEmpty()
                              ? QDir(dir).filePath(QStringLiteral("scale-%1.db").arg(devices))
                              : options.store;
    double generationSeconds = -1;
    bool reused = false;
    {
        // A store made earlier for the same size is reused.
        uwpx::StorageSettings settings;
        settings.path = store;
        QString error;
        if (QFile::exists(store) && QFile::exists(store + QStringLiteral(".sample"))) {
            auto storage = uwpx::StorageConnection::open(settings, &error);
            reused = storage && storage->deviceCount().isOk() &&
                     storage->deviceCount().value() == devices && storage->accountCount().isOk() &&
                     storage->accountCount().value() == qint64(devices) * options.accounts;
        }
    }
    if (!reused) {
        progress(QStringLiteral("scale: generating %1 devices, %2 accounts in %3")
                     .arg(devices)
                     .arg(qint64(devices) * options.accounts)
                     .arg(store));
        if (!generateStore(store, devices, options.accounts, &generationSeconds))
            return false;
    }
    QList<PushTarget> sample;
    {
        QFile file(store + QStringLiteral(".sample"));
        if (!file.open(QIODevice::ReadOnly))
            return false;
        for (const QByteArray &line : file.readAll().split('\n')) {
            const QList<QByteArray> parts = line.split(' ');
            if (parts.size() == 2)
                sample.append({parts[0], parts[1]});
        }
    }
    const qint64 dbBytes = fileSize(store) + fileSize(store + QStringLiteral("-wal"));

    Options rigOptions = options;
    Rig rig(rigOptions);
    if (!rig.start(dir, {{QStringLiteral("storage/path"), store}})) {
        progress(QStringLiteral("scale: ") + rig.error);
        return false;
    }
    const auto idle = rig.server.usage();
    progress(QStringLiteral("scale: %1 sequential lookups").arg(options.lookups));
    XmppLoad::Result sequential = rig.xmpp->sequential(sample, options.lookups, true);
    progress(QStringLiteral("scale: lookups at %1/s for %2 ms")
                 .arg(options.rate)
                 .arg(options.durationMs));
    XmppLoad::Result loaded =
        rig.xmpp->run(sample, options.rate, options.durationMs, 0, true, true);
    const auto usage = rig.server.usage();
    rig.server.stop();

    // The storage library's own lookup, without the XMPP round trip.
    Samples storageLookups;
    qint64 found = 0;
    {
        uwpx::StorageSettings settings;
        settings.path = store;
        QString error;
        auto storage = uwpx::StorageConnection::open(settings, &error);
        if (!storage)
            return false;
        QElapsedTimer clock;
        for (int i = 0; i < 20000; ++i) {
            const PushTarget &target =
                sample.at(QRandomGenerator::global()->bounded(sample.size()));
            clock.start();
            const QString node = QString::fromUtf8(target.node);
            const auto lookup = storage->findByNodes({node});
            storageLookups.add(clock.nsecsElapsed() / 1000);
            found += lookup.isOk() && lookup->value(node).secret.toUtf8() == target.secret;
        }
    }
    auto forbiddenOnly = [](const XmppLoad::Result &result) {
        return result.answered == result.sent && result.sent > 0 && result.results == 0 &&
               result.errors.value(QStringLiteral("auth/forbidden")) == result.answered;
    };
    emitLine({
        {QStringLiteral("scenario"), QStringLiteral("scale")},
        {QStringLiteral("devices"), devices},
        {QStringLiteral("accounts"), double(qint64(devices) * options.accounts)},
        {QStringLiteral("generation_s"),
         generationSeconds < 0 ? QJsonValue() : round2(generationSeconds)},
        {QStringLiteral("reused_store"), reused},
        {QStringLiteral("db_mib"), round2(double(dbBytes) / 1048576.0)},
        {QStringLiteral("startup_ms"), rig.server.msToListening()},
        {QStringLiteral("ready_ms"), rig.readyMs},
        {QStringLiteral("server_rss_idle_mib"), mib(idle.rssKb)},
        {QStringLiteral("server_rss_mib"), mib(usage.rssKb)},
        {QStringLiteral("server_peak_rss_mib"), mib(usage.peakRssKb)},
        {QStringLiteral("lookup_rtt_ms"), sequential.latency.toJson()},
        {QStringLiteral("lookups_offered_per_s"), options.rate},
        {QStringLiteral("lookup_loaded_ms"), loaded.latency.toJson()},
        {QStringLiteral("storage_lookup_ms"), storageLookups.toJson()},
        {QStringLiteral("lookups"), double(sequential.answered + loaded.answered)},
        {QStringLiteral("errors"),
         double((sequential.sent - sequential.errors.value(QStringLiteral("auth/forbidden"))) +
                (loaded.sent - loaded.errors.value(QStringLiteral("auth/forbidden"))) +
                (20000 - found))},
        {QStringLiteral("server_warnings"), rig.server.problemLines()},
    });
    return forbiddenOnly(sequential) && forbiddenOnly(loaded) && found == 20000 &&
           rig.server.problemLines() == 0;
}

} // namespace

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Benchmarks for uwpx-push-server. Scenarios: push, register, scale, all, smoke "
        "(a short run of each that fails only when a scenario breaks)."));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("scenario"),
                                 QStringLiteral("push | register | scale | all | smoke"));
    auto option = [&parser](const char *name, const char *help, const QString &fallback) {
        QCommandLineOption o(QString::fromLatin1(name), QString::fromLatin1(help),
                             QStringLiteral("value"), fallback);
        parser.addOption(o);
        return o;
    };
    const auto serverOption =
        option("server", "The uwpx-push-server binary.", QStringLiteral(UWPX_SERVER_BINARY));
    const auto workdirOption =
        option("workdir", "Where stores, configs and logs go (default: a temporary directory).",
               QString());
    const auto durationOption =
        option("duration", "Milliseconds each measured run lasts.", QStringLiteral("10000"));
    const auto devicesOption =
        option("devices", "push: devices registered (2000); scale: devices stored (1000000).",
               QStringLiteral("0"));
    const auto rateOption =
        option("rate", "push/scale: offered publishes per second.", QStringLiteral("1000"));
    const auto windowOption =
        option("window", "push, open throttle: publishes in flight.", QStringLiteral("1000"));
    const auto latencyOption =
        option("wns-latency", "Milliseconds the fake WNS takes to answer.", QStringLiteral("0"));
    const auto portsOption = option(
        "wns-ports", "Ports (hosts) the fake WNS's channels are spread over.", QStringLiteral("1"));
    const auto connectionsOption =
        option("wns-connections", "The server's wns.connections_per_host (0: its default).",
               QStringLiteral("0"));
    const auto clientsOption =
        option("clients", "register: concurrent TLS clients.", QStringLiteral("16"));
    const auto storeOption = option(
        "store",
        "push: sqlite (default) or postgresql (a fresh database in the cluster that "
        "tests/storage/with-postgresql.sh started); scale: the SQLite store to make or reuse.",
        QString());
    const auto dbDelayOption = option(
        "db-delay-ms",
        "push --store postgresql: round trip in ms (may be fractional) that uwpx-delay-relay "
        "adds between the daemon and PostgreSQL; 0: no relay.",
        QStringLiteral("0"));
    const auto relayOption =
        option("relay", "The uwpx-delay-relay binary.", QStringLiteral(UWPX_DELAY_RELAY_BINARY));
    parser.process(app);

    Options options;
    options.server = parser.value(serverOption);
    options.durationMs = parser.value(durationOption).toInt();
    options.devices = parser.value(devicesOption).toInt();
    options.rate = parser.value(rateOption).toInt();
    options.window = parser.value(windowOption).toInt();
    options.wnsLatencyMs = parser.value(latencyOption).toInt();
    options.wnsPorts = std::max(1, parser.value(portsOption).toInt());
    options.wnsConnections = parser.value(connectionsOption).toInt();
    options.clients = parser.value(clientsOption).toInt();
    options.store = parser.value(storeOption);
    options.dbDelayMs = parser.value(dbDelayOption).toDouble();
    options.relay = parser.value(relayOption);
    const QString scenario = parser.positionalArguments().value(0);

    QTemporaryDir temporary;
    QString base = parser.value(workdirOption);
    if (base.isEmpty())
        base = temporary.path();
    auto scenarioDir = [&base](const QString &name) {
        const QString dir = QDir(base).filePath(name);
        QDir().mkpath(dir);
        return dir;
    };

    bool ok = true;
    if (scenario == QLatin1String("push")) {
        ok = runPush(options, scenarioDir(QStringLiteral("push")));
    } else if (scenario == QLatin1String("register")) {
        ok = runRegister(options, scenarioDir(QStringLiteral("register")));
    } else if (scenario == QLatin1String("scale")) {
        ok = runScale(options, scenarioDir(QStringLiteral("scale")));
    } else if (scenario == QLatin1String("all")) {
        ok = runPush(options, scenarioDir(QStringLiteral("push")));
        ok = runRegister(options, scenarioDir(QStringLiteral("register"))) && ok;
        Options scale = options; // --store named push's store, not scale's file
        if (scale.store == QLatin1String("sqlite") || scale.store == QLatin1String("postgresql"))
            scale.store.clear();
        ok = runScale(scale, scenarioDir(QStringLiteral("scale"))) && ok;
    } else if (scenario == QLatin1String("smoke")) {
        // Tiny and short: proves each scenario still works, says nothing about speed.
        Options smoke = options;
        smoke.durationMs = 1500;
        smoke.devices = 100;
        smoke.rate = 300;
        smoke.window = 100;
        smoke.clients = 4;
        smoke.lookups = 200;
        const bool push = runPush(smoke, scenarioDir(QStringLiteral("push")));
        const bool reg = runRegister(smoke, scenarioDir(QStringLiteral("register")));
        smoke.devices = 10000;
        smoke.store.clear();
        const bool scale = runScale(smoke, scenarioDir(QStringLiteral("scale")));
        progress(QStringLiteral("smoke: push %1, register %2, scale %3")
                     .arg(push ? "ok" : "FAILED", reg ? "ok" : "FAILED", scale ? "ok" : "FAILED"));
        ok = push && reg && scale;
    } else {
        parser.showHelp(1);
    }
    if (!ok)
        progress(QStringLiteral("FAILED (see the lines above; server logs in %1)").arg(base));
    if (!ok && parser.value(workdirOption).isEmpty())
        temporary.setAutoRemove(false);
    return ok ? 0 : 1;
}

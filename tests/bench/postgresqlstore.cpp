#include "bench.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

namespace uwpx::bench {

namespace {

QString env(const char *name) {
    return qEnvironmentVariable(name);
}

// Opens a connection of its own named `name`, runs `work` on it, removes it.
template<typename Work>
bool withConnection(const QString &name, const QString &host, int port, const QString &database,
                    const QString &user, const QString &password, QString *error, Work work) {
    bool ok = false;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
        db.setHostName(host);
        db.setPort(port);
        db.setDatabaseName(database);
        db.setUserName(user);
        db.setPassword(password);
        db.setConnectOptions(QStringLiteral("connect_timeout=10"));
        if (!db.open()) {
            *error = QStringLiteral("cannot connect to PostgreSQL at %1:%2: %3")
                         .arg(host)
                         .arg(port)
                         .arg(db.lastError().text());
        } else {
            ok = work(db, error);
            db.close();
        }
    }
    QSqlDatabase::removeDatabase(name);
    return ok;
}

bool execute(QSqlDatabase &db, const QString &statement, QString *error) {
    QSqlQuery query(db);
    if (query.exec(statement))
        return true;
    *error = statement + QStringLiteral(": ") + query.lastError().text();
    return false;
}

} // namespace

PostgresqlStore::PostgresqlStore()
    : m_host(env("UWPX_TEST_PG_HOST"))
    , m_port(env("UWPX_TEST_PG_PORT").toInt())
    , m_adminDatabase(env("UWPX_TEST_PG_DATABASE"))
    , m_user(env("UWPX_TEST_PG_USER"))
    , m_password(env("UWPX_TEST_PG_PASSWORD")) {
    m_relay.setProcessChannelMode(QProcess::ForwardedErrorChannel);
}

PostgresqlStore::~PostgresqlStore() {
    if (m_relay.state() != QProcess::NotRunning) {
        m_relay.kill();
        m_relay.waitForFinished(5000);
    }
    if (m_created) {
        QString error;
        // FORCE: a daemon that did not stop cleanly may still be connected.
        if (!withConnection(QStringLiteral("uwpx-bench-admin"), m_host, m_port, m_adminDatabase,
                            m_user, m_password, &error, [this](QSqlDatabase &db, QString *why) {
                                return execute(db,
                                               QStringLiteral("DROP DATABASE IF EXISTS %1 "
                                                              "WITH (FORCE)")
                                                   .arg(m_database),
                                               why);
                            }))
            qWarning("uwpx-bench: %s", qPrintable(error));
    }
}

bool PostgresqlStore::start(const QString &relayBinary, double delayMs, QString *error) {
    if (m_port == 0 || m_host.isEmpty()) {
        *error = QStringLiteral("UWPX_TEST_PG_* are not set: run uwpx-bench under "
                                "tests/storage/with-postgresql.sh");
        return false;
    }
    if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL"))) {
        *error = QStringLiteral("the Qt PostgreSQL driver (libqt6sql6-psql) is not installed");
        return false;
    }
    static int counter = 0;
    m_database =
        QStringLiteral("uwpx_bench_%1_%2").arg(QCoreApplication::applicationPid()).arg(++counter);
    m_created = withConnection(
        QStringLiteral("uwpx-bench-admin"), m_host, m_port, m_adminDatabase, m_user, m_password,
        error, [this](QSqlDatabase &db, QString *why) {
            return execute(db, QStringLiteral("CREATE DATABASE %1").arg(m_database), why);
        });
    if (!m_created)
        return false;
    if (delayMs <= 0)
        return true;

    m_relay.start(relayBinary,
                  {QStringLiteral("--target"), QStringLiteral("%1:%2").arg(m_host).arg(m_port),
                   QStringLiteral("--delay-ms"), QString::number(delayMs),
                   QStringLiteral("--listen"), QStringLiteral("0")});
    if (!m_relay.waitForStarted(10000)) {
        *error = QStringLiteral("cannot start %1: %2").arg(relayBinary, m_relay.errorString());
        return false;
    }
    // It prints {"listening":PORT,…} once it listens.
    waitFor([this] { return m_relay.canReadLine() || m_relay.state() != QProcess::Running; },
            10000);
    const QJsonObject line = QJsonDocument::fromJson(m_relay.readLine()).object();
    m_relayPort = quint16(line.value(QStringLiteral("listening")).toInt());
    if (m_relayPort == 0) {
        *error = QStringLiteral("uwpx-delay-relay did not say where it listens");
        return false;
    }
    return true;
}

QMap<QString, QString> PostgresqlStore::configKeys() const {
    return {
        {QStringLiteral("storage/driver"), QStringLiteral("postgresql")},
        {QStringLiteral("storage/path"), QString()}, // (removes the SQLite file's key)
        {QStringLiteral("storage/host"), m_relayPort != 0 ? QStringLiteral("127.0.0.1") : m_host},
        {QStringLiteral("storage/port"), QString::number(m_relayPort != 0 ? m_relayPort : m_port)},
        {QStringLiteral("storage/database"), m_database},
        {QStringLiteral("storage/user"), m_user},
        {QStringLiteral("storage/password"), m_password},
    };
}

bool PostgresqlStore::selectOneRtt(bool daemonPath, int count, Samples *samples, QString *error) {
    const bool relayed = daemonPath && m_relayPort != 0;
    return withConnection(
        QStringLiteral("uwpx-bench-rtt"), relayed ? QStringLiteral("127.0.0.1") : m_host,
        relayed ? m_relayPort : m_port, m_database, m_user, m_password, error,
        [&](QSqlDatabase &db, QString *why) {
            QSqlQuery query(db);
            QElapsedTimer clock;
            for (int i = -count / 10; i < count; ++i) { // the first tenth warms up
                clock.start();
                if (!query.exec(QStringLiteral("SELECT 1")) || !query.next()) {
                    *why = QStringLiteral("SELECT 1: ") + query.lastError().text();
                    return false;
                }
                const qint64 us = clock.nsecsElapsed() / 1000;
                query.finish();
                if (i >= 0)
                    samples->add(us);
            }
            return true;
        });
}

} // namespace uwpx::bench

#include "storageconnection.h"

#include "dialect.h"
#include "schemamigrator.h"
#include "sqlstatements.h"
#include "storagelog.h"

#include <QAtomicInt>
#include <QDeadlineTimer>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>
#include <QVariant>

namespace uwpx {

namespace {

QString newConnectionName() {
    static QAtomicInt counter;
    return QStringLiteral("uwpx-storage-%1").arg(counter.fetchAndAddRelaxed(1));
}

QString errorText(const QSqlQuery &query) {
    return query.lastError().text();
}

// libpq says what failed ("certificate verify failed", "does not match host
// name"); the operator also needs to know which keys decide it.
QString certificateHint(const StorageSettings &settings, const QString &error) {
    if (!settings.sslMode.startsWith(QLatin1String("verify")) ||
        !error.contains(QLatin1String("certificate"), Qt::CaseInsensitive))
        return {};
    return QStringLiteral(" ([storage] sslmode = %1: the server's certificate must be signed by "
                          "the CA in ssl_root_cert%2)")
        .arg(settings.sslMode, settings.sslMode == QLatin1String("verify-full")
                                   ? QStringLiteral(" and name the host '%1'").arg(settings.host)
                                   : QString());
}

} // namespace

std::unique_ptr<StorageConnection> StorageConnection::open(const StorageSettings &settings,
                                                           QString *error, bool upgrade) {
    const Dialect *dialect = Dialect::find(settings.driver);
    if (!dialect) {
        *error = QStringLiteral("unknown storage driver '%1'").arg(settings.driver);
        return nullptr;
    }
    const QString connection = newConnectionName();
    QSqlDatabase db = QSqlDatabase::addDatabase(dialect->qtDriver, connection);
    auto abandon = [&](const QString &why) {
        *error = why;
        db = QSqlDatabase();
        QSqlDatabase::removeDatabase(connection);
        return nullptr;
    };
    if (!db.isValid())
        return abandon(
            QStringLiteral("the Qt SQL driver for %1 is not installed").arg(settings.driver));
    QString why;
    if (!dialect->point(db, settings, &why))
        return abandon(why);
    if (!db.open())
        return abandon(QStringLiteral("cannot open the %1 database: %2%3")
                           .arg(settings.driver, db.lastError().text().simplified(),
                                certificateHint(settings, db.lastError().text())));
    // Storage must hold the only handle: it removes the connection when it goes.
    std::unique_ptr<StorageConnection> storage(new StorageConnection(db, *dialect));
    db = QSqlDatabase(); // QSqlDatabase has no move in Qt 6.4
    if (!storage->configure(error) || (upgrade && !SchemaMigrator(*storage).upgrade(error)))
        return nullptr;
    return storage;
}

StorageConnection::StorageConnection(QSqlDatabase db, const Dialect &dialect)
    : m_db(std::move(db))
    , m_dialect(dialect)
    , m_statements(SqlStatements::of(dialect)) {}

StorageConnection::~StorageConnection() {
    m_findByNodes.clear(); // before their connection goes
    const QString connection = m_db.connectionName();
    m_db.close();
    m_db = QSqlDatabase();
    QSqlDatabase::removeDatabase(connection);
}

void StorageConnection::logFailure(const char *what, const QString &error) const {
    qCWarning(lcStorage).noquote() << what << "failed:" << error;
}

bool StorageConnection::configure(QString *error) {
    // Per-connection settings: see sql/<dialect>/configure.sql.
    for (const QString &statement : m_statements.script(QStringLiteral("configure"))) {
        // An instance opening the same new SQLite file at once makes the
        // switch to WAL fail without waiting: try again a while.
        QDeadlineTimer deadline(5000);
        for (;;) {
            QSqlQuery query(m_db);
            if (query.exec(statement))
                break;
            if (!m_dialect.isBusy(query.lastError()) || deadline.hasExpired()) {
                *error = QStringLiteral("%1: %2").arg(statement, errorText(query));
                return false;
            }
            QThread::msleep(20);
        }
    }
    return true;
}

int StorageConnection::latestSchemaVersion() {
    return SchemaMigrator::latestVersion();
}

StorageResult<int> StorageConnection::schemaVersion() {
    QSqlQuery query(m_db);
    // Before the first upgrade there is no schema_version table: version 0.
    if (!query.exec(sql(QStringLiteral("select_schema_version"))) || !query.next())
        return m_db.tables().contains(QStringLiteral("schema_version"))
                   ? StorageResult<int>::failed(errorText(query))
                   : StorageResult<int>::ok(0);
    return StorageResult<int>::ok(query.value(0).toInt());
}

StorageResult<> StorageConnection::notify(const QString &channel, const QString &payload) {
    if (!m_dialect.shared)
        return StorageResult<>::ok(); // nobody else to wake
    return reconnecting("waking the other instances", [&] {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("notify"), {{"channel", channel}, {"payload", payload}},
                 &error))
            return StorageResult<>::failed(error);
        return StorageResult<>::ok();
    });
}

bool StorageConnection::listen(const QString &channel,
                               std::function<void(const QString &payload)> heard) {
    QSqlDriver *driver = m_db.driver();
    if (!m_dialect.shared || !driver->hasFeature(QSqlDriver::EventNotifications) ||
        !driver->subscribeToNotification(channel))
        return false;
    QObject::connect(driver, &QSqlDriver::notification, driver,
                     [channel, heard = std::move(heard)](const QString &name,
                                                         QSqlDriver::NotificationSource,
                                                         const QVariant &payload) {
                         if (name == channel)
                             heard(payload.toString());
                     });
    return true;
}

bool StorageConnection::isAlive() {
    QSqlQuery probe(m_db);
    return probe.exec(QStringLiteral("SELECT 1"));
}

StorageResult<> StorageConnection::checkWritable() {
    return reconnecting("checking that the database takes writes", [&] {
        QString error;
        if (!beginWrite(&error))
            return StorageResult<>::failed(error);
        // SQLite takes the write lock at BEGIN IMMEDIATE; PostgreSQL only
        // refuses a write on a read-only server when one is tried.
        QSqlQuery query(m_db);
        QString why;
        const bool wrote = run(query, QStringLiteral("touch_device"),
                               {{"device_id", QStringLiteral("")}, {"now", 0}}, &why);
        rollback();
        return wrote ? StorageResult<>::ok() : StorageResult<>::failed(why);
    });
}

// Each query lives in a resource file; a dialect overrides the common text
// only where its SQL really differs.
const QString &StorageConnection::sql(const QString &name) const {
    return m_statements.text(name);
}

bool StorageConnection::run(QSqlQuery &query, const QString &name, const QVariantMap &values,
                            QString *error) {
    if (!query.prepare(sql(name))) {
        *error = errorText(query);
        return false;
    }
    for (auto it = values.cbegin(); it != values.cend(); ++it)
        query.bindValue(QLatin1Char(':') + it.key(), it.value());
    if (!query.exec()) {
        *error = errorText(query);
        return false;
    }
    return true;
}

bool StorageConnection::beginWrite(QString *error) {
    QSqlQuery query(m_db);
    if (!query.exec(sql(QStringLiteral("begin_write")))) {
        *error = errorText(query);
        return false;
    }
    return true;
}

bool StorageConnection::commit(QString *error) {
    QSqlQuery query(m_db);
    if (!query.exec(QStringLiteral("COMMIT"))) {
        *error = errorText(query);
        rollback();
        return false;
    }
    return true;
}

void StorageConnection::rollback() {
    QSqlQuery query(m_db);
    query.exec(QStringLiteral("ROLLBACK"));
}

// A PostgreSQL server restarts, fails over, or an idle connection is cut by
// a firewall: the connection is gone, and Qt SQL never reopens it by itself.
// Every operation is idempotent (upserts, deletes, reads; setAccounts keeps
// what an unacknowledged earlier attempt committed), so after reopening, the
// failed one can simply run again.
bool StorageConnection::reconnectIfLost() {
    if (!m_dialect.reconnects)
        return false;
    QSqlQuery probe(m_db);
    if (probe.exec(QStringLiteral("SELECT 1")))
        return false; // the connection works: the failure was the statement's
    if (!m_reconnect.mayTry())
        return false;
    m_findByNodes.clear(); // prepared on the old connection
    m_db.close();
    QString error;
    if (!m_db.open() || !configure(&error)) {
        m_reconnect.failed();
        qCWarning(lcStorage).noquote() << "reconnecting to the database failed:"
                                       << (error.isEmpty() ? m_db.lastError().text() : error);
        return false;
    }
    qCInfo(lcStorage) << "reconnected to the database";
    m_reconnect.succeeded();
    return true;
}

} // namespace uwpx

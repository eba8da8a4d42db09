#include "storage.h"

#include "credentials.h"
#include "identity.h"

#include <QAtomicInt>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QMutex>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>
#include <QVariant>

#include <algorithm>

namespace uwpx {

namespace {

QString newConnectionName() {
    static QAtomicInt counter;
    return QStringLiteral("uwpx-storage-%1").arg(counter.fetchAndAddRelaxed(1));
}

qint64 nowMs() {
    return QDateTime::currentMSecsSinceEpoch();
}

constexpr qint64 kMinReconnectDelayMs = 1000;
constexpr qint64 kMaxReconnectDelayMs = 60000;

// A migration file holds several statements, each ending with ';' at the end
// of a line; '--' comment lines are dropped.
QStringList statementsOf(const QString &script) {
    QStringList statements;
    QString current;
    for (const QString &line : script.split(QLatin1Char('\n'))) {
        if (line.trimmed().startsWith(QLatin1String("--")))
            continue;
        current += line + QLatin1Char('\n');
        if (line.trimmed().endsWith(QLatin1Char(';'))) {
            statements << current.trimmed().chopped(1);
            current.clear();
        }
    }
    if (!current.trimmed().isEmpty())
        statements << current.trimmed();
    return statements;
}

QString errorText(const QSqlQuery &query) {
    return query.lastError().text();
}

} // namespace

std::unique_ptr<Storage> Storage::open(const StorageSettings &settings, QString *error) {
    const QString connection = newConnectionName();
    QSqlDatabase db;
    if (settings.driver == QLatin1String("sqlite")) {
        db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        const QFileInfo file(settings.path);
        if (!QDir().mkpath(file.absolutePath())) {
            *error = QStringLiteral("cannot create the directory %1").arg(file.absolutePath());
            db = QSqlDatabase();
            QSqlDatabase::removeDatabase(connection);
            return nullptr;
        }
        db.setDatabaseName(settings.path);
        // Another writer (a second instance, the backup tool) holds the lock
        // for a moment; wait for it instead of failing the request.
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
    } else if (settings.driver == QLatin1String("postgresql")) {
        db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), connection);
        db.setHostName(settings.host);
        db.setPort(settings.port);
        db.setDatabaseName(settings.database);
        db.setUserName(settings.user);
        db.setPassword(settings.password);
        // Fail instead of hanging when the server is unreachable; name us in
        // pg_stat_activity.
        db.setConnectOptions(
            QStringLiteral("connect_timeout=10;application_name=uwpx-push-server"));
    } else {
        *error = QStringLiteral("unknown storage driver '%1'").arg(settings.driver);
        return nullptr;
    }
    if (!db.isValid()) {
        *error = QStringLiteral("the Qt SQL driver for %1 is not installed").arg(settings.driver);
        db = QSqlDatabase();
        QSqlDatabase::removeDatabase(connection);
        return nullptr;
    }
    if (!db.open()) {
        *error = QStringLiteral("cannot open the %1 database: %2")
                     .arg(settings.driver, db.lastError().text());
        db = QSqlDatabase();
        QSqlDatabase::removeDatabase(connection);
        return nullptr;
    }
    // Storage must hold the only handle: it removes the connection when it goes.
    std::unique_ptr<Storage> storage(new Storage(db, settings.driver));
    db = QSqlDatabase(); // QSqlDatabase has no move in Qt 6.4
    if (!storage->configure() || !storage->upgradeSchema()) {
        *error = storage->lastError();
        return nullptr;
    }
    return storage;
}

Storage::Storage(QSqlDatabase db, QString dialect)
    : m_db(std::move(db))
    , m_dialect(std::move(dialect)) {}

Storage::~Storage() {
    m_findByNode.reset(); // before its connection goes
    const QString connection = m_db.connectionName();
    m_db.close();
    m_db = QSqlDatabase();
    QSqlDatabase::removeDatabase(connection);
}

bool Storage::configure() {
    // Per-connection settings: see sql/<dialect>/configure.sql.
    for (const QString &statement : statementsOf(sql(QStringLiteral("configure")))) {
        // Switching a new SQLite file to WAL needs it alone for a moment and
        // does not wait (busy_timeout) for that: an instance opening the same
        // new file at once makes it fail with SQLITE_BUSY. Try again a while.
        QDeadlineTimer deadline(5000);
        for (;;) {
            QSqlQuery query(m_db);
            if (query.exec(statement))
                break;
            const bool busy = m_dialect == QLatin1String("sqlite") &&
                              (query.lastError().nativeErrorCode().toInt() & 0xff) == 5;
            if (!busy || deadline.hasExpired())
                return fail(statement, errorText(query));
            QThread::msleep(20);
        }
    }
    return true;
}

int Storage::latestSchemaVersion() {
    return int(QDir(QStringLiteral(":/sql/common/upgrade")).entryList(QDir::Files).size());
}

int Storage::schemaVersion() {
    QSqlQuery query(m_db);
    if (!query.exec(sql(QStringLiteral("select_schema_version"))) || !query.next())
        return 0;
    return query.value(0).toInt();
}

bool Storage::upgradeSchema() {
    const int latest = latestSchemaVersion();
    // The usual start: up to date, nothing to lock. (Before the first upgrade
    // there is no schema_version table and this reads 0.)
    if (schemaVersion() >= latest)
        return true;

    // All upgrades in one transaction that only one instance at a time runs
    // (lock_schema); the others wait, then find the work done.
    if (!beginWrite())
        return false;
    auto abort = [this](const QString &what, const QSqlQuery &query) {
        const QString why = errorText(query);
        rollback();
        return fail(what, why);
    };
    for (const QString &statement : statementsOf(sql(QStringLiteral("lock_schema")))) {
        QSqlQuery lock(m_db);
        if (!lock.exec(statement))
            return abort(QStringLiteral("locking the schema"), lock);
    }
    QSqlQuery create(m_db);
    if (!create.exec(sql(QStringLiteral("create_schema_version"))))
        return abort(QStringLiteral("creating the schema_version table"), create);

    for (int version = schemaVersion() + 1; version <= latest; ++version) {
        const QString name = QStringLiteral("upgrade/%1").arg(version, 3, 10, QLatin1Char('0'));
        for (const QString &statement : statementsOf(sql(name))) {
            QSqlQuery query(m_db);
            if (!query.exec(statement))
                return abort(QStringLiteral("schema upgrade %1").arg(version), query);
        }
        QSqlQuery record(m_db);
        record.prepare(sql(QStringLiteral("insert_schema_version")));
        record.bindValue(QStringLiteral(":version"), version);
        if (!record.exec())
            return abort(QStringLiteral("schema upgrade %1").arg(version), record);
    }
    return commit();
}

// Each query lives in a resource file; a dialect overrides the common text
// only where its SQL really differs.
QString Storage::sql(const QString &name) const {
    // Shared by the Storage objects of every thread.
    static QMutex mutex;
    static QHash<QString, QString> cache;
    const QMutexLocker lock(&mutex);
    const QString key = m_dialect + QLatin1Char('/') + name;
    auto it = cache.constFind(key);
    if (it != cache.constEnd())
        return *it;
    QFile file(QStringLiteral(":/sql/%1/%2.sql").arg(m_dialect, name));
    if (!file.exists())
        file.setFileName(QStringLiteral(":/sql/common/%1.sql").arg(name));
    if (!file.open(QIODevice::ReadOnly))
        qFatal("missing SQL resource %s", qPrintable(name));
    const QString text = QString::fromUtf8(file.readAll());
    cache.insert(key, text);
    return text;
}

// Inside a Batch a write's own transaction is a savepoint (SQLite and
// PostgreSQL spell it the same way).
bool Storage::beginWrite() {
    QSqlQuery query(m_db);
    if (!query.exec(m_inBatch ? QStringLiteral("SAVEPOINT uwpx_write")
                              : sql(QStringLiteral("begin_write"))))
        return fail(QStringLiteral("starting a transaction"), errorText(query));
    return true;
}

bool Storage::commit() {
    QSqlQuery query(m_db);
    if (!query.exec(m_inBatch ? QStringLiteral("RELEASE SAVEPOINT uwpx_write")
                              : QStringLiteral("COMMIT"))) {
        const QString why = errorText(query);
        rollback();
        return fail(QStringLiteral("committing"), why);
    }
    return true;
}

void Storage::rollback() {
    QSqlQuery query(m_db);
    if (m_inBatch) {
        query.exec(QStringLiteral("ROLLBACK TO SAVEPOINT uwpx_write"));
        query.exec(QStringLiteral("RELEASE SAVEPOINT uwpx_write"));
        return;
    }
    query.exec(QStringLiteral("ROLLBACK"));
}

Storage::Batch::Batch(Storage &storage)
    : m_storage(storage) {
    if (m_storage.m_inBatch) {
        m_storage.fail(QStringLiteral("starting a batch"), QStringLiteral("another batch is open"));
        return;
    }
    m_open = m_storage.beginWrite();
    m_storage.m_inBatch = m_open;
}

Storage::Batch::~Batch() {
    if (!m_open)
        return;
    m_storage.m_inBatch = false;
    m_storage.rollback();
}

bool Storage::Batch::commit() {
    if (!m_open)
        return false;
    m_open = false;
    m_storage.m_inBatch = false;
    return m_storage.commit();
}

bool Storage::fail(const QString &what, const QString &why) {
    m_lastError = QStringLiteral("%1: %2").arg(what, why);
    ++m_failures;
    return false;
}

// A PostgreSQL server restarts, fails over, or an idle connection is cut by
// a firewall: the connection is gone, and Qt SQL never reopens it by itself.
// Every operation is idempotent (upserts, deletes, reads; set_accounts keeps
// what an unacknowledged earlier attempt committed), so after reopening, the
// failed one can simply run again.
bool Storage::reconnectIfLost() {
    if (m_dialect != QLatin1String("postgresql") || m_inBatch)
        return false; // a file does not go away; a batch's transaction is lost anyway
    QSqlQuery probe(m_db);
    if (probe.exec(QStringLiteral("SELECT 1")))
        return false; // the connection works: the failure was the statement's
    // While the server stays away, opening blocks the event loop for up to
    // connect_timeout: try at once, then less and less often (up to a minute).
    const qint64 now = nowMs();
    if (now < m_nextReconnectMs)
        return false;
    m_findByNode.reset(); // prepared on the old connection
    m_db.close();
    if (!m_db.open()) {
        m_reconnectDelayMs =
            std::clamp(m_reconnectDelayMs * 2, kMinReconnectDelayMs, kMaxReconnectDelayMs);
        m_nextReconnectMs = nowMs() + m_reconnectDelayMs;
        return fail(QStringLiteral("reconnecting to the database"), m_db.lastError().text());
    }
    m_reconnectDelayMs = 0;
    m_nextReconnectMs = 0;
    return configure();
}

bool Storage::setChannelUri(const QString &deviceId, const QString &channelUri,
                            int protocolVersion) {
    return reconnecting([&]() -> bool {
        // A single statement is its own transaction.
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("upsert_device")));
        query.bindValue(QStringLiteral(":device_id"), normalizedDeviceId(deviceId));
        query.bindValue(QStringLiteral(":channel_uri"), channelUri);
        query.bindValue(QStringLiteral(":protocol_version"), protocolVersion);
        query.bindValue(QStringLiteral(":now"), nowMs());
        if (!query.exec())
            return fail(QStringLiteral("storing the channel URI"), errorText(query));
        return true;
    });
}

Storage::SetAccountsResult Storage::setAccounts(const QString &deviceId, int protocolVersion,
                                                const QList<AccountSpec> &accounts,
                                                QList<AccountCredentials> *credentials) {
    return reconnecting([&]() -> SetAccountsResult {
        const QString device = normalizedDeviceId(deviceId);
        const qint64 now = nowMs();
        if (!beginWrite())
            return SetAccountsResult::Failed;

        auto abort = [this](const QString &what, const QSqlQuery &query) {
            const QString why = errorText(query);
            rollback();
            fail(what, why);
            return SetAccountsResult::Failed;
        };

        // Refreshing the device first also serializes set_accounts per device
        // across instances: SQLite's BEGIN IMMEDIATE locks the database, and on
        // PostgreSQL this UPDATE holds the device's row lock until COMMIT, so a
        // second instance waits here and then reads the first one's accounts.
        QSqlQuery touch(m_db);
        touch.prepare(sql(QStringLiteral("touch_device")));
        touch.bindValue(QStringLiteral(":device_id"), device);
        touch.bindValue(QStringLiteral(":now"), now);
        if (!touch.exec())
            return abort(QStringLiteral("refreshing the device"), touch);
        if (touch.numRowsAffected() == 0) {
            rollback();
            return SetAccountsResult::UnknownDevice;
        }

        QHash<QString, AccountCredentials> existing;
        QSqlQuery select(m_db);
        select.prepare(sql(QStringLiteral("select_accounts")));
        select.bindValue(QStringLiteral(":device_id"), device);
        if (!select.exec())
            return abort(QStringLiteral("reading the accounts"), select);
        while (select.next()) {
            const QString key = select.value(0).toString();
            existing.insert(key, {key, select.value(1).toString(), select.value(2).toString()});
        }

        QList<AccountCredentials> result;
        for (const AccountSpec &account : accounts) {
            auto known = existing.find(account.key);
            if (known != existing.end()) {
                QSqlQuery update(m_db);
                update.prepare(sql(QStringLiteral("touch_account")));
                update.bindValue(QStringLiteral(":device_id"), device);
                update.bindValue(QStringLiteral(":account_key"), account.key);
                update.bindValue(QStringLiteral(":protocol_version"), protocolVersion);
                update.bindValue(QStringLiteral(":now"), now);
                if (!update.exec())
                    return abort(QStringLiteral("refreshing an account"), update);
                result << *known;
                existing.erase(known);
                continue;
            }
            AccountCredentials fresh{account.key, credentials::newNode(), credentials::newSecret()};
            QSqlQuery insert(m_db);
            insert.prepare(sql(QStringLiteral("insert_account")));
            insert.bindValue(QStringLiteral(":device_id"), device);
            insert.bindValue(QStringLiteral(":account_key"), account.key);
            insert.bindValue(QStringLiteral(":protocol_version"), protocolVersion);
            // A null QString would bind as SQL NULL; "not learned yet" is ''.
            insert.bindValue(QStringLiteral(":domain"),
                             account.domain.isNull() ? QStringLiteral("") : account.domain);
            insert.bindValue(QStringLiteral(":node"), fresh.node);
            insert.bindValue(QStringLiteral(":secret"), fresh.secret);
            insert.bindValue(QStringLiteral(":now"), now);
            if (!insert.exec())
                return abort(QStringLiteral("adding an account"), insert);
            result << fresh;
        }

        // What is left was not in the list: its nodes stop working.
        for (const AccountCredentials &gone : std::as_const(existing)) {
            QSqlQuery remove(m_db);
            remove.prepare(sql(QStringLiteral("delete_account")));
            remove.bindValue(QStringLiteral(":device_id"), device);
            remove.bindValue(QStringLiteral(":account_key"), gone.key);
            if (!remove.exec())
                return abort(QStringLiteral("removing an account"), remove);
        }

        if (!commit())
            return SetAccountsResult::Failed;
        *credentials = result;
        return SetAccountsResult::Ok;
    });
}

Storage::Lookup Storage::findByNode(const QString &node, PushTarget *target) {
    return reconnecting([&]() -> Lookup {
        if (!m_findByNode) {
            m_findByNode.emplace(m_db);
            if (!m_findByNode->prepare(sql(QStringLiteral("select_push_target")))) {
                fail(QStringLiteral("looking up a node"), errorText(*m_findByNode));
                m_findByNode.reset();
                return Lookup::Failed;
            }
        }
        QSqlQuery &query = *m_findByNode;
        query.bindValue(QStringLiteral(":node"), node);
        if (!query.exec()) {
            fail(QStringLiteral("looking up a node"), errorText(query));
            m_findByNode.reset(); // prepared again next time (a reconnected server, say)
            return Lookup::Failed;
        }
        if (!query.next()) {
            query.finish();
            return Lookup::NotFound;
        }
        target->deviceId = query.value(0).toString();
        target->channelUri = query.value(1).toString();
        target->accountKey = query.value(2).toString();
        target->protocolVersion = query.value(3).toInt();
        target->domain = query.value(4).toString();
        target->node = query.value(5).toString();
        target->secret = query.value(6).toString();
        target->deviceRefreshedAt =
            QDateTime::fromMSecsSinceEpoch(query.value(7).toLongLong(), Qt::UTC);
        // Ends the statement: no read transaction stays open between publishes
        // (it would hold back SQLite's WAL checkpoints).
        query.finish();
        return Lookup::Found;
    });
}

std::optional<QString> Storage::channelUri(const QString &deviceId) {
    return reconnecting([&]() -> std::optional<QString> {
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("select_channel_uri")));
        query.bindValue(QStringLiteral(":device_id"), normalizedDeviceId(deviceId));
        if (!query.exec()) {
            fail(QStringLiteral("looking up a device"), errorText(query));
            return std::nullopt;
        }
        if (!query.next())
            return std::nullopt;
        return query.value(0).toString();
    });
}

bool Storage::learnDomain(const QString &node, const QString &domain) {
    return reconnecting([&]() -> bool {
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("update_domain")));
        query.bindValue(QStringLiteral(":node"), node);
        query.bindValue(QStringLiteral(":domain"), domain);
        if (!query.exec())
            return fail(QStringLiteral("storing an account's domain"), errorText(query));
        return true;
    });
}

bool Storage::refreshDevice(const QString &deviceId) {
    return reconnecting([&]() -> bool {
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("touch_device")));
        query.bindValue(QStringLiteral(":device_id"), normalizedDeviceId(deviceId));
        query.bindValue(QStringLiteral(":now"), nowMs());
        if (!query.exec())
            return fail(QStringLiteral("refreshing a device"), errorText(query));
        return true;
    });
}

bool Storage::removeDevice(const QString &deviceId) {
    return reconnecting([&]() -> bool {
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("delete_device")));
        query.bindValue(QStringLiteral(":device_id"), normalizedDeviceId(deviceId));
        if (!query.exec())
            return fail(QStringLiteral("removing a device"), errorText(query));
        return true;
    });
}

int Storage::removeDevicesNotUpdatedSince(const QDateTime &cutoff) {
    return reconnecting([&]() -> int {
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("delete_expired_devices")));
        query.bindValue(QStringLiteral(":cutoff"), cutoff.toMSecsSinceEpoch());
        if (!query.exec()) {
            fail(QStringLiteral("removing expired devices"), errorText(query));
            return -1;
        }
        return query.numRowsAffected();
    });
}

std::optional<StoredToken> Storage::loadToken(const QString &key) {
    return reconnecting([&]() -> std::optional<StoredToken> {
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("select_token")));
        query.bindValue(QStringLiteral(":token_key"), key);
        if (!query.exec()) {
            fail(QStringLiteral("reading the WNS token"), errorText(query));
            return std::nullopt;
        }
        if (!query.next())
            return std::nullopt;
        return StoredToken{query.value(0).toString(),
                           QDateTime::fromMSecsSinceEpoch(query.value(1).toLongLong(), Qt::UTC)};
    });
}

bool Storage::saveToken(const QString &key, const StoredToken &token) {
    return reconnecting([&]() -> bool {
        QSqlQuery query(m_db);
        query.prepare(sql(QStringLiteral("upsert_token")));
        query.bindValue(QStringLiteral(":token_key"), key);
        query.bindValue(QStringLiteral(":access_token"), token.accessToken);
        query.bindValue(QStringLiteral(":expires_at"), token.expiresAt.toMSecsSinceEpoch());
        if (!query.exec())
            return fail(QStringLiteral("storing the WNS token"), errorText(query));
        return true;
    });
}

qint64 Storage::deviceCount() {
    return count(QStringLiteral("devices"));
}

qint64 Storage::accountCount() {
    return count(QStringLiteral("accounts"));
}

qint64 Storage::count(const QString &table) {
    return reconnecting([&]() -> qint64 {
        QSqlQuery query(m_db);
        if (!query.exec(sql(QStringLiteral("count_") + table)) || !query.next()) {
            fail(QStringLiteral("counting ") + table, errorText(query));
            return -1;
        }
        return query.value(0).toLongLong();
    });
}

} // namespace uwpx

#include "dialect.h"

#include <QDir>
#include <QFileInfo>
#include <QSqlDatabase>
#include <QSqlError>

namespace uwpx {

namespace {

bool pointSqlite(QSqlDatabase &db, const StorageSettings &settings, QString *error) {
    const QFileInfo file(settings.path);
    if (!QDir().mkpath(file.absolutePath())) {
        *error = QStringLiteral("cannot create the directory %1").arg(file.absolutePath());
        return false;
    }
    db.setDatabaseName(settings.path);
    // Another process (the backup tool, sqlite3) holds the lock for a
    // moment; wait for it instead of failing, but no longer than the caller.
    db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(settings.timeoutMs));
    return true;
}

// Switching a new file to WAL needs it alone for a moment and does not wait
// (busy_timeout) for that: SQLITE_BUSY, the low byte of the extended code.
bool sqliteBusy(const QSqlError &error) {
    return (error.nativeErrorCode().toInt() & 0xff) == 5;
}

// A value of libpq's connection string, quoted. Qt's driver turns every ';'
// of the options into a space, so a value cannot hold one.
QString conninfoValue(const QString &value) {
    QString quoted = value;
    quoted.replace(QLatin1Char('\\'), QLatin1String("\\\\"));
    quoted.replace(QLatin1Char('\''), QLatin1String("\\'"));
    return QLatin1Char('\'') + quoted + QLatin1Char('\'');
}

bool pointPostgresql(QSqlDatabase &db, const StorageSettings &settings, QString *error) {
    db.setHostName(settings.host);
    db.setPort(settings.port);
    db.setDatabaseName(settings.database);
    db.setUserName(settings.user);
    db.setPassword(settings.password);
    // Fail instead of hanging when the server is unreachable; name us in
    // pg_stat_activity; TLS as configured (docs/deployment.md).
    QStringList options{QStringLiteral("connect_timeout=10"),
                        QStringLiteral("application_name=uwpx-push-server"),
                        QStringLiteral("sslmode=") + conninfoValue(settings.sslMode),
                        QStringLiteral("keepalives=1"),
                        QStringLiteral("keepalives_idle=%1").arg(settings.keepalivesIdleS),
                        QStringLiteral("keepalives_interval=%1").arg(settings.keepalivesIntervalS),
                        QStringLiteral("keepalives_count=%1").arg(settings.keepalivesCount)};
    if (!settings.sslRootCert.isEmpty())
        options << QStringLiteral("sslrootcert=") + conninfoValue(settings.sslRootCert);
    for (const QString &option : options) {
        if (option.contains(QLatin1Char(';'))) {
            *error = QStringLiteral("a PostgreSQL connection option may not contain ';': %1")
                         .arg(option);
            return false;
        }
    }
    db.setConnectOptions(options.join(QLatin1Char(';')));
    return true;
}

bool neverBusy(const QSqlError &) {
    return false; // PostgreSQL waits for its locks
}

const Dialect kDialects[] = {
    {QStringLiteral("sqlite"), QStringLiteral("QSQLITE"), false, false, true, pointSqlite,
     sqliteBusy, true},
    {QStringLiteral("postgresql"), QStringLiteral("QPSQL"), true, true, false, pointPostgresql,
     neverBusy, false},
};

} // namespace

const Dialect *Dialect::find(const QString &name) {
    for (const Dialect &dialect : kDialects) {
        if (dialect.name == name)
            return &dialect;
    }
    return nullptr;
}

} // namespace uwpx

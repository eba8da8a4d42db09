#include "schemamigrator.h"

#include "sqlstatements.h"
#include "storageconnection.h"

#include <QDir>
#include <QSqlError>
#include <QSqlQuery>

namespace uwpx {

int SchemaMigrator::latestVersion() {
    return int(QDir(QStringLiteral(":/sql/common/upgrade")).entryList(QDir::Files).size());
}

// A newer release changed the schema in ways this one does not know (a
// column it must fill, a meaning it must keep): writing to it could lose or
// corrupt registrations, so this release does not use it at all.
bool SchemaMigrator::newerSchema(int version, QString *error) {
    *error = QStringLiteral("the database is at schema version %1, but this uwpx-push-server (%2) "
                            "knows versions up to %3 only: it was used by a newer release. Run "
                            "that release (or newer), or restore a backup taken before the "
                            "upgrade")
                 .arg(version)
                 .arg(QStringLiteral(UWPX_VERSION))
                 .arg(latestVersion());
    return false;
}

bool SchemaMigrator::upgrade(QString *error) {
    StorageConnection &c = m_connection;
    const int latest = latestVersion();
    // The usual start: up to date, nothing to lock.
    const StorageResult<int> current = c.schemaVersion();
    if (current.isOk() && current.value() > latest)
        return newerSchema(current.value(), error);
    if (current.isOk() && current.value() == latest)
        return true;

    // All upgrades in one transaction that only one instance at a time runs
    // (lock_schema); the others wait, then find the work done.
    if (!c.beginWrite(error))
        return false;
    auto abort = [&](const QString &what, const QString &why) {
        c.rollback();
        *error = QStringLiteral("%1: %2").arg(what, why);
        return false;
    };
    for (const QString &statement : c.m_statements.script(QStringLiteral("lock_schema"))) {
        QSqlQuery lock(c.m_db);
        if (!lock.exec(statement))
            return abort(QStringLiteral("locking the schema"), lock.lastError().text());
    }
    QSqlQuery create(c.m_db);
    if (!create.exec(c.sql(QStringLiteral("create_schema_version"))))
        return abort(QStringLiteral("creating the schema_version table"),
                     create.lastError().text());

    const StorageResult<int> locked = c.schemaVersion();
    if (locked.isFailed())
        return abort(QStringLiteral("reading the schema version"), locked.error());
    if (locked.value() > latest) { // a newer release upgraded it while we waited
        c.rollback();
        return newerSchema(locked.value(), error);
    }
    for (int version = locked.value() + 1; version <= latest; ++version) {
        const QString name = QStringLiteral("upgrade/%1").arg(version, 3, 10, QLatin1Char('0'));
        const QString what = QStringLiteral("schema upgrade %1").arg(version);
        for (const QString &statement : c.m_statements.script(name)) {
            QSqlQuery query(c.m_db);
            if (!query.exec(statement))
                return abort(what, query.lastError().text());
        }
        QSqlQuery record(c.m_db);
        QString why;
        if (!c.run(record, QStringLiteral("insert_schema_version"), {{"version", version}}, &why))
            return abort(what, why);
    }
    return c.commit(error);
}

} // namespace uwpx

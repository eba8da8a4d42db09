#pragma once

#include <QString>

namespace uwpx {

class StorageConnection;

// Brings a database's schema up to the version of this release by the
// numbered upgrades sql/common/upgrade/NNN.sql (sql/README.md, "Adding a
// schema upgrade"): every upgrade newer than the database's schema_version,
// all in one transaction that one instance at a time runs (lock_schema), so
// that instances starting together run each upgrade once.
class SchemaMigrator {
public:
    explicit SchemaMigrator(StorageConnection &connection)
        : m_connection(connection) {}

    // False with *error set when an upgrade failed (nothing of it stays) or
    // the database was upgraded by a newer release, which this one must not
    // write to.
    bool upgrade(QString *error);

    // The number of upgrades: the schema version of this release.
    static int latestVersion();

private:
    static bool newerSchema(int version, QString *error);

    StorageConnection &m_connection;
};

} // namespace uwpx

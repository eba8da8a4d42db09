#pragma once

#include "storagesettings.h"

#include <QString>

class QSqlDatabase;
class QSqlError;

namespace uwpx {

// What differs between the databases Storage runs on, in one place. SQL that
// differs lives in sql/<name>/ (see sql/README.md); this is the rest. Adding
// a database means one more Dialect in dialect.cpp and its SQL overrides.
struct Dialect {
    QString name;     // [storage] driver, and the folder sql/<name>/ of its SQL overrides
    QString qtDriver; // the Qt SQL driver plugin
    // A server connection can be lost (restart, fail-over, an idle cut) and
    // opened again; a file cannot.
    bool reconnects = false;
    // Several instances use one database and wake each other through it
    // (LISTEN/NOTIFY); a SQLite file has one instance.
    bool shared = false;
    // One write at a time per database (SQLite's single write lock): Storage
    // then runs writes one after the other instead of letting its connections
    // queue for the lock.
    bool oneWriter = false;
    // Points `db` at the database the settings name; false with *error set
    // when that cannot be done.
    bool (*point)(QSqlDatabase &db, const StorageSettings &settings, QString *error) = nullptr;
    // Whether a statement failed only because another connection held a
    // lock it does not wait for, so that trying again shortly may succeed.
    bool (*isBusy)(const QSqlError &error) = nullptr;
    // The database is one file the operator's tool can copy consistently
    // (sql/<name>/admin_copy_into.sql); a server database has its own tools.
    bool copiesToFile = false;

    // nullptr for a name no dialect has.
    static const Dialect *find(const QString &name);
};

} // namespace uwpx

#pragma once

#include "reconnectpolicy.h"
#include "storagerecords.h"
#include "storageresult.h"
#include "storagesettings.h"
#include "storeadmin.h"

#include <QDateTime>
#include <QList>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>
#include <QVariantMap>

#include <QHash>
#include <QStringList>

#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace uwpx {

struct Dialect;
class SqlStatements;

// One connection to the store, synchronous: each call is a round trip to the
// database (or a read and write of the SQLite file) on the calling thread.
// Storage runs these on its worker threads, one connection each; nothing
// else in the daemon calls them (the operator's tool does, through
// StoreAdmin). Callers never see SQL or the dialect; every
// write is a single transaction, durable once the call returned Ok. Every
// operation returns a StorageResult; failures are logged here, once.
//
// A connection belongs to the thread that opened it (Qt SQL connections are
// per thread). Several connections may use one database at once.
class StorageConnection {
public:
    // Opens the database and brings its schema up to date (unless `upgrade`
    // is false: the operator's check only looks). On failure returns nullptr
    // and says why in *error.
    static std::unique_ptr<StorageConnection> open(const StorageSettings &settings, QString *error,
                                                   bool upgrade = true);
    ~StorageConnection();

    StorageConnection(const StorageConnection &) = delete;
    StorageConnection &operator=(const StorageConnection &) = delete;

    // Stores or replaces the device's channel URI and refreshes its timestamp;
    // a suspended device is resumed. True when it was suspended.
    StorageResult<bool> setChannelUri(const QString &deviceId, const QString &channelUri,
                                      int protocolVersion);

    // Makes `accounts` the device's complete list: others are removed, known
    // ones keep node and secret, new ones get fresh credentials (returned in
    // the order of `accounts`). NotFound: the device has no channel URI.
    StorageResult<QList<AccountCredentials>>
    setAccounts(const QString &deviceId, int protocolVersion, const QList<AccountSpec> &accounts);

    // Nodes looked up in one round trip: the targets found, by node (nodes
    // not found are absent).
    StorageResult<QHash<QString, PushTarget>> findByNodes(const QStringList &nodes);
    StorageResult<DeviceChannel> channelUri(const QString &deviceId);

    // v2 accounts learn their domain from the first accepted publish.
    StorageResult<> learnDomain(const QString &node, const QString &domain);

    // Marks the device as alive now: it keeps it from expiring.
    StorageResult<> refreshDevice(const QString &deviceId);
    StorageResult<> removeDevice(const QString &deviceId);
    // WNS reported `channelUri` gone: the device keeps its accounts but gets
    // no notification until its next setChannelUri(). Nothing changes if the
    // device has another channel by now. True when this call suspended it.
    StorageResult<bool> suspendDevice(const QString &deviceId, const QString &channelUri);
    // How many devices were removed.
    StorageResult<int> removeDevicesNotUpdatedSince(const QDateTime &cutoff);

    StorageResult<StoredToken> loadToken(const QString &key);
    StorageResult<> saveToken(const QString &key, const StoredToken &token);

    StorageResult<qint64> deviceCount();
    StorageResult<qint64> accountCount();
    StorageResult<qint64> suspendedDeviceCount();

    // Wakes every connection of every instance that listens on `channel`
    // (PostgreSQL's NOTIFY), with `payload`; on SQLite, whose database one
    // instance has to itself, there is nobody to wake: Ok at once.
    StorageResult<> notify(const QString &channel, const QString &payload);
    // Calls `heard` with the payload of every notification on `channel` from
    // now on, from the event loop of this connection's thread. False where
    // the database has no notifications (SQLite) or subscribing failed.
    bool listen(const QString &channel, std::function<void(const QString &payload)> heard);
    // Whether the connection still works (a round trip).
    bool isAlive();

    StorageResult<int> schemaVersion();
    static int latestSchemaVersion();

    // Whether the database takes writes now (a read-only file, a full disk
    // or a read-only replica do not): starts a write transaction and rolls it back.
    StorageResult<> checkWritable();

    // The operator's tool (StoreAdmin, storeadmin.cpp), one call per command.
    StorageResult<StoreStats> stats();
    StorageResult<StoredDevice> device(const QString &deviceId);
    StorageResult<int> forgetDevice(const QString &deviceId);
    StorageResult<int> forgetBareJid(const QString &bareJid);
    StorageResult<> backupTo(const QString &path);
    StorageResult<ImportReport> importDevices(const QList<ImportedDevice> &devices, bool dryRun);

private:
    friend class SchemaMigrator; // runs its upgrades through run(), beginWrite(), commit()

    StorageConnection(QSqlDatabase db, const Dialect &dialect);

    bool configure(QString *error);
    const QString &sql(const QString &name) const;
    // Runs one statement of a resource file with the named values bound.
    bool run(QSqlQuery &query, const QString &name, const QVariantMap &values, QString *error);
    bool beginWrite(QString *error);
    bool commit(QString *error);
    void rollback();
    // The body of setAccounts, inside a transaction the caller holds.
    StorageResult<QList<AccountCredentials>> writeAccounts(const QString &device,
                                                           int protocolVersion,
                                                           const QList<AccountSpec> &accounts,
                                                           qint64 now);
    StorageResult<qint64> count(const QString &table);
    // importDevices' work inside the transaction it holds.
    bool importDevice(const ImportedDevice &device, qint64 now, ImportReport *report,
                      QString *error);
    bool reconnectIfLost();

    // Runs one public operation; if it failed because the database
    // connection was lost, reconnects and runs it once more. A failure that
    // remains is logged here, the one place it is.
    template<typename Operation> auto reconnecting(const char *what, Operation operation) {
        auto result = operation();
        if (result.isFailed() && reconnectIfLost())
            result = operation();
        if (result.isFailed())
            logFailure(what, result.error());
        return result;
    }
    void logFailure(const char *what, const QString &error) const;

    QSqlDatabase m_db;
    const Dialect &m_dialect;
    const SqlStatements &m_statements; // loaded once, shared by every connection
    ReconnectPolicy m_reconnect;       // when a lost connection is opened again
    // findByNodes runs for every publish: its statements are prepared once
    // per batch size (preparing the join cost more than running it).
    std::map<int, QSqlQuery> m_findByNodes;
};

} // namespace uwpx

#pragma once

#include "storagesettings.h"

#include <QDateTime>
#include <QList>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>

#include <memory>
#include <optional>

namespace uwpx {

// What set_accounts asks for, one entry per account.
struct AccountSpec {
    QString key;    // v1: SHA-256 of device_id + bare JID; v2: the client's account_id
    QString domain; // v1: the JID's domain; v2: empty until the first accepted publish
};

// What set_accounts hands back, one entry per account, in request order.
struct AccountCredentials {
    QString key;
    QString node;
    QString secret;
};

// Everything the publish path needs to know about a node.
struct PushTarget {
    QString deviceId;
    QString channelUri;
    QString accountKey;
    int protocolVersion = 2; // of the set_accounts that created the account
    QString domain;          // empty: not learned yet (v2)
    QString node;
    QString secret;
    QDateTime deviceRefreshedAt; // UTC: the device's last refresh (see refreshDevice)
};

struct StoredToken {
    QString accessToken;
    QDateTime expiresAt;
};

// The one store behind the server: SQLite by default, PostgreSQL when several
// instances share a database. Callers never see SQL or the dialect; every
// write is a single transaction that is durable when the call returns true.
//
// A Storage object belongs to the thread that opened it (Qt SQL connections
// are per thread). Several Storage objects may use one database at once.
class Storage {
public:
    enum class Lookup { Found, NotFound, Failed };
    enum class SetAccountsResult { Ok, UnknownDevice, Failed };

    // Groups many writes into one transaction, for bulk imports (benchmarks,
    // migrations from another store): while a Batch is open, each write of
    // its Storage runs in a savepoint of the batch's transaction instead of
    // committing on its own, so a failed call still undoes only itself.
    // Nothing is durable until commit() returns true; destroying an
    // uncommitted Batch rolls all of it back. One Batch per Storage at a time.
    class Batch {
    public:
        explicit Batch(Storage &storage);
        ~Batch();
        Batch(const Batch &) = delete;
        Batch &operator=(const Batch &) = delete;

        // False (see Storage::lastError) if the transaction could not start.
        bool isOpen() const { return m_open; }
        bool commit();

    private:
        Storage &m_storage;
        bool m_open = false;
    };

    // Opens the database and brings its schema up to date. On failure returns
    // nullptr and says why in *error.
    static std::unique_ptr<Storage> open(const StorageSettings &settings, QString *error);
    ~Storage();

    Storage(const Storage &) = delete;
    Storage &operator=(const Storage &) = delete;

    // Stores or replaces the device's channel URI and refreshes its timestamp.
    bool setChannelUri(const QString &deviceId, const QString &channelUri, int protocolVersion);

    // Makes `accounts` the device's complete list: others are removed, known
    // ones keep node and secret, new ones get fresh credentials.
    SetAccountsResult setAccounts(const QString &deviceId, int protocolVersion,
                                  const QList<AccountSpec> &accounts,
                                  QList<AccountCredentials> *credentials);

    Lookup findByNode(const QString &node, PushTarget *target);
    std::optional<QString> channelUri(const QString &deviceId);

    // v2 accounts learn their domain from the first accepted publish.
    bool learnDomain(const QString &node, const QString &domain);

    // Marks the device as alive now: it keeps it from expiring.
    bool refreshDevice(const QString &deviceId);
    bool removeDevice(const QString &deviceId);
    // Returns the number of devices removed, or -1 on failure.
    int removeDevicesNotUpdatedSince(const QDateTime &cutoff);

    std::optional<StoredToken> loadToken(const QString &key);
    bool saveToken(const QString &key, const StoredToken &token);

    qint64 deviceCount();
    qint64 accountCount();

    int schemaVersion();
    static int latestSchemaVersion();

    QString lastError() const { return m_lastError; }
    QString driverName() const { return m_dialect; }

private:
    Storage(QSqlDatabase db, QString dialect);

    bool configure();
    bool upgradeSchema();
    QString sql(const QString &name) const;
    bool beginWrite();
    bool commit();
    void rollback();
    bool fail(const QString &what, const QString &why);
    bool reconnectIfLost();
    qint64 count(const QString &table); // -1 on failure

    // Runs one public operation; if it failed because the database
    // connection was lost, reconnects and runs it once more.
    template<typename Operation> auto reconnecting(Operation operation) {
        const quint64 failures = m_failures;
        auto result = operation();
        if (m_failures != failures && reconnectIfLost())
            result = operation();
        return result;
    }

    QSqlDatabase m_db;
    QString m_dialect;
    QString m_lastError;
    quint64 m_failures = 0;        // fail() calls, to tell whether an operation failed
    qint64 m_nextReconnectMs = 0;  // no reconnection attempt before (epoch ms)
    qint64 m_reconnectDelayMs = 0; // grows while reconnecting fails
    bool m_inBatch = false;
    // findByNode runs for every publish: its statement is prepared once
    // (preparing the join cost more than running it).
    std::optional<QSqlQuery> m_findByNode;
};

} // namespace uwpx

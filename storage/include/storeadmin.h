#pragma once

#include "storageresult.h"
#include "storagesettings.h"

#include <QDateTime>
#include <QList>
#include <QMap>
#include <QString>

#include <memory>

namespace uwpx {

class StorageConnection;

// What the operator's tool (uwpx-pushctl, docs/uwpx-pushctl.8) reads and
// changes. Unlike Storage, which the daemon drives from its event loop, every
// call here is synchronous: the tool does one thing and exits.

struct StoreStats {
    // By protocol version.
    QMap<int, qint64> activeDevices;
    QMap<int, qint64> suspendedDevices; // their channel gone (docs/protocol.md)
    QMap<int, qint64> accounts;
    int schemaVersion = 0;
    qint64 sizeBytes = 0;
};

struct StoredAccount {
    QString key;
    int protocolVersion = 2;
    QString domain; // empty: not learned yet
    QString node;
    QString secret;
    QDateTime createdAt;
    QDateTime updatedAt;
};

struct StoredDevice {
    QString deviceId;
    QString channelUri;
    int protocolVersion = 2;
    QDateTime refreshedAt;
    QDateTime suspendedAt; // null: active
    QList<StoredAccount> accounts;
};

// A registration brought over from another push server, credentials and all:
// its node and secret are in the users' XMPP servers and must stay as they are.
struct ImportedAccount {
    QString key;
    QString domain; // empty: learned from the first accepted publish
    QString node;
    QString secret;
    QString where; // where the source holds it, for the report
};

struct ImportedDevice {
    QString deviceId;
    QString channelUri;
    int protocolVersion = 2;
    QList<ImportedAccount> accounts;
    QString where;
};

// What an import did (or, dry, would do), item by item.
struct ImportReport {
    // The reason of an item found exactly as the source has it.
    static constexpr const char *kAlreadyImported = "already imported";

    struct Item {
        enum Kind { Device, Account } kind = Device;
        QString id; // device id, or account node; shortened by whoever prints it
        QString where;
        bool imported = false;
        QString reason; // why it was skipped
    };
    QList<Item> items;
};

class StoreAdmin {
public:
    // Opens the store the settings name, creating or upgrading its schema as
    // the daemon does (an operator may import before the daemon first runs).
    static std::unique_ptr<StoreAdmin> open(const StorageSettings &settings, QString *error);
    // Opens without changing the schema (`check` only looks).
    static std::unique_ptr<StoreAdmin> openAsIs(const StorageSettings &settings, QString *error);
    ~StoreAdmin();

    static int latestSchemaVersion();
    StorageResult<int> schemaVersion();

    StorageResult<StoreStats> stats();
    // NotFound: no such device.
    StorageResult<StoredDevice> device(const QString &deviceId);
    // Removes the device and its accounts; the number of accounts removed.
    // NotFound: no such device.
    StorageResult<int> forgetDevice(const QString &deviceId);
    // Removes every account of this bare JID on every device: keys that are
    // SHA-256 of device id + the JID (ASCII-lowercased, as the daemon and
    // UWPX hash it, or as typed, as the Python server hashed it). How many.
    StorageResult<int> forgetBareJid(const QString &bareJid);
    // A consistent copy of a SQLite store into `path` (which must not exist),
    // created with mode 0600 since it holds secrets and the WNS token.
    StorageResult<> backupTo(const QString &path);
    // One transaction: everything applies, or nothing does. A device the
    // store knows keeps its channel; accounts it has keep their credentials.
    // dryRun: the same work, rolled back.
    StorageResult<ImportReport> importDevices(const QList<ImportedDevice> &devices, bool dryRun);

private:
    explicit StoreAdmin(std::unique_ptr<StorageConnection> connection);
    std::unique_ptr<StorageConnection> m_connection;
};

} // namespace uwpx

// The operator's operations (uwpx-pushctl): StoreAdmin, and the
// StorageConnection members behind it, kept apart from the daemon's.

#include "storeadmin.h"

#include "dialect.h"
#include "identity.h"
#include "storageconnection.h"

#include <QCryptographicHash>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QSet>
#include <QSqlQuery>
#include <QTemporaryFile>

#include <sys/stat.h>

namespace uwpx {

namespace {

QDateTime fromMs(const QVariant &value) {
    return value.isNull() ? QDateTime()
                          : QDateTime::fromMSecsSinceEpoch(value.toLongLong(), Qt::UTC);
}

QString sha256Hex(const QString &text) {
    return QString::fromLatin1(
        QCryptographicHash::hash(text.toUtf8(), QCryptographicHash::Sha256).toHex());
}

// Restores the process's umask when it goes.
class UmaskGuard {
public:
    explicit UmaskGuard(mode_t mask)
        : m_old(::umask(mask)) {}
    ~UmaskGuard() { ::umask(m_old); }

private:
    mode_t m_old;
};

} // namespace

StorageResult<StoreStats> StorageConnection::stats() {
    using Result = StorageResult<StoreStats>;
    return reconnecting("reading the store's figures", [&]() -> Result {
        StoreStats stats;
        QString error;
        QSqlQuery devices(m_db);
        if (!run(devices, QStringLiteral("admin_count_devices"), {}, &error))
            return Result::failed(error);
        while (devices.next()) {
            auto &into = devices.value(1).toBool() ? stats.suspendedDevices : stats.activeDevices;
            into[devices.value(0).toInt()] += devices.value(2).toLongLong();
        }
        QSqlQuery accounts(m_db);
        if (!run(accounts, QStringLiteral("admin_count_accounts"), {}, &error))
            return Result::failed(error);
        while (accounts.next())
            stats.accounts[accounts.value(0).toInt()] += accounts.value(1).toLongLong();
        QSqlQuery size(m_db);
        if (!run(size, QStringLiteral("admin_store_size"), {}, &error) || !size.next())
            return Result::failed(error);
        stats.sizeBytes = size.value(0).toLongLong();
        const StorageResult<int> version = schemaVersion();
        if (version.isFailed())
            return Result::failed(version.error());
        stats.schemaVersion = version.value();
        return Result::ok(stats);
    });
}

StorageResult<StoredDevice> StorageConnection::device(const QString &deviceId) {
    using Result = StorageResult<StoredDevice>;
    return reconnecting("reading a device", [&]() -> Result {
        StoredDevice device;
        device.deviceId = normalizedDeviceId(deviceId);
        QString error;
        QSqlQuery select(m_db);
        if (!run(select, QStringLiteral("admin_select_device"), {{"device_id", device.deviceId}},
                 &error))
            return Result::failed(error);
        if (!select.next())
            return Result::notFound();
        device.channelUri = select.value(0).toString();
        device.protocolVersion = select.value(1).toInt();
        device.refreshedAt = fromMs(select.value(2));
        device.suspendedAt = fromMs(select.value(3));
        select.finish();
        QSqlQuery accounts(m_db);
        if (!run(accounts, QStringLiteral("admin_select_device_accounts"),
                 {{"device_id", device.deviceId}}, &error))
            return Result::failed(error);
        while (accounts.next()) {
            device.accounts << StoredAccount{
                accounts.value(0).toString(), accounts.value(1).toInt(),
                accounts.value(2).toString(), accounts.value(3).toString(),
                accounts.value(4).toString(), fromMs(accounts.value(5)),
                fromMs(accounts.value(6))};
        }
        return Result::ok(device);
    });
}

StorageResult<int> StorageConnection::forgetDevice(const QString &deviceId) {
    using Result = StorageResult<int>;
    return reconnecting("forgetting a device", [&]() -> Result {
        const QString device = normalizedDeviceId(deviceId);
        QString error;
        if (!beginWrite(&error))
            return Result::failed(error);
        QSqlQuery accounts(m_db);
        if (!run(accounts, QStringLiteral("select_accounts"), {{"device_id", device}}, &error)) {
            rollback();
            return Result::failed(error);
        }
        int count = 0;
        while (accounts.next())
            ++count;
        accounts.finish();
        // Accounts go with their device (ON DELETE CASCADE, foreign keys on).
        QSqlQuery remove(m_db);
        if (!run(remove, QStringLiteral("delete_device"), {{"device_id", device}}, &error)) {
            rollback();
            return Result::failed(error);
        }
        if (remove.numRowsAffected() == 0) {
            rollback();
            return Result::notFound();
        }
        if (!commit(&error))
            return Result::failed(error);
        return Result::ok(count);
    });
}

StorageResult<int> StorageConnection::forgetBareJid(const QString &bareJid) {
    using Result = StorageResult<int>;
    return reconnecting("forgetting an address", [&]() -> Result {
        QString error;
        // The keys are found outside the write transaction (hashing every
        // device id takes a while on a large store, and the daemon's writes
        // would wait for it); deleting exact pairs afterwards is safe.
        QSqlQuery select(m_db);
        select.setForwardOnly(true); // rows are not kept: a store has millions
        if (!run(select, QStringLiteral("admin_select_account_devices"), {}, &error))
            return Result::failed(error);
        // Rows come by device: the address is hashed once per device, and
        // only that device's candidates are held (a store has millions).
        QString current;
        QSet<QString> candidates;
        QList<std::pair<QString, QString>> doomed;
        while (select.next()) {
            const QString device = select.value(0).toString();
            if (device != current) {
                current = device;
                // The daemon and UWPX hash the lowercased JID; the Python
                // server hashed it as the client sent it. Device ids are
                // stored lowercase; a client may have hashed its own spelling.
                candidates.clear();
                for (const QString &id : {device, device.toUpper()})
                    candidates << accountKeyForBareJid(id, bareJid) << sha256Hex(id + bareJid);
            }
            const QString key = select.value(1).toString();
            if (candidates.contains(key))
                doomed.append({device, key});
        }
        select.finish();
        if (doomed.isEmpty())
            return Result::ok(0);
        if (!beginWrite(&error))
            return Result::failed(error);
        int removed = 0;
        for (const auto &[device, key] : std::as_const(doomed)) {
            QSqlQuery remove(m_db);
            if (!run(remove, QStringLiteral("delete_account"),
                     {{"device_id", device}, {"account_key", key}}, &error)) {
                rollback();
                return Result::failed(error);
            }
            removed += remove.numRowsAffected();
        }
        if (!commit(&error))
            return Result::failed(error);
        return Result::ok(removed);
    });
}

StorageResult<> StorageConnection::backupTo(const QString &path) {
    if (!m_dialect.copiesToFile)
        return StorageResult<>::failed(
            QStringLiteral("backup copies SQLite stores only; back up PostgreSQL with pg_dump "
                           "(e.g. pg_dump -Fc -f FILE DATABASE)"));
    if (QFileInfo::exists(path) || QFileInfo(path).isSymLink())
        return StorageResult<>::failed(QStringLiteral("%1 exists already").arg(path));
    // The copy holds every secret and the WNS token: it is 0600 from its
    // first byte (QTemporaryFile creates it so; the umask covers anything
    // SQLite creates beside it), and appears under its name only when whole.
    const UmaskGuard privateFiles(077);
    QTemporaryFile partial(path + QStringLiteral(".partial-XXXXXX"));
    if (!partial.open())
        return StorageResult<>::failed(
            QStringLiteral("cannot create a file beside %1: %2").arg(path, partial.errorString()));
    partial.close(); // empty: VACUUM INTO writes into an empty file
    QSqlQuery copy(m_db);
    QString error;
    if (!run(copy, QStringLiteral("admin_copy_into"), {{"path", partial.fileName()}}, &error))
        return StorageResult<>::failed(error);
    if (!QFile::rename(partial.fileName(), path))
        return StorageResult<>::failed(QStringLiteral("cannot rename the copy to %1").arg(path));
    partial.setAutoRemove(false);
    return StorageResult<>::ok();
}

StorageResult<ImportReport> StorageConnection::importDevices(const QList<ImportedDevice> &devices,
                                                             bool dryRun) {
    using Result = StorageResult<ImportReport>;
    return reconnecting("importing registrations", [&]() -> Result {
        QString error;
        if (!beginWrite(&error))
            return Result::failed(error);
        ImportReport report;
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        for (const ImportedDevice &device : devices) {
            if (!importDevice(device, now, &report, &error)) {
                rollback();
                return Result::failed(error);
            }
        }
        if (dryRun) {
            rollback();
            return Result::ok(report);
        }
        if (!commit(&error))
            return Result::failed(error);
        return Result::ok(report);
    });
}

bool StorageConnection::importDevice(const ImportedDevice &imported, qint64 now,
                                     ImportReport *report, QString *error) {
    using Item = ImportReport::Item;
    const QString device = normalizedDeviceId(imported.deviceId);
    QSqlQuery known(m_db);
    if (!run(known, QStringLiteral("admin_select_device"), {{"device_id", device}}, error))
        return false;
    if (known.next()) {
        // Registered here since, or imported before: what the store has is
        // as new or newer. Its missing accounts are still added below: a
        // client re-sends its accounts only when they change.
        const bool same = known.value(0).toString() == imported.channelUri;
        report->items << Item{Item::Device, device, imported.where, false,
                              same ? QLatin1String(ImportReport::kAlreadyImported)
                                   : QStringLiteral("known here with another channel; kept")};
    } else {
        QSqlQuery insert(m_db);
        if (!run(insert, QStringLiteral("admin_insert_device"),
                 {{"device_id", device},
                  {"channel_uri", imported.channelUri},
                  {"protocol_version", imported.protocolVersion},
                  // The import counts as a refresh: the device then has
                  // [storage] expire_days for its first push.
                  {"now", now}},
                 error))
            return false;
        report->items << Item{Item::Device, device, imported.where, true, {}};
    }
    known.finish();

    for (const ImportedAccount &account : imported.accounts) {
        QSqlQuery mine(m_db);
        if (!run(mine, QStringLiteral("admin_select_account"),
                 {{"device_id", device}, {"account_key", account.key}}, error))
            return false;
        if (mine.next()) {
            const bool same = mine.value(0).toString() == account.node &&
                              mine.value(1).toString() == account.secret;
            report->items << Item{Item::Account, account.node, account.where, false,
                                  same ? QLatin1String(ImportReport::kAlreadyImported)
                                       : QStringLiteral("the device registered this account "
                                                        "here since; kept")};
            continue;
        }
        mine.finish();
        QSqlQuery holder(m_db);
        if (!run(holder, QStringLiteral("admin_select_node"), {{"node", account.node}}, error))
            return false;
        if (holder.next()) {
            report->items << Item{Item::Account, account.node, account.where, false,
                                  QStringLiteral("another account here has this node")};
            continue;
        }
        holder.finish();
        QSqlQuery insert(m_db);
        if (!run(insert, QStringLiteral("insert_account"),
                 {{"device_id", device},
                  {"account_key", account.key},
                  {"protocol_version", imported.protocolVersion},
                  {"domain", account.domain.isNull() ? QStringLiteral("") : account.domain},
                  {"node", account.node},
                  {"secret", account.secret},
                  {"now", now}},
                 error))
            return false;
        report->items << Item{Item::Account, account.node, account.where, true, {}};
    }
    return true;
}

// StoreAdmin: the public face of the above.

std::unique_ptr<StoreAdmin> StoreAdmin::open(const StorageSettings &settings, QString *error) {
    auto connection = StorageConnection::open(settings, error);
    if (!connection)
        return nullptr;
    return std::unique_ptr<StoreAdmin>(new StoreAdmin(std::move(connection)));
}

std::unique_ptr<StoreAdmin> StoreAdmin::openAsIs(const StorageSettings &settings, QString *error) {
    auto connection = StorageConnection::open(settings, error, false);
    if (!connection)
        return nullptr;
    return std::unique_ptr<StoreAdmin>(new StoreAdmin(std::move(connection)));
}

StoreAdmin::StoreAdmin(std::unique_ptr<StorageConnection> connection)
    : m_connection(std::move(connection)) {}

StoreAdmin::~StoreAdmin() = default;

int StoreAdmin::latestSchemaVersion() {
    return StorageConnection::latestSchemaVersion();
}

StorageResult<int> StoreAdmin::schemaVersion() {
    return m_connection->schemaVersion();
}

StorageResult<StoreStats> StoreAdmin::stats() {
    return m_connection->stats();
}

StorageResult<StoredDevice> StoreAdmin::device(const QString &deviceId) {
    return m_connection->device(deviceId);
}

StorageResult<int> StoreAdmin::forgetDevice(const QString &deviceId) {
    return m_connection->forgetDevice(deviceId);
}

StorageResult<int> StoreAdmin::forgetBareJid(const QString &bareJid) {
    return m_connection->forgetBareJid(bareJid);
}

StorageResult<> StoreAdmin::backupTo(const QString &path) {
    return m_connection->backupTo(path);
}

StorageResult<ImportReport> StoreAdmin::importDevices(const QList<ImportedDevice> &devices,
                                                      bool dryRun) {
    return m_connection->importDevices(devices, dryRun);
}

} // namespace uwpx

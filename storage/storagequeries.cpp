// The daemon's operations on the store: the StorageConnection members that
// Storage's workers run (storageconnection.cpp opens, configures and
// reconnects the connection; storeadmin.cpp holds the operator's).

#include "storageconnection.h"

#include "credentials.h"
#include "identity.h"

#include <QHash>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

#include <algorithm>

namespace uwpx {

namespace {

qint64 nowMs() {
    return QDateTime::currentMSecsSinceEpoch();
}

// Lookups that arrive together are asked in one statement of one of these
// sizes (the rest of the list padded with '', which is no node), so that a
// few prepared statements serve every batch.
constexpr int kBatchSizes[] = {1, 4, 16, 64};

QString errorText(const QSqlQuery &query) {
    return query.lastError().text();
}

// A null QString would bind as SQL NULL; the schema wants ''.
QString notNull(const QString &text) {
    return text.isNull() ? QStringLiteral("") : text;
}

} // namespace

StorageResult<bool> StorageConnection::setChannelUri(const QString &deviceId,
                                                     const QString &channelUri,
                                                     int protocolVersion) {
    using Result = StorageResult<bool>;
    return reconnecting("storing a channel URI", [&]() -> Result {
        QString error;
        if (!beginWrite(&error))
            return Result::failed(error);
        const QString device = normalizedDeviceId(deviceId);
        QSqlQuery resume(m_db);
        QSqlQuery upsert(m_db);
        if (!run(resume, QStringLiteral("resume_device"), {{"device_id", device}}, &error)) {
            rollback();
            return Result::failed(error);
        }
        // Read at once: SQLite counts the changes of the connection's last statement.
        const bool resumed = resume.numRowsAffected() > 0;
        if (!run(upsert, QStringLiteral("upsert_device"),
                 {{"device_id", device},
                  {"channel_uri", channelUri},
                  {"protocol_version", protocolVersion},
                  {"now", nowMs()}},
                 &error)) {
            rollback();
            return Result::failed(error);
        }
        if (!commit(&error))
            return Result::failed(error);
        return Result::ok(resumed);
    });
}

StorageResult<QList<AccountCredentials>>
StorageConnection::setAccounts(const QString &deviceId, int protocolVersion,
                               const QList<AccountSpec> &accounts) {
    using Result = StorageResult<QList<AccountCredentials>>;
    return reconnecting("storing a device's accounts", [&]() -> Result {
        QString error;
        if (!beginWrite(&error))
            return Result::failed(error);
        Result result =
            writeAccounts(normalizedDeviceId(deviceId), protocolVersion, accounts, nowMs());
        if (!result.isOk()) {
            rollback();
            return result;
        }
        if (!commit(&error))
            return Result::failed(error);
        return result;
    });
}

StorageResult<QList<AccountCredentials>>
StorageConnection::writeAccounts(const QString &device, int protocolVersion,
                                 const QList<AccountSpec> &accounts, qint64 now) {
    using Result = StorageResult<QList<AccountCredentials>>;
    QString error;
    // Refreshing the device first also serializes setAccounts per device
    // across instances: SQLite's BEGIN IMMEDIATE locks the database, and on
    // PostgreSQL this UPDATE holds the device's row lock until COMMIT, so a
    // second instance waits here and then reads the first one's accounts.
    QSqlQuery touch(m_db);
    if (!run(touch, QStringLiteral("touch_device"), {{"device_id", device}, {"now", now}}, &error))
        return Result::failed(error);
    if (touch.numRowsAffected() == 0)
        return Result::notFound();

    QHash<QString, AccountCredentials> existing;
    QSqlQuery select(m_db);
    if (!run(select, QStringLiteral("select_accounts"), {{"device_id", device}}, &error))
        return Result::failed(error);
    while (select.next()) {
        const QString key = select.value(0).toString();
        existing.insert(key, {key, select.value(1).toString(), select.value(2).toString()});
    }

    QList<AccountCredentials> credentials;
    for (const AccountSpec &account : accounts) {
        QSqlQuery write(m_db);
        const auto known = existing.find(account.key);
        if (known != existing.end()) {
            if (!run(write, QStringLiteral("touch_account"),
                     {{"device_id", device},
                      {"account_key", account.key},
                      {"protocol_version", protocolVersion},
                      {"now", now}},
                     &error))
                return Result::failed(error);
            credentials << *known;
            existing.erase(known);
            continue;
        }
        AccountCredentials fresh{account.key, credentials::newNode(), credentials::newSecret()};
        if (!run(write, QStringLiteral("insert_account"),
                 {{"device_id", device},
                  {"account_key", account.key},
                  {"protocol_version", protocolVersion},
                  {"domain", notNull(account.domain)}, // '': not learned yet
                  {"node", fresh.node},
                  {"secret", fresh.secret},
                  {"now", now}},
                 &error))
            return Result::failed(error);
        credentials << fresh;
    }

    // What is left was not in the list: its nodes stop working.
    for (const AccountCredentials &gone : std::as_const(existing)) {
        QSqlQuery remove(m_db);
        if (!run(remove, QStringLiteral("delete_account"),
                 {{"device_id", device}, {"account_key", gone.key}}, &error))
            return Result::failed(error);
    }
    return Result::ok(credentials);
}

StorageResult<QHash<QString, PushTarget>> StorageConnection::findByNodes(const QStringList &nodes) {
    using Result = StorageResult<QHash<QString, PushTarget>>;
    return reconnecting("looking up nodes", [&]() -> Result {
        QHash<QString, PushTarget> targets;
        for (qsizetype start = 0; start < nodes.size();) {
            const auto size =
                std::find_if(std::begin(kBatchSizes), std::end(kBatchSizes),
                             [left = nodes.size() - start](int size) { return size >= left; });
            const int batch =
                size == std::end(kBatchSizes) ? kBatchSizes[std::size(kBatchSizes) - 1] : *size;
            auto prepared = m_findByNodes.find(batch);
            if (prepared == m_findByNodes.end()) {
                QStringList placeholders;
                for (int i = 0; i < batch; ++i)
                    placeholders << QStringLiteral(":n%1").arg(i);
                QSqlQuery query(m_db);
                if (!query.prepare(QString(sql(QStringLiteral("select_push_targets")))
                                       .replace(QLatin1String(":nodes"),
                                                placeholders.join(QLatin1String(", ")))))
                    return Result::failed(errorText(query));
                prepared = m_findByNodes.emplace(batch, std::move(query)).first;
            }
            QSqlQuery &query = prepared->second;
            for (int i = 0; i < batch; ++i)
                query.bindValue(i,
                                start + i < nodes.size() ? nodes[start + i] : QStringLiteral(""));
            if (!query.exec()) {
                const QString error = errorText(query);
                m_findByNodes.erase(prepared); // prepared again next time (a reconnected server)
                return Result::failed(error);
            }
            while (query.next()) {
                PushTarget target;
                target.deviceId = query.value(0).toString();
                target.channelUri = query.value(1).toString();
                target.accountKey = query.value(2).toString();
                target.protocolVersion = query.value(3).toInt();
                target.domain = query.value(4).toString();
                target.node = query.value(5).toString();
                target.secret = query.value(6).toString();
                target.deviceRefreshedAt =
                    QDateTime::fromMSecsSinceEpoch(query.value(7).toLongLong(), Qt::UTC);
                target.suspended = !query.value(8).isNull();
                targets.insert(target.node, target);
            }
            // Ends the statement: no read transaction stays open between
            // lookups (it would hold back SQLite's WAL checkpoints).
            query.finish();
            start += batch;
        }
        return Result::ok(targets);
    });
}

StorageResult<DeviceChannel> StorageConnection::channelUri(const QString &deviceId) {
    using Result = StorageResult<DeviceChannel>;
    return reconnecting("looking up a device", [&]() -> Result {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("select_channel_uri"),
                 {{"device_id", normalizedDeviceId(deviceId)}}, &error))
            return Result::failed(error);
        if (!query.next())
            return Result::notFound();
        return Result::ok({query.value(0).toString(), !query.value(1).isNull()});
    });
}

StorageResult<> StorageConnection::learnDomain(const QString &node, const QString &domain) {
    return reconnecting("storing an account's domain", [&] {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("update_domain"), {{"node", node}, {"domain", domain}},
                 &error))
            return StorageResult<>::failed(error);
        return StorageResult<>::ok();
    });
}

StorageResult<> StorageConnection::refreshDevice(const QString &deviceId) {
    return reconnecting("refreshing a device", [&] {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("touch_device"),
                 {{"device_id", normalizedDeviceId(deviceId)}, {"now", nowMs()}}, &error))
            return StorageResult<>::failed(error);
        return StorageResult<>::ok();
    });
}

StorageResult<> StorageConnection::removeDevice(const QString &deviceId) {
    return reconnecting("removing a device", [&] {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("delete_device"),
                 {{"device_id", normalizedDeviceId(deviceId)}}, &error))
            return StorageResult<>::failed(error);
        return StorageResult<>::ok();
    });
}

StorageResult<bool> StorageConnection::suspendDevice(const QString &deviceId,
                                                     const QString &channelUri) {
    return reconnecting("suspending a device", [&] {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("suspend_device"),
                 {{"device_id", normalizedDeviceId(deviceId)},
                  {"channel_uri", channelUri},
                  {"now", nowMs()}},
                 &error))
            return StorageResult<bool>::failed(error);
        return StorageResult<bool>::ok(query.numRowsAffected() > 0);
    });
}

StorageResult<int> StorageConnection::removeDevicesNotUpdatedSince(const QDateTime &cutoff) {
    return reconnecting("removing expired devices", [&] {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("delete_expired_devices"),
                 {{"cutoff", cutoff.toMSecsSinceEpoch()}}, &error))
            return StorageResult<int>::failed(error);
        return StorageResult<int>::ok(query.numRowsAffected());
    });
}

StorageResult<StoredToken> StorageConnection::loadToken(const QString &key) {
    using Result = StorageResult<StoredToken>;
    return reconnecting("reading the WNS token", [&]() -> Result {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("select_token"), {{"token_key", key}}, &error))
            return Result::failed(error);
        if (!query.next())
            return Result::notFound();
        return Result::ok({query.value(0).toString(),
                           QDateTime::fromMSecsSinceEpoch(query.value(1).toLongLong(), Qt::UTC)});
    });
}

StorageResult<> StorageConnection::saveToken(const QString &key, const StoredToken &token) {
    return reconnecting("storing the WNS token", [&] {
        QSqlQuery query(m_db);
        QString error;
        if (!run(query, QStringLiteral("upsert_token"),
                 {{"token_key", key},
                  {"access_token", token.accessToken},
                  {"expires_at", token.expiresAt.toMSecsSinceEpoch()}},
                 &error))
            return StorageResult<>::failed(error);
        return StorageResult<>::ok();
    });
}

StorageResult<qint64> StorageConnection::deviceCount() {
    return count(QStringLiteral("devices"));
}

StorageResult<qint64> StorageConnection::accountCount() {
    return count(QStringLiteral("accounts"));
}

StorageResult<qint64> StorageConnection::suspendedDeviceCount() {
    return count(QStringLiteral("suspended_devices"));
}

StorageResult<qint64> StorageConnection::count(const QString &table) {
    return reconnecting("counting rows", [&] {
        QSqlQuery query(m_db);
        if (!query.exec(sql(QStringLiteral("count_") + table)) || !query.next())
            return StorageResult<qint64>::failed(errorText(query));
        return StorageResult<qint64>::ok(query.value(0).toLongLong());
    });
}

} // namespace uwpx

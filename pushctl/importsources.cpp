#include "importsources.h"

#include "channelpolicy.h"
#include "identity.h"
#include "respclient.h"
#include "shorten.h"

#include <QAtomicInt>
#include <QCryptographicHash>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QRegularExpression>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QUrl>

namespace uwpx::pushctl {

namespace {

using Item = ImportReport::Item;

// Nodes and secrets are kept byte for byte (the Python server made 171- and
// 256-character ones); what no push server made is refused as malformed.
constexpr qsizetype kMaxCredential = 1024;
constexpr qsizetype kMaxChannelUri = 4096;

bool isCredential(const QString &text) {
    if (text.isEmpty() || text.size() > kMaxCredential)
        return false;
    for (QChar c : text) {
        if (c.unicode() <= 0x20 || c.unicode() == 0x7f)
            return false;
    }
    return true;
}

// Why a device cannot be imported, or empty: the daemon would refuse its id
// in every request, or would never send to its channel.
QString refusalOf(const QString &deviceId, const QString &channelUri,
                  const QStringList &channelHosts) {
    if (!isWellFormedDeviceId(deviceId))
        return QStringLiteral("device id is not 16 to 128 hex digits");
    QString why;
    if (!isAcceptableChannelUri(channelUri, channelHosts, &why))
        return QStringLiteral("channel URI refused ([wns] channel_hosts): ") + why;
    return {};
}

void skipDevice(ImportSource *source, const ImportedDevice &device, const QString &reason) {
    source->skipped << Item{Item::Device, device.deviceId, device.where, false, reason};
    for (const ImportedAccount &account : device.accounts)
        source->skipped << Item{Item::Account, account.node, account.where, false,
                                QStringLiteral("its device is skipped")};
}

// Adds the device, or skips it with its accounts.
void offer(ImportSource *source, const ImportedDevice &device, const QStringList &channelHosts) {
    const QString refusal = refusalOf(device.deviceId, device.channelUri, channelHosts);
    if (refusal.isEmpty())
        source->devices << device;
    else
        skipDevice(source, device, refusal);
}

// --- The Python server ----------------------------------------------------

// peewee's DateTimeTZField of the Python server: '%Y-%m-%d %H:%M:%S.%f%z'.
bool isPythonTimestamp(const QVariant &value) {
    static const QRegularExpression format(
        QStringLiteral("\\A\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{6}[+-]\\d{4}\\z"));
    return value.userType() == QMetaType::QString && format.match(value.toString()).hasMatch();
}

class SqliteSource {
public:
    explicit SqliteSource(const QString &path)
        : m_name(QStringLiteral("uwpx-pushctl-import-%1").arg(counter().fetchAndAddRelaxed(1))) {
        m_db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_name);
        m_db.setDatabaseName(path);
        // Read only: the old server's file is never changed, even by SQLite's
        // own recovery.
        m_db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=5000"));
    }
    ~SqliteSource() {
        m_db.close();
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(m_name);
    }
    QSqlDatabase &db() { return m_db; }

private:
    static QAtomicInt &counter() {
        static QAtomicInt value;
        return value;
    }
    QString m_name;
    QSqlDatabase m_db;
};

} // namespace

bool readPythonServer(const QString &path, const QStringList &channelHosts, ImportSource *source,
                      QString *error) {
    const QString name = QStringLiteral("sqlite:") + path;
    QFile file(path);
    if (!QFileInfo(path).isFile() || !file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("%1: cannot read the file").arg(name);
        return false;
    }
    if (file.read(16) != QByteArray("SQLite format 3\0", 16)) {
        *error = QStringLiteral("%1: not a SQLite database").arg(name);
        return false;
    }
    file.close();
    SqliteSource sqlite(path);
    QSqlDatabase &db = sqlite.db();
    if (!db.open()) {
        *error = QStringLiteral("%1: cannot open: %2").arg(name, db.lastError().text());
        return false;
    }
    const QStringList tables = db.tables();
    for (const char *table : {"channeluri", "pushaccount"}) {
        if (!tables.contains(QLatin1String(table))) {
            *error = QStringLiteral("%1: no table %2: not the Python push server's database")
                         .arg(name, QLatin1String(table));
            return false;
        }
    }
    auto malformed = [&](const QString &where, const QString &what) {
        *error = QStringLiteral("%1: %2: %3").arg(name, where, what);
        return false;
    };

    // The whole read is one snapshot, even if something else writes the file.
    if (!db.transaction())
        return malformed(QStringLiteral("reading"), db.lastError().text());
    QSqlQuery devices(db);
    devices.setForwardOnly(true);
    if (!devices.exec(QStringLiteral("SELECT \"id\", \"deviceId\", \"channelUri\", \"timeStamp\" "
                                     "FROM \"channeluri\" ORDER BY \"id\"")))
        return malformed(QStringLiteral("table channeluri"), devices.lastError().text());
    QMap<qint64, ImportedDevice> byRow;
    while (devices.next()) {
        const qint64 id = devices.value(0).toLongLong();
        const QString where = QStringLiteral("channeluri id=%1").arg(id);
        const QVariant deviceId = devices.value(1);
        const QVariant channel = devices.value(2);
        if (deviceId.userType() != QMetaType::QString || deviceId.toString().isEmpty() ||
            deviceId.toString().size() > kMaxCredential)
            return malformed(where, QStringLiteral("deviceId is not a device id"));
        if (channel.userType() != QMetaType::QString || channel.toString().isEmpty() ||
            channel.toString().size() > kMaxChannelUri)
            return malformed(where, QStringLiteral("channelUri is not a URI"));
        if (!isPythonTimestamp(devices.value(3)))
            return malformed(where, QStringLiteral("timeStamp is not in the form "
                                                   "'YYYY-MM-DD HH:MM:SS.ffffff+hhmm'"));
        ImportedDevice device;
        device.deviceId = deviceId.toString();
        device.channelUri = channel.toString();
        device.protocolVersion = 1; // the Python server spoke version 1 only
        device.where = where;
        byRow.insert(id, device);
    }

    QSqlQuery accounts(db);
    accounts.setForwardOnly(true);
    if (!accounts.exec(QStringLiteral("SELECT \"id\", \"channelUri_id\", \"bareJidHash\", "
                                      "\"domainPart\", \"node\", \"secret\" FROM \"pushaccount\" "
                                      "ORDER BY \"id\"")))
        return malformed(QStringLiteral("table pushaccount"), accounts.lastError().text());
    static const QRegularExpression sha256(QStringLiteral("\\A[0-9a-f]{64}\\z"));
    QHash<QString, QString> nodeSeenAt;
    while (accounts.next()) {
        const QString where =
            QStringLiteral("pushaccount id=%1").arg(accounts.value(0).toLongLong());
        const QString key = accounts.value(2).toString();
        const QString domain = accounts.value(3).toString();
        const QString node = accounts.value(4).toString();
        const QString secret = accounts.value(5).toString();
        if (!sha256.match(key).hasMatch())
            return malformed(where, QStringLiteral("bareJidHash is not a lowercase hex SHA-256"));
        if (domain.isEmpty() || domain.size() > 1023 || !isCredential(domain))
            return malformed(where, QStringLiteral("domainPart is not a domain"));
        if (!isCredential(node))
            return malformed(where, QStringLiteral("node is empty, over %1 characters or holds "
                                                   "spaces or control characters")
                                        .arg(kMaxCredential));
        if (!isCredential(secret))
            return malformed(where, QStringLiteral("secret is empty, over %1 characters or "
                                                   "holds spaces or control characters")
                                        .arg(kMaxCredential));
        if (nodeSeenAt.contains(node))
            return malformed(where, QStringLiteral("same node as %1").arg(nodeSeenAt.value(node)));
        nodeSeenAt.insert(node, where);
        const ImportedAccount account{key, domain.toLower(), node, secret, where};
        const auto device = byRow.find(accounts.value(1).toLongLong());
        if (device == byRow.end()) {
            // The Python server replaced a device's row at every channel
            // change (a new id) and left its accounts pointing at the old
            // one: it could not reach them either.
            source->skipped << Item{Item::Account, node, where, false,
                                    QStringLiteral("no channeluri row has its channelUri_id (the "
                                                   "old server could not reach it either)")};
            continue;
        }
        device->accounts << account;
    }
    db.rollback();
    for (const ImportedDevice &device : std::as_const(byRow))
        offer(source, device, channelHosts);
    return true;
}

// --- The C++ server -------------------------------------------------------

namespace {

QString hexSha256(const QByteArray &data) {
    return QString::fromLatin1(QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex());
}

// Redis keys can hold anything; we report them shortened and printable.
QString keyName(const QByteArray &key) {
    return QStringLiteral("key '%1'").arg(shorten(QString::fromUtf8(key)));
}

} // namespace

bool readCppServer(const QString &host, quint16 port, int database, const QString &user,
                   const QString &password, const QStringList &channelHosts, ImportSource *source,
                   QString *error) {
    const QString name = QStringLiteral("redis://%1:%2/%3").arg(host).arg(port).arg(database);
    RespClient redis;
    QString why;
    auto fail = [&](const QString &what) {
        *error = QStringLiteral("%1: %2").arg(name, what);
        return false;
    };
    if (!redis.connectTo(host, port, &why))
        return fail(why);
    QByteArrayList auth{"AUTH"};
    if (!user.isEmpty())
        auth << user.toUtf8();
    auth << password.toUtf8();
    if (!password.isEmpty() && !redis.command(auth, &why))
        return fail(why);
    if (!redis.command({"SELECT", QByteArray::number(database)}, &why))
        return fail(why);

    // Every key, then its value. The old server may still run while we read
    // (it should not: docs/migration.md stops it first); a key gone between
    // SCAN and reading it is simply absent.
    QList<QByteArray> keys;
    QByteArray cursor = "0";
    constexpr qsizetype kMaxKeys = 10'000'000;
    do {
        const auto page = redis.command({"SCAN", cursor, "COUNT", "1000"}, &why);
        if (!page)
            return fail(why);
        if (page->type != RespClient::Reply::List || page->items.size() != 2 ||
            page->items[1].type != RespClient::Reply::List)
            return fail(QStringLiteral("SCAN answered in a form Redis does not use"));
        cursor = page->items[0].text;
        for (const RespClient::Reply &key : page->items[1].items)
            keys << key.text;
        if (keys.size() > kMaxKeys)
            return fail(
                QStringLiteral("over %1 keys: not the old push server's store").arg(kMaxKeys));
    } while (cursor != "0");

    QHash<QByteArray, QByteArray> nodeOfAccountKey; // account key -> node
    QHash<QByteArray, QByteArrayList> nodes;        // node -> [account id, device id, secret]
    QList<std::pair<QByteArray, QByteArrayList>> deviceLists;
    constexpr qsizetype kMaxListItems = 1000; // a device has 2 + at most 100 accounts
    constexpr qsizetype kBatch = 1000;
    keys.removeAll(QByteArrayLiteral("WNS")); // the old server's WNS token: ours gets its own
    for (qsizetype start = 0; start < keys.size(); start += kBatch) {
        const QList<QByteArray> batch = keys.mid(start, kBatch);
        QList<QByteArrayList> typeCommands;
        for (const QByteArray &key : batch)
            typeCommands.append({"TYPE", key});
        const auto types = redis.pipeline(typeCommands, &why);
        if (!types)
            return fail(why);
        QList<QByteArray> wanted;
        QList<QByteArrayList> valueCommands;
        for (qsizetype i = 0; i < batch.size(); ++i) {
            const QByteArray &key = batch[i];
            const QByteArray &type = (*types)[i].text;
            if (type == "none")
                continue; // expired meanwhile
            if (type == "string") {
                valueCommands.append({"GET", key});
            } else if (type == "list") {
                // One more than a list of the old layout may hold, to see it is longer.
                valueCommands.append({"LRANGE", key, "0", QByteArray::number(kMaxListItems)});
            } else {
                return fail(QStringLiteral("%1 is a %2; the old push server stored only "
                                           "strings and lists: is this its database?")
                                .arg(keyName(key), QString::fromUtf8(type.left(20))));
            }
            wanted << key;
        }
        const auto values = redis.pipeline(valueCommands, &why);
        if (!values)
            return fail(why);
        for (qsizetype i = 0; i < wanted.size(); ++i) {
            const QByteArray &key = wanted[i];
            const RespClient::Reply &value = (*values)[i];
            if (value.type == RespClient::Reply::Bulk) {
                nodeOfAccountKey.insert(key, value.text);
                continue;
            }
            if (value.type != RespClient::Reply::List || value.items.isEmpty())
                continue; // expired or emptied meanwhile
            if (value.items.size() > kMaxListItems)
                return fail(QStringLiteral("%1 is a list of over %2 items: not the old push "
                                           "server's")
                                .arg(keyName(key))
                                .arg(kMaxListItems));
            QByteArrayList items;
            for (const RespClient::Reply &item : value.items)
                items << item.text;
            // A device's list starts with its channel URI; a node's with the
            // account id (a hash), never a URI.
            if (items[0].contains("://")) {
                if (items.size() >= 2 && items[1] != "1" && items[1] != "2")
                    return fail(QStringLiteral("%1: a device whose second item (the protocol "
                                               "version) is not 1 or 2")
                                    .arg(keyName(key)));
                deviceLists.append({key, items});
            } else if (items.size() == 3) {
                nodes.insert(key, items);
            } else {
                return fail(QStringLiteral("%1 is a list of %2 items that is neither a device "
                                           "([channel URI, version, account keys...]) nor a "
                                           "node ([account id, device id, secret])")
                                .arg(keyName(key))
                                .arg(items.size()));
            }
        }
    }

    QSet<QByteArray> nodesUsed;
    for (const auto &[key, items] : std::as_const(deviceLists)) {
        ImportedDevice device;
        device.deviceId = QString::fromUtf8(key);
        device.channelUri = QString::fromUtf8(items[0]);
        // A device that only sent its channel has no version yet; the C++
        // server's clients speak version 2.
        device.protocolVersion = items.size() >= 2 ? items[1].toInt() : 2;
        device.where = keyName(key);
        for (qsizetype i = 2; i < items.size(); ++i) {
            const QByteArray &accountKey = items[i];
            const QString where = QStringLiteral("%1 item %2").arg(keyName(key)).arg(i + 1);
            const auto node = nodeOfAccountKey.constFind(accountKey);
            const auto entry =
                node == nodeOfAccountKey.constEnd() ? nodes.constEnd() : nodes.constFind(*node);
            if (entry == nodes.constEnd()) {
                source->skipped << Item{Item::Account, QString::fromUtf8(accountKey), where, false,
                                        QStringLiteral("its account key or node has expired in "
                                                       "Redis")};
                continue;
            }
            const QByteArrayList &fields = *entry;
            // The old server named the account key SHA-256(device id + '_' +
            // account id) and kept the device id in the node: both must agree.
            if (fields[1] != key || hexSha256(key + '_' + fields[0]) != accountKey) {
                source->skipped << Item{Item::Account, QString::fromUtf8(*node), where, false,
                                        QStringLiteral("its node names another device or "
                                                       "account")};
                continue;
            }
            const QString nodeText = QString::fromUtf8(*node);
            const QString secret = QString::fromUtf8(fields[2]);
            if (!isCredential(nodeText) || !isCredential(secret) ||
                !isCredential(QString::fromUtf8(fields[0])))
                return fail(QStringLiteral("%1: node, account id or secret is empty, over %2 "
                                           "characters or holds spaces or control characters")
                                .arg(where)
                                .arg(kMaxCredential));
            nodesUsed.insert(*node);
            // No domain: the C++ server kept none; it is learned from the
            // first accepted publish, as for version 2 registrations.
            device.accounts << ImportedAccount{
                QString::fromUtf8(fields[0]), QString(), nodeText, secret,
                QStringLiteral("%1 (node %2)").arg(where, keyName(*node))};
        }
        if (device.protocolVersion == 1 && !device.accounts.isEmpty()) {
            // Version 1 with account ids is UWPX 0.35 to 0.38, which expects
            // XML notifications: not supported here (docs/protocol.md), and
            // refused if it registered here.
            skipDevice(source, device,
                       QStringLiteral("protocol version 1 with account ids (UWPX 0.35 to "
                                      "0.38), which this server does not support"));
            continue;
        }
        offer(source, device, channelHosts);
    }
    for (auto it = nodes.cbegin(); it != nodes.cend(); ++it) {
        if (!nodesUsed.contains(it.key()))
            source->skipped << Item{Item::Account, QString::fromUtf8(it.key()), keyName(it.key()),
                                    false, QStringLiteral("no device lists it (expired in Redis)")};
    }
    return true;
}

bool readImportSource(const QString &name, const QStringList &channelHosts, ImportSource *source,
                      QString *error, bool *usage) {
    if (name.startsWith(QLatin1String("sqlite:"))) {
        const QString path = name.mid(7);
        if (path.isEmpty()) {
            *usage = true;
            *error =
                QStringLiteral("sqlite: needs a path, e.g. sqlite:/var/lib/push/pushServer.db");
            return false;
        }
        return readPythonServer(path, channelHosts, source, error);
    }
    if (name.startsWith(QLatin1String("redis://"))) {
        const QUrl url(name, QUrl::StrictMode);
        bool dbOk = true;
        const QString path = url.path();
        const int database =
            path.isEmpty() || path == QLatin1String("/") ? 0 : path.mid(1).toInt(&dbOk);
        if (!url.isValid() || url.host().isEmpty() || url.port() <= 0 || !dbOk || database < 0 ||
            url.hasQuery() || url.hasFragment()) {
            *usage = true;
            *error = QStringLiteral("a Redis source is redis://HOST:PORT[/DB]");
            return false;
        }
        return readCppServer(url.host(), quint16(url.port()), database, url.userName(),
                             url.password(), channelHosts, source, error);
    }
    *usage = true;
    *error = QStringLiteral("unknown import source '%1': sqlite:PATH (the Python server) or "
                            "redis://HOST:PORT[/DB] (the C++ server)")
                 .arg(shorten(name, 40));
    return false;
}

} // namespace uwpx::pushctl

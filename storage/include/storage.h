#pragma once

#include "storagerecords.h"
#include "storageresult.h"
#include "storagesettings.h"

#include <QDateTime>
#include <QObject>

#include <functional>
#include <memory>

namespace uwpx {

// The one store behind the server: SQLite by default, PostgreSQL when several
// instances share a database. The database is never waited for on the event
// loop: each operation is queued to worker threads, each with a connection
// of its own, and its result comes back on this object's thread, once,
// within settings.timeoutMs (a database that hangs or refuses gives a
// failure by then). Lookups that wait together go out in one statement, so a
// database a round trip away does not set the pace of publishes.
//
// Every write is a single transaction, acknowledged (Ok) only once committed.
// Failures are logged where they happen; callers turn them into "try again
// later". Results are never delivered after this object is destroyed.
class Storage : public QObject {
    Q_OBJECT
public:
    template<typename T = std::monostate>
    using Done = std::function<void(const StorageResult<T> &)>;

    // Opens the database, brings its schema up to date and checks that it
    // takes writes (on the calling thread: this is start-up), then starts
    // the workers. On failure returns nullptr and says why in *error.
    static std::unique_ptr<Storage> open(const StorageSettings &settings, QString *error);
    ~Storage() override;

    // Stores or replaces the device's channel URI and refreshes its timestamp;
    // a suspended device is resumed (the value: whether it was suspended).
    void setChannelUri(const QString &deviceId, const QString &channelUri, int protocolVersion,
                       Done<bool> done);
    // Makes `accounts` the device's complete list: others are removed, known
    // ones keep node and secret, new ones get fresh credentials (in the order
    // of `accounts`). NotFound: the device has no channel URI.
    void setAccounts(const QString &deviceId, int protocolVersion,
                     const QList<AccountSpec> &accounts, Done<QList<AccountCredentials>> done);

    void findByNode(const QString &node, Done<PushTarget> done);
    void channelUri(const QString &deviceId, Done<DeviceChannel> done);

    // v2 accounts learn their domain from the first accepted publish.
    void learnDomain(const QString &node, const QString &domain, Done<> done = {});
    // Marks the device as alive now: it keeps it from expiring.
    void refreshDevice(const QString &deviceId, Done<> done = {});
    // WNS reported `channelUri` gone: the device keeps its accounts, nodes and
    // secrets, and its publishes are answered `wait`, until its next
    // setChannelUri(). Nothing changes if the device has another channel by
    // now (the check is part of the one statement). The value: whether this
    // call suspended it.
    void suspendDevice(const QString &deviceId, const QString &channelUri, Done<bool> done = {});
    // How many devices were removed.
    void removeDevicesNotUpdatedSince(const QDateTime &cutoff, Done<int> done = {});

    void loadToken(const QString &key, Done<StoredToken> done);
    void saveToken(const QString &key, const StoredToken &token, Done<> done = {});

    void deviceCount(Done<qint64> done);
    void accountCount(Done<qint64> done);
    void suspendedDeviceCount(Done<qint64> done);

    // Instances sharing a PostgreSQL database can wake each other: notify()
    // reaches every instance that listens on `channel`, which then emits
    // notified(). On SQLite (one instance per file) nobody listens.
    void notify(const QString &channel, const QString &payload, Done<> done = {});
    void listen(const QString &channel);

    // Whether the database answered the last operation, or the probe made
    // every few seconds while nothing else runs, and takes writes.
    bool isAvailable() const;

    static int latestSchemaVersion();

Q_SIGNALS:
    void notified(const QString &channel, const QString &payload);

private:
    class Private;
    explicit Storage(const StorageSettings &settings);
    std::unique_ptr<Private> d;
};

} // namespace uwpx

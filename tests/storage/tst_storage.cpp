// The store: migrations, devices and accounts, expiry, tokens, and two
// instances writing to one database at once.
//
// The same tests run for each dialect: SQLite by default (CTest `storage`),
// PostgreSQL when UWPX_TEST_STORAGE_DRIVER=postgresql (CTest
// `storage_postgresql`, run by with-postgresql.sh, which starts a throw-away
// cluster and sets UWPX_TEST_PG_HOST, _PORT, _DATABASE, _USER, _PASSWORD).
// On PostgreSQL every test gets a database of its own.

#include "credentials.h"
#include "identity.h"
#include "storageconnection.h"
#include "storageresults.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

using namespace uwpx;

namespace {

const QString kDevice = QStringLiteral("00112233445566778899aabbccddeeff");
const QString kChannel = QStringLiteral("https://db5p.notify.windows.com/?token=AwYAAAB");
const QString kAdminConnection = QStringLiteral("tst_storage-admin");

QString env(const char *name) {
    return qEnvironmentVariable(name);
}

// Runs `body` on `count` threads at once, each given its index; returns
// whether all finished in time.
bool runConcurrently(int count, const std::function<void(int)> &body) {
    std::atomic<int> ready{0};
    std::vector<std::unique_ptr<QThread>> threads;
    for (int i = 0; i < count; ++i) {
        threads.emplace_back(QThread::create([&, i] {
            // Start together, so the work really overlaps.
            ++ready;
            while (ready.load() < count)
                QThread::yieldCurrentThread();
            body(i);
        }));
        threads.back()->start();
    }
    bool finished = true;
    for (auto &thread : threads)
        finished = thread->wait(120000) && finished;
    return finished;
}

} // namespace

class StorageTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_counter = 0;
    QString m_driver;
    StorageSettings m_postgresql; // where the test cluster is; database: the admin one
    QStringList m_databases;      // created for tests, dropped at the end

    bool isPostgresql() const { return m_driver == QLatin1String("postgresql"); }

    // A database nobody has used yet: a new SQLite file, or a new PostgreSQL
    // database.
    StorageSettings freshSettings() {
        StorageSettings settings;
        settings.driver = m_driver;
        ++m_counter;
        if (!isPostgresql()) {
            settings.path = m_dir.filePath(QStringLiteral("db%1/push.db").arg(m_counter));
            return settings;
        }
        settings = m_postgresql;
        settings.database = QStringLiteral("uwpx_test_%1_%2")
                                .arg(QCoreApplication::applicationPid())
                                .arg(m_counter);
        QSqlQuery create(QSqlDatabase::database(kAdminConnection));
        if (!create.exec(QStringLiteral("CREATE DATABASE %1").arg(settings.database)))
            qWarning() << "creating" << settings.database << create.lastError().text();
        else
            m_databases << settings.database;
        return settings;
    }

    std::unique_ptr<StorageConnection> openFresh(StorageSettings *used = nullptr) {
        const StorageSettings settings = freshSettings();
        if (used)
            *used = settings;
        QString error;
        auto storage = StorageConnection::open(settings, &error);
        if (!storage)
            qWarning() << error;
        return storage;
    }

    QList<AccountCredentials> setAccounts(StorageConnection &storage, const QStringList &keys,
                                          const QString &device = kDevice) {
        QList<AccountSpec> specs;
        for (const QString &key : keys)
            specs << AccountSpec{key, QStringLiteral("example.org")};
        QList<AccountCredentials> credentials;
        const auto result = test::setAccounts(storage, device, 2, specs, &credentials);
        if (result != StorageStatus::Ok)
            qWarning() << "setAccounts failed"; // Storage logged why
        return credentials;
    }

    // Runs one query on its own connection, not through Storage; returns the
    // first column of the first row.
    QVariant rawValue(const StorageSettings &settings, const QString &statement) {
        QVariant value;
        withRawConnection(settings, [&](QSqlDatabase &db) {
            QSqlQuery query(db);
            if (query.exec(statement) && query.next())
                value = query.value(0);
            else
                qWarning() << statement << query.lastError().text();
        });
        return value;
    }

    // Runs statements that return nothing; false (and a warning) at the first
    // that fails.
    bool rawRun(const StorageSettings &settings, const QStringList &statements) {
        bool ran = false;
        withRawConnection(settings, [&](QSqlDatabase &db) {
            for (const QString &statement : statements) {
                QSqlQuery query(db);
                if (!query.exec(statement)) {
                    qWarning() << statement << query.lastError().text();
                    return;
                }
            }
            ran = true;
        });
        return ran;
    }

    void withRawConnection(const StorageSettings &settings,
                           const std::function<void(QSqlDatabase &)> &use) {
        const QString name = QStringLiteral("tst_storage-raw");
        {
            QSqlDatabase db;
            if (isPostgresql()) {
                db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
                db.setHostName(settings.host);
                db.setPort(settings.port);
                db.setDatabaseName(settings.database);
                db.setUserName(settings.user);
                db.setPassword(settings.password);
            } else {
                db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
                db.setDatabaseName(settings.path);
            }
            if (db.open())
                use(db);
            else
                qWarning() << "raw connection:" << db.lastError().text();
        }
        QSqlDatabase::removeDatabase(name);
    }

private Q_SLOTS:
    void initTestCase() {
        m_driver = env("UWPX_TEST_STORAGE_DRIVER");
        if (m_driver.isEmpty())
            m_driver = QStringLiteral("sqlite");
        QVERIFY2(m_driver == QLatin1String("sqlite") || isPostgresql(),
                 qPrintable(QStringLiteral("unknown UWPX_TEST_STORAGE_DRIVER ") + m_driver));
        qInfo() << "storage driver under test:" << m_driver;
        if (!isPostgresql()) {
            QVERIFY(m_dir.isValid());
            return;
        }
        // Fail, never skip, when the cluster is not there.
        QVERIFY2(!env("UWPX_TEST_PG_PORT").isEmpty(),
                 "UWPX_TEST_PG_* are not set: run the suite through with-postgresql.sh");
        QVERIFY2(QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")),
                 "the Qt PostgreSQL driver (libqt6sql6-psql) is not installed");
        m_postgresql.driver = m_driver;
        m_postgresql.host = env("UWPX_TEST_PG_HOST");
        m_postgresql.port = env("UWPX_TEST_PG_PORT").toInt();
        m_postgresql.database = env("UWPX_TEST_PG_DATABASE");
        m_postgresql.user = env("UWPX_TEST_PG_USER");
        m_postgresql.password = env("UWPX_TEST_PG_PASSWORD");
        QSqlDatabase admin = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), kAdminConnection);
        admin.setHostName(m_postgresql.host);
        admin.setPort(m_postgresql.port);
        admin.setDatabaseName(m_postgresql.database);
        admin.setUserName(m_postgresql.user);
        admin.setPassword(m_postgresql.password);
        QVERIFY2(admin.open(), qPrintable(admin.lastError().text()));
    }

    void cleanupTestCase() {
        if (!isPostgresql())
            return;
        {
            QSqlDatabase admin = QSqlDatabase::database(kAdminConnection);
            for (const QString &database : std::as_const(m_databases)) {
                QSqlQuery drop(admin);
                if (!drop.exec(QStringLiteral("DROP DATABASE IF EXISTS %1").arg(database)))
                    qWarning() << "dropping" << database << drop.lastError().text();
            }
            admin.close();
        }
        QSqlDatabase::removeDatabase(kAdminConnection);
    }

    void migratesAnEmptyDatabaseToTheLatestSchema() {
        StorageSettings settings;
        auto storage = openFresh(&settings);
        QVERIFY(storage);
        QVERIFY(StorageConnection::latestSchemaVersion() >= 1);
        QCOMPARE(test::valueOf(storage->schemaVersion()), StorageConnection::latestSchemaVersion());
        QCOMPARE(test::valueOf(storage->deviceCount()), 0);
        QCOMPARE(test::valueOf(storage->accountCount()), 0);
        if (isPostgresql()) {
            // The connection options took: the server knows who we are.
            QVERIFY(rawValue(settings, QStringLiteral("SELECT COUNT(*) FROM pg_stat_activity "
                                                      "WHERE application_name = 'uwpx-push-server' "
                                                      "AND datname = current_database()"))
                        .toInt() >= 1);
        }
        storage.reset();

        // Opening again applies nothing twice.
        QString error;
        storage = StorageConnection::open(settings, &error);
        QVERIFY2(storage, qPrintable(error));
        QCOMPARE(test::valueOf(storage->schemaVersion()), StorageConnection::latestSchemaVersion());
        storage.reset();
        QCOMPARE(rawValue(settings, QStringLiteral("SELECT COUNT(*) FROM schema_version")).toInt(),
                 StorageConnection::latestSchemaVersion());
    }

    // A store the first release wrote (schema 1, frozen here as it shipped)
    // keeps every registration across the upgrade, and its devices can then
    // be suspended and resumed (schema 2).
    void upgradesAStoreOfTheFirstReleaseKeepingItsRegistrations() {
        const StorageSettings settings = freshSettings();
        if (!isPostgresql())
            QVERIFY(QDir().mkpath(QFileInfo(settings.path).absolutePath()));
        const qint64 then = QDateTime::currentMSecsSinceEpoch() - 3600 * 1000;
        const QString node = QStringLiteral("n") + QString(170, QLatin1Char('x'));
        const QString secret = QString(256, QLatin1Char('s'));
        QVERIFY(rawRun(
            settings,
            {QStringLiteral("CREATE TABLE devices (device_id TEXT PRIMARY KEY, channel_uri TEXT "
                            "NOT NULL, protocol_version INTEGER NOT NULL, updated_at BIGINT NOT "
                            "NULL)"),
             QStringLiteral("CREATE INDEX devices_updated_at ON devices (updated_at)"),
             QStringLiteral("CREATE TABLE accounts (device_id TEXT NOT NULL REFERENCES devices "
                            "(device_id) ON DELETE CASCADE, account_key TEXT NOT NULL, "
                            "protocol_version INTEGER NOT NULL, domain TEXT NOT NULL DEFAULT '', "
                            "node TEXT NOT NULL UNIQUE, secret TEXT NOT NULL, created_at BIGINT "
                            "NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (device_id, "
                            "account_key))"),
             QStringLiteral("CREATE TABLE wns_tokens (token_key TEXT PRIMARY KEY, access_token "
                            "TEXT NOT NULL, expires_at BIGINT NOT NULL)"),
             QStringLiteral("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"),
             QStringLiteral("INSERT INTO schema_version (version) VALUES (1)"),
             QStringLiteral("INSERT INTO devices VALUES ('%1', '%2', 2, %3)")
                 .arg(kDevice, kChannel)
                 .arg(then),
             QStringLiteral("INSERT INTO accounts VALUES ('%1', 'acct', 2, 'example.org', '%2', "
                            "'%3', %4, %4)")
                 .arg(kDevice, node, secret)
                 .arg(then)}));

        QString error;
        auto storage = StorageConnection::open(settings, &error);
        QVERIFY2(storage, qPrintable(error));
        QCOMPARE(test::valueOf(storage->schemaVersion()), StorageConnection::latestSchemaVersion());
        PushTarget target;
        QCOMPARE(test::findByNode(*storage, node, &target), StorageStatus::Ok);
        QCOMPARE(target.secret, secret);
        QCOMPARE(target.channelUri, kChannel);
        QCOMPARE(target.domain, QStringLiteral("example.org"));
        QCOMPARE(target.deviceRefreshedAt.toMSecsSinceEpoch(), then);
        QVERIFY(!target.suspended);

        QCOMPARE(test::valueOf(storage->suspendDevice(kDevice, kChannel)), true);
        QCOMPARE(test::findByNode(*storage, node, &target), StorageStatus::Ok);
        QVERIFY(target.suspended);
        QCOMPARE(test::valueOf(storage->setChannelUri(kDevice, kChannel + QStringLiteral("2"), 2)),
                 true);
        QCOMPARE(test::findByNode(*storage, node, &target), StorageStatus::Ok);
        QVERIFY(!target.suspended);
        QCOMPARE(target.secret, secret);
    }

    // WNS's 404/410 for a channel suspends its device only while the device
    // still has that channel; a second report changes nothing and says so.
    void suspendsOnlyTheChannelThatFailed() {
        auto storage = openFresh();
        QVERIFY(storage);
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        const QList<AccountCredentials> credentials = setAccounts(*storage, {QStringLiteral("a")});
        QCOMPARE(credentials.size(), 1);
        QCOMPARE(test::valueOf(storage->suspendDevice(kDevice, kChannel + QStringLiteral("old"))),
                 false);
        QVERIFY(!test::valueOf(storage->channelUri(kDevice)).suspended);
        QCOMPARE(test::valueOf(storage->suspendDevice(kDevice.toUpper(), kChannel)), true);
        QCOMPARE(test::valueOf(storage->suspendDevice(kDevice, kChannel)), false);
        QCOMPARE(test::valueOf(storage->suspendedDeviceCount()), 1);
        QCOMPARE(test::valueOf(storage->deviceCount()), 1); // uwpx_devices keeps its meaning
        // Its other requests leave it suspended.
        QCOMPARE(setAccounts(*storage, {QStringLiteral("a"), QStringLiteral("b")}).size(), 2);
        QVERIFY(test::valueOf(storage->channelUri(kDevice)).suspended);
        QCOMPARE(
            test::valueOf(storage->suspendDevice(QStringLiteral("00ff00ff00ff00ff"), kChannel)),
            false);
    }

    // A store a newer release upgraded: an older binary (a downgrade, an
    // instance not upgraded yet) must not write to a schema it does not
    // know, and must say why it will not start.
    void refusesASchemaNewerThanItKnows() {
        StorageSettings settings;
        auto storage = openFresh(&settings);
        QVERIFY(storage);
        storage.reset();
        const int newer = StorageConnection::latestSchemaVersion() + 1;
        rawValue(settings,
                 QStringLiteral("INSERT INTO schema_version (version) VALUES (%1)").arg(newer));
        QString error;
        QVERIFY(!StorageConnection::open(settings, &error));
        QVERIFY2(error.contains(QStringLiteral("schema version %1").arg(newer)) &&
                     error.contains(QStringLiteral("newer release")),
                 qPrintable(error));
    }

    void upgradesOnceWhenInstancesStartTogether() {
        // Several instances start at once on a database nobody has used yet:
        // each opens, none applies a migration twice or trips over another.
        const StorageSettings settings = freshSettings();
        constexpr int kInstances = 4;
        std::atomic<int> failures{0};
        QVERIFY(runConcurrently(kInstances, [&](int) {
            QString error;
            auto storage = StorageConnection::open(settings, &error);
            if (!storage || test::valueOf(storage->schemaVersion()) !=
                                StorageConnection::latestSchemaVersion()) {
                qWarning() << "opening failed:" << error;
                ++failures;
            }
        }));
        QCOMPARE(failures.load(), 0);
        QCOMPARE(rawValue(settings, QStringLiteral("SELECT COUNT(*) FROM schema_version")).toInt(),
                 StorageConnection::latestSchemaVersion());
    }

    void refusesAnUnusableDatabase() {
        StorageSettings settings = freshSettings();
        if (isPostgresql()) {
            settings.password += QStringLiteral("-wrong");
        } else {
            settings.path = QStringLiteral("/proc/definitely/not/writable/push.db");
        }
        QString error;
        QVERIFY(!StorageConnection::open(settings, &error));
        QVERIFY(!error.isEmpty());
        QVERIFY2(settings.password.isEmpty() || !error.contains(settings.password),
                 "the password is in the error");
        if (isPostgresql()) {
            settings = m_postgresql;
            settings.database = QStringLiteral("uwpx_test_does_not_exist");
            QVERIFY(!StorageConnection::open(settings, &error));
            QVERIFY(error.contains(QLatin1String("postgresql")));
        }
    }

    void storesAndReplacesTheChannelUri() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 1).isOk());
        QCOMPARE(test::valueOf(storage->channelUri(kDevice)).channelUri, kChannel);
        const QString fresh = kChannel + QStringLiteral("2");
        QVERIFY(storage->setChannelUri(kDevice.toUpper(), fresh, 2).isOk());
        QCOMPARE(test::valueOf(storage->deviceCount()), 1);
        QCOMPARE(test::valueOf(storage->channelUri(kDevice)).channelUri, fresh);
    }

    // A PostgreSQL restart, a fail-over or a firewall cutting an idle
    // connection: the operation that meets the dead connection reconnects
    // and succeeds, and nothing stored is lost.
    void reconnectsAfterLosingTheServer() {
        if (!isPostgresql())
            QSKIP("a SQLite file has no server connection to lose");
        StorageSettings settings;
        auto storage = openFresh(&settings);
        QVERIFY(storage);
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        const auto before = setAccounts(*storage, {QStringLiteral("a")});
        QCOMPARE(before.size(), 1);

        QSqlDatabase admin = QSqlDatabase::database(kAdminConnection);
        auto backends = [&] {
            QSqlQuery query(admin);
            if (!query.exec(QStringLiteral("SELECT count(*) FROM pg_stat_activity "
                                           "WHERE datname = '%1'")
                                .arg(settings.database)) ||
                !query.next())
                return -1;
            return query.value(0).toInt();
        };
        auto cutTheConnection = [&] {
            QSqlQuery kill(admin);
            QVERIFY2(kill.exec(QStringLiteral("SELECT pg_terminate_backend(pid) FROM "
                                              "pg_stat_activity WHERE datname = '%1'")
                                   .arg(settings.database)),
                     qPrintable(kill.lastError().text()));
            QTRY_COMPARE(backends(), 0);
        };

        cutTheConnection();
        PushTarget target;
        QCOMPARE(test::findByNode(*storage, before[0].node, &target), StorageStatus::Ok);
        cutTheConnection();
        const QString fresh = kChannel + QStringLiteral("2");
        QVERIFY(storage->setChannelUri(kDevice, fresh, 2).isOk());
        cutTheConnection();
        const auto after = setAccounts(*storage, {QStringLiteral("a"), QStringLiteral("b")});
        QCOMPARE(after.size(), 2);
        QCOMPARE(after[0].node, before[0].node);
        QCOMPARE(after[0].secret, before[0].secret);
        cutTheConnection();
        QCOMPARE(test::valueOf(storage->accountCount()), 2);
        QCOMPARE(test::valueOf(storage->channelUri(kDevice)).channelUri, fresh);
    }

    void refusesAccountsForAnUnknownDevice() {
        auto storage = openFresh();
        QList<AccountCredentials> credentials;
        QCOMPARE(test::setAccounts(*storage, kDevice, 2, {{QStringLiteral("a"), QString()}},
                                   &credentials),
                 StorageStatus::NotFound);
        QCOMPARE(test::valueOf(storage->accountCount()), 0);
    }

    void givesNewAccountsFreshCredentialsAndKeepsKnownOnes() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        const auto first = setAccounts(*storage, {QStringLiteral("a"), QStringLiteral("b")});
        QCOMPARE(first.size(), 2);
        QCOMPARE(first[0].key, QStringLiteral("a"));
        QVERIFY(first[0].node != first[1].node);
        QVERIFY(first[0].secret != first[1].secret);

        // "a" stays, "b" goes, "c" is new.
        const auto second = setAccounts(*storage, {QStringLiteral("c"), QStringLiteral("a")});
        QCOMPARE(second.size(), 2);
        QCOMPARE(second[1].key, QStringLiteral("a"));
        QCOMPARE(second[1].node, first[0].node);
        QCOMPARE(second[1].secret, first[0].secret);
        QCOMPARE(test::valueOf(storage->accountCount()), 2);

        PushTarget target;
        QCOMPARE(test::findByNode(*storage, first[1].node, &target), StorageStatus::NotFound);
        QCOMPARE(test::findByNode(*storage, second[0].node, &target), StorageStatus::Ok);
        QCOMPARE(target.deviceId, kDevice);
        QCOMPARE(target.channelUri, kChannel);
        QCOMPARE(target.accountKey, QStringLiteral("c"));
        QCOMPARE(target.secret, second[0].secret);
        QCOMPARE(target.protocolVersion, 2);

        // An empty list removes every account.
        setAccounts(*storage, {});
        QCOMPARE(test::valueOf(storage->accountCount()), 0);
    }

    void makesNodesAndSecretsOfTheSpecifiedStrength() {
        // docs/protocol.md: node >= 72 bits, secret >= 128 bits, URL-safe characters.
        static const QRegularExpression urlSafe(QStringLiteral("^[A-Za-z0-9_-]+$"));
        QSet<QString> seen;
        for (int i = 0; i < 1000; ++i) {
            const QString node = credentials::newNode();
            const QString secret = credentials::newSecret();
            QVERIFY(urlSafe.match(node).hasMatch());
            QVERIFY(urlSafe.match(secret).hasMatch());
            QVERIFY(node.size() * 6 >= 72);
            QVERIFY(secret.size() * 6 >= 128);
            QVERIFY(!seen.contains(node));
            QVERIFY(!seen.contains(secret));
            seen << node << secret;
        }
        QVERIFY(credentials::constantTimeEquals(QStringLiteral("abc"), QStringLiteral("abc")));
        QVERIFY(!credentials::constantTimeEquals(QStringLiteral("abc"), QStringLiteral("abd")));
        QVERIFY(!credentials::constantTimeEquals(QStringLiteral("abc"), QStringLiteral("ab")));
        QVERIFY(!credentials::constantTimeEquals(QString(), QStringLiteral("a")));
    }

    // Lookups that arrive together go out as one statement: every size of
    // batch, and nodes that are not there, come back right.
    void findsManyNodesInOneGo() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        QStringList keys;
        for (int i = 0; i < 90; ++i)
            keys << QStringLiteral("k%1").arg(i);
        const auto credentials = setAccounts(*storage, keys);
        QCOMPARE(credentials.size(), 90);
        QStringList nodes{QStringLiteral("no-such-node")};
        for (const AccountCredentials &account : credentials)
            nodes << account.node;
        for (const qsizetype count : {1, 3, 17, 90}) {
            const auto found = storage->findByNodes(nodes.mid(nodes.size() - count));
            QVERIFY(found.isOk());
            QCOMPARE(found->size(), count);
            for (const AccountCredentials &account : credentials.mid(credentials.size() - count)) {
                QCOMPARE(found->value(account.node).secret, account.secret);
                QCOMPARE(found->value(account.node).accountKey, account.key);
            }
        }
        const auto all = storage->findByNodes(nodes); // with the unknown one
        QVERIFY(all.isOk());
        QCOMPARE(all->size(), 90);
        const auto none = storage->findByNodes(nodes.mid(0, 1));
        QVERIFY(none.isOk());
        QVERIFY(none->isEmpty());
    }

    void learnsAV2DomainOnce() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        QList<AccountCredentials> credentials;
        QCOMPARE(test::setAccounts(*storage, kDevice, 2, {{QStringLiteral("id"), QString()}},
                                   &credentials),
                 StorageStatus::Ok);
        const QString node = credentials[0].node;
        PushTarget target;
        QCOMPARE(test::findByNode(*storage, node, &target), StorageStatus::Ok);
        QVERIFY(target.domain.isEmpty());
        QVERIFY(storage->learnDomain(node, QStringLiteral("one.example")).isOk());
        QVERIFY(storage->learnDomain(node, QStringLiteral("two.example")).isOk());
        QCOMPARE(test::findByNode(*storage, node, &target), StorageStatus::Ok);
        QCOMPARE(target.domain, QStringLiteral("one.example"));
    }

    void removesADeviceWithItsAccounts() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        const auto credentials = setAccounts(*storage, {QStringLiteral("a")});
        QVERIFY(storage->removeDevice(kDevice.toUpper()).isOk());
        QCOMPARE(test::valueOf(storage->deviceCount()), 0);
        QCOMPARE(test::valueOf(storage->accountCount()), 0);
        PushTarget target;
        QCOMPARE(test::findByNode(*storage, credentials[0].node, &target), StorageStatus::NotFound);
    }

    void expiresDevicesNotRefreshed() {
        auto storage = openFresh();
        const QString other = QStringLiteral("ffeeddccbbaa99887766554433221100");
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        setAccounts(*storage, {QStringLiteral("a"), QStringLiteral("b")});
        const QDateTime between = QDateTime::currentDateTimeUtc().addMSecs(1);
        // Make sure the second device's timestamp is later than the cutoff.
        QTRY_VERIFY(QDateTime::currentDateTimeUtc() > between);
        QVERIFY(storage->setChannelUri(other, kChannel, 2).isOk());

        QCOMPARE(test::valueOf(storage->removeDevicesNotUpdatedSince(between)), 1);
        QCOMPARE(test::valueOf(storage->deviceCount()), 1);
        QCOMPARE(test::valueOf(storage->accountCount()), 0);
        QVERIFY(storage->channelUri(kDevice).isNotFound());
        QVERIFY(storage->channelUri(other).isOk());
        QCOMPARE(test::valueOf(storage->removeDevicesNotUpdatedSince(between)), 0);
    }

    void keepsTheWnsToken() {
        StorageSettings settings;
        auto storage = openFresh(&settings);
        QVERIFY(storage->loadToken(QStringLiteral("k")).isNotFound());
        const QDateTime expiry = QDateTime::currentDateTimeUtc().addSecs(3600);
        QVERIFY(storage->saveToken(QStringLiteral("k"), {QStringLiteral("tok1"), expiry}).isOk());
        QVERIFY(storage->saveToken(QStringLiteral("k"), {QStringLiteral("tok2"), expiry}).isOk());
        storage.reset();
        QString error;
        storage = StorageConnection::open(settings, &error);
        const auto token = storage->loadToken(QStringLiteral("k"));
        QVERIFY(token.isOk());
        QCOMPARE(token->accessToken, QStringLiteral("tok2"));
        QCOMPARE(token->expiresAt.toMSecsSinceEpoch(), expiry.toMSecsSinceEpoch());
    }

    void twoConnectionsWriteAtOnce() {
        // Two server instances on one database register devices at once.
        StorageSettings settings;
        auto main = openFresh(&settings);
        QVERIFY(main);
        constexpr int kDevicesPerWriter = 100;
        std::atomic<int> failures{0};
        auto writer = [&](int id) {
            QString error;
            auto storage = StorageConnection::open(settings, &error);
            if (!storage) {
                qWarning() << "opening failed:" << error;
                ++failures;
                return;
            }
            for (int i = 0; i < kDevicesPerWriter; ++i) {
                const QString device = QStringLiteral("%1%2")
                                           .arg(id, 8, 16, QLatin1Char('0'))
                                           .arg(i, 16, 16, QLatin1Char('0'));
                QList<AccountCredentials> credentials;
                if (!storage->setChannelUri(device, kChannel, 2).isOk() ||
                    test::setAccounts(
                        *storage, device, 2,
                        {{QStringLiteral("a"), QString()}, {QStringLiteral("b"), QString()}},
                        &credentials) != StorageStatus::Ok) {
                    qWarning() << "writer" << id << "failed"; // Storage logged why
                    ++failures;
                }
            }
        };
        QVERIFY(runConcurrently(2, [&](int index) { writer(index + 1); }));
        QCOMPARE(failures.load(), 0);
        // The first connection sees both writers' work.
        QCOMPARE(test::valueOf(main->deviceCount()), 2 * kDevicesPerWriter);
        QCOMPARE(test::valueOf(main->accountCount()), 4 * kDevicesPerWriter);
    }

    void twoInstancesSetTheSameDevicesAccountsAtOnce() {
        // The same device registers through two instances at once (say, two
        // app starts behind a load balancer). Each set_accounts must act as a
        // whole: the account both lists share keeps one node and secret, the
        // device ends with exactly one writer's list, nothing fails.
        StorageSettings settings;
        auto main = openFresh(&settings);
        QVERIFY(main);
        QVERIFY(main->setChannelUri(kDevice, kChannel, 2).isOk());
        constexpr int kRounds = 100;
        const QString shared = QStringLiteral("shared");
        const QString own[2] = {QStringLiteral("first"), QStringLiteral("second")};
        std::atomic<int> failures{0};
        QList<AccountCredentials> seen[2]; // every acknowledged "shared", per writer
        QList<AccountCredentials> last[2]; // each writer's last acknowledged list
        QVERIFY(runConcurrently(2, [&](int id) {
            QString error;
            auto storage = StorageConnection::open(settings, &error);
            if (!storage) {
                qWarning() << "opening failed:" << error;
                ++failures;
                return;
            }
            for (int i = 0; i < kRounds; ++i) {
                // A registration: the channel first, then the accounts.
                const QList<AccountSpec> specs =
                    id == 0 ? QList<AccountSpec>{{own[0], QString()}, {shared, QString()}}
                            : QList<AccountSpec>{{shared, QString()}, {own[1], QString()}};
                QList<AccountCredentials> credentials;
                if (!storage->setChannelUri(kDevice.toUpper(), kChannel, 2).isOk() ||
                    test::setAccounts(*storage, kDevice, 2, specs, &credentials) !=
                        StorageStatus::Ok) {
                    qWarning() << "writer" << id << "failed"; // Storage logged why
                    ++failures;
                    continue;
                }
                if (credentials.size() != 2) {
                    ++failures;
                    continue;
                }
                seen[id] << credentials[id == 0 ? 1 : 0];
                last[id] = credentials;
            }
        }));
        QCOMPARE(failures.load(), 0);
        QCOMPARE(seen[0].size() + seen[1].size(), 2 * kRounds);
        const AccountCredentials first = seen[0].isEmpty() ? seen[1][0] : seen[0][0];
        for (const auto &list : seen) {
            for (const AccountCredentials &credentials : list) {
                QCOMPARE(credentials.key, shared);
                QCOMPARE(credentials.node, first.node);
                QCOMPARE(credentials.secret, first.secret);
            }
        }
        QCOMPARE(test::valueOf(main->deviceCount()), 1);
        QCOMPARE(test::valueOf(main->accountCount()), 2);
        // The writer that committed last: all its nodes work; the other's own
        // account is gone, the shared one is the same.
        PushTarget target;
        QCOMPARE(test::findByNode(*main, first.node, &target), StorageStatus::Ok);
        QCOMPARE(target.accountKey, shared);
        QCOMPARE(target.secret, first.secret);
        const bool firstFound =
            test::findByNode(*main, last[0][0].node, &target) == StorageStatus::Ok;
        const bool secondFound =
            test::findByNode(*main, last[1][1].node, &target) == StorageStatus::Ok;
        QVERIFY2(firstFound != secondFound, "the device's accounts mix both lists");
    }

    void importsManyDevicesInOneTransaction() {
        StorageSettings settings;
        auto storage = openFresh(&settings);
        QVERIFY(storage);
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        QList<ImportedDevice> devices;
        for (int i = 0; i < 10; ++i)
            devices << ImportedDevice{QStringLiteral("%1").arg(i, 32, 16, QLatin1Char('0')),
                                      kChannel,
                                      2,
                                      {{QStringLiteral("a"),
                                        QString(),
                                        credentials::newNode(),
                                        credentials::newSecret(),
                                        {}},
                                       {QStringLiteral("b"),
                                        QStringLiteral("example.org"),
                                        credentials::newNode(),
                                        credentials::newSecret(),
                                        {}}},
                                      {}};
        const auto imported = storage->importDevices(devices, false);
        QVERIFY(imported.isOk());
        QCOMPARE(imported->items.size(), 30);
        for (const ImportReport::Item &item : imported->items)
            QVERIFY2(item.imported, qPrintable(item.reason));
        QCOMPARE(test::valueOf(storage->deviceCount()), 11);
        QCOMPARE(test::valueOf(storage->accountCount()), 20);
        QString error;
        auto other = StorageConnection::open(settings, &error);
        QVERIFY2(other, qPrintable(error));
        PushTarget target;
        const ImportedAccount last = devices.last().accounts.at(1);
        QCOMPARE(test::findByNode(*other, last.node, &target), StorageStatus::Ok);
        QCOMPARE(target.secret, last.secret);
        QCOMPARE(target.domain, QStringLiteral("example.org"));
        QCOMPARE(target.deviceId, devices.last().deviceId);
    }

    void anImportIsStoredWholeOrNotAtAll() {
        auto storage = openFresh();
        QVERIFY(storage);
        // The second device has no channel URI: the database refuses it.
        const auto imported = storage->importDevices(
            {ImportedDevice{kDevice,
                            kChannel,
                            2,
                            {{QStringLiteral("a"),
                              QString(),
                              credentials::newNode(),
                              credentials::newSecret(),
                              {}}},
                            {}},
             ImportedDevice{QStringLiteral("ab").repeated(8), QString(), 2, {}, {}}},
            false);
        QVERIFY(imported.isFailed());
        QCOMPARE(test::valueOf(storage->deviceCount()), 0);
        QCOMPARE(test::valueOf(storage->accountCount()), 0);
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2).isOk());
        QCOMPARE(test::valueOf(storage->deviceCount()), 1);
    }

    // Registration and the publish path name a domain the same way, or the
    // sender-domain check would refuse the account's own server.
    void takesTheDomainOfAnyJid() {
        QCOMPARE(jidDomain(QStringLiteral("example.org")), QStringLiteral("example.org"));
        QCOMPARE(jidDomain(QStringLiteral("u@Example.org/r@s")), QStringLiteral("example.org"));
        QCOMPARE(jidDomain(QStringLiteral("example.org/res")), QStringLiteral("example.org"));
        QCOMPARE(jidDomain(QString()), QString());
        QCOMPARE(jidDomain(QStringLiteral("Someone@XMPP.uwpx.org")),
                 jidDomain(QStringLiteral("xmpp.uwpx.org/phone")));
    }
};

QTEST_GUILESS_MAIN(StorageTest)
#include "tst_storage.moc"

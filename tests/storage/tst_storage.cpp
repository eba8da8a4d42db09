// The store: migrations, devices and accounts, expiry, tokens, and two
// connections writing to one SQLite file at once.

#include "credentials.h"
#include "storage.h"

#include <QRegularExpression>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <atomic>

using namespace uwpx;

namespace {

const QString kDevice = QStringLiteral("00112233445566778899aabbccddeeff");
const QString kChannel = QStringLiteral("https://db5p.notify.windows.com/?token=AwYAAAB");

} // namespace

class StorageTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_counter = 0;

    StorageSettings freshSettings() {
        StorageSettings settings;
        settings.path = m_dir.filePath(QStringLiteral("db%1/push.db").arg(++m_counter));
        return settings;
    }

    std::unique_ptr<Storage> openFresh(StorageSettings *used = nullptr) {
        const StorageSettings settings = freshSettings();
        if (used)
            *used = settings;
        QString error;
        auto storage = Storage::open(settings, &error);
        if (!storage)
            qWarning() << error;
        return storage;
    }

    QList<AccountCredentials> setAccounts(Storage &storage, const QStringList &keys,
                                          const QString &device = kDevice) {
        QList<AccountSpec> specs;
        for (const QString &key : keys)
            specs << AccountSpec{key, QStringLiteral("example.org")};
        QList<AccountCredentials> credentials;
        const auto result = storage.setAccounts(device, 2, specs, &credentials);
        if (result != Storage::SetAccountsResult::Ok)
            qWarning() << "setAccounts failed:" << storage.lastError();
        return credentials;
    }

private Q_SLOTS:
    void migratesAnEmptyDatabaseToTheLatestSchema() {
        StorageSettings settings;
        auto storage = openFresh(&settings);
        QVERIFY(storage);
        QVERIFY(Storage::latestSchemaVersion() >= 1);
        QCOMPARE(storage->schemaVersion(), Storage::latestSchemaVersion());
        QCOMPARE(storage->deviceCount(), 0);
        storage.reset();

        // Opening again applies nothing twice.
        QString error;
        storage = Storage::open(settings, &error);
        QVERIFY2(storage, qPrintable(error));
        QCOMPARE(storage->schemaVersion(), Storage::latestSchemaVersion());
    }

    void refusesAnUnusablePath() {
        StorageSettings settings;
        settings.path = QStringLiteral("/proc/definitely/not/writable/push.db");
        QString error;
        QVERIFY(!Storage::open(settings, &error));
        QVERIFY(!error.isEmpty());
    }

    void storesAndReplacesTheChannelUri() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 1));
        QCOMPARE(storage->channelUri(kDevice).value_or(QString()), kChannel);
        const QString fresh = kChannel + QStringLiteral("2");
        QVERIFY(storage->setChannelUri(kDevice.toUpper(), fresh, 2));
        QCOMPARE(storage->deviceCount(), 1);
        QCOMPARE(storage->channelUri(kDevice).value_or(QString()), fresh);
    }

    void refusesAccountsForAnUnknownDevice() {
        auto storage = openFresh();
        QList<AccountCredentials> credentials;
        QCOMPARE(storage->setAccounts(kDevice, 2, {{QStringLiteral("a"), QString()}}, &credentials),
                 Storage::SetAccountsResult::UnknownDevice);
        QCOMPARE(storage->accountCount(), 0);
    }

    void givesNewAccountsFreshCredentialsAndKeepsKnownOnes() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2));
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
        QCOMPARE(storage->accountCount(), 2);

        PushTarget target;
        QCOMPARE(storage->findByNode(first[1].node, &target), Storage::Lookup::NotFound);
        QCOMPARE(storage->findByNode(second[0].node, &target), Storage::Lookup::Found);
        QCOMPARE(target.deviceId, kDevice);
        QCOMPARE(target.channelUri, kChannel);
        QCOMPARE(target.accountKey, QStringLiteral("c"));
        QCOMPARE(target.secret, second[0].secret);
        QCOMPARE(target.protocolVersion, 2);

        // An empty list removes every account.
        setAccounts(*storage, {});
        QCOMPARE(storage->accountCount(), 0);
    }

    void makesNodesAndSecretsOfTheSpecifiedStrength() {
        // SPEC §3: node >= 72 bits, secret >= 128 bits, URL-safe characters.
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

    void learnsAV2DomainOnce() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2));
        QList<AccountCredentials> credentials;
        QCOMPARE(
            storage->setAccounts(kDevice, 2, {{QStringLiteral("id"), QString()}}, &credentials),
            Storage::SetAccountsResult::Ok);
        const QString node = credentials[0].node;
        PushTarget target;
        QCOMPARE(storage->findByNode(node, &target), Storage::Lookup::Found);
        QVERIFY(target.domain.isEmpty());
        QVERIFY(storage->learnDomain(node, QStringLiteral("one.example")));
        QVERIFY(storage->learnDomain(node, QStringLiteral("two.example")));
        QCOMPARE(storage->findByNode(node, &target), Storage::Lookup::Found);
        QCOMPARE(target.domain, QStringLiteral("one.example"));
    }

    void removesADeviceWithItsAccounts() {
        auto storage = openFresh();
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2));
        const auto credentials = setAccounts(*storage, {QStringLiteral("a")});
        QVERIFY(storage->removeDevice(kDevice.toUpper()));
        QCOMPARE(storage->deviceCount(), 0);
        QCOMPARE(storage->accountCount(), 0);
        PushTarget target;
        QCOMPARE(storage->findByNode(credentials[0].node, &target), Storage::Lookup::NotFound);
    }

    void expiresDevicesNotRefreshed() {
        auto storage = openFresh();
        const QString other = QStringLiteral("ffeeddccbbaa99887766554433221100");
        QVERIFY(storage->setChannelUri(kDevice, kChannel, 2));
        setAccounts(*storage, {QStringLiteral("a"), QStringLiteral("b")});
        const QDateTime between = QDateTime::currentDateTimeUtc().addMSecs(1);
        // Make sure the second device's timestamp is later than the cutoff.
        QTRY_VERIFY(QDateTime::currentDateTimeUtc() > between);
        QVERIFY(storage->setChannelUri(other, kChannel, 2));

        QCOMPARE(storage->removeDevicesNotUpdatedSince(between), 1);
        QCOMPARE(storage->deviceCount(), 1);
        QCOMPARE(storage->accountCount(), 0);
        QVERIFY(!storage->channelUri(kDevice));
        QVERIFY(storage->channelUri(other));
        QCOMPARE(storage->removeDevicesNotUpdatedSince(between), 0);
    }

    void keepsTheWnsToken() {
        StorageSettings settings;
        auto storage = openFresh(&settings);
        QVERIFY(!storage->loadToken(QStringLiteral("k")));
        const QDateTime expiry = QDateTime::currentDateTimeUtc().addSecs(3600);
        QVERIFY(storage->saveToken(QStringLiteral("k"), {QStringLiteral("tok1"), expiry}));
        QVERIFY(storage->saveToken(QStringLiteral("k"), {QStringLiteral("tok2"), expiry}));
        storage.reset();
        QString error;
        storage = Storage::open(settings, &error);
        const auto token = storage->loadToken(QStringLiteral("k"));
        QVERIFY(token);
        QCOMPARE(token->accessToken, QStringLiteral("tok2"));
        QCOMPARE(token->expiresAt.toMSecsSinceEpoch(), expiry.toMSecsSinceEpoch());
    }

    void twoConnectionsWriteAtOnce() {
        StorageSettings settings;
        auto main = openFresh(&settings);
        QVERIFY(main);
        constexpr int kDevicesPerWriter = 100;
        std::atomic<int> failures{0};
        auto writer = [&](int id) {
            QString error;
            auto storage = Storage::open(settings, &error);
            if (!storage) {
                ++failures;
                return;
            }
            for (int i = 0; i < kDevicesPerWriter; ++i) {
                const QString device = QStringLiteral("%1%2")
                                           .arg(id, 8, 16, QLatin1Char('0'))
                                           .arg(i, 16, 16, QLatin1Char('0'));
                QList<AccountCredentials> credentials;
                if (!storage->setChannelUri(device, kChannel, 2) ||
                    storage->setAccounts(
                        device, 2,
                        {{QStringLiteral("a"), QString()}, {QStringLiteral("b"), QString()}},
                        &credentials) != Storage::SetAccountsResult::Ok)
                    ++failures;
            }
        };
        std::unique_ptr<QThread> first(QThread::create(writer, 1));
        std::unique_ptr<QThread> second(QThread::create(writer, 2));
        first->start();
        second->start();
        QVERIFY(first->wait(60000));
        QVERIFY(second->wait(60000));
        QCOMPARE(failures.load(), 0);
        // The first connection sees both writers' work.
        QCOMPARE(main->deviceCount(), 2 * kDevicesPerWriter);
        QCOMPARE(main->accountCount(), 4 * kDevicesPerWriter);
    }
};

QTEST_GUILESS_MAIN(StorageTest)
#include "tst_storage.moc"

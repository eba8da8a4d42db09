// StoreAdmin, the operator's operations, on SQLite: which keys forget-jid
// finds, what a backup file looks like, and the rules an import keeps. The
// tool itself, on SQLite and PostgreSQL, is tests/pushctl.

#include "identity.h"
#include "storageconnection.h"
#include "storeadmin.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace uwpx;

namespace {

const QString kChannel = QStringLiteral("https://db5p.notify.windows.com/?token=A");

QString sha256(const QString &text) {
    return QString::fromLatin1(
        QCryptographicHash::hash(text.toUtf8(), QCryptographicHash::Sha256).toHex());
}

QString device(int n) {
    return QStringLiteral("%1").arg(n, 32, 16, QLatin1Char('0'));
}

} // namespace

class TestStoreAdmin : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_counter = 0;

    StorageSettings freshSettings() {
        StorageSettings settings;
        settings.path = m_dir.filePath(QStringLiteral("store-%1.db").arg(++m_counter));
        return settings;
    }

    // Accounts stored under `keys` on `deviceId`, as registrations would.
    static void addAccounts(StorageConnection &connection, const QString &deviceId,
                            const QStringList &keys) {
        QVERIFY(connection.setChannelUri(deviceId, kChannel, 2).isOk());
        QList<AccountSpec> specs;
        for (const QString &key : keys)
            specs << AccountSpec{key, QStringLiteral("example.org")};
        QVERIFY(connection.setAccounts(deviceId, 2, specs).isOk());
    }

private Q_SLOTS:
    void forgetsEveryHashOfTheAddress() {
        const StorageSettings settings = freshSettings();
        QString error;
        auto connection = StorageConnection::open(settings, &error);
        QVERIFY2(connection, qPrintable(error));
        const QString jid = QStringLiteral("Alice@Example.org");
        const QString a = device(1), b = device(2), c = device(3);
        // The daemon's v1 key (lowercased JID); UWPX's v2 id hashed with the
        // client's own (uppercase) spelling of its device id; the Python
        // server's hash of the JID as typed; and someone else's account.
        addAccounts(*connection, a,
                    {accountKeyForBareJid(a, jid), accountKeyForBareJid(a, "bob@example.org")});
        addAccounts(*connection, b, {sha256(b.toUpper() + jid.toLower())});
        addAccounts(*connection, c, {sha256(c + jid)});
        connection.reset();

        auto admin = StoreAdmin::open(settings, &error);
        QVERIFY2(admin, qPrintable(error));
        const StorageResult<int> removed = admin->forgetBareJid(jid);
        QVERIFY(removed.isOk());
        QCOMPARE(removed.value(), 3);
        QCOMPARE(admin->device(a)->accounts.size(), 1);
        QCOMPARE(admin->device(a)->accounts.first().key,
                 accountKeyForBareJid(a, QStringLiteral("bob@example.org")));
        QCOMPARE(admin->device(b)->accounts.size(), 0);
        QCOMPARE(admin->forgetBareJid(jid).value(), 0);
    }

    void backupIsPrivateWholeAndNeverOverwrites() {
        const StorageSettings settings = freshSettings();
        QString error;
        auto connection = StorageConnection::open(settings, &error);
        QVERIFY2(connection, qPrintable(error));
        addAccounts(*connection, device(7), {QStringLiteral("k")});
        connection.reset();
        auto admin = StoreAdmin::open(settings, &error);
        QVERIFY2(admin, qPrintable(error));

        const QString copy = m_dir.filePath(QStringLiteral("backups/copy.db"));
        QVERIFY(QDir().mkpath(QFileInfo(copy).absolutePath()));
        const mode_t old = ::umask(0); // the copy is 0600 whatever the umask
        const StorageResult<> done = admin->backupTo(copy);
        ::umask(old);
        QVERIFY2(done.isOk(), qPrintable(done.error()));
        struct stat status {};
        QCOMPARE(::stat(QFile::encodeName(copy).constData(), &status), 0);
        QCOMPARE(status.st_mode & 07777, mode_t(0600));
        QCOMPARE(QDir(QFileInfo(copy).absolutePath()).entryList(QDir::Files),
                 QStringList{QStringLiteral("copy.db")});
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), "copy");
            db.setDatabaseName(copy);
            QVERIFY(db.open());
            QSqlQuery query(db);
            QVERIFY(query.exec(QStringLiteral("SELECT COUNT(*) FROM accounts")) && query.next());
            QCOMPARE(query.value(0).toInt(), 1);
        }
        QSqlDatabase::removeDatabase(QStringLiteral("copy"));

        const qint64 size = QFileInfo(copy).size();
        QVERIFY(admin->backupTo(copy).isFailed());
        QCOMPARE(QFileInfo(copy).size(), size);
        QVERIFY(admin->backupTo(m_dir.filePath(QStringLiteral("no/such/dir/x.db"))).isFailed());
    }

    void importKeepsWhatIsThereAndRollsBackDryRuns() {
        const StorageSettings settings = freshSettings();
        QString error;
        auto connection = StorageConnection::open(settings, &error);
        QVERIFY2(connection, qPrintable(error));
        // Registered here first, with a new channel and a node of its own.
        const QString here = device(10);
        QVERIFY(connection->setChannelUri(here, kChannel + "new", 2).isOk());
        const auto own = connection->setAccounts(here, 2, {{QStringLiteral("own"), {}}});
        QVERIFY(own.isOk());
        connection.reset();
        auto admin = StoreAdmin::open(settings, &error);
        QVERIFY2(admin, qPrintable(error));

        const QString node171(171, QLatin1Char('n'));
        const QString secret256(256, QLatin1Char('s'));
        const QList<ImportedDevice> source = {
            {device(10),
             kChannel + "old",
             2,
             {{QStringLiteral("imported"), {}, node171, secret256, "a"}},
             "d10"},
            {device(11),
             kChannel,
             1,
             {{QStringLiteral("taken"), QStringLiteral("example.org"), own->first().node,
               QStringLiteral("x"), "b"}},
             "d11"},
        };
        const auto dry = admin->importDevices(source, true);
        QVERIFY(dry.isOk());
        QCOMPARE(admin->device(device(11)).status(), StorageStatus::NotFound);
        QCOMPARE(admin->device(here)->accounts.size(), 1);

        const auto report = admin->importDevices(source, false);
        QVERIFY(report.isOk());
        QStringList outcomes;
        for (const ImportReport::Item &item : report->items)
            outcomes << (item.imported ? QStringLiteral("imported") : item.reason);
        QCOMPARE(outcomes, (QStringList{QStringLiteral("known here with another channel; kept"),
                                        QStringLiteral("imported"), QStringLiteral("imported"),
                                        QStringLiteral("another account here has this node")}));
        const StoredDevice kept = admin->device(here).value();
        QCOMPARE(kept.channelUri, kChannel + "new");
        QCOMPARE(kept.accounts.size(), 2);
        const auto imported =
            std::find_if(kept.accounts.cbegin(), kept.accounts.cend(),
                         [](const StoredAccount &a) { return a.key == "imported"; });
        QVERIFY(imported != kept.accounts.cend());
        QCOMPARE(imported->node, node171);
        QCOMPARE(imported->secret, secret256);
        QCOMPARE(admin->device(device(11))->protocolVersion, 1);

        const auto again = admin->importDevices(source, false);
        QVERIFY(again.isOk());
        for (const ImportReport::Item &item : again->items)
            QVERIFY2(!item.imported, qPrintable(item.where));
    }
};

QTEST_GUILESS_MAIN(TestStoreAdmin)
#include "tst_storeadmin.moc"

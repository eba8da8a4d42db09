// Storage, the asynchronous service in front of the connections: answers
// come back on the caller's thread and never inside the call, lookups that
// wait together each get their own answer, an operation answers within the
// timeout whatever the database does, the queue is bounded, and nothing is
// delivered after the service is gone. (How the whole daemon rides out a
// hung or refusing database: tests/daemon/tst_outage.cpp.)

#include "storage.h"
#include "storageconnection.h"
#include "storageresults.h"

#include <QElapsedTimer>
#include <QRegularExpression>
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

// Holds SQLite's write lock from another connection, as a second instance
// or the backup tool does, until destroyed.
class WriteLockHolder {
public:
    explicit WriteLockHolder(const QString &path)
        : m_thread(QThread::create([this, path] {
            {
                QSqlDatabase db =
                    QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("holder"));
                db.setDatabaseName(path);
                if (db.open()) {
                    QSqlQuery query(db);
                    m_locked = query.exec(QStringLiteral("BEGIN IMMEDIATE"));
                    while (!m_release)
                        QThread::msleep(10);
                    query.exec(QStringLiteral("ROLLBACK"));
                }
            }
            QSqlDatabase::removeDatabase(QStringLiteral("holder"));
        })) {
        m_thread->start();
    }
    ~WriteLockHolder() {
        m_release = true;
        m_thread->wait();
    }
    bool isLocked() const { return m_locked; }

private:
    std::atomic<bool> m_locked{false};
    std::atomic<bool> m_release{false};
    std::unique_ptr<QThread> m_thread;
};

} // namespace

class StorageServiceTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_counter = 0;
    StorageSettings m_settings;
    std::unique_ptr<StorageConnection> m_store; // the fixture, written directly
    QList<AccountCredentials> m_accounts;

private Q_SLOTS:
    void init() {
        // Qt's complaints about objects used from the wrong thread are bugs.
        QTest::failOnWarning(QRegularExpression(QStringLiteral("^QObject::")));
        QVERIFY(m_dir.isValid());
        m_settings = StorageSettings();
        m_settings.path = m_dir.filePath(QStringLiteral("db%1/push.db").arg(++m_counter));
        m_settings.timeoutMs = 1000;
        QString error;
        m_store = StorageConnection::open(m_settings, &error);
        QVERIFY2(m_store, qPrintable(error));
        QVERIFY(m_store->setChannelUri(kDevice, kChannel, 2).isOk());
        QList<AccountSpec> specs;
        for (int i = 0; i < 50; ++i)
            specs << AccountSpec{QStringLiteral("account-%1").arg(i), QString()};
        QCOMPARE(test::setAccounts(*m_store, kDevice, 2, specs, &m_accounts), StorageStatus::Ok);
    }

    void cleanup() { m_store.reset(); }

    void answersOnTheCallersThreadAndNeverInsideTheCall() {
        QString error;
        auto storage = Storage::open(m_settings, &error);
        QVERIFY2(storage, qPrintable(error));
        bool inside = true;
        QThread *answeredOn = nullptr;
        storage->findByNode(m_accounts[0].node, [&](const StorageResult<PushTarget> &found) {
            QVERIFY(!inside);
            QVERIFY(found.isOk());
            answeredOn = QThread::currentThread();
        });
        inside = false;
        QTRY_VERIFY(answeredOn);
        QCOMPARE(answeredOn, QThread::currentThread());
    }

    // Lookups arriving together share round trips; each still gets its own
    // answer, whether its node exists or not.
    void lookupsArrivingTogetherEachGetTheirOwnAnswer() {
        QString error;
        auto storage = Storage::open(m_settings, &error);
        QVERIFY2(storage, qPrintable(error));
        constexpr int kLookups = 500;
        int answered = 0;
        int wrong = 0;
        for (int i = 0; i < kLookups; ++i) {
            const bool known = i % 3 != 0;
            const AccountCredentials &account = m_accounts[i % m_accounts.size()];
            const QString node = known ? account.node : QStringLiteral("unknown-%1").arg(i);
            storage->findByNode(node, [&, known, account](const StorageResult<PushTarget> &found) {
                ++answered;
                if (known ? !found.isOk() || found->secret != account.secret ||
                                found->accountKey != account.key
                          : !found.isNotFound())
                    ++wrong;
            });
        }
        QTRY_COMPARE(answered, kLookups);
        QCOMPARE(wrong, 0);
    }

    // The database does not answer (here: a write waits for a lock another
    // connection holds): the caller hears within the timeout, and the
    // service reports the store unavailable until writes work again.
    void answersWithinTheTimeoutWhateverTheDatabaseDoes() {
        QString error;
        auto storage = Storage::open(m_settings, &error);
        QVERIFY2(storage, qPrintable(error));
        QVERIFY(storage->isAvailable());
        std::optional<WriteLockHolder> holder(std::in_place, m_settings.path);
        QTRY_VERIFY(holder->isLocked());
        QElapsedTimer clock;
        clock.start();
        std::optional<StorageResult<bool>> stored;
        storage->setChannelUri(kDevice, kChannel, 2,
                               [&](const StorageResult<bool> &result) { stored = result; });
        QTRY_VERIFY_WITH_TIMEOUT(stored.has_value(), 5000);
        QVERIFY(stored->isFailed());
        QVERIFY2(clock.elapsed() < m_settings.timeoutMs + 500,
                 qPrintable(QString::number(clock.elapsed())));
        QVERIFY(!storage->isAvailable());
        holder.reset();
        stored.reset();
        storage->setChannelUri(kDevice, kChannel, 2,
                               [&](const StorageResult<bool> &result) { stored = result; });
        QTRY_VERIFY_WITH_TIMEOUT(stored.has_value(), 5000);
        QVERIFY(stored->isOk());
        QVERIFY(storage->isAvailable());
    }

    // A database that does not answer fills no memory without bound: past a
    // limit, operations fail at once.
    void boundsWhatWaits() {
        QString error;
        auto storage = Storage::open(m_settings, &error);
        QVERIFY2(storage, qPrintable(error));
        WriteLockHolder holder(m_settings.path);
        QTRY_VERIFY(holder.isLocked());
        int refused = 0;
        int answered = 0;
        constexpr int kWrites = 25000;
        for (int i = 0; i < kWrites; ++i)
            storage->refreshDevice(kDevice, [&](const StorageResult<> &result) {
                ++answered;
                if (result.error().contains(QStringLiteral("too many")))
                    ++refused;
            });
        QTRY_COMPARE_WITH_TIMEOUT(answered, kWrites, 10000);
        QVERIFY2(refused > 0, "every write was queued");
    }

    void deliversNothingOnceDestroyed() {
        QString error;
        auto storage = Storage::open(m_settings, &error);
        QVERIFY2(storage, qPrintable(error));
        bool called = false;
        for (const AccountCredentials &account : std::as_const(m_accounts))
            storage->findByNode(account.node,
                                [&](const StorageResult<PushTarget> &) { called = true; });
        storage.reset();
        QCoreApplication::processEvents();
        QTest::qWait(50); // an absence has no signal: anything queued would run by now
        QVERIFY(!called);
    }
};

QTEST_GUILESS_MAIN(StorageServiceTest)
#include "tst_storageservice.moc"

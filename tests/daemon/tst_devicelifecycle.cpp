// How long a device stays (docs/protocol.md): refreshed when WNS accepts a push for it
// (at most once a day, so pushes do not cost a write each), removed when its
// channel is gone or it has not been refreshed for expire_days.

#include "devicelifecycle.h"
#include "storage.h"
#include "storageconnection.h"
#include "storageresults.h"

#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;

namespace {

const QString kDevice = QStringLiteral("00112233445566778899aabbccddeeff");
const QString kChannel = QStringLiteral("https://db5p.notify.windows.com/?token=AwYAAAB");

} // namespace

class DeviceLifecycleTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_counter = 0;
    QString m_dbPath;
    std::unique_ptr<StorageConnection> m_store; // the fixture, read and written directly
    std::unique_ptr<Storage> m_storage;         // what the code under test uses
    QString m_node;

    // Sets the device's last refresh behind Storage's back, as time passing would.
    void age(const QString &deviceId, int days) {
        {
            QSqlDatabase db =
                QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("clock"));
            db.setDatabaseName(m_dbPath);
            QVERIFY(db.open());
            QSqlQuery query(db);
            QVERIFY(query.prepare(
                QStringLiteral("UPDATE devices SET updated_at = ? WHERE device_id = ?")));
            query.addBindValue(QDateTime::currentDateTimeUtc().addDays(-days).toMSecsSinceEpoch());
            query.addBindValue(deviceId);
            QVERIFY(query.exec());
            QCOMPARE(query.numRowsAffected(), 1);
        }
        QSqlDatabase::removeDatabase(QStringLiteral("clock"));
    }

    QDateTime refreshedAt() {
        PushTarget target;
        if (test::findByNode(*m_store, m_node, &target) != StorageStatus::Ok)
            return {};
        return target.deviceRefreshedAt;
    }

    // Waits until everything queued on m_storage so far has run: it has one
    // connection, so its operations run in the order they were queued.
    void settle() {
        bool done = false;
        m_storage->deviceCount([&done](const StorageResult<qint64> &) { done = true; });
        QTRY_VERIFY(done);
    }

    static qint64 daysAgo(const QDateTime &when) {
        return when.daysTo(QDateTime::currentDateTimeUtc());
    }

private Q_SLOTS:
    void init() {
        QVERIFY(m_dir.isValid());
        StorageSettings settings;
        m_dbPath = m_dir.filePath(QStringLiteral("db%1/push.db").arg(++m_counter));
        settings.path = m_dbPath;
        settings.connections = 1; // see settle()
        QString error;
        m_store = StorageConnection::open(settings, &error);
        QVERIFY2(m_store, qPrintable(error));
        m_storage = Storage::open(settings, &error);
        QVERIFY2(m_storage, qPrintable(error));
        QVERIFY(m_store->setChannelUri(kDevice, kChannel, 2).isOk());
        QList<AccountCredentials> credentials;
        QCOMPARE(test::setAccounts(*m_store, kDevice, 2,
                                   {AccountSpec{QStringLiteral("a"), QString()}}, &credentials),
                 StorageStatus::Ok);
        m_node = credentials.first().node;
    }

    void cleanup() {
        m_storage.reset();
        m_store.reset();
    }

    void aReachedDeviceOutlivesItsSilentClient() {
        // The client has not sent anything for 160 days, but its pushes arrive.
        age(kDevice, 160);
        DeviceLifecycle devices(*m_storage, 150);
        devices.onDeviceReached(kDevice, refreshedAt());
        settle();
        QCOMPARE(daysAgo(refreshedAt()), 0);
        devices.removeExpiredDevices();
        settle();
        QVERIFY(m_store->channelUri(kDevice).isOk());
    }

    void aDeviceRefreshedTodayIsNotWrittenAgain() {
        age(kDevice, 0);
        const QDateTime before = refreshedAt();
        QTest::qWait(5); // a write now would store a later time than `before`
        DeviceLifecycle devices(*m_storage, 180);
        devices.onDeviceReached(kDevice, before);
        settle();
        QCOMPARE(refreshedAt(), before);
    }

    void removesDevicesNotRefreshedForExpireDays() {
        const QString recent = QStringLiteral("aaaaaaaaaaaaaaaa");
        QVERIFY(m_store->setChannelUri(recent, kChannel, 2).isOk());
        age(kDevice, 181);
        age(recent, 179);
        DeviceLifecycle devices(*m_storage, 180);
        devices.start();
        settle();
        QCOMPARE(refreshedAt(), QDateTime()); // its accounts went with it
        QCOMPARE(test::valueOf(m_store->deviceCount()), 1);
        QVERIFY(m_store->channelUri(recent).isOk());
    }

    void removesADeviceWhoseChannelIsGone() {
        DeviceLifecycle devices(*m_storage, 180);
        devices.onChannelGone(kDevice);
        settle();
        QVERIFY(m_store->channelUri(kDevice).isNotFound());
        QCOMPARE(test::valueOf(m_store->accountCount()), 0);
    }
};

QTEST_GUILESS_MAIN(DeviceLifecycleTest)
#include "tst_devicelifecycle.moc"

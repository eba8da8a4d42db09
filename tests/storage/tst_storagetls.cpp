// PostgreSQL over TLS ([storage] sslmode, ssl_root_cert): run through
// `with-postgresql.sh --tls`, whose server takes TCP connections over TLS
// only, with a certificate its own CA signed for 127.0.0.1 and no name.
// verify-full reaches it; a certificate that does not match (another name,
// another CA) is refused with a message that says what to check.

#include "storage.h"
#include "testpki.h"

#include <QSignalSpy>
#include <QSqlDatabase>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;

namespace {

QString env(const char *name) {
    return qEnvironmentVariable(name);
}

} // namespace

class StorageTlsTest : public QObject {
    Q_OBJECT

private:
    StorageSettings m_base;

    // Opens the store with `mode` and `rootCert` against `host`; the error
    // when it cannot.
    QString openWith(const QString &mode, const QString &rootCert,
                     const QString &host = QStringLiteral("127.0.0.1")) {
        StorageSettings settings = m_base;
        settings.sslMode = mode;
        settings.sslRootCert = rootCert;
        settings.host = host;
        QString error;
        std::unique_ptr<Storage> storage = Storage::open(settings, &error);
        if (!storage)
            return error.isEmpty() ? QStringLiteral("(no error text)") : error;
        // It serves: a count goes through the workers' own connections.
        bool answered = false, ok = false;
        storage->deviceCount([&](const StorageResult<qint64> &result) {
            answered = true;
            ok = result.isOk();
        });
        if (!QTest::qWaitFor([&] { return answered; }, 10000) || !ok)
            return QStringLiteral("opened, but a count failed");
        return {};
    }

private Q_SLOTS:
    void initTestCase() {
        // Fail, never skip, when the cluster is not there.
        QVERIFY2(!env("UWPX_TEST_PG_CA").isEmpty(),
                 "UWPX_TEST_PG_CA is not set: run the suite through with-postgresql.sh --tls");
        QVERIFY2(QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")),
                 "the Qt PostgreSQL driver (libqt6sql6-psql) is not installed");
        m_base.driver = QStringLiteral("postgresql");
        m_base.port = env("UWPX_TEST_PG_PORT").toInt();
        m_base.database = env("UWPX_TEST_PG_DATABASE");
        m_base.user = env("UWPX_TEST_PG_USER");
        m_base.password = env("UWPX_TEST_PG_PASSWORD");
        m_base.connections = 1;
    }

    void verifyFullReachesTheServer() {
        const QString error = openWith(QStringLiteral("verify-full"), env("UWPX_TEST_PG_CA"));
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }

    // The server refuses connections without TLS: the one above was encrypted.
    void theServerTakesTlsOnly() {
        const QString error = openWith(QStringLiteral("disable"), QString());
        QVERIFY(!error.isEmpty());
        QVERIFY2(error.contains(QStringLiteral("no encryption")), qPrintable(error));
    }

    // The certificate names 127.0.0.1, not "localhost".
    void verifyFullRefusesAnotherName() {
        const QString error = openWith(QStringLiteral("verify-full"), env("UWPX_TEST_PG_CA"),
                                       QStringLiteral("localhost"));
        QVERIFY(!error.isEmpty());
        QVERIFY2(error.contains(QStringLiteral("does not match host name")), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("[storage] sslmode = verify-full")) &&
                     error.contains(QStringLiteral("name the host 'localhost'")),
                 qPrintable(error));
    }

    // verify-ca checks the signature only.
    void verifyCaTakesAnyName() {
        const QString error = openWith(QStringLiteral("verify-ca"), env("UWPX_TEST_PG_CA"),
                                       QStringLiteral("localhost"));
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }

    void verifyingRefusesAnotherCa_data() {
        QTest::addColumn<QString>("mode");
        QTest::newRow("verify-full") << QStringLiteral("verify-full");
        QTest::newRow("verify-ca") << QStringLiteral("verify-ca");
    }

    void verifyingRefusesAnotherCa() {
        QFETCH(QString, mode);
        QTemporaryDir dir;
        test::TestPki other;
        QString why;
        QVERIFY2(test::TestPki::create(dir.path(), &other, &why), qPrintable(why));
        const QString error = openWith(mode, other.caCertificate);
        QVERIFY(!error.isEmpty());
        QVERIFY2(error.contains(QStringLiteral("certificate verify failed")), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("signed by the CA in ssl_root_cert")),
                 qPrintable(error));
    }

    // require encrypts without checking who answers.
    void requireEncryptsWithoutACa() {
        const QString error = openWith(QStringLiteral("require"), QString());
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(StorageTlsTest)
#include "tst_storagetls.moc"

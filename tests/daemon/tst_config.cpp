// The configuration file (docs/configuration.md): every key checked, every problem named by
// file, section and key, and the command line's --check-config.

#include "config.h"
#include "testconfig.h"

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;

class ConfigTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    static QString write(const QString &path, const QByteArray &text) {
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return QString();
        file.write(text);
        return path;
    }

    static QStringList problemsOf(const QString &path, QStringList *warnings = nullptr) {
        Config config;
        QStringList errors, ignored;
        Config::load(path, &config, &errors, warnings ? warnings : &ignored);
        return errors;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void loadsAValidFile() {
        const QString path = test::writeConfig(
            m_dir.path(), {{QStringLiteral("registration/listen"), QStringLiteral("[::1]:2000")},
                           {QStringLiteral("wns/channel_hosts"),
                            QStringLiteral("\"*.notify.windows.com, 127.0.0.1\"")}});
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        QVERIFY(warnings.isEmpty());
        QCOMPARE(config.xmpp.componentJid, QStringLiteral("push.localhost"));
        QCOMPARE(config.xmpp.port, quint16(9));
        QCOMPARE(config.registration.address, QHostAddress(QStringLiteral("::1")));
        QCOMPARE(config.registration.port, quint16(2000));
        QCOMPARE(config.storage.expireDays, 30);
        QCOMPARE(config.wns.channelHosts, QStringList({QStringLiteral("*.notify.windows.com"),
                                                       QStringLiteral("127.0.0.1")}));
    }

    // UWPX re-registers only when its channel or accounts change: a device
    // may be silent for months while its pushes work (docs/protocol.md).
    void keepsDevicesHalfAYearByDefault() {
        const QString path =
            test::writeConfig(m_dir.path(), {{QStringLiteral("storage/expire_days"), QString()}});
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        QCOMPARE(config.storage.expireDays, 180);
    }

    // The link returns within a couple of seconds of the XMPP server, however
    // long it was away; the store answers within seconds whatever it does.
    void defaultsToShortWaits() {
        const QString path = test::writeConfig(m_dir.path());
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        QCOMPARE(config.xmpp.reconnectMaxMs, 2000);
        QCOMPARE(config.storage.timeoutMs, 3000);
        QCOMPARE(config.storage.connections, 4);
        const QString tuned = test::writeConfig(
            m_dir.path(), {{QStringLiteral("xmpp/reconnect_max_delay"), QStringLiteral("5")},
                           {QStringLiteral("storage/timeout"), QStringLiteral("7")},
                           {QStringLiteral("storage/connections"), QStringLiteral("9")}});
        QVERIFY2(Config::load(tuned, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        QCOMPARE(config.xmpp.reconnectMaxMs, 5000);
        QCOMPARE(config.storage.timeoutMs, 7000);
        QCOMPARE(config.storage.connections, 9);
    }

    // Off unless set; addresses alone and CIDRs, comma-separated, both families.
    void readsTheTrustedLoadBalancers() {
        Config config;
        QStringList errors, warnings;
        QVERIFY(Config::load(test::writeConfig(m_dir.path()), &config, &errors, &warnings));
        QVERIFY(config.registration.proxyProtocolFrom.isEmpty());
        const QString path = test::writeConfig(
            m_dir.path(), {{QStringLiteral("registration/proxy_protocol_from"),
                            QStringLiteral("10.0.0.5, 192.168.1.0/24,fd00::/64")}});
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        using Subnet = QPair<QHostAddress, int>;
        QCOMPARE(config.registration.proxyProtocolFrom,
                 QList<Subnet>({{QHostAddress(QStringLiteral("10.0.0.5")), 32},
                                {QHostAddress(QStringLiteral("192.168.1.0")), 24},
                                {QHostAddress(QStringLiteral("fd00::")), 64}}));
    }

    // TLS to PostgreSQL: libpq's default (prefer) unless set; verifying the
    // server needs the CA that signed its certificate.
    void readsTheDatabaseTls() {
        Config config;
        QStringList errors, warnings;
        QVERIFY(Config::load(test::writeConfig(m_dir.path()), &config, &errors, &warnings));
        QCOMPARE(config.storage.sslMode, QStringLiteral("prefer"));
        QVERIFY(config.storage.sslRootCert.isEmpty());
        const QString ca = m_dir.filePath(QStringLiteral("ca.pem"));
        const QMap<QString, QString> postgresql{
            {QStringLiteral("storage/driver"), QStringLiteral("postgresql")},
            {QStringLiteral("storage/sslmode"), QStringLiteral("verify-full")}};
        QMap<QString, QString> keys = postgresql;
        keys.insert(QStringLiteral("storage/ssl_root_cert"), ca);
        QVERIFY2(Config::load(test::writeConfig(m_dir.path(), keys), &config, &errors, &warnings),
                 qPrintable(errors.join('\n')));
        QCOMPARE(config.storage.sslMode, QStringLiteral("verify-full"));
        QCOMPARE(config.storage.sslRootCert, ca);
        const QStringList problems = problemsOf(test::writeConfig(m_dir.path(), postgresql));
        QCOMPARE(problems.size(), 1);
        QVERIFY2(problems.first().contains(QStringLiteral("[storage] ssl_root_cert: is required")),
                 qPrintable(problems.first()));
    }

    void readsTheSpecsInlineComments() {
        // The layout of docs/configuration.md: values followed by "; comment".
        const QString base = test::writeConfig(m_dir.path());
        QFile file(base);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QByteArray text = file.readAll();
        text.replace("component_jid = push.localhost",
                     "component_jid = push.example.org   ; the component's JID");
        text.replace("expire_days = 30", "expire_days = 12     ; devices not refreshed");
        const QString path = write(m_dir.filePath(QStringLiteral("inline.ini")), text);
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        QCOMPARE(config.xmpp.componentJid, QStringLiteral("push.example.org"));
        QCOMPARE(config.storage.expireDays, 12);
    }

    void namesEachBadKey_data() {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("expected");
        QTest::newRow("port out of range") << "xmpp/port"
                                           << "70000"
                                           << "[xmpp] port";
        QTest::newRow("port not a number") << "xmpp/port"
                                           << "abc"
                                           << "[xmpp] port";
        QTest::newRow("component_jid with local part") << "xmpp/component_jid"
                                                       << "user@push.example.org"
                                                       << "[xmpp] component_jid";
        QTest::newRow("no component_jid") << "xmpp/component_jid"
                                          << ""
                                          << "[xmpp] component_jid";
        QTest::newRow("no secret") << "xmpp/secret"
                                   << ""
                                   << "[xmpp] secret";
        QTest::newRow("placeholder secret") << "xmpp/secret"
                                            << "change-me"
                                            << "[xmpp] secret";
        QTest::newRow("reconnect_max_delay zero") << "xmpp/reconnect_max_delay"
                                                  << "0"
                                                  << "[xmpp] reconnect_max_delay";
        QTest::newRow("storage timeout too long") << "storage/timeout"
                                                  << "600"
                                                  << "[storage] timeout";
        QTest::newRow("no storage connections") << "storage/connections"
                                                << "0"
                                                << "[storage] connections";
        QTest::newRow("listen without port") << "registration/listen"
                                             << "0.0.0.0"
                                             << "[registration] listen";
        QTest::newRow("listen on a name") << "registration/listen"
                                          << "nowhere:1997"
                                          << "[registration] listen";
        QTest::newRow("missing certificate") << "registration/certificate"
                                             << "/nonexistent/cert.pem"
                                             << "[registration] certificate";
        // One problem, at once: QSslCertificate::fromPath would search the
        // tree below a directory (found by fuzz_config).
        QTest::newRow("certificate is a directory") << "registration/certificate"
                                                    << "/usr/"
                                                    << "[registration] certificate";
        QTest::newRow("private_key is a device") << "registration/private_key"
                                                 << "/dev/zero"
                                                 << "[registration] private_key";
        QTest::newRow("idle_timeout zero") << "registration/idle_timeout"
                                           << "0"
                                           << "[registration] idle_timeout";
        QTest::newRow("proxy_protocol_from with a name") << "registration/proxy_protocol_from"
                                                         << "10.0.0.5, balancer.example.org"
                                                         << "[registration] proxy_protocol_from";
        QTest::newRow("proxy_protocol_from with a bad prefix")
            << "registration/proxy_protocol_from"
            << "10.0.0.0/33"
            << "[registration] proxy_protocol_from";
        QTest::newRow("keepalives_idle zero") << "storage/keepalives_idle"
                                              << "0"
                                              << "[storage] keepalives_idle";
        QTest::newRow("keepalives_count not a number") << "storage/keepalives_count"
                                                       << "many"
                                                       << "[storage] keepalives_count";
        QTest::newRow("sslmode unknown") << "storage/sslmode"
                                         << "verify"
                                         << "[storage] sslmode";
        QTest::newRow("missing ssl_root_cert") << "storage/ssl_root_cert"
                                               << "/nonexistent/ca.pem"
                                               << "[storage] ssl_root_cert";
        QTest::newRow("ssl_root_cert holds no certificate") << "storage/ssl_root_cert"
                                                            << "/etc/hostname"
                                                            << "[storage] ssl_root_cert";
        QTest::newRow("unknown driver") << "storage/driver"
                                        << "mysql"
                                        << "[storage] driver";
        QTest::newRow("expire_days zero") << "storage/expire_days"
                                          << "0"
                                          << "[storage] expire_days";
        QTest::newRow("placeholder package_sid") << "wns/package_sid"
                                                 << "ms-app://s-1-15-2-..."
                                                 << "[wns] package_sid";
        QTest::newRow("placeholder client_secret") << "wns/client_secret"
                                                   << "change-me"
                                                   << "[wns] client_secret";
        QTest::newRow("plain http token_url") << "wns/token_url"
                                              << "http://login.live.com/x"
                                              << "[wns] token_url";
        QTest::newRow("no channel hosts") << "wns/channel_hosts"
                                          << "\" , \""
                                          << "[wns] channel_hosts";
        QTest::newRow("missing ca_file") << "wns/ca_file"
                                         << "/nonexistent/ca.pem"
                                         << "[wns] ca_file";
        QTest::newRow("ca_file is a directory") << "wns/ca_file"
                                                << "/usr/"
                                                << "[wns] ca_file";
        QTest::newRow("no connections per host") << "wns/connections_per_host"
                                                 << "0"
                                                 << "[wns] connections_per_host";
        QTest::newRow("unknown log level") << "log/level"
                                           << "verbose"
                                           << "[log] level";
    }

    // What a reload compares: the values in effect, defaults included, so
    // that writing a default out or a number as "060" is no change.
    void comparesTheValuesInEffect() {
        QTemporaryDir dir;
        Config a, b, c;
        QStringList errors, warnings;
        QVERIFY(Config::load(test::writeConfig(dir.path()), &a, &errors, &warnings));
        QVERIFY(
            Config::load(test::writeConfig(dir.path(), {{"registration/max_connections", "01000"},
                                                        {"log/level", "INFO"}}),
                         &b, &errors, &warnings));
        QCOMPARE(Config::changedKeys(a, b), QStringList());
        QCOMPARE(b.log.level, LogLevel::Info);
        QVERIFY(Config::load(
            test::writeConfig(dir.path(), {{"xmpp/port", "10"}, {"log/level", "warning"}}), &c,
            &errors, &warnings));
        QCOMPARE(Config::changedKeys(a, c),
                 QStringList({QStringLiteral("log/level"), QStringLiteral("xmpp/port")}));
        QCOMPARE(c.log.level, LogLevel::Warning);
        QVERIFY2(errors.isEmpty(), qPrintable(errors.join('\n')));
    }

    void namesEachBadKey() {
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const QString path = test::writeConfig(dir.path(), {{key, value}});
        const QStringList errors = problemsOf(path);
        QCOMPARE(errors.size(), 1);
        QVERIFY2(errors.first().contains(expected), qPrintable(errors.first()));
        QVERIFY(errors.first().startsWith(path));
    }

    void refusesAKeyThatIsNoKey() {
        QTemporaryDir dir;
        const QString ca = dir.filePath(QStringLiteral("ca.pem"));
        const QString path =
            test::writeConfig(dir.path(), {{QStringLiteral("registration/private_key"), ca}});
        const QStringList errors = problemsOf(path);
        QCOMPARE(errors.size(), 1);
        QVERIFY(errors.first().contains(QStringLiteral("[registration] private_key")));
    }

    void namesAMissingFile() {
        const QString path = m_dir.filePath(QStringLiteral("missing.ini"));
        const QStringList errors = problemsOf(path);
        QCOMPARE(errors.size(), 1);
        QVERIFY(errors.first().contains(path));
    }

    void warnsAboutUnknownKeys() {
        const QString path =
            test::writeConfig(m_dir.path(), {{QStringLiteral("xmpp/secert"), QStringLiteral("x")}});
        QStringList warnings;
        QVERIFY(problemsOf(path, &warnings).isEmpty());
        QCOMPARE(warnings.size(), 1);
        QVERIFY(warnings.first().contains(QStringLiteral("[xmpp] secert")));
    }

    void checkConfigReportsTheExamplesPlaceholders() {
        QProcess process;
        process.start(QStringLiteral(UWPX_BINARY),
                      {QStringLiteral("--config"), QStringLiteral(UWPX_EXAMPLE_CONFIG),
                       QStringLiteral("--check-config")});
        QVERIFY(process.waitForFinished(30000));
        QCOMPARE(process.exitCode(), 1);
        const QString output = QString::fromUtf8(process.readAllStandardError());
        for (const char *key : {"[xmpp] secret", "[wns] package_sid", "[wns] client_secret",
                                "[registration] certificate", "[registration] private_key"})
            QVERIFY2(output.contains(QLatin1String(key)), qPrintable(output));
        QVERIFY2(!output.contains(QStringLiteral("unknown key")), qPrintable(output));
    }

    void checkConfigAcceptsAValidFile() {
        const QString path = test::writeConfig(m_dir.path());
        QProcess process;
        process.start(QStringLiteral(UWPX_BINARY),
                      {QStringLiteral("--config"), path, QStringLiteral("--check-config")});
        QVERIFY(process.waitForFinished(30000));
        QCOMPARE(process.exitCode(), 0);
    }

    void refusesToStartOnABadFile() {
        const QString path = m_dir.filePath(QStringLiteral("missing.ini"));
        QProcess process;
        process.start(QStringLiteral(UWPX_BINARY), {QStringLiteral("--config"), path});
        QVERIFY(process.waitForFinished(30000));
        QCOMPARE(process.exitCode(), 1);
        QVERIFY(QString::fromUtf8(process.readAllStandardError()).contains(path));
    }
};

QTEST_GUILESS_MAIN(ConfigTest)
#include "tst_config.moc"

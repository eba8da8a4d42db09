// The real daemon process when its host fails it: a database file it may only
// read, a -shm file truncated under its memory mapping, too few file
// descriptors. Each is something an operator meets on a bad day; each must end
// in a clear log line and a server that comes back, never silence.

#include "registrationclient.h"
#include "testconfig.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <functional>
#include <memory>
#include <vector>

#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace uwpx::test;

namespace {

const QString kDevice = QStringLiteral("0123456789abcdef");

// Root reads and writes every file whatever its mode, so a test about a file
// the daemon may not write runs the daemon as nobody when it runs as root.
void dropRootInChild() {
    if (::geteuid() != 0)
        return;
    constexpr gid_t kNogroup = 65534;
    constexpr uid_t kNobody = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0)
        ::_exit(125);
}

// For QProcess::setChildProcessModifier: the daemon starts with this
// RLIMIT_NOFILE (soft, hard).
std::function<void()> withDescriptorLimit(rlim_t soft, rlim_t hard) {
    return [soft, hard] {
        const rlimit limit{soft, hard};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
            ::_exit(125);
    };
}

qint64 cpuTicks(qint64 pid) {
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return -1;
    // The fields after the command name, which may contain spaces; utime and
    // stime are the 14th and 15th fields of the whole line.
    const QByteArray line = stat.readAll();
    const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
    return fields.size() > 12 ? fields.at(11).toLongLong() + fields.at(12).toLongLong() : -1;
}

} // namespace

class HostTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_config;

    QString caFile() const { return m_dir->filePath(QStringLiteral("ca.pem")); }

    // Starts the daemon and returns the registration port, or 0 if it did not
    // get that far; its log so far goes to `log`.
    quint16 start(QProcess &daemon, QByteArray *log) {
        daemon.start(QStringLiteral(UWPX_BINARY), {QStringLiteral("--config"), m_config});
        static const QRegularExpression listening(
            QStringLiteral("listening for registrations on .* port (\\d+)"));
        QRegularExpressionMatch match;
        [[maybe_unused]] const bool over = QTest::qWaitFor(
            [&] {
                *log += daemon.readAllStandardError();
                match = listening.match(QString::fromUtf8(*log));
                return match.hasMatch() || daemon.state() == QProcess::NotRunning;
            },
            20000);
        *log += daemon.readAllStandardError();
        return match.hasMatch() ? quint16(match.captured(1).toUInt()) : 0;
    }

    // `ok`, after printing the daemon's whole log if it is false: QtTest
    // shortens failure messages.
    static bool withLog(bool ok, QProcess &daemon, QByteArray *log) {
        *log += daemon.readAllStandardError();
        if (!ok)
            qWarning("%s", log->constData());
        return ok;
    }

    static QJsonObject setChannel(RegistrationClient &client) {
        return client.request({{"version", 1},
                               {"action", "set_channel_uri"},
                               {"device_id", kDevice},
                               {"channel_uri", "https://127.0.0.1/?token=1"}});
    }
    static QJsonObject setAccounts(RegistrationClient &client) {
        return client.request(
            {{"version", 1},
             {"action", "set_push_accounts"},
             {"device_id", kDevice},
             {"accounts", QJsonArray{QJsonObject{{"bare_jid", "user@host.example"}}}}});
    }

private Q_SLOTS:
    void init() {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_config = writeConfig(m_dir->path());
        QVERIFY(!m_config.isEmpty());
    }

    // Before, the server started, /health said the storage was fine, and
    // every registration failed.
    void refusesToStartOnADatabaseThatTakesNoWrites() {
        {
            QProcess first;
            QByteArray log;
            QVERIFY2(start(first, &log), log.constData()); // creates the database
            first.terminate();
            QVERIFY(first.waitForFinished(30000));
        }
        const QString db = m_dir->filePath(QStringLiteral("push.db"));
        QVERIFY(QFile::exists(db));
        // nobody may read everything and write nothing but the directory
        // (where SQLite keeps its -wal and -shm files).
        for (const QString &name : QDir(m_dir->path()).entryList(QDir::Files))
            QVERIFY(QFile::setPermissions(m_dir->filePath(name),
                                          QFile::ReadOwner | QFile::ReadGroup | QFile::ReadOther));
        QVERIFY(QFile::setPermissions(m_dir->path(), QFile::Permissions(0x7777)));

        QProcess daemon;
        daemon.setChildProcessModifier(dropRootInChild);
        QByteArray log;
        QCOMPARE(start(daemon, &log), quint16(0));
        QCOMPARE(daemon.state(), QProcess::NotRunning);
        log += daemon.readAllStandardError();
        QCOMPARE(daemon.exitStatus(), QProcess::NormalExit);
        // Not 1, the status of a configuration error, after which the unit
        // gives up (RestartPreventExitStatus=1): permissions can be fixed
        // without touching the configuration, and systemd tries again.
        QCOMPARE(daemon.exitCode(), 69);
        QVERIFY2(log.contains("cannot start: the sqlite database does not take writes"),
                 log.constData());
    }

    // SQLite maps push.db-shm; truncated under it, the next access raises
    // SIGBUS. Before, the process vanished without a word. Now it says why,
    // and the restarted server has everything it acknowledged.
    void aTruncatedShmFileIsLoggedAndSurvivedByARestart() {
        QProcess daemon;
        QByteArray log;
        quint16 port = start(daemon, &log);
        QVERIFY2(port, log.constData());
        QString node;
        QString secret;
        {
            RegistrationClient client;
            QVERIFY(client.connectTo(port, caFile()));
            QCOMPARE(setChannel(client).value(QStringLiteral("status")).toInt(-1), 1);
            const QJsonObject account =
                setAccounts(client).value(QStringLiteral("accounts")).toArray().at(0).toObject();
            node = account.value(QStringLiteral("node")).toString();
            secret = account.value(QStringLiteral("secret")).toString();
            QVERIFY(!node.isEmpty() && !secret.isEmpty());
        }
        QVERIFY(::truncate(qPrintable(m_dir->filePath(QStringLiteral("push.db-shm"))), 0) == 0);
        {
            RegistrationClient client;
            QVERIFY(client.connectTo(port, caFile()));
            client.send({{"version", 1},
                         {"action", "set_channel_uri"},
                         {"device_id", kDevice},
                         {"channel_uri", "https://127.0.0.1/?token=2"}});
            QVERIFY(daemon.waitForFinished(30000));
        }
        log += daemon.readAllStandardError();
        QCOMPARE(daemon.exitStatus(), QProcess::CrashExit);
        QVERIFY2(log.contains("fatal: SIGBUS: a memory-mapped file lost its storage"),
                 log.constData());

        QProcess again;
        QByteArray restartLog;
        port = start(again, &restartLog);
        QVERIFY2(port, restartLog.constData());
        RegistrationClient client;
        QVERIFY(client.connectTo(port, caFile()));
        QCOMPARE(setChannel(client).value(QStringLiteral("status")).toInt(-1), 1);
        const QJsonObject account =
            setAccounts(client).value(QStringLiteral("accounts")).toArray().at(0).toObject();
        QCOMPARE(account.value(QStringLiteral("node")).toString(), node);
        QCOMPARE(account.value(QStringLiteral("secret")).toString(), secret);
        again.terminate();
        QVERIFY(again.waitForFinished(30000));
    }

    // SIGHUP re-reads the certificate and key, as after a renewal. Before, a
    // key that was a device was read to its end: /dev/zero until the
    // allocation failed and std::bad_alloc ended the daemon. Now such a reload
    // is refused, the old certificate serves on, and the next SIGHUP takes
    // good files.
    void aReloadOfUnusableFilesKeepsTheOldCertificate() {
        QProcess daemon;
        QByteArray log;
        const quint16 port = start(daemon, &log);
        QVERIFY2(port, log.constData());
        const auto hangUpAndWaitFor = [&](const QByteArray &line) {
            const qsizetype from = log.size();
            ::kill(pid_t(daemon.processId()), SIGHUP);
            return QTest::qWaitFor(
                       [&] {
                           log += daemon.readAllStandardError();
                           return log.indexOf(line, from) >= 0 ||
                                  daemon.state() == QProcess::NotRunning;
                       },
                       20000) &&
                   log.indexOf(line, from) >= 0;
        };

        const QString key = m_dir->filePath(QStringLiteral("server.key"));
        const QString saved = key + QStringLiteral(".saved");
        QVERIFY(QFile::rename(key, saved));
        QVERIFY(QFile::link(QStringLiteral("/dev/zero"), key));
        QVERIFY(withLog(hangUpAndWaitFor("keeping the old certificate"), daemon, &log));
        {
            RegistrationClient client;
            QVERIFY(client.connectTo(port, caFile()));
            QCOMPARE(setChannel(client).value(QStringLiteral("status")).toInt(-1), 1);
        }

        QVERIFY(QFile::remove(key));
        QVERIFY(QFile::rename(saved, key));
        QVERIFY(withLog(hangUpAndWaitFor("reloaded the TLS certificate and key"), daemon, &log));
        RegistrationClient client;
        QVERIFY(client.connectTo(port, caFile()));
        QCOMPARE(setChannel(client).value(QStringLiteral("status")).toInt(-1), 1);
        daemon.terminate();
        QVERIFY(daemon.waitForFinished(30000));
    }

    // systemd starts services with 1024 descriptors (soft) whatever the
    // hard limit; 1000 registration connections need more.
    void raisesItsDescriptorLimitToTheHardLimit() {
        QProcess daemon;
        daemon.setChildProcessModifier(withDescriptorLimit(256, 8192));
        QByteArray log;
        QVERIFY2(start(daemon, &log), log.constData());
        QFile limits(QStringLiteral("/proc/%1/limits").arg(daemon.processId()));
        QVERIFY(limits.open(QIODevice::ReadOnly));
        QByteArray openFiles;
        for (const QByteArray &line : limits.readAll().split('\n'))
            if (line.startsWith("Max open files"))
                openFiles = line;
        QVERIFY2(openFiles.simplified().startsWith("Max open files 8192 8192"),
                 openFiles.constData());
        QVERIFY2(!log.contains("LimitNOFILE"), log.constData());
        daemon.terminate();
        QVERIFY(daemon.waitForFinished(30000));
    }

    // With the descriptors used up (the metrics port used to keep idle
    // connections for ever), accept() fails with EMFILE. Before, Qt stopped
    // accepting for good or the loop spun on the ready listener. Now the
    // daemon pauses a second at a time, idles meanwhile, and serves again once
    // descriptors are free.
    void runningOutOfFileDescriptorsIsSurvived() {
#if defined(__SANITIZE_ADDRESS__)
        // UBSan checks a type the first time it meets it by probing memory
        // through a pipe; with no descriptor free the probe fails, it reports
        // a false "invalid vptr" and the process stalls in the report.
        QSKIP("the sanitizers need free descriptors themselves");
#endif
        QProcess daemon;
        daemon.setChildProcessModifier(withDescriptorLimit(64, 64));
        QByteArray log;
        const quint16 port = start(daemon, &log);
        QVERIFY2(port, log.constData());
        // The operator learns at start that the limit is too low.
        QVERIFY2(log.contains("may open 64 file descriptors") && log.contains("LimitNOFILE"),
                 log.constData());

        // Idle TLS clients until the daemon cannot take another.
        std::vector<std::unique_ptr<RegistrationClient>> idle;
        for (int i = 0; i < 80 && !log.contains("cannot accept connections"); ++i) {
            auto client = std::make_unique<RegistrationClient>();
            if (client->connectTo(port, caFile(), 2000))
                idle.push_back(std::move(client));
            log += daemon.readAllStandardError();
        }
        QVERIFY(withLog(log.contains("cannot accept connections"), daemon, &log));
        QVERIFY(!idle.empty());

        // Out of descriptors, with a connection waiting in the backlog: a
        // spinning loop burns a whole core, a paused one next to nothing.
        RegistrationClient waiting;
        waiting.socket().connectToHost(QHostAddress::LocalHost, port);
        const qint64 before = cpuTicks(daemon.processId());
        QTest::qWait(2000); // a window to measure over, not a synchronisation
        const qint64 spent = cpuTicks(daemon.processId()) - before;
        const qint64 ticksPerSecond = ::sysconf(_SC_CLK_TCK);
        qInfo("out of descriptors: %lld ms of CPU in 2 s", spent * 1000 / ticksPerSecond);
        QVERIFY(withLog(spent >= 0 && spent < ticksPerSecond / 2, daemon, &log));

        idle.clear();
        RegistrationClient client;
        QVERIFY(withLog(client.connectTo(port, caFile()), daemon, &log));
        QCOMPARE(setChannel(client).value(QStringLiteral("status")).toInt(-1), 1);
        QCOMPARE(daemon.state(), QProcess::Running);
        daemon.terminate();
        QVERIFY(daemon.waitForFinished(30000));
    }
};

QTEST_GUILESS_MAIN(HostTest)
#include "tst_host.moc"

// The real daemon as systemd runs it (resources/uwpx-push-server.service,
// Type=notify): what it tells the service manager through NOTIFY_SOCKET and
// when, the watchdog pings of its event loop, the priority of each line when
// stderr is the journal, and what a reload (SIGHUP) changes and refuses.

#include "registrationclient.h"
#include "testconfig.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

using namespace uwpx::test;

namespace {

// The service manager's end of sd_notify(3): a datagram socket bound to a path.
class NotifySocket {
public:
    explicit NotifySocket(const QString &path)
        : m_path(path) {
        m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address = {};
        address.sun_family = AF_UNIX;
        const QByteArray bytes = QFile::encodeName(path);
        std::copy(bytes.cbegin(), bytes.cend(), address.sun_path);
        m_bound = ::bind(m_fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
    }
    ~NotifySocket() { ::close(m_fd); }

    bool isBound() const { return m_bound; }
    QString path() const { return m_path; }

    // Every message that arrived so far, in order.
    QList<QByteArray> &messages() {
        char buffer[4096];
        for (;;) {
            const ssize_t size = ::recv(m_fd, buffer, sizeof buffer, MSG_DONTWAIT);
            if (size < 0)
                break;
            m_messages << QByteArray(buffer, size);
        }
        return m_messages;
    }

    // Waits for a message starting with `prefix` after the first `from`
    // messages; returns its index, or -1.
    qsizetype waitFor(const QByteArray &prefix, qsizetype from, QProcess &daemon) {
        qsizetype found = -1;
        [[maybe_unused]] const bool over = QTest::qWaitFor(
            [&] {
                const QList<QByteArray> &all = messages();
                for (qsizetype i = from; i < all.size() && found < 0; ++i) {
                    if (all[i].startsWith(prefix))
                        found = i;
                }
                return found >= 0 || daemon.state() == QProcess::NotRunning;
            },
            20000);
        return found;
    }

private:
    QString m_path;
    int m_fd = -1;
    bool m_bound = false;
    QList<QByteArray> m_messages;
};

qint64 monotonicUsec() {
    timespec now = {};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return qint64(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

} // namespace

class ServiceTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_config;

    QString caFile() const { return m_dir->filePath(QStringLiteral("ca.pem")); }

    // Starts the daemon with `environment` added; its stderr goes to `log`
    // (a file, so that JOURNAL_STREAM can name it). Returns the registration
    // port, or 0 if it did not get that far.
    quint16 start(QProcess &daemon, const QString &log,
                  const QMap<QString, QString> &environment = {}) {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (auto it = environment.cbegin(); it != environment.cend(); ++it)
            env.insert(it.key(), it.value());
        daemon.setProcessEnvironment(env);
        daemon.setStandardErrorFile(log, QIODevice::Append);
        daemon.start(QStringLiteral(UWPX_BINARY), {QStringLiteral("--config"), m_config});
        static const QRegularExpression listening(
            QStringLiteral("listening for registrations on .* port (\\d+)"));
        QRegularExpressionMatch match;
        [[maybe_unused]] const bool over = QTest::qWaitFor(
            [&] {
                match = listening.match(readLog(log));
                return match.hasMatch() || daemon.state() == QProcess::NotRunning;
            },
            20000);
        return match.hasMatch() ? quint16(match.captured(1).toUInt()) : 0;
    }

    static QString readLog(const QString &path) {
        QFile file(path);
        return file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll()) : QString();
    }

    // Sends SIGHUP and waits for `line` in the log after what is there now.
    static bool hangUpAndWaitFor(QProcess &daemon, const QString &log, const QString &line) {
        const qsizetype from = readLog(log).size();
        ::kill(pid_t(daemon.processId()), SIGHUP);
        return QTest::qWaitFor([&] { return readLog(log).indexOf(line, from) >= 0; }, 20000);
    }

    // waitForFinished() is false for a process that has already ended.
    static bool finished(QProcess &daemon) {
        return daemon.state() == QProcess::NotRunning || daemon.waitForFinished(30000);
    }

    static bool stop(QProcess &daemon) {
        daemon.terminate();
        return finished(daemon) && daemon.exitStatus() == QProcess::NormalExit &&
               daemon.exitCode() == 0;
    }

private Q_SLOTS:
    void init() {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_config = writeConfig(m_dir->path());
        QVERIFY(!m_config.isEmpty());
    }

    // Type=notify: systemd counts the service started at READY=1, shows a
    // reload from RELOADING=1 to READY=1 and the stop from STOPPING=1, and
    // with WatchdogSec= restarts a service whose pings stop.
    void tellsSystemdEachStageAndPingsTheWatchdog() {
        NotifySocket systemd(m_dir->filePath(QStringLiteral("notify")));
        QVERIFY(systemd.isBound());
        QProcess daemon;
        const QString log = m_dir->filePath(QStringLiteral("daemon.log"));
        // A ping every 100 ms.
        QVERIFY2(start(daemon, log,
                       {{QStringLiteral("NOTIFY_SOCKET"), systemd.path()},
                        {QStringLiteral("WATCHDOG_USEC"), QStringLiteral("200000")}}),
                 qPrintable(readLog(log)));
        const qsizetype ready = systemd.waitFor("READY=1", 0, daemon);
        QVERIFY2(ready >= 0, qPrintable(readLog(log)));
        // Pings go on while the loop turns.
        QTRY_VERIFY_WITH_TIMEOUT(systemd.messages().count("WATCHDOG=1") >= 5, 10000);

        const qint64 beforeReload = monotonicUsec();
        ::kill(pid_t(daemon.processId()), SIGHUP);
        const qsizetype reloading = systemd.waitFor("RELOADING=1", ready + 1, daemon);
        QVERIFY(reloading > ready);
        // MONOTONIC_USEC: when the reload began, on CLOCK_MONOTONIC.
        static const QRegularExpression monotonic(QStringLiteral("MONOTONIC_USEC=(\\d+)"));
        const QRegularExpressionMatch usec =
            monotonic.match(QString::fromUtf8(systemd.messages()[reloading]));
        QVERIFY2(usec.hasMatch(), systemd.messages()[reloading].constData());
        QVERIFY(usec.captured(1).toLongLong() >= beforeReload);
        QVERIFY(usec.captured(1).toLongLong() <= monotonicUsec());
        QVERIFY(systemd.waitFor("READY=1", reloading + 1, daemon) > reloading);

        daemon.terminate();
        QVERIFY(systemd.waitFor("STOPPING=1", reloading + 1, daemon) > reloading);
        QVERIFY(finished(daemon));
        QCOMPARE(daemon.exitCode(), 0);
    }

    // stderr is the journal when JOURNAL_STREAM names it (device:inode):
    // each line then starts with its priority, so that `journalctl -p
    // warning` finds the warnings, and carries no second time stamp.
    void linesToTheJournalCarryTheirPriority() {
        // A key the daemon does not know: a warning at start.
        QFile config(m_config);
        QVERIFY(config.open(QIODevice::Append));
        config.write("\n[registration]\nno_such_key = 1\n");
        config.close();
        const QString log = m_dir->filePath(QStringLiteral("journal.log"));
        QFile(log).open(QIODevice::WriteOnly);
        struct stat info = {};
        QVERIFY(::stat(QFile::encodeName(log).constData(), &info) == 0);
        const QString stream = QStringLiteral("%1:%2").arg(info.st_dev).arg(info.st_ino);
        QProcess daemon;
        QVERIFY2(start(daemon, log, {{QStringLiteral("JOURNAL_STREAM"), stream}}),
                 qPrintable(readLog(log)));
        QVERIFY(stop(daemon));
        const QStringList lines = readLog(log).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QVERIFY(lines.size() >= 3);
        static const QRegularExpression prefixed(QStringLiteral("^<[0-7]>\\S"));
        for (const QString &line : lines)
            QVERIFY2(prefixed.match(line).hasMatch(), qPrintable(line));
        QVERIFY2(lines.filter(QRegularExpression(QStringLiteral(
                                  "^<4>.*\\[registration\\] no_such_key: unknown key")))
                         .size() == 1,
                 qPrintable(lines.join(QLatin1Char('\n'))));
        QVERIFY(lines.filter(QRegularExpression(QStringLiteral("^<6>uwpx.server: .* running$")))
                    .size() == 1);

        // Another stream (stderr redirected after systemd set the variable):
        // the usual lines with their time.
        const QString other = m_dir->filePath(QStringLiteral("other.log"));
        QProcess again;
        QVERIFY(start(again, other, {{QStringLiteral("JOURNAL_STREAM"), QStringLiteral("1:1")}}));
        QVERIFY(stop(again));
        QVERIFY2(!readLog(other).contains(QStringLiteral("\n<")) &&
                     readLog(other).contains(QStringLiteral(" info uwpx.server: ")),
                 qPrintable(readLog(other)));
    }

    // A reload applies what can change live, here a limit, and names the
    // rest as needing a restart.
    void aReloadAppliesALimitAndNamesWhatNeedsARestart() {
        QProcess daemon;
        const QString log = m_dir->filePath(QStringLiteral("daemon.log"));
        const quint16 port = start(daemon, log);
        QVERIFY2(port, qPrintable(readLog(log)));
        {
            RegistrationClient first;
            RegistrationClient second;
            QVERIFY(first.connectTo(port, caFile()));
            QVERIFY(second.connectTo(port, caFile()));
        }

        QVERIFY(!writeConfig(m_dir->path(),
                             {{QStringLiteral("registration/max_connections_per_address"),
                               QStringLiteral("1")},
                              {QStringLiteral("xmpp/port"), QStringLiteral("10")},
                              {QStringLiteral("storage/connections"), QStringLiteral("2")}})
                     .isEmpty());
        QVERIFY2(hangUpAndWaitFor(daemon, log, QStringLiteral("reloaded the configuration")),
                 qPrintable(readLog(log)));
        QVERIFY2(readLog(log).contains(QStringLiteral(
                     "changed, but takes effect only after a restart: [storage] connections, "
                     "[xmpp] port")),
                 qPrintable(readLog(log)));
        QVERIFY(!readLog(log).contains(QStringLiteral("max_connections_per_address")));

        RegistrationClient first;
        QVERIFY(first.connectTo(port, caFile()));
        RegistrationClient second;
        QVERIFY2(!second.connectTo(port, caFile(), 5000), "a second connection was served");
        QVERIFY(stop(daemon));
    }

    // systemd restarts a start that failed after a fixed 5 s; the daemon
    // spaces further tries itself, counting failures in a row in its runtime
    // directory, and a start that succeeds resets the count.
    void failedStartsInARowBackOff() {
        QTcpServer occupier;
        QVERIFY(occupier.listen(QHostAddress::LocalHost));
        const QString busy = QStringLiteral("127.0.0.1:%1").arg(occupier.serverPort());
        QVERIFY(
            !writeConfig(m_dir->path(), {{QStringLiteral("registration/listen"), busy}}).isEmpty());
        const QString runtime = m_dir->filePath(QStringLiteral("run"));
        QVERIFY(QDir().mkpath(runtime));
        const QMap<QString, QString> environment{{QStringLiteral("RUNTIME_DIRECTORY"), runtime}};
        const auto failOnce = [&](const QString &name, bool expectWait) {
            QProcess daemon;
            const QString log = m_dir->filePath(name);
            start(daemon, log, environment);
            if (expectWait) {
                if (!QTest::qWaitFor(
                        [&] { return readLog(log).contains(QStringLiteral("waiting 5 s")); },
                        20000))
                    return false;
                daemon.terminate(); // ends the wait at once
            }
            return finished(daemon) && daemon.exitCode() == 69 &&
                   readLog(log).contains(QStringLiteral("cannot start: cannot listen")) &&
                   readLog(log).contains(QStringLiteral("waiting")) == expectWait;
        };
        QVERIFY(failOnce(QStringLiteral("first.log"), false));
        QVERIFY(failOnce(QStringLiteral("second.log"), true));

        QVERIFY(!writeConfig(m_dir->path()).isEmpty());
        QProcess daemon;
        const QString log = m_dir->filePath(QStringLiteral("started.log"));
        QVERIFY2(start(daemon, log, environment), qPrintable(readLog(log)));
        QVERIFY(stop(daemon));
        QVERIFY(
            !writeConfig(m_dir->path(), {{QStringLiteral("registration/listen"), busy}}).isEmpty());
        QVERIFY(failOnce(QStringLiteral("again.log"), false));
    }

    // A private key that is not the certificate's loads without complaint
    // and then fails every handshake. It is refused at start (a
    // configuration error: exit 1) and on reload (the old pair serves on).
    void aKeyOfAnotherCertificateIsRefused() {
        QTemporaryDir otherDir;
        QVERIFY(otherDir.isValid());
        QVERIFY(!writeConfig(otherDir.path()).isEmpty());
        const QString otherKey = QDir(otherDir.path()).filePath(QStringLiteral("server.key"));
        const QString key = m_dir->filePath(QStringLiteral("server.key"));

        QVERIFY(
            !writeConfig(m_dir->path(), {{QStringLiteral("registration/private_key"), otherKey}})
                 .isEmpty());
        QProcess refused;
        const QString refusedLog = m_dir->filePath(QStringLiteral("refused.log"));
        QCOMPARE(start(refused, refusedLog), quint16(0));
        QVERIFY(finished(refused));
        QCOMPARE(refused.exitCode(), 1);
        QVERIFY2(
            readLog(refusedLog).contains(QStringLiteral("[registration] private_key")) &&
                readLog(refusedLog).contains(QStringLiteral("is not the key of the certificate")),
            qPrintable(readLog(refusedLog)));

        QVERIFY(!writeConfig(m_dir->path()).isEmpty());
        QProcess daemon;
        const QString log = m_dir->filePath(QStringLiteral("daemon.log"));
        const quint16 port = start(daemon, log);
        QVERIFY2(port, qPrintable(readLog(log)));
        const QString saved = key + QStringLiteral(".saved");
        QVERIFY(QFile::rename(key, saved));
        QVERIFY(QFile::copy(otherKey, key));
        QVERIFY2(hangUpAndWaitFor(daemon, log, QStringLiteral("keeping the old certificate")),
                 qPrintable(readLog(log)));
        QVERIFY(readLog(log).contains(QStringLiteral("does not belong to the certificate")));
        RegistrationClient client;
        QVERIFY2(client.connectTo(port, caFile()), "the old certificate no longer serves");
        QVERIFY(stop(daemon));
    }
};

QTEST_GUILESS_MAIN(ServiceTest)
#include "tst_service.moc"

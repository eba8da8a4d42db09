// The daemon's log as an operator reads it: one line per event, whatever the
// values from outside in it contain. A client that names its action
// "x\n<a forged log line>" must not write a line of its own.

#include "logging.h"
#include "registrationclient.h"
#include "testconfig.h"

#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;
using namespace uwpx::test;

class LoggingTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void escapesControlCharacters() {
        QCOMPARE(escapeForLog(QStringLiteral("a\nb\r\x1b[31mc\x7f\u2028d")),
                 QStringLiteral("a\\x0ab\\x0d\\x1b[31mc\\x7f\\x2028d"));
        QCOMPARE(escapeForLog(QStringLiteral("Grüße 😀 plain")), QStringLiteral("Grüße 😀 plain"));
    }

    void valuesFromOutsideCannotForgeLines() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString config = writeConfig(dir.path());
        QVERIFY(!config.isEmpty());
        QProcess daemon;
        daemon.start(QStringLiteral(UWPX_BINARY), {QStringLiteral("--config"), config});
        QVERIFY(daemon.waitForStarted());
        QString log;
        QRegularExpressionMatch listening;
        QTRY_VERIFY_WITH_TIMEOUT(
            (log += QString::fromUtf8(daemon.readAllStandardError()),
             (listening =
                  QRegularExpression(QStringLiteral("registrations on .* port (\\d+)")).match(log))
                 .hasMatch()),
            20000);
        RegistrationClient client;
        QVERIFY(client.connectTo(quint16(listening.captured(1).toUInt()),
                                 dir.filePath(QStringLiteral("ca.pem"))));
        const QString forged =
            QStringLiteral("x\n2026-12-01T00:00:00.000Z error uwpx.server: FORGED\r\x1b[2K");
        const QJsonObject answer =
            client.request({{"version", 2}, {"action", forged}, {"device_id", "0123456789abcdef"}});
        QCOMPARE(answer.value(QStringLiteral("status")).toInt(-1), 0);
        daemon.terminate();
        QVERIFY(daemon.waitForFinished(30000));
        log += QString::fromUtf8(daemon.readAllStandardError());
        const QStringList lines = log.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QVERIFY(log.contains(QStringLiteral("FORGED")));
        for (const QString &line : lines) {
            QVERIFY2(!line.startsWith(QLatin1String("2026-12-01T00:00:00.000Z")), qPrintable(line));
            QVERIFY2(!line.contains(QLatin1Char('\r')) && !line.contains(QChar(0x1b)),
                     qPrintable(line));
        }
    }
};

QTEST_GUILESS_MAIN(LoggingTest)
#include "tst_logging.moc"

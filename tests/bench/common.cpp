#include "bench.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QFile>
#include <QRegularExpression>
#include <QThread>

#include <algorithm>
#include <cmath>

#include <signal.h>
#include <unistd.h>

namespace uwpx::bench {

double Samples::percentileMs(double p) {
    if (m_values.empty())
        return 0;
    if (!m_sorted) {
        std::sort(m_values.begin(), m_values.end());
        m_sorted = true;
    }
    // Nearest rank.
    const size_t rank = size_t(std::ceil(p / 100.0 * double(m_values.size())));
    const size_t index = std::min(m_values.size() - 1, rank == 0 ? 0 : rank - 1);
    return double(m_values[index]) / 1000.0;
}

double Samples::maxMs() {
    return percentileMs(100);
}

QJsonObject Samples::toJson() {
    auto round3 = [](double v) { return std::round(v * 1000.0) / 1000.0; };
    return {{QStringLiteral("p50"), round3(percentileMs(50))},
            {QStringLiteral("p90"), round3(percentileMs(90))},
            {QStringLiteral("p99"), round3(percentileMs(99))},
            {QStringLiteral("max"), round3(maxMs())}};
}

bool waitFor(const std::function<bool()> &done, int timeoutMs) {
    const QDeadlineTimer deadline(timeoutMs);
    QTimer wake; // so the condition is looked at even when nothing happens
    wake.start(5);
    while (!done()) {
        if (deadline.hasExpired())
            return done();
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
    }
    return true;
}

QString deviceId(int index, int salt) {
    return QStringLiteral("%1%2")
        .arg(salt, 8, 16, QLatin1Char('0'))
        .arg(index, 24, 16, QLatin1Char('0'));
}

ServerProcess::ServerProcess(QObject *parent)
    : QObject(parent) {
    m_process.setProcessChannelMode(QProcess::SeparateChannels);
    m_process.setStandardOutputFile(QProcess::nullDevice());
    connect(&m_process, &QProcess::readyReadStandardError, this, &ServerProcess::onStderr);
}

ServerProcess::~ServerProcess() {
    stop();
}

bool ServerProcess::start(const QString &binary, const QString &configFile, const QString &logFile,
                          QString *error, int timeoutMs) {
    m_log = std::make_unique<QFile>(logFile);
    if (!m_log->open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        *error = QStringLiteral("cannot write %1").arg(logFile);
        return false;
    }
    m_startedAtMs = QDateTime::currentMSecsSinceEpoch();
    m_clock.start();
    m_process.start(binary, {QStringLiteral("--config"), configFile});
    if (!m_process.waitForStarted(10000)) {
        *error = QStringLiteral("cannot start %1: %2").arg(binary, m_process.errorString());
        return false;
    }
    waitFor([this] { return m_registrationPort != 0 || m_process.state() != QProcess::Running; },
            timeoutMs);
    if (m_registrationPort == 0) {
        *error = QStringLiteral("the server did not start listening (see %1)").arg(logFile);
        return false;
    }
    return true;
}

void ServerProcess::stop() {
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    if (!m_process.waitForFinished(15000)) {
        m_process.kill();
        m_process.waitForFinished(5000);
    }
    onStderr();
}

qint64 ServerProcess::pid() const {
    return m_process.processId();
}

void ServerProcess::onStderr() {
    const QByteArray bytes = m_process.readAllStandardError();
    if (bytes.isEmpty())
        return;
    if (m_log)
        m_log->write(bytes);
    m_buffer += bytes;
    qsizetype end;
    while ((end = m_buffer.indexOf('\n')) >= 0) {
        const QByteArray line = m_buffer.left(end);
        m_buffer.remove(0, end + 1);
        if (line.contains(" warning ") || line.contains(" critical ") || line.contains(" fatal ")) {
            ++m_problems;
            if (m_problemSamples.size() < 5)
                m_problemSamples << QString::fromUtf8(line);
        }
        if (m_registrationPort == 0 && line.contains("listening for registrations on")) {
            static const QRegularExpression port(QStringLiteral("port (\\d+)"));
            const auto match = port.match(QString::fromUtf8(line));
            if (match.hasMatch()) {
                m_registrationPort = quint16(match.captured(1).toUInt());
                m_msToListening = m_clock.elapsed();
            }
        }
    }
}

ServerProcess::Usage ServerProcess::usage() const {
    Usage usage;
    const qint64 id = pid();
    if (id <= 0)
        return usage;
    QFile status(QStringLiteral("/proc/%1/status").arg(id));
    if (status.open(QIODevice::ReadOnly)) {
        for (const QByteArray &line : status.readAll().split('\n')) {
            if (line.startsWith("VmRSS:"))
                usage.rssKb = line.mid(6).trimmed().split(' ').value(0).toLongLong();
            else if (line.startsWith("VmHWM:"))
                usage.peakRssKb = line.mid(6).trimmed().split(' ').value(0).toLongLong();
        }
    }
    QFile stat(QStringLiteral("/proc/%1/stat").arg(id));
    if (stat.open(QIODevice::ReadOnly)) {
        const QByteArray text = stat.readAll();
        // Fields after the command name (which may hold spaces) in parentheses.
        const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
        const double ticks = double(sysconf(_SC_CLK_TCK));
        usage.cpuSeconds = (fields.value(11).toLongLong() + fields.value(12).toLongLong()) / ticks;
    }
    return usage;
}

} // namespace uwpx::bench

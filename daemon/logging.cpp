#include "logging.h"

#include <QDateTime>

#include <cstdio>
#include <cstdlib>

#include <sys/stat.h>

Q_LOGGING_CATEGORY(lcServer, "uwpx.server")

namespace uwpx {

QString escapeForLog(const QString &text) {
    QString out;
    out.reserve(text.size());
    for (const QChar c : text) {
        const char16_t u = c.unicode();
        // C0 and C1 controls, DEL, and Unicode's own line and paragraph separators.
        if (u < 0x20 || (u >= 0x7f && u < 0xa0) || u == 0x2028 || u == 0x2029)
            out += QStringLiteral("\\x%1").arg(int(u), 2, 16, QLatin1Char('0'));
        else
            out += c;
    }
    return out;
}

namespace {

bool g_journal = false;

const char *levelName(QtMsgType type) {
    switch (type) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "error";
    case QtFatalMsg:
        return "fatal";
    }
    return "?";
}

// syslog(3) priorities, as sd-daemon(3) prefixes take them.
const char *journalPrefix(QtMsgType type) {
    switch (type) {
    case QtDebugMsg:
        return "<7>";
    case QtInfoMsg:
        return "<6>";
    case QtWarningMsg:
        return "<4>";
    case QtCriticalMsg:
        return "<3>";
    case QtFatalMsg:
        return "<2>";
    }
    return "<6>";
}

// systemd hands a service's stderr to journald and says so in JOURNAL_STREAM
// ("device:inode" of that stream). A stderr redirected elsewhere by the
// service itself (or a child that inherited the variable) does not match.
bool stderrIsJournal() {
    const char *stream = std::getenv("JOURNAL_STREAM");
    if (!stream)
        return false;
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2)
        return false;
    struct stat info = {};
    return ::fstat(fileno(stderr), &info) == 0 && info.st_dev == device && info.st_ino == inode;
}

void write(const QByteArray &line) {
    std::fwrite(line.constData(), 1, size_t(line.size()), stderr);
    std::fflush(stderr);
}

void writeEvent(QtMsgType type, const QMessageLogContext &context, const QString &message) {
    const QByteArray text = QByteArray(context.category ? context.category : "default") + ": " +
                            escapeForLog(message).toUtf8() + '\n';
    if (g_journal)
        write(journalPrefix(type) + text);
    else
        write(QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toUtf8() + ' ' +
              levelName(type) + ' ' + text);
}

} // namespace

void installLogHandler() {
    g_journal = stderrIsJournal();
    qInstallMessageHandler(writeEvent);
    setLogLevel(LogLevel::Info);
}

bool logsToJournal() {
    return g_journal;
}

void setLogLevel(LogLevel level) {
    // Debug output is for developers; Qt's own categories (qt.*) keep their
    // debug output off whatever the level.
    switch (level) {
    case LogLevel::Debug:
        QLoggingCategory::setFilterRules(QStringLiteral("uwpx.*.debug=true"));
        return;
    case LogLevel::Info:
        QLoggingCategory::setFilterRules(QStringLiteral("uwpx.*.debug=false"));
        return;
    case LogLevel::Warning:
        QLoggingCategory::setFilterRules(QStringLiteral("*.debug=false\n*.info=false"));
        return;
    case LogLevel::Error:
        QLoggingCategory::setFilterRules(
            QStringLiteral("*.debug=false\n*.info=false\n*.warning=false"));
        return;
    }
}

void writeLogLine(QtMsgType type, const QString &line) {
    const QByteArray text = escapeForLog(line).toUtf8() + '\n';
    write(g_journal ? journalPrefix(type) + text : text);
}

} // namespace uwpx

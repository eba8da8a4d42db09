#include "logging.h"

#include <QDateTime>

#include <cstdio>

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

void writeLine(QtMsgType type, const QMessageLogContext &context, const QString &message) {
    const QByteArray line = QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toUtf8() +
                            ' ' + levelName(type) + ' ' +
                            (context.category ? context.category : "default") + ": " +
                            escapeForLog(message).toUtf8() + '\n';
    std::fwrite(line.constData(), 1, size_t(line.size()), stderr);
    std::fflush(stderr);
}

} // namespace

void installLogHandler() {
    qInstallMessageHandler(writeLine);
    // Debug output is for developers; operators turn it on with QT_LOGGING_RULES.
    QLoggingCategory::setFilterRules(QStringLiteral("uwpx.*.debug=false"));
}

} // namespace uwpx

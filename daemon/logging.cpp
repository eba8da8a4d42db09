#include "logging.h"

#include <QDateTime>

#include <cstdio>

Q_LOGGING_CATEGORY(lcServer, "uwpx.server")

namespace uwpx {

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
                            message.toUtf8() + '\n';
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

// uwpx-pushctl: the operator's tool for uwpx-push-server (man uwpx-pushctl).

#include "pushctl.h"

#include <QCoreApplication>
#include <QLoggingCategory>

#include <cstdio>

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("uwpx-pushctl"));
    QCoreApplication::setApplicationVersion(QStringLiteral(UWPX_VERSION));
    // The libraries log for the daemon's journal; the tool reports every
    // problem itself, once. QT_LOGGING_RULES still turns them on.
    QLoggingCategory::setFilterRules(QStringLiteral("uwpx.*=false"));
    QTextStream out(stdout);
    QTextStream err(stderr);
    return uwpx::pushctl::run(QCoreApplication::arguments().mid(1), out, err);
}

// uwpx-push-server: the XEP-0357 app server for UWPX (see README.md).

#include "config.h"
#include "logging.h"
#include "pushserver.h"
#include "unixsignals.h"

#include <QCommandLineParser>
#include <QCoreApplication>

#include <cstdio>
#include <utility>

using namespace uwpx;

namespace {

void printLines(const QStringList &lines) {
    for (const QString &line : lines)
        std::fprintf(stderr, "%s\n", qPrintable(line));
}

} // namespace

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("uwpx-push-server"));
    QCoreApplication::setApplicationVersion(QStringLiteral(UWPX_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("XEP-0357 push app server for the UWPX XMPP client: registers devices "
                       "over TLS and wakes them through WNS when their XMPP server publishes."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption configOption(QStringLiteral("config"),
                                          QStringLiteral("Read the configuration from <file>."),
                                          QStringLiteral("file"), Config::defaultPath());
    const QCommandLineOption checkOption(
        QStringLiteral("check-config"),
        QStringLiteral("Validate the configuration, print one line per problem and exit."));
    parser.addOption(configOption);
    parser.addOption(checkOption);
    parser.process(app);
    if (!parser.positionalArguments().isEmpty()) {
        std::fprintf(stderr, "uwpx-push-server: unexpected argument '%s'; see --help\n",
                     qPrintable(parser.positionalArguments().first()));
        return 1;
    }

    installLogHandler();
    explainBusErrors();
    const QString configPath = parser.value(configOption);
    Config config;
    QStringList errors;
    QStringList warnings;
    const bool valid = Config::load(configPath, &config, &errors, &warnings);
    printLines(warnings);
    printLines(errors);
    if (parser.isSet(checkOption)) {
        if (valid)
            std::fprintf(stderr, "%s: configuration OK\n", qPrintable(configPath));
        return valid ? 0 : 1;
    }
    if (!valid)
        return 1;

    UnixSignals unixSignals;
    PushServer server(config);
    QString error;
    if (!server.start(&error)) {
        qCCritical(lcServer).noquote() << "cannot start:" << error;
        return 1;
    }
    // The first SIGTERM or SIGINT hands over cleanly (PushServer::shutdown);
    // a second one stops at once.
    QObject::connect(&unixSignals, &UnixSignals::terminateRequested, &server,
                     [&server, asked = false](int number) mutable {
                         if (std::exchange(asked, true)) {
                             qCInfo(lcServer).noquote()
                                 << "signal" << number << "received again; stopping now";
                             QCoreApplication::quit();
                             return;
                         }
                         qCInfo(lcServer).noquote()
                             << "signal" << number << "received; shutting down";
                         server.shutdown();
                     });
    QObject::connect(&server, &PushServer::shutDown, &app, &QCoreApplication::quit);
    QObject::connect(&unixSignals, &UnixSignals::hangup, &server, &PushServer::reload);
    qCInfo(lcServer).noquote() << "uwpx-push-server" << UWPX_VERSION << "running";
    const int status = app.exec();
    qCInfo(lcServer).noquote() << "stopped";
    return status;
}

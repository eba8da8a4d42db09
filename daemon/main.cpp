// uwpx-push-server: the XEP-0357 app server for UWPX (see README.md).

#include "config.h"
#include "logging.h"
#include "pushserver.h"
#include "startbackoff.h"
#include "systemdnotifier.h"
#include "unixsignals.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QTimer>

#include <cstdio>
#include <utility>

using namespace uwpx;

namespace {

// Exit statuses. A bad configuration is 1 (the documented contract, also of
// --check-config), and the unit does not restart after it
// (RestartPreventExitStatus=1): it is not going to fix itself. Anything else
// that keeps the server from starting (the database, the listening address)
// may pass, so systemd tries again.
constexpr int kExitBadConfig = 1;
constexpr int kExitCannotStart = 69; // EX_UNAVAILABLE of sysexits.h

void printLines(QtMsgType type, const QStringList &lines) {
    for (const QString &line : lines)
        writeLogLine(type, line);
}

// SIGHUP: the whole file again. One that does not load changes nothing.
void reload(const QString &configPath, PushServer &server) {
    Config next;
    QStringList errors;
    QStringList warnings;
    const bool valid = Config::load(configPath, &next, &errors, &warnings);
    printLines(QtWarningMsg, warnings);
    printLines(QtCriticalMsg, errors);
    if (!valid) {
        qCCritical(lcServer).noquote()
            << "configuration not reloaded:" << errors.size() << "problem(s) in" << configPath
            << "- running on as before; reading the TLS files again";
        server.reloadTls();
        return;
    }
    server.reload(next);
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
    printLines(QtWarningMsg, warnings);
    printLines(QtCriticalMsg, errors);
    if (parser.isSet(checkOption)) {
        if (valid)
            writeLogLine(QtInfoMsg, configPath + QStringLiteral(": configuration OK"));
        return valid ? 0 : kExitBadConfig;
    }
    if (!valid)
        return kExitBadConfig;
    setLogLevel(config.log.level);

    UnixSignals unixSignals;
    SystemdNotifier systemd;
    StartBackoff backoff;
    PushServer server(config);
    QString error;
    if (!server.start(&error)) {
        qCCritical(lcServer).noquote() << "cannot start:" << error;
        const int waitMs = backoff.failed();
        if (waitMs > 0) {
            // systemd restarts us when we exit: waiting here spaces the tries.
            qCInfo(lcServer).noquote()
                << "failed to start several times in a row: waiting" << waitMs / 1000
                << "s before exiting, so that the next try comes later";
            systemd.status(
                QStringLiteral("cannot start: %1; next try in %2 s").arg(error).arg(waitMs / 1000));
            QTimer::singleShot(waitMs, &app, &QCoreApplication::quit);
            QObject::connect(&unixSignals, &UnixSignals::terminateRequested, &app,
                             &QCoreApplication::quit);
            app.exec();
        }
        return kExitCannotStart;
    }
    backoff.succeeded();
    // The first SIGTERM or SIGINT hands over cleanly (PushServer::shutdown);
    // a second one stops at once.
    QObject::connect(&unixSignals, &UnixSignals::terminateRequested, &server,
                     [&server, &systemd, asked = false](int number) mutable {
                         if (std::exchange(asked, true)) {
                             qCInfo(lcServer).noquote()
                                 << "signal" << number << "received again; stopping now";
                             QCoreApplication::quit();
                             return;
                         }
                         qCInfo(lcServer).noquote()
                             << "signal" << number << "received; shutting down";
                         systemd.stopping();
                         server.shutdown();
                     });
    QObject::connect(&server, &PushServer::stopped, &app, &QCoreApplication::quit);
    QObject::connect(&unixSignals, &UnixSignals::hangup, &server, [&] {
        systemd.reloading();
        reload(configPath, server);
        systemd.ready(QStringLiteral("serving"));
    });
    qCInfo(lcServer).noquote() << "uwpx-push-server" << UWPX_VERSION << "running";
    systemd.ready(QStringLiteral("serving"));
    systemd.startWatchdog();
    const int status = app.exec();
    qCInfo(lcServer).noquote() << "stopped";
    return status;
}

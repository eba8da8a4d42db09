// fake-wns: the fake WNS of fakewns.h as a program, for out-of-process tests.
//
//   fake-wns --cert server.pem --key server.key --client-id ID --client-secret S
//            [--scope notify.windows.com] [--port 0] [--token-lifetime 86400]
//
// Prints one JSON line {"port": N} on stdout once listening on 127.0.0.1, then
// serves the token endpoint, channels and the /_control/… API until killed.

#include "fakewns.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("A fake Windows Push Notification Service."));
    parser.addHelpOption();
    const QCommandLineOption cert(QStringLiteral("cert"),
                                  QStringLiteral("Server certificate (PEM)."),
                                  QStringLiteral("file"));
    const QCommandLineOption key(QStringLiteral("key"), QStringLiteral("Private key (PEM)."),
                                 QStringLiteral("file"));
    const QCommandLineOption clientId(QStringLiteral("client-id"),
                                      QStringLiteral("Expected client_id (package SID)."),
                                      QStringLiteral("id"));
    const QCommandLineOption clientSecret(QStringLiteral("client-secret"),
                                          QStringLiteral("Expected client_secret."),
                                          QStringLiteral("secret"));
    const QCommandLineOption scope(QStringLiteral("scope"), QStringLiteral("Expected scope."),
                                   QStringLiteral("scope"), QStringLiteral("notify.windows.com"));
    const QCommandLineOption port(QStringLiteral("port"),
                                  QStringLiteral("Port on 127.0.0.1 (0: any free one)."),
                                  QStringLiteral("port"), QStringLiteral("0"));
    const QCommandLineOption lifetime(QStringLiteral("token-lifetime"),
                                      QStringLiteral("expires_in of issued tokens, seconds."),
                                      QStringLiteral("seconds"), QStringLiteral("86400"));
    parser.addOptions({cert, key, clientId, clientSecret, scope, port, lifetime});
    parser.process(app);
    for (const QCommandLineOption &required : {cert, key, clientId, clientSecret}) {
        if (!parser.isSet(required)) {
            std::fprintf(stderr, "fake-wns: --%s is required\n",
                         qPrintable(required.names().constFirst()));
            return 2;
        }
    }

    uwpx::test::FakeWns fake;
    fake.setCredentials(parser.value(clientId), parser.value(clientSecret), parser.value(scope));
    fake.setTokenLifetime(parser.value(lifetime).toInt());
    fake.setControlApiEnabled(true);
    QString error;
    if (!fake.listen(parser.value(cert), parser.value(key), parser.value(port).toUShort(),
                     &error)) {
        std::fprintf(stderr, "fake-wns: %s\n", qPrintable(error));
        return 1;
    }
    const QByteArray ready = QJsonDocument(QJsonObject{{QStringLiteral("port"), int(fake.port())}})
                                 .toJson(QJsonDocument::Compact);
    std::fprintf(stdout, "%s\n", ready.constData());
    std::fflush(stdout);
    return app.exec();
}

#pragma once

#include <QString>

namespace uwpx {

// The [storage] section of the configuration (docs/configuration.md).
struct StorageSettings {
    QString driver = QStringLiteral("sqlite"); // sqlite | postgresql
    QString path;                              // sqlite: the database file
    // postgresql: where the shared database lives
    QString host;
    int port = 5432;
    QString database;
    QString user;
    QString password;
    // TLS to PostgreSQL, as libpq names it: disable, prefer, require,
    // verify-ca or verify-full; and the PEM file of the CA that signed the
    // server's certificate (verify-ca, verify-full).
    QString sslMode = QStringLiteral("prefer");
    QString sslRootCert;
    // TCP keepalives on the connections to PostgreSQL ([storage]
    // keepalives_idle, _interval, _count): a peer that vanished (its host
    // down, the network cut) is noticed after idle + interval x count
    // seconds. The instance lock's connection asks the server to probe the
    // same way, so that is also how long a vanished active instance keeps
    // the component link from the standbys (docs/deployment.md).
    int keepalivesIdleS = 5;
    int keepalivesIntervalS = 2;
    int keepalivesCount = 3;
    int expireDays = 180;

    // Connections (each with a worker thread of its own) to the database.
    int connections = 4;
    // Every operation answers within this, whatever the database does.
    int timeoutMs = 3000;
};

} // namespace uwpx

#pragma once

#include "storeadmin.h"

#include <QList>
#include <QString>
#include <QStringList>

namespace uwpx::pushctl {

// What an old push server's store holds, read and checked before anything
// is written (docs/migration.md): the devices to import, and what is left
// out with the reason (an account whose device is gone, a channel this
// server would not send to).
struct ImportSource {
    QList<ImportedDevice> devices;
    QList<ImportReport::Item> skipped;
};

// The source named on the command line ("sqlite:PATH", "redis://HOST:PORT[/DB]").
// False with *error saying where the source is malformed or why it cannot be
// read; *usage is set when the name itself is wrong.
bool readImportSource(const QString &name, const QStringList &channelHosts, ImportSource *source,
                      QString *error, bool *usage);

// The Python server (peewee over SQLite): tables channeluri and pushaccount.
bool readPythonServer(const QString &path, const QStringList &channelHosts, ImportSource *source,
                      QString *error);

// The C++ server (Redis): device id -> list [channel URI, version, account
// keys...]; account key -> node; node -> list [account id, device id, secret].
// `user` and `password` as Redis's AUTH takes them (no user: the default one).
bool readCppServer(const QString &host, quint16 port, int database, const QString &user,
                   const QString &password, const QStringList &channelHosts, ImportSource *source,
                   QString *error);

} // namespace uwpx::pushctl

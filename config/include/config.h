#pragma once

#include "registrationsettings.h"
#include "storagesettings.h"
#include "wnssettings.h"
#include "xmppsettings.h"

#include <QHostAddress>
#include <QMap>
#include <QString>
#include <QStringList>

namespace uwpx {

// The [metrics] section: off unless `listen` is set; a bare port means loopback.
struct MetricsSettings {
    bool enabled = false;
    QHostAddress address = QHostAddress::LocalHost;
    quint16 port = 0;
};

// The [log] section: the least severe messages written ("debug", "info",
// "warning", "error"). QT_LOGGING_RULES, when set, still has the last word.
enum class LogLevel { Debug, Info, Warning, Error };
struct LogSettings {
    LogLevel level = LogLevel::Info;
};

// The whole configuration file. Loading checks every key it reads and collects
// every problem, so --check-config can list them all at once.
struct Config {
    XmppSettings xmpp;
    RegistrationSettings registration;
    StorageSettings storage;
    WnsSettings wns;
    MetricsSettings metrics;
    LogSettings log;

    // Every key read, "section/key", with the value in effect (the file's,
    // or the default): what a reload compares. Holds secrets: never log it.
    QMap<QString, QString> values;

    static QString defaultPath();

    // The keys ("section/key") whose value in effect differs between `a` and `b`.
    static QStringList changedKeys(const Config &a, const Config &b);

    // Returns true if the file is usable. Problems go to *errors, one line
    // each naming the file, section and key; keys we do not know go to
    // *warnings (a typo should be visible, but must not stop a server).
    static bool load(const QString &path, Config *config, QStringList *errors,
                     QStringList *warnings);
};

} // namespace uwpx

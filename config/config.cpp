#include "config.h"

#include "tlsfiles.h"

#include <QFileInfo>
#include <QRegularExpression>
#include <QSet>
#include <QSettings>
#include <QSslCertificate>
#include <QSslKey>
#include <QUrl>

namespace uwpx {

namespace {

// Placeholders of the shipped example: a server still carrying them would
// fail in confusing ways later, so they are refused up front.
const QString kPlaceholder = QStringLiteral("change-me");
const QString kPlaceholderSid = QStringLiteral("ms-app://s-1-15-2-...");

// Reads one INI file and remembers what it reported, so each setter below is
// one line: the key, its default, and what makes it valid.
class ConfigReader {
public:
    ConfigReader(const QString &path, QStringList *errors)
        : m_path(path)
        , m_settings(path, QSettings::IniFormat)
        , m_errors(errors) {}

    QString string(const QString &key, const QString &fallback = QString()) {
        m_known.insert(key);
        const QVariant value = m_settings.value(key);
        QString text = fallback;
        // QSettings splits unquoted values at commas; a value is one string.
        if (value.userType() == QMetaType::QStringList)
            text = value.toStringList().join(QLatin1Char(','));
        else if (value.isValid())
            text = value.toString().trimmed();
        m_values.insert(key, text);
        return text;
    }

    QString required(const QString &key, const QString &placeholder = QString()) {
        const QString value = string(key);
        if (value.isEmpty())
            problem(key, QStringLiteral("is required"));
        else if (!placeholder.isEmpty() && value == placeholder)
            problem(key, QStringLiteral("still has the placeholder value '%1' of the example "
                                        "configuration")
                             .arg(placeholder));
        return value;
    }

    int integer(const QString &key, int fallback, int min, int max) {
        const QString text = string(key);
        if (text.isEmpty()) {
            m_values.insert(key, QString::number(fallback)); // the default is in effect
            return fallback;
        }
        bool ok = false;
        const int value = text.toInt(&ok);
        if (!ok || value < min || value > max) {
            problem(key, QStringLiteral("must be a whole number from %1 to %2, not '%3'")
                             .arg(min)
                             .arg(max)
                             .arg(text));
            return fallback;
        }
        m_values.insert(key, QString::number(value)); // "060" is 60
        return value;
    }

    QString readableFile(const QString &key, bool required) {
        const QString path = required ? this->required(key) : string(key);
        if (path.isEmpty())
            return path;
        const QFileInfo info(path);
        if (!info.isFile() || !info.isReadable())
            problem(key, QStringLiteral("cannot read the file '%1'").arg(path));
        return path;
    }

    void problem(const QString &key, const QString &message) {
        const qsizetype slash = key.indexOf(QLatin1Char('/'));
        *m_errors << QStringLiteral("%1: [%2] %3: %4")
                         .arg(m_path, key.left(slash), key.mid(slash + 1), message);
    }

    QSettings::Status status() const { return m_settings.status(); }
    // The value in effect of `key`, when it is not the text as written.
    void record(const QString &key, const QString &value) { m_values.insert(key, value); }
    const QMap<QString, QString> &values() const { return m_values; }

    QStringList unknownKeys() const {
        QStringList unknown;
        for (const QString &key : m_settings.allKeys()) {
            if (!m_known.contains(key))
                unknown << key;
        }
        return unknown;
    }

private:
    QString m_path;
    QSettings m_settings;
    QStringList *m_errors;
    QSet<QString> m_known;
    QMap<QString, QString> m_values;
};

// Whether a TLS file may be read. QSslCertificate::fromPath (wns.ca_file),
// given anything but a file (a directory, a path that does not exist),
// searches the directory above it, subdirectories and symbolic links
// included, taking the path as a regular expression: "ca_file = /usr/" took
// 15 s, "certificate = //" walked the whole file system (found by
// fuzz_config). The registration files are read by tls::, which checks the
// same; here it keeps a file already reported unreadable from a second line.
bool isReadableFile(const QString &path) {
    const QFileInfo info(path);
    return info.isFile() && info.isReadable();
}

bool parseListen(const QString &text, QHostAddress *address, quint16 *port) {
    // "0.0.0.0:1997", "[::]:1997", "127.0.0.1:1997"
    const qsizetype colon = text.lastIndexOf(QLatin1Char(':'));
    if (colon <= 0)
        return false;
    QString host = text.left(colon);
    if (host.startsWith(QLatin1Char('[')) && host.endsWith(QLatin1Char(']')))
        host = host.mid(1, host.size() - 2);
    bool ok = false;
    const uint number = text.mid(colon + 1).toUInt(&ok);
    // Port 0 picks a free port (tests read the real one from the log).
    if (!ok || number > 65535 || !address->setAddress(host))
        return false;
    *port = quint16(number);
    return true;
}

bool isDomain(const QString &jid) {
    static const QRegularExpression pattern(QStringLiteral(
        "^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"));
    return jid.size() <= 1023 && pattern.match(jid).hasMatch();
}

void readXmpp(ConfigReader &in, XmppSettings *xmpp) {
    xmpp->componentJid = in.required(QStringLiteral("xmpp/component_jid"));
    if (!xmpp->componentJid.isEmpty() && !isDomain(xmpp->componentJid))
        in.problem(QStringLiteral("xmpp/component_jid"),
                   QStringLiteral("must be a domain JID like push.example.org, not '%1'")
                       .arg(xmpp->componentJid));
    xmpp->host = in.string(QStringLiteral("xmpp/host"), xmpp->host);
    if (xmpp->host.isEmpty())
        in.problem(QStringLiteral("xmpp/host"), QStringLiteral("must not be empty"));
    xmpp->port = quint16(in.integer(QStringLiteral("xmpp/port"), xmpp->port, 1, 65535));
    xmpp->secret = in.required(QStringLiteral("xmpp/secret"), kPlaceholder);
    xmpp->reconnectMaxMs =
        in.integer(QStringLiteral("xmpp/reconnect_max_delay"), xmpp->reconnectMaxMs / 1000, 1, 60) *
        1000;
}

// "10.0.0.5, 10.0.1.0/24, fd00::/64": the balancers that send the PROXY
// protocol. An address alone is that one address.
void readProxyProtocolFrom(ConfigReader &in, RegistrationSettings *registration) {
    const QString key = QStringLiteral("registration/proxy_protocol_from");
    for (const QString &item : in.string(key).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const QString text = item.trimmed();
        if (text.isEmpty())
            continue;
        QPair<QHostAddress, int> subnet;
        if (text.contains(QLatin1Char('/'))) {
            subnet = QHostAddress::parseSubnet(text);
        } else if (subnet.first.setAddress(text) && subnet.first.scopeId().isEmpty()) {
            subnet.second = subnet.first.protocol() == QAbstractSocket::IPv4Protocol ? 32 : 128;
        } else {
            subnet = {};
        }
        if (subnet.first.isNull() || subnet.second < 0) {
            in.problem(key, QStringLiteral("must list addresses or CIDRs like 10.0.0.5, "
                                           "10.0.1.0/24 or fd00::/64, not '%1'")
                                .arg(text));
            continue;
        }
        registration->proxyProtocolFrom << subnet;
    }
}

void readRegistration(ConfigReader &in, RegistrationSettings *registration) {
    const QString listen =
        in.string(QStringLiteral("registration/listen"), QStringLiteral("0.0.0.0:1997"));
    if (!parseListen(listen, &registration->address, &registration->port))
        in.problem(QStringLiteral("registration/listen"),
                   QStringLiteral("must be address:port like 0.0.0.0:1997 or [::]:1997, not '%1'")
                       .arg(listen));
    registration->certificate = in.readableFile(QStringLiteral("registration/certificate"), true);
    registration->privateKey = in.readableFile(QStringLiteral("registration/private_key"), true);
    registration->idleTimeoutMs = in.integer(QStringLiteral("registration/idle_timeout"),
                                             registration->idleTimeoutMs / 1000, 1, 3600) *
                                  1000;
    registration->maxConnections = in.integer(QStringLiteral("registration/max_connections"),
                                              registration->maxConnections, 1, 1000000);
    registration->maxConnectionsPerAddress =
        in.integer(QStringLiteral("registration/max_connections_per_address"),
                   registration->maxConnectionsPerAddress, 1, 1000000);
    registration->requestsPerSecondPerAddress =
        in.integer(QStringLiteral("registration/rate_per_address"),
                   int(registration->requestsPerSecondPerAddress), 1, 100000);
    registration->requestsPerMinutePerDevice =
        in.integer(QStringLiteral("registration/rate_per_device"),
                   int(registration->requestsPerMinutePerDevice), 1, 100000);
    registration->testPushIntervalMs =
        in.integer(QStringLiteral("registration/test_push_interval"),
                   registration->testPushIntervalMs / 1000, 1, 3600) *
        1000;
    registration->handshakeTimeoutMs = in.integer(QStringLiteral("registration/handshake_timeout"),
                                                  registration->handshakeTimeoutMs / 1000, 1, 60) *
                                       1000;
    registration->maxHandshakes = in.integer(QStringLiteral("registration/max_handshakes"),
                                             registration->maxHandshakes, 1, 1000000);
    readProxyProtocolFrom(in, registration);
}

// TLS to PostgreSQL (libpq's sslmode and sslrootcert). Verifying needs the
// CA: libpq would otherwise look in the service user's home directory.
void readStorageTls(ConfigReader &in, StorageSettings *storage) {
    static const QStringList kModes{QStringLiteral("disable"), QStringLiteral("prefer"),
                                    QStringLiteral("require"), QStringLiteral("verify-ca"),
                                    QStringLiteral("verify-full")};
    storage->sslMode = in.string(QStringLiteral("storage/sslmode"), storage->sslMode);
    if (!kModes.contains(storage->sslMode))
        in.problem(QStringLiteral("storage/sslmode"),
                   QStringLiteral("must be one of %1, not '%2'")
                       .arg(kModes.join(QStringLiteral(", ")), storage->sslMode));
    storage->sslRootCert = in.readableFile(QStringLiteral("storage/ssl_root_cert"), false);
    if (storage->sslRootCert.contains(QLatin1Char(';')))
        in.problem(QStringLiteral("storage/ssl_root_cert"),
                   QStringLiteral("may not contain ';': '%1'").arg(storage->sslRootCert));
    else if (isReadableFile(storage->sslRootCert) &&
             QSslCertificate::fromPath(storage->sslRootCert, QSsl::Pem).isEmpty())
        in.problem(QStringLiteral("storage/ssl_root_cert"),
                   QStringLiteral("holds no PEM certificate: '%1'").arg(storage->sslRootCert));
    if (storage->driver == QLatin1String("postgresql") &&
        storage->sslMode.startsWith(QLatin1String("verify")) && storage->sslRootCert.isEmpty())
        in.problem(QStringLiteral("storage/ssl_root_cert"),
                   QStringLiteral("is required with sslmode = %1: the PEM file of the CA that "
                                  "signed the database server's certificate")
                       .arg(storage->sslMode));
}

void readStorage(ConfigReader &in, StorageSettings *storage) {
    storage->driver = in.string(QStringLiteral("storage/driver"), storage->driver);
    storage->path = in.string(QStringLiteral("storage/path"),
                              QStringLiteral("/var/lib/uwpx-push-server/push.db"));
    storage->host = in.string(QStringLiteral("storage/host"), QStringLiteral("localhost"));
    storage->port = in.integer(QStringLiteral("storage/port"), storage->port, 1, 65535);
    storage->database =
        in.string(QStringLiteral("storage/database"), QStringLiteral("uwpx_push_server"));
    storage->user = in.string(QStringLiteral("storage/user"), QStringLiteral("uwpx-push-server"));
    storage->password = in.string(QStringLiteral("storage/password"));
    storage->expireDays =
        in.integer(QStringLiteral("storage/expire_days"), storage->expireDays, 1, 3650);
    storage->connections =
        in.integer(QStringLiteral("storage/connections"), storage->connections, 1, 64);
    storage->timeoutMs =
        in.integer(QStringLiteral("storage/timeout"), storage->timeoutMs / 1000, 1, 20) * 1000;
    readStorageTls(in, storage);
    storage->keepalivesIdleS =
        in.integer(QStringLiteral("storage/keepalives_idle"), storage->keepalivesIdleS, 1, 3600);
    storage->keepalivesIntervalS = in.integer(QStringLiteral("storage/keepalives_interval"),
                                              storage->keepalivesIntervalS, 1, 600);
    storage->keepalivesCount =
        in.integer(QStringLiteral("storage/keepalives_count"), storage->keepalivesCount, 1, 100);
    if (storage->driver == QLatin1String("sqlite")) {
        if (storage->path.isEmpty())
            in.problem(QStringLiteral("storage/path"),
                       QStringLiteral("must name the SQLite database file"));
    } else if (storage->driver != QLatin1String("postgresql")) {
        in.problem(QStringLiteral("storage/driver"),
                   QStringLiteral("must be sqlite or postgresql, not '%1'").arg(storage->driver));
    }
}

void readWns(ConfigReader &in, WnsSettings *wns) {
    wns->packageSid = in.required(QStringLiteral("wns/package_sid"), kPlaceholderSid);
    wns->clientSecret = in.required(QStringLiteral("wns/client_secret"), kPlaceholder);
    const QString tokenUrl = in.string(QStringLiteral("wns/token_url"), wns->tokenUrl.toString());
    wns->tokenUrl = QUrl(tokenUrl, QUrl::StrictMode);
    if (!wns->tokenUrl.isValid() || wns->tokenUrl.scheme() != QLatin1String("https") ||
        wns->tokenUrl.host().isEmpty())
        in.problem(QStringLiteral("wns/token_url"),
                   QStringLiteral("must be an https URL, not '%1'").arg(tokenUrl));
    wns->scope = in.string(QStringLiteral("wns/scope"), wns->scope);
    if (wns->scope.isEmpty())
        in.problem(QStringLiteral("wns/scope"), QStringLiteral("must not be empty"));

    const QString hosts =
        in.string(QStringLiteral("wns/channel_hosts"), wns->channelHosts.join(QLatin1Char(',')));
    wns->channelHosts.clear();
    for (const QString &pattern : hosts.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        if (!pattern.trimmed().isEmpty())
            wns->channelHosts << pattern.trimmed().toLower();
    }
    if (wns->channelHosts.isEmpty())
        in.problem(QStringLiteral("wns/channel_hosts"),
                   QStringLiteral("must list at least one host pattern"));

    wns->caFile = in.readableFile(QStringLiteral("wns/ca_file"), false);
    if (isReadableFile(wns->caFile) && QSslCertificate::fromPath(wns->caFile, QSsl::Pem).isEmpty())
        in.problem(QStringLiteral("wns/ca_file"),
                   QStringLiteral("holds no PEM certificate: '%1'").arg(wns->caFile));
    wns->requestTimeoutMs =
        in.integer(QStringLiteral("wns/request_timeout"), wns->requestTimeoutMs / 1000, 1, 20) *
        1000;
    wns->connectionsPerHost =
        in.integer(QStringLiteral("wns/connections_per_host"), wns->connectionsPerHost, 1, 256);
}

void readMetrics(ConfigReader &in, MetricsSettings *metrics) {
    const QString listen = in.string(QStringLiteral("metrics/listen"));
    if (listen.isEmpty())
        return;
    metrics->enabled = true;
    bool bare = false;
    const uint port = listen.toUInt(&bare);
    if (bare && port <= 65535) {
        metrics->port = quint16(port);
        return;
    }
    if (!parseListen(listen, &metrics->address, &metrics->port))
        in.problem(
            QStringLiteral("metrics/listen"),
            QStringLiteral("must be a port (on loopback) or address:port, not '%1'").arg(listen));
}

void readLog(ConfigReader &in, LogSettings *log) {
    static const QMap<QString, LogLevel> levels{{QStringLiteral("debug"), LogLevel::Debug},
                                                {QStringLiteral("info"), LogLevel::Info},
                                                {QStringLiteral("warning"), LogLevel::Warning},
                                                {QStringLiteral("error"), LogLevel::Error}};
    const QString level = in.string(QStringLiteral("log/level"), QStringLiteral("info")).toLower();
    in.record(QStringLiteral("log/level"), level);
    if (!levels.contains(level))
        in.problem(QStringLiteral("log/level"),
                   QStringLiteral("must be debug, info, warning or error, not '%1'").arg(level));
    log->level = levels.value(level, LogLevel::Info);
}

// The endpoint's own reader, so that what passes here also loads at start
// and on SIGHUP. A file that is missing or no regular file was reported by
// readableFile() already.
void checkTlsFiles(ConfigReader &in, const RegistrationSettings &registration) {
    if (isReadableFile(registration.certificate) &&
        tls::readCertificateChain(registration.certificate).isEmpty())
        in.problem(QStringLiteral("registration/certificate"),
                   QStringLiteral("holds no PEM certificate: '%1'").arg(registration.certificate));
    if (!isReadableFile(registration.privateKey))
        return;
    const QSslKey key = tls::readPrivateKey(registration.privateKey);
    if (key.isNull()) {
        in.problem(QStringLiteral("registration/private_key"),
                   QStringLiteral("holds no unencrypted PEM RSA or EC key: '%1'")
                       .arg(registration.privateKey));
        return;
    }
    const QList<QSslCertificate> chain = isReadableFile(registration.certificate)
                                             ? tls::readCertificateChain(registration.certificate)
                                             : QList<QSslCertificate>();
    if (!chain.isEmpty() && !tls::keyMatchesCertificate(key, chain.first()))
        in.problem(QStringLiteral("registration/private_key"),
                   QStringLiteral("'%1' is not the key of the certificate '%2'")
                       .arg(registration.privateKey, registration.certificate));
}

} // namespace

QStringList Config::changedKeys(const Config &a, const Config &b) {
    QStringList changed;
    QMap<QString, QString> all = a.values;
    all.insert(b.values);
    for (auto it = all.cbegin(); it != all.cend(); ++it) {
        if (a.values.value(it.key()) != b.values.value(it.key()))
            changed << it.key();
    }
    return changed;
}

QString Config::defaultPath() {
    return QStringLiteral("/etc/uwpx-push-server/uwpx-push-server.ini");
}

bool Config::load(const QString &path, Config *config, QStringList *errors, QStringList *warnings) {
    const QFileInfo file(path);
    if (!file.isFile() || !file.isReadable()) {
        *errors << QStringLiteral("%1: cannot read the configuration file").arg(path);
        return false;
    }
    const qsizetype before = errors->size();
    ConfigReader in(path, errors);
    if (in.status() != QSettings::NoError) {
        *errors << QStringLiteral("%1: not a valid INI file").arg(path);
        return false;
    }
    readXmpp(in, &config->xmpp);
    readRegistration(in, &config->registration);
    readStorage(in, &config->storage);
    readWns(in, &config->wns);
    readMetrics(in, &config->metrics);
    readLog(in, &config->log);
    checkTlsFiles(in, config->registration);
    config->values = in.values();
    for (const QString &key : in.unknownKeys()) {
        const qsizetype slash = key.indexOf(QLatin1Char('/'));
        *warnings << QStringLiteral("%1: [%2] %3: unknown key, ignored")
                         .arg(path, slash < 0 ? QStringLiteral("General") : key.left(slash),
                              key.mid(slash + 1));
    }
    return errors->size() == before;
}

} // namespace uwpx

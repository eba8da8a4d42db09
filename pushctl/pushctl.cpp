#include "pushctl.h"

#include "checks.h"
#include "config.h"
#include "identity.h"
#include "importsources.h"
#include "shorten.h"
#include "storeadmin.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QUrl>

#include <algorithm>

#include <unistd.h>

namespace uwpx::pushctl {

namespace {

const char kUsage[] =
    "Usage: uwpx-pushctl [--config FILE] [--json] COMMAND\n"
    "\n"
    "Commands:\n"
    "  stats                    devices (active, suspended), accounts, schema, store size\n"
    "  device show DEVICE_ID    one device and its accounts\n"
    "  device forget DEVICE_ID  remove a device and its accounts\n"
    "  forget-jid BARE_JID      remove every account of that address on every device\n"
    "  backup FILE              a consistent copy of a SQLite store, mode 0600\n"
    "  check                    the configuration, store, XMPP port, WNS token, certificate\n"
    "  import SOURCE [--dry-run]  registrations of the earlier push servers:\n"
    "                           sqlite:PATH (Python) or redis://HOST:PORT[/DB] (C++)\n"
    "\n"
    "Options:\n"
    "  --config FILE  the daemon's configuration (default "
    "/etc/uwpx-push-server/uwpx-push-server.ini)\n"
    "  --json         one JSON document on stdout instead of text\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error. See uwpx-pushctl(8).\n";

// One command line, parsed.
struct Invocation {
    QString configPath = Config::defaultPath();
    bool json = false;
    bool dryRun = false;
    QStringList words; // the command and its arguments
};

// Writes what a command found: text for people, or one JSON document.
class Output {
public:
    Output(QTextStream &out, QTextStream &err, bool json)
        : m_out(out)
        , m_err(err)
        , m_json(json) {}

    bool json() const { return m_json; }
    void line(const QString &text) {
        if (!m_json)
            m_out << text << '\n';
    }
    void document(const QJsonObject &object) {
        if (m_json)
            m_out << QJsonDocument(object).toJson(QJsonDocument::Compact) << '\n';
    }
    // One line per problem, on stderr, whatever the format.
    int fail(const QString &problem, int status = Failure) {
        m_err << "uwpx-pushctl: " << problem << '\n';
        return status;
    }

private:
    QTextStream &m_out;
    QTextStream &m_err;
    bool m_json;
};

QString isoTime(const QDateTime &time) {
    return time.isValid() ? time.toUTC().toString(Qt::ISODate) : QString();
}

QJsonValue jsonTime(const QDateTime &time) {
    return time.isValid() ? QJsonValue(isoTime(time)) : QJsonValue(QJsonValue::Null);
}

QString channelHost(const QString &channelUri) {
    const QString host = QUrl(channelUri).host();
    return host.isEmpty() ? QStringLiteral("(not a URL)") : host;
}

// A bare JID as users know it: local@domain, no resource, no spaces.
bool isBareJid(const QString &jid) {
    static const QRegularExpression shape(QStringLiteral("\\A[^@/\\s]+@[^@/\\s]+\\z"));
    return jid.size() <= 3071 && shape.match(jid).hasMatch();
}

// Loads the configuration. Commands on the store need only [storage] (and
// import [wns] channel_hosts): an operator may import before configuring the
// rest. `check` and a missing file need all of it.
bool loadConfig(const Invocation &invocation, const QStringList &sections, Config *config,
                Output &output) {
    QStringList errors;
    QStringList warnings;
    if (Config::load(invocation.configPath, config, &errors, &warnings))
        return true;
    QStringList relevant;
    for (const QString &error : std::as_const(errors)) {
        const bool needed =
            sections.isEmpty() || !error.contains(QLatin1String(": [")) ||
            std::any_of(sections.cbegin(), sections.cend(),
                        [&](const QString &section) { return error.contains(section); });
        if (needed)
            relevant << error;
    }
    for (const QString &error : std::as_const(relevant))
        output.fail(error);
    return relevant.isEmpty();
}

// A new SQLite store made by root in the daemon's directory would belong to
// root, and the daemon (its own user) could not write it.
bool wouldCreateForeignStore(const StorageSettings &settings, QString *why) {
    if (settings.driver != QLatin1String("sqlite") || ::geteuid() != 0 ||
        QFileInfo::exists(settings.path))
        return false;
    const QFileInfo directory(QFileInfo(settings.path).absolutePath());
    if (!directory.exists() || directory.ownerId() == 0)
        return false;
    *why = QStringLiteral("%1 does not exist yet, and root would own the new store: run as "
                          "the daemon's user (sudo -u %2 uwpx-pushctl ...)")
               .arg(settings.path, directory.owner());
    return true;
}

std::unique_ptr<StoreAdmin> openStore(const Config &config, Output &output) {
    QString why;
    if (wouldCreateForeignStore(config.storage, &why)) {
        output.fail(why);
        return nullptr;
    }
    StorageSettings settings = config.storage;
    // A tool run by hand may wait a little longer than the daemon does for
    // the write lock the daemon holds for a moment.
    settings.timeoutMs = std::max(settings.timeoutMs, 10000);
    QString error;
    auto store = StoreAdmin::open(settings, &error);
    if (!store)
        output.fail(QStringLiteral("cannot open the %1 store: %2").arg(settings.driver, error));
    return store;
}

// --- the commands ---------------------------------------------------------

int stats(const Config &config, Output &output) {
    auto store = openStore(config, output);
    if (!store)
        return Failure;
    const StorageResult<StoreStats> result = store->stats();
    if (!result.isOk())
        return output.fail(QStringLiteral("cannot read the store: %1").arg(result.error()));
    const StoreStats &stats = result.value();
    auto sum = [](const QMap<int, qint64> &counts) {
        qint64 total = 0;
        for (qint64 count : counts)
            total += count;
        return total;
    };
    QList<int> versions =
        stats.activeDevices.keys() + stats.suspendedDevices.keys() + stats.accounts.keys();
    std::sort(versions.begin(), versions.end());
    versions.erase(std::unique(versions.begin(), versions.end()), versions.end());

    QJsonObject byVersion;
    output.line(QStringLiteral("devices: %1 active, %2 suspended")
                    .arg(sum(stats.activeDevices))
                    .arg(sum(stats.suspendedDevices)));
    output.line(QStringLiteral("accounts: %1").arg(sum(stats.accounts)));
    for (int version : versions) {
        const qint64 active = stats.activeDevices.value(version);
        const qint64 suspended = stats.suspendedDevices.value(version);
        const qint64 accounts = stats.accounts.value(version);
        output.line(QStringLiteral("  version %1: %2 active devices, %3 suspended, %4 accounts")
                        .arg(version)
                        .arg(active)
                        .arg(suspended)
                        .arg(accounts));
        byVersion.insert(QString::number(version), QJsonObject{{"active_devices", active},
                                                               {"suspended_devices", suspended},
                                                               {"accounts", accounts}});
    }
    output.line(QStringLiteral("schema version: %1 (this version's: %2)")
                    .arg(stats.schemaVersion)
                    .arg(StoreAdmin::latestSchemaVersion()));
    output.line(QStringLiteral("store size: %1 bytes").arg(stats.sizeBytes));
    output.document(QJsonObject{
        {"devices", QJsonObject{{"active", sum(stats.activeDevices)},
                                {"suspended", sum(stats.suspendedDevices)}}},
        {"accounts", sum(stats.accounts)},
        {"by_version", byVersion},
        {"schema_version", stats.schemaVersion},
        {"store_bytes", stats.sizeBytes},
    });
    return Success;
}

int deviceShow(const Config &config, const QString &deviceId, Output &output) {
    auto store = openStore(config, output);
    if (!store)
        return Failure;
    const StorageResult<StoredDevice> result = store->device(deviceId);
    if (result.isNotFound())
        return output.fail(QStringLiteral("no device %1 in the store").arg(deviceId));
    if (!result.isOk())
        return output.fail(QStringLiteral("cannot read the store: %1").arg(result.error()));
    const StoredDevice &device = result.value();
    const bool suspended = device.suspendedAt.isValid();
    output.line(QStringLiteral("device %1").arg(device.deviceId));
    output.line(QStringLiteral("  protocol version: %1").arg(device.protocolVersion));
    output.line(QStringLiteral("  channel host: %1").arg(channelHost(device.channelUri)));
    output.line(QStringLiteral("  last refresh: %1").arg(isoTime(device.refreshedAt)));
    output.line(suspended ? QStringLiteral("  suspended: yes, since %1 (WNS reported its channel "
                                           "gone; its next set_channel_uri resumes it)")
                                .arg(isoTime(device.suspendedAt))
                          : QStringLiteral("  suspended: no"));
    output.line(QStringLiteral("  accounts: %1").arg(device.accounts.size()));
    QJsonArray accounts;
    for (const StoredAccount &account : device.accounts) {
        const QString domain =
            account.domain.isEmpty() ? QStringLiteral("(not learned yet)") : account.domain;
        output.line(QStringLiteral("    key %1  v%2  domain %3  node %4  since %5")
                        .arg(shorten(account.key), QString::number(account.protocolVersion), domain,
                             shorten(account.node), isoTime(account.createdAt)));
        accounts.append(QJsonObject{
            {"key", shorten(account.key)},
            {"protocol_version", account.protocolVersion},
            {"domain",
             account.domain.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(account.domain)},
            {"node", shorten(account.node)},
            {"created_at", jsonTime(account.createdAt)},
            {"updated_at", jsonTime(account.updatedAt)},
        });
    }
    output.document(QJsonObject{
        {"device_id", device.deviceId},
        {"protocol_version", device.protocolVersion},
        {"channel_host", channelHost(device.channelUri)},
        {"last_refresh", jsonTime(device.refreshedAt)},
        {"suspended", suspended},
        {"suspended_at", jsonTime(device.suspendedAt)},
        {"accounts", accounts},
    });
    return Success;
}

int deviceForget(const Config &config, const QString &deviceId, Output &output) {
    auto store = openStore(config, output);
    if (!store)
        return Failure;
    const StorageResult<int> result = store->forgetDevice(deviceId);
    if (result.isNotFound())
        return output.fail(QStringLiteral("no device %1 in the store").arg(deviceId));
    if (!result.isOk())
        return output.fail(QStringLiteral("cannot remove the device: %1").arg(result.error()));
    output.line(QStringLiteral("removed device %1 and its %2 accounts")
                    .arg(normalizedDeviceId(deviceId))
                    .arg(result.value()));
    output.document(QJsonObject{{"device_id", normalizedDeviceId(deviceId)},
                                {"removed_accounts", result.value()}});
    return Success;
}

int forgetJid(const Config &config, const QString &jid, Output &output) {
    auto store = openStore(config, output);
    if (!store)
        return Failure;
    const StorageResult<int> result = store->forgetBareJid(jid);
    if (!result.isOk())
        return output.fail(QStringLiteral("cannot remove the accounts: %1").arg(result.error()));
    // The address is not repeated: the output may end up in a ticket or log.
    output.line(QStringLiteral("removed %1 accounts of that address").arg(result.value()));
    output.document(QJsonObject{{"removed_accounts", result.value()}});
    return Success;
}

int backup(const Config &config, const QString &path, Output &output) {
    if (config.storage.driver != QLatin1String("sqlite"))
        return output.fail(QStringLiteral("backup copies SQLite stores only; back up PostgreSQL "
                                          "with pg_dump (e.g. pg_dump -Fc -f FILE %1)")
                               .arg(config.storage.database));
    auto store = openStore(config, output);
    if (!store)
        return Failure;
    const StorageResult<> result = store->backupTo(path);
    if (!result.isOk())
        return output.fail(QStringLiteral("backup to %1 failed: %2").arg(path, result.error()));
    const qint64 bytes = QFileInfo(path).size();
    output.line(
        QStringLiteral("copied the store to %1 (%2 bytes, mode 0600)").arg(path).arg(bytes));
    output.document(QJsonObject{{"backup", path}, {"bytes", bytes}});
    return Success;
}

int check(const Invocation &invocation, Output &output) {
    Config config;
    QStringList errors;
    QStringList warnings;
    QList<CheckResult> results;
    if (!Config::load(invocation.configPath, &config, &errors, &warnings)) {
        for (const QString &error : std::as_const(errors))
            results << CheckResult{CheckResult::Failed, QStringLiteral("configuration"), error};
    } else {
        results << CheckResult{CheckResult::Ok, QStringLiteral("configuration"),
                               QStringLiteral("%1 is valid").arg(invocation.configPath)};
        for (const QString &warning : std::as_const(warnings))
            results << CheckResult{CheckResult::Warning, QStringLiteral("configuration"), warning};
        results << checkStore(config.storage) << checkXmpp(config.xmpp) << checkWnsToken(config.wns)
                << checkCertificate(config.registration);
    }
    bool allOk = true;
    QJsonArray checks;
    for (const CheckResult &result : std::as_const(results)) {
        static const char *const kWords[] = {"ok", "warning", "failed"};
        checks.append(QJsonObject{{"name", result.name},
                                  {"status", QLatin1String(kWords[result.status])},
                                  {"detail", result.detail}});
        // A failure is said once, on stderr, where scripts and people look.
        if (result.status == CheckResult::Failed) {
            allOk = false;
            output.fail(QStringLiteral("%1: %2").arg(result.name, result.detail));
            continue;
        }
        output.line(QStringLiteral("%1 %2: %3")
                        .arg(QLatin1String(kWords[result.status]), result.name, result.detail));
    }
    output.document(QJsonObject{{"ok", allOk}, {"checks", checks}});
    return allOk ? Success : Failure;
}

int import(const Config &config, const QString &sourceName, bool dryRun, Output &output) {
    ImportSource source;
    QString error;
    bool usage = false;
    if (!readImportSource(sourceName, config.wns.channelHosts, &source, &error, &usage))
        return output.fail(usage ? error : error + QStringLiteral(" (nothing was imported)"),
                           usage ? UsageError : Failure);
    auto store = openStore(config, output);
    if (!store)
        return Failure;
    const StorageResult<ImportReport> result = store->importDevices(source.devices, dryRun);
    if (!result.isOk())
        return output.fail(
            QStringLiteral("import failed, nothing was imported: %1").arg(result.error()));
    QList<ImportReport::Item> items = source.skipped + result->items;
    int devices = 0;
    int accounts = 0;
    int alreadyThere = 0;
    QJsonArray skipped;
    QStringList skippedLines;
    for (const ImportReport::Item &item : std::as_const(items)) {
        const bool device = item.kind == ImportReport::Item::Device;
        if (item.imported) {
            ++(device ? devices : accounts);
            continue;
        }
        const QString kind = device ? QStringLiteral("device") : QStringLiteral("account");
        const QString id = shorten(item.id, device ? 12 : 8);
        skipped.append(QJsonObject{
            {"kind", kind}, {"id", id}, {"where", item.where}, {"reason", item.reason}});
        // A second run finds everything there: counted, not listed, in text.
        if (item.reason == QLatin1String(ImportReport::kAlreadyImported)) {
            ++alreadyThere;
            continue;
        }
        skippedLines << QStringLiteral("  %1 %2 (%3): %4").arg(kind, id, item.where, item.reason);
    }
    // A Redis URL may carry a password: never shown.
    const QString shownSource = QUrl(sourceName).scheme() == QLatin1String("redis")
                                    ? QUrl(sourceName).toString(QUrl::RemoveUserInfo)
                                    : sourceName;
    output.line(QStringLiteral("%1 %2 devices and %3 accounts from %4")
                    .arg(dryRun ? QStringLiteral("would import") : QStringLiteral("imported"))
                    .arg(devices)
                    .arg(accounts)
                    .arg(shownSource));
    if (alreadyThere > 0)
        output.line(QStringLiteral("already imported: %1 devices and accounts").arg(alreadyThere));
    if (!skippedLines.isEmpty()) {
        output.line(QStringLiteral("skipped %1:").arg(skippedLines.size()));
        for (const QString &line : std::as_const(skippedLines))
            output.line(line);
    }
    output.document(QJsonObject{
        {"source", shownSource},
        {"dry_run", dryRun},
        {"imported", QJsonObject{{"devices", devices}, {"accounts", accounts}}},
        {"skipped", skipped},
    });
    return Success;
}

// --- the command line -----------------------------------------------------

// Returns false with *problem set on a usage error; *help/*version when asked.
bool parse(const QStringList &arguments, Invocation *invocation, QString *problem, bool *help,
           bool *version) {
    for (qsizetype i = 0; i < arguments.size(); ++i) {
        const QString &argument = arguments[i];
        if (argument == QLatin1String("--json")) {
            invocation->json = true;
        } else if (argument == QLatin1String("--dry-run")) {
            invocation->dryRun = true;
        } else if (argument == QLatin1String("--help") || argument == QLatin1String("-h")) {
            *help = true;
        } else if (argument == QLatin1String("--version")) {
            *version = true;
        } else if (argument == QLatin1String("--config")) {
            if (i + 1 >= arguments.size()) {
                *problem = QStringLiteral("--config needs a file");
                return false;
            }
            invocation->configPath = arguments[++i];
        } else if (argument.startsWith(QLatin1String("--config="))) {
            invocation->configPath = argument.mid(9);
        } else if (argument == QLatin1String("--")) {
            invocation->words += arguments.mid(i + 1);
            break;
        } else if (argument.startsWith(QLatin1Char('-')) && argument.size() > 1) {
            *problem = QStringLiteral("unknown option '%1'").arg(shorten(argument, 40));
            return false;
        } else {
            invocation->words << argument;
        }
    }
    if (invocation->configPath.isEmpty()) {
        *problem = QStringLiteral("--config needs a file");
        return false;
    }
    return true;
}

} // namespace

int run(const QStringList &arguments, QTextStream &out, QTextStream &err) {
    Invocation invocation;
    QString problem;
    bool help = false;
    bool version = false;
    Output usageOutput(out, err, false);
    auto usage = [&](const QString &why) {
        return usageOutput.fail(why + QStringLiteral("; see uwpx-pushctl --help"), UsageError);
    };
    if (!parse(arguments, &invocation, &problem, &help, &version))
        return usage(problem);
    if (help) {
        out << kUsage;
        return Success;
    }
    if (version) {
        out << "uwpx-pushctl " << UWPX_VERSION << '\n';
        return Success;
    }
    const QStringList &words = invocation.words;
    if (words.isEmpty())
        return usage(QStringLiteral("no command given"));
    const QString command = words.first();
    // How many words each command takes, itself included.
    const QHash<QString, int> arity = {{"stats", 1},  {"device", 3}, {"forget-jid", 2},
                                       {"backup", 2}, {"check", 1},  {"import", 2}};
    if (!arity.contains(command))
        return usage(QStringLiteral("unknown command '%1'").arg(shorten(command, 40)));
    if (words.size() != arity.value(command))
        return usage(
            QStringLiteral("%1 takes %2 argument(s)").arg(command).arg(arity.value(command) - 1));
    if (invocation.dryRun && command != QLatin1String("import"))
        return usage(QStringLiteral("--dry-run goes with import only"));
    if (command == QLatin1String("device") && words[1] != QLatin1String("show") &&
        words[1] != QLatin1String("forget"))
        return usage(QStringLiteral("device show DEVICE_ID or device forget DEVICE_ID"));
    if (command == QLatin1String("device") && !isWellFormedDeviceId(words[2]))
        return usage(QStringLiteral("'%1' is not a device id (16 to 128 hex digits)")
                         .arg(shorten(words[2], 40)));
    if (command == QLatin1String("forget-jid") && !isBareJid(words[1]))
        return usage(QStringLiteral("not a bare JID (user@domain, no resource)"));
    if (command == QLatin1String("backup") && words[1].isEmpty())
        return usage(QStringLiteral("backup needs a file name"));

    Output output(out, err, invocation.json);
    if (command == QLatin1String("check"))
        return check(invocation, output);
    Config config;
    const QStringList sections =
        command == QLatin1String("import")
            ? QStringList{QStringLiteral("[storage]"), QStringLiteral("[wns] channel_hosts")}
            : QStringList{QStringLiteral("[storage]")};
    if (!loadConfig(invocation, sections, &config, output))
        return Failure;
    if (command == QLatin1String("stats"))
        return stats(config, output);
    if (command == QLatin1String("device"))
        return words[1] == QLatin1String("show") ? deviceShow(config, words[2], output)
                                                 : deviceForget(config, words[2], output);
    if (command == QLatin1String("forget-jid"))
        return forgetJid(config, words[1], output);
    if (command == QLatin1String("backup"))
        return backup(config, words[1], output);
    return import(config, words[1], invocation.dryRun, output);
}

} // namespace uwpx::pushctl

#include "testconfig.h"

#include "fakewns.h"
#include "testpki.h"

#include <QDir>
#include <QFile>

namespace uwpx::test {

QString writeConfig(const QString &directory, const QMap<QString, QString> &overrides) {
    const QDir dir(directory);
    TestPki pki;
    QString error;
    if (!QFile::exists(dir.filePath(QStringLiteral("server.pem"))) &&
        !TestPki::create(directory, &pki, &error)) {
        qWarning("%s", qPrintable(error));
        return QString();
    }
    QMap<QString, QString> keys{
        {QStringLiteral("xmpp/component_jid"), QStringLiteral("push.localhost")},
        {QStringLiteral("xmpp/host"), QStringLiteral("127.0.0.1")},
        // Nothing listens there unless a test starts an XMPP server.
        {QStringLiteral("xmpp/port"), QStringLiteral("9")},
        {QStringLiteral("xmpp/secret"), QStringLiteral("component-secret")},
        {QStringLiteral("registration/listen"), QStringLiteral("127.0.0.1:0")},
        {QStringLiteral("registration/certificate"), dir.filePath(QStringLiteral("server.pem"))},
        {QStringLiteral("registration/private_key"), dir.filePath(QStringLiteral("server.key"))},
        // One test client (127.0.0.1) plays many: the limits per client are
        // out of the way unless a test is about them.
        {QStringLiteral("registration/max_connections_per_address"), QStringLiteral("100000")},
        {QStringLiteral("registration/rate_per_address"), QStringLiteral("100000")},
        {QStringLiteral("registration/rate_per_device"), QStringLiteral("100000")},
        {QStringLiteral("registration/test_push_interval"), QStringLiteral("1")},
        {QStringLiteral("storage/driver"), QStringLiteral("sqlite")},
        {QStringLiteral("storage/path"), dir.filePath(QStringLiteral("push.db"))},
        {QStringLiteral("storage/expire_days"), QStringLiteral("30")},
        {QStringLiteral("wns/package_sid"), QStringLiteral("ms-app://s-1-15-2-1234")},
        {QStringLiteral("wns/client_secret"), QStringLiteral("wns-client-secret")},
        {QStringLiteral("wns/token_url"), QStringLiteral("https://127.0.0.1:9/accesstoken.srf")},
        {QStringLiteral("wns/channel_hosts"), QStringLiteral("127.0.0.1")},
        {QStringLiteral("wns/ca_file"), dir.filePath(QStringLiteral("ca.pem"))},
    };
    for (auto it = overrides.cbegin(); it != overrides.cend(); ++it) {
        if (it.value().isEmpty())
            keys.remove(it.key());
        else
            keys.insert(it.key(), it.value());
    }

    QString text;
    QString section;
    for (auto it = keys.cbegin(); it != keys.cend(); ++it) {
        const qsizetype slash = it.key().indexOf(QLatin1Char('/'));
        const QString keySection = it.key().left(slash);
        if (keySection != section) {
            section = keySection;
            text += QStringLiteral("\n[%1]\n").arg(section);
        }
        text += QStringLiteral("%1 = %2\n").arg(it.key().mid(slash + 1), it.value());
    }
    const QString path = dir.filePath(QStringLiteral("uwpx-push-server.ini"));
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return QString();
    file.write(text.toUtf8());
    return path;
}

bool startFakeWns(FakeWns &wns, const QString &directory, QString *error) {
    if (writeConfig(directory).isEmpty()) {
        *error = QStringLiteral("cannot write the test configuration in %1").arg(directory);
        return false;
    }
    const QDir dir(directory);
    if (!wns.listen(dir.filePath(QStringLiteral("server.pem")),
                    dir.filePath(QStringLiteral("server.key")), 0, error))
        return false;
    wns.setCredentials(QStringLiteral("ms-app://s-1-15-2-1234"),
                       QStringLiteral("wns-client-secret"));
    return true;
}

} // namespace uwpx::test

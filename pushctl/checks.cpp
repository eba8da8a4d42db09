#include "checks.h"

#include "storeadmin.h"
#include "tlsfiles.h"
#include "wnsclient.h"

#include <QDeadlineTimer>
#include <QEventLoop>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSslServer>
#include <QSslSocket>
#include <QTcpSocket>
#include <QTimer>

namespace uwpx::pushctl {

namespace {

constexpr int kNetworkTimeoutMs = 5000;
constexpr qint64 kMaxStreamHeaderBytes = 64 * 1024;
constexpr int kWarnDays = 14;

CheckResult ok(const QString &name, const QString &detail) {
    return {CheckResult::Ok, name, detail};
}
CheckResult warning(const QString &name, const QString &detail) {
    return {CheckResult::Warning, name, detail};
}
CheckResult failed(const QString &name, const QString &detail) {
    return {CheckResult::Failed, name, detail};
}

} // namespace

CheckResult checkStore(const StorageSettings &settings) {
    const QString name = QStringLiteral("store");
    // Opening would create the file (owned by whoever runs the check).
    if (settings.driver == QLatin1String("sqlite") && !QFileInfo::exists(settings.path))
        return warning(name, QStringLiteral("%1 does not exist yet; the daemon's first start "
                                            "(or uwpx-pushctl import) creates it")
                                 .arg(settings.path));
    QString error;
    auto store = StoreAdmin::openAsIs(settings, &error);
    if (!store)
        return failed(name,
                      QStringLiteral("cannot open the %1 store: %2").arg(settings.driver, error));
    const StorageResult<int> version = store->schemaVersion();
    if (!version.isOk())
        return failed(name,
                      QStringLiteral("cannot read the schema version: %1").arg(version.error()));
    const int latest = StoreAdmin::latestSchemaVersion();
    if (version.value() > latest)
        return failed(name, QStringLiteral("schema version %1 is newer than this version knows "
                                           "(%2): a newer uwpx-push-server wrote it")
                                .arg(version.value())
                                .arg(latest));
    if (version.value() < latest)
        return warning(name, QStringLiteral("schema version %1; the daemon (or any other "
                                            "uwpx-pushctl command) upgrades it to %2")
                                 .arg(version.value())
                                 .arg(latest));
    return ok(
        name,
        QStringLiteral("%1 store opens at schema version %2").arg(settings.driver).arg(latest));
}

CheckResult checkXmpp(const XmppSettings &settings) {
    const QString name = QStringLiteral("xmpp");
    const QString where = QStringLiteral("%1:%2").arg(settings.host).arg(settings.port);
    QTcpSocket socket;
    socket.connectToHost(settings.host, settings.port);
    if (!socket.waitForConnected(kNetworkTimeoutMs))
        return failed(name, QStringLiteral("the component port %1 does not accept a connection: %2")
                                .arg(where, socket.errorString()));
    socket.write(QStringLiteral("<?xml version='1.0'?><stream:stream "
                                "xmlns='jabber:component:accept' "
                                "xmlns:stream='http://etherx.jabber.org/streams' to='%1'>")
                     .arg(settings.componentJid.toHtmlEscaped())
                     .toUtf8());
    // The server answers with its stream header, and at once with a stream
    // error when it does not know the component's name.
    static const QRegularExpression header(QStringLiteral("<stream:stream[^>]*>"));
    static const QRegularExpression streamError(QStringLiteral("<stream:error>\\s*<([a-z-]+)"));
    QByteArray received;
    QDeadlineTimer deadline(kNetworkTimeoutMs);
    bool headerSeen = false;
    QDeadlineTimer settle; // after the header: a little longer for an error
    for (;;) {
        const QString text = QString::fromUtf8(received);
        const auto error = streamError.match(text);
        if (error.hasMatch())
            return failed(name, QStringLiteral("the XMPP server at %1 refused the component %2: %3")
                                    .arg(where, settings.componentJid, error.captured(1)));
        if (!headerSeen && header.match(text).hasMatch()) {
            headerSeen = true;
            settle = QDeadlineTimer(500);
        }
        if (headerSeen && settle.hasExpired())
            break;
        if (received.size() > kMaxStreamHeaderBytes || deadline.hasExpired())
            break;
        const int wait = int(headerSeen ? settle.remainingTime() : deadline.remainingTime());
        if (!socket.waitForReadyRead(wait)) {
            if (socket.state() != QAbstractSocket::ConnectedState && !headerSeen)
                return failed(name, QStringLiteral("%1 closed the connection without an XMPP "
                                                   "stream header: is it the component port?")
                                        .arg(where));
            if (!headerSeen && deadline.hasExpired())
                break;
            continue;
        }
        received += socket.read(kMaxStreamHeaderBytes);
    }
    if (socket.state() == QAbstractSocket::ConnectedState) {
        socket.write("</stream:stream>");
        socket.waitForBytesWritten(1000);
    }
    socket.abort();
    if (!headerSeen)
        return failed(name, QStringLiteral("%1 accepts connections but sent no XMPP stream header "
                                           "within %2 s: is it the component port?")
                                .arg(where)
                                .arg(kNetworkTimeoutMs / 1000));
    // Prosody refuses a name it has no Component for at once; ejabberd only
    // at the handshake, which this check does not make (see checks.h).
    return ok(name, QStringLiteral("the component port %1 answers an XMPP stream for %2")
                        .arg(where, settings.componentJid));
}

CheckResult checkWnsToken(const WnsSettings &settings) {
    const QString name = QStringLiteral("wns");
    WnsClient client(settings);
    QEventLoop loop;
    QString error = QStringLiteral("no answer from the token endpoint");
    bool answered = false;
    client.obtainToken([&](const QString &why) {
        error = why;
        answered = true;
        loop.quit();
    });
    if (!answered) {
        QTimer::singleShot(settings.requestTimeoutMs + kNetworkTimeoutMs, &loop, &QEventLoop::quit);
        loop.exec();
    }
    if (!answered || !error.isEmpty())
        return failed(name, error);
    return ok(name, QStringLiteral("the token endpoint %1 issued a token")
                        .arg(settings.tokenUrl.toString(QUrl::RemoveUserInfo | QUrl::RemoveQuery)));
}

CheckResult checkCertificate(const RegistrationSettings &settings) {
    const QString name = QStringLiteral("certificate");
    const QList<QSslCertificate> chain = tls::readCertificateChain(settings.certificate);
    if (chain.isEmpty())
        return failed(name,
                      QStringLiteral("%1 holds no PEM certificate").arg(settings.certificate));
    const QSslKey key = tls::readPrivateKey(settings.privateKey);
    if (key.isNull())
        return failed(name,
                      QStringLiteral("%1 holds no usable private key").arg(settings.privateKey));

    // Whether the key goes with the certificate is what a TLS handshake
    // finds out; make one on loopback, as a UWPX client would.
    QSslServer server;
    QSslConfiguration serverTls = QSslConfiguration::defaultConfiguration();
    serverTls.setLocalCertificateChain(chain);
    serverTls.setPrivateKey(key);
    serverTls.setProtocol(QSsl::TlsV1_2OrLater);
    server.setSslConfiguration(serverTls);
    if (!server.listen(QHostAddress::LocalHost, 0))
        return failed(name, QStringLiteral("cannot listen on loopback to try the certificate: %1")
                                .arg(server.errorString()));
    QSslSocket client;
    client.setPeerVerifyMode(QSslSocket::VerifyNone);
    QEventLoop loop;
    QString serverError;
    bool encrypted = false;
    QObject::connect(&server, &QSslServer::errorOccurred, &loop,
                     [&](QSslSocket *socket, QAbstractSocket::SocketError) {
                         serverError = socket->errorString();
                         loop.quit();
                     });
    QObject::connect(&server, &QSslServer::sslErrors, &loop,
                     [&](QSslSocket *, const QList<QSslError> &errors) {
                         if (!errors.isEmpty())
                             serverError = errors.first().errorString();
                         loop.quit();
                     });
    QObject::connect(&client, &QSslSocket::encrypted, &loop, [&] {
        encrypted = true;
        loop.quit();
    });
    QObject::connect(&client, &QSslSocket::errorOccurred, &loop, [&] { loop.quit(); });
    QTimer::singleShot(kNetworkTimeoutMs, &loop, &QEventLoop::quit);
    client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort());
    loop.exec();
    if (!encrypted) {
        const QString why = !serverError.isEmpty() ? serverError : client.errorString();
        return failed(name, QStringLiteral("%1 and %2 do not make a TLS server (does the key go "
                                           "with the certificate?): %3")
                                .arg(settings.certificate, settings.privateKey, why));
    }

    const QSslCertificate &leaf = chain.first();
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (leaf.effectiveDate() > now)
        return failed(name,
                      QStringLiteral("%1 is valid only from %2")
                          .arg(settings.certificate, leaf.effectiveDate().toString(Qt::ISODate)));
    if (leaf.expiryDate() <= now)
        return failed(name,
                      QStringLiteral("%1 expired on %2")
                          .arg(settings.certificate, leaf.expiryDate().toString(Qt::ISODate)));
    const qint64 daysLeft = now.secsTo(leaf.expiryDate()) / 86400;
    const QString detail = QStringLiteral("%1 goes with its key and is valid until %2")
                               .arg(settings.certificate, leaf.expiryDate().toString(Qt::ISODate));
    if (daysLeft < kWarnDays)
        return warning(name, QStringLiteral("%1 expires in %2 (on %3): renew it")
                                 .arg(settings.certificate,
                                      daysLeft == 1 ? QStringLiteral("1 day")
                                                    : QStringLiteral("%1 days").arg(daysLeft),
                                      leaf.expiryDate().toString(Qt::ISODate)));
    return ok(name, detail);
}

} // namespace uwpx::pushctl

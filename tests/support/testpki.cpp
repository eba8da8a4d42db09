#include "testpki.h"

#include <QDir>
#include <QProcess>

namespace uwpx::test {

namespace {

bool openssl(const QStringList &arguments, QString *error) {
    QProcess process;
    process.start(QStringLiteral("openssl"), arguments);
    if (!process.waitForFinished(60000) || process.exitStatus() != QProcess::NormalExit ||
        process.exitCode() != 0) {
        *error = QStringLiteral("openssl %1 failed: %2%3")
                     .arg(arguments.first(), process.errorString(),
                          QString::fromLocal8Bit(process.readAllStandardError()));
        return false;
    }
    return true;
}

} // namespace

bool TestPki::create(const QString &directory, TestPki *pki, QString *error) {
    const QDir dir(directory);
    pki->caCertificate = dir.filePath(QStringLiteral("ca.pem"));
    pki->serverCertificate = dir.filePath(QStringLiteral("server.pem"));
    pki->serverKey = dir.filePath(QStringLiteral("server.key"));
    const QString caKey = dir.filePath(QStringLiteral("ca.key"));
    const QString request = dir.filePath(QStringLiteral("server.csr"));
    const QString extensions = dir.filePath(QStringLiteral("server.ext"));

    QFile ext(extensions);
    if (!ext.open(QIODevice::WriteOnly)) {
        *error = ext.errorString();
        return false;
    }
    ext.write("basicConstraints=CA:FALSE\n"
              "keyUsage=digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=serverAuth\n"
              "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
    ext.close();

    return openssl({QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
                    QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                    QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes"),
                    QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-subj"),
                    QStringLiteral("/CN=uwpx test CA"), QStringLiteral("-keyout"), caKey,
                    QStringLiteral("-out"), pki->caCertificate},
                   error) &&
           openssl({QStringLiteral("req"), QStringLiteral("-newkey"), QStringLiteral("ec"),
                    QStringLiteral("-pkeyopt"), QStringLiteral("ec_paramgen_curve:prime256v1"),
                    QStringLiteral("-nodes"), QStringLiteral("-subj"),
                    QStringLiteral("/CN=localhost"), QStringLiteral("-keyout"), pki->serverKey,
                    QStringLiteral("-out"), request},
                   error) &&
           openssl({QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"), request,
                    QStringLiteral("-CA"), pki->caCertificate, QStringLiteral("-CAkey"), caKey,
                    QStringLiteral("-CAcreateserial"), QStringLiteral("-days"), QStringLiteral("2"),
                    QStringLiteral("-extfile"), extensions, QStringLiteral("-out"),
                    pki->serverCertificate},
                   error);
}

} // namespace uwpx::test

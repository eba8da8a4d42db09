#include "tlsfiles.h"

#include <QFile>
#include <QFileInfo>

namespace uwpx::tls {

namespace {

bool readFile(const QString &path, QByteArray *contents) {
    QFile file(path);
    if (!QFileInfo(path).isFile() || !file.open(QIODevice::ReadOnly))
        return false;
    *contents = file.read(kMaxFileBytes + 1);
    return contents->size() <= kMaxFileBytes;
}

} // namespace

QList<QSslCertificate> readCertificateChain(const QString &path) {
    QByteArray pem;
    return readFile(path, &pem) ? QSslCertificate::fromData(pem, QSsl::Pem)
                                : QList<QSslCertificate>();
}

QSslKey readPrivateKey(const QString &path) {
    QByteArray pem;
    if (!readFile(path, &pem))
        return {};
    const QSslKey rsa(pem, QSsl::Rsa);
    return rsa.isNull() ? QSslKey(pem, QSsl::Ec) : rsa;
}

} // namespace uwpx::tls

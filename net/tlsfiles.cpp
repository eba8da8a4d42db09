#include "tlsfiles.h"

#include <QFile>
#include <QFileInfo>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

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

bool keyMatchesCertificate(const QSslKey &key, const QSslCertificate &certificate) {
    if (key.isNull() || certificate.isNull())
        return false;
    const QByteArray certificateDer = certificate.toDer();
    const QByteArray keyDer = key.toDer();
    const auto *certificateBytes =
        reinterpret_cast<const unsigned char *>(certificateDer.constData());
    const auto *keyBytes = reinterpret_cast<const unsigned char *>(keyDer.constData());
    const std::unique_ptr<X509, decltype(&X509_free)> x509(
        d2i_X509(nullptr, &certificateBytes, long(certificateDer.size())), X509_free);
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
        d2i_AutoPrivateKey(nullptr, &keyBytes, long(keyDer.size())), EVP_PKEY_free);
    const bool matches = x509 && pkey && X509_check_private_key(x509.get(), pkey.get()) == 1;
    // Qt's TLS reads OpenSSL's thread-local error queue too: leave it empty.
    ERR_clear_error();
    return matches;
}

} // namespace uwpx::tls

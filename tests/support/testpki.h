#pragma once

#include <QString>

namespace uwpx::test {

// A throw-away certificate authority and a server certificate it signed for
// "localhost" and 127.0.0.1, made with the openssl command line tool.
struct TestPki {
    QString caCertificate;     // PEM
    QString serverCertificate; // PEM, signed by the CA
    QString serverKey;         // PEM, unencrypted

    // Writes the files into `directory`. Returns false and sets *error when
    // openssl is missing or fails.
    static bool create(const QString &directory, TestPki *pki, QString *error);
};

} // namespace uwpx::test

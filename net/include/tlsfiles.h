#pragma once

#include <QList>
#include <QSslCertificate>
#include <QSslKey>
#include <QString>

// The registration endpoint's certificate chain and private key, read from
// their files the one way both --check-config and the endpoint (at start and
// on every SIGHUP) use.
namespace uwpx::tls {

// Chains and keys are a few KiB. The files are read again long after
// --check-config looked at them: whatever a renewal left there (a directory,
// a device, a runaway file) must be an error, not a search of the file system
// or an endless read.
constexpr qint64 kMaxFileBytes = 1 << 20;

// The PEM certificates in `path`; empty if it is not a regular file of at
// most kMaxFileBytes or holds none.
QList<QSslCertificate> readCertificateChain(const QString &path);

// The unencrypted PEM RSA or EC key in `path`; null as above, or if it holds
// no such key.
QSslKey readPrivateKey(const QString &path);

// Whether `key` is the private key of `certificate`. A pair that does not
// match loads without complaint and then fails every handshake, so it is
// refused at start, by --check-config and on reload.
bool keyMatchesCertificate(const QSslKey &key, const QSslCertificate &certificate);

} // namespace uwpx::tls

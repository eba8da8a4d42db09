#include "credentials.h"

#include <QByteArray>
#include <QRandomGenerator>

#include <array>

namespace uwpx::credentials {

namespace {

template<std::size_t Bytes> QString randomToken() {
    std::array<quint32, (Bytes + 3) / 4> words{};
    QRandomGenerator::system()->fillRange(words.data(), words.size());
    const QByteArray raw(reinterpret_cast<const char *>(words.data()), Bytes);
    return QString::fromLatin1(
        raw.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
}

} // namespace

QString newNode() {
    return randomToken<12>();
}

QString newSecret() {
    return randomToken<24>();
}

bool constantTimeEquals(const QString &a, const QString &b) {
    const QByteArray x = a.toUtf8();
    const QByteArray y = b.toUtf8();
    // The length of our own secrets is public (fixed), so an early length
    // check leaks nothing worth hiding.
    if (x.size() != y.size())
        return false;
    unsigned char diff = 0;
    for (qsizetype i = 0; i < x.size(); ++i)
        diff |= static_cast<unsigned char>(x[i] ^ y[i]);
    return diff == 0;
}

} // namespace uwpx::credentials

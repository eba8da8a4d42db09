#include "wnstokenpersistence.h"

#include "storage.h"
#include "wnsclient.h"

#include <QCryptographicHash>
#include <QPointer>

namespace uwpx {

namespace {

QString keyFor(const WnsSettings &settings) {
    const QByteArray identity = settings.tokenUrl.toString().toUtf8() + '\n' +
                                settings.packageSid.toUtf8() + '\n' + settings.scope.toUtf8();
    return QString::fromLatin1(
        QCryptographicHash::hash(identity, QCryptographicHash::Sha256).toHex());
}

} // namespace

WnsTokenPersistence::WnsTokenPersistence(Storage &storage, WnsClient &wns,
                                         const WnsSettings &settings, QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_key(keyFor(settings)) {
    m_storage.loadToken(m_key,
                        [wns = QPointer<WnsClient>(&wns)](const StorageResult<StoredToken> &token) {
                            if (wns && token.isOk())
                                wns->restoreToken(token->accessToken, token->expiresAt);
                        });
    connect(&wns, &WnsClient::tokenRefreshed, this,
            [this](const QString &accessToken, const QDateTime &expiresAt) {
                // A token not kept is only fetched again after a restart.
                m_storage.saveToken(m_key, {accessToken, expiresAt});
            });
}

} // namespace uwpx

#pragma once

#include "wnssettings.h"

#include <QObject>

namespace uwpx {

class Storage;
class WnsClient;

// Keeps the WNS access token across restarts: tokens live 24 h (docs/protocol.md), so
// a restart reuses the stored one instead of asking the token endpoint again.
// A stored token belongs to one set of credentials at one token endpoint;
// changing either in the configuration makes it unusable.
class WnsTokenPersistence : public QObject {
    Q_OBJECT
public:
    // Hands `wns` the stored token, if there is one for these settings, and
    // stores every token it obtains from now on.
    WnsTokenPersistence(Storage &storage, WnsClient &wns, const WnsSettings &settings,
                        QObject *parent = nullptr);

private:
    Storage &m_storage;
    QString m_key; // which credentials the token belongs to
};

} // namespace uwpx

#pragma once

#include "refusalreason.h"
#include "registrationsettings.h"

#include <QDateTime>
#include <QObject>
#include <QString>
#include <QStringList>

#include <memory>

namespace uwpx {

class RegistrationServer;
class RegistrationService;
class Storage;
class WnsClient;

// The TLS endpoint UWPX clients register with (docs/protocol.md), in one object:
//
//   socket bytes -> RegistrationServer (TLS, limits) -> RegistrationConnection
//   (NUL framing, one request at a time) -> RegistrationService (parse,
//   store, test push through WNS) -> the answer back the same way.
//
// Storage and the WNS client belong to the caller and must outlive this.
class RegistrationEndpoint : public QObject {
    Q_OBJECT
public:
    // `pushJid` is handed to clients as push_bare_jid; channel URIs must
    // match `channelHosts` (wns.channel_hosts).
    RegistrationEndpoint(const RegistrationSettings &settings, Storage &storage, WnsClient &wns,
                         const QString &pushJid, const QStringList &channelHosts,
                         QObject *parent = nullptr);
    ~RegistrationEndpoint() override;

    // Loads certificate and key and starts listening; false with *error set
    // if either fails.
    bool listen(QString *error);
    // Reads certificate and key again (SIGHUP after a renewal); on failure
    // keeps serving with the old ones.
    bool reloadTls();
    // A configuration reload: new limits for new connections and requests,
    // and the certificate and key read again (kept on failure, as above).
    // The listening address stays.
    bool reconfigure(const RegistrationSettings &settings);
    // The notAfter of the certificate in use (for the operator's metrics).
    QDateTime certificateExpiry() const;
    // Stops taking connections (at shutdown); those open finish their request.
    void close();
    quint16 port() const;
    // Client connections open now (for the operator's metrics).
    int connectionCount() const;

Q_SIGNALS:
    // One per request: the action as the client named it ("set_channel_uri",
    // "set_push_accounts", "set_accounts", ...; "invalid" when unreadable).
    void requestHandled(const QString &action, bool success);
    // A connection or request turned away by a limit, for the metrics.
    void refused(uwpx::RefusalReason reason);

private:
    std::unique_ptr<RegistrationService> m_service;
    std::unique_ptr<RegistrationServer> m_server;
};

} // namespace uwpx

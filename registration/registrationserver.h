#pragma once

#include "registrationsettings.h"

#include <QObject>
#include <QSslServer>

namespace uwpx {

class RegistrationService;

// The TLS endpoint UWPX clients register with (SPEC §3). Accepts connections
// on [registration] listen and gives each to a RegistrationConnection.
class RegistrationServer : public QObject {
    Q_OBJECT
public:
    RegistrationServer(const RegistrationSettings &settings, RegistrationService &service,
                       QObject *parent = nullptr);

    // Loads certificate and key and starts listening; false with *error set
    // if either fails.
    bool listen(QString *error);
    // Reads certificate and key again (SIGHUP after a renewal); on failure
    // keeps serving with the old ones.
    bool reloadTls();
    quint16 port() const { return m_server.serverPort(); }
    void close() { m_server.close(); }

private:
    bool loadTls(QString *error);
    void acceptConnections();

    RegistrationSettings m_settings;
    RegistrationService &m_service;
    QSslServer m_server;
    int m_connections = 0;
};

} // namespace uwpx

#include "registrationendpoint.h"

#include "registrationserver.h"
#include "registrationservice.h"

namespace uwpx {

RegistrationEndpoint::RegistrationEndpoint(const RegistrationSettings &settings, Storage &storage,
                                           WnsClient &wns, const QString &pushJid,
                                           const QStringList &channelHosts, QObject *parent)
    : QObject(parent)
    , m_service(
          std::make_unique<RegistrationService>(storage, wns, pushJid, channelHosts, settings))
    , m_server(std::make_unique<RegistrationServer>(settings, *m_service)) {
    connect(m_service.get(), &RegistrationService::requestHandled, this,
            &RegistrationEndpoint::requestHandled);
    connect(m_service.get(), &RegistrationService::refused, this, &RegistrationEndpoint::refused);
    connect(m_server.get(), &RegistrationServer::refused, this, &RegistrationEndpoint::refused);
}

// The server goes first: its connections hold references to the service.
RegistrationEndpoint::~RegistrationEndpoint() {
    m_server.reset();
}

bool RegistrationEndpoint::listen(QString *error) {
    return m_server->listen(error);
}

bool RegistrationEndpoint::reloadTls() {
    return m_server->reloadTls();
}

bool RegistrationEndpoint::reconfigure(const RegistrationSettings &settings) {
    m_service->setLimits(settings);
    return m_server->reconfigure(settings);
}

QDateTime RegistrationEndpoint::certificateExpiry() const {
    return m_server->certificateExpiry();
}

void RegistrationEndpoint::close() {
    m_server->close();
}

int RegistrationEndpoint::connectionCount() const {
    return m_server->connectionCount();
}

quint16 RegistrationEndpoint::port() const {
    return m_server->port();
}

} // namespace uwpx

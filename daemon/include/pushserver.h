#pragma once

#include "config.h"

#include <QObject>

#include <memory>

namespace uwpx {

class ComponentLeadership;
class DeviceLifecycle;
class OperatorEndpoint;
class RegistrationEndpoint;
class ServerMetrics;
class Storage;
class WnsClient;
class WnsTokenPersistence;
class XmppComponent;

// The whole daemon in one object: opens the store and wires it to the WNS
// client, the registration endpoint, the XMPP component, the product rules
// (device lifecycle, token persistence) and the operator's metrics. It
// decides nothing itself. main() only parses the command line and runs the
// event loop.
class PushServer : public QObject {
    Q_OBJECT
public:
    explicit PushServer(const Config &config, QObject *parent = nullptr);
    ~PushServer() override;

    // Opens the store and starts listening; false with *error set otherwise.
    bool start(QString *error);

    // SIGHUP: picks up a renewed TLS certificate.
    void reload();

    // SIGTERM: stops taking registrations, answers the publishes already
    // accepted, closes the XMPP stream (another instance takes over at once),
    // then emits shutDown(). At most some seconds.
    void shutdown();

    quint16 registrationPort() const;
    quint16 metricsPort() const;

Q_SIGNALS:
    void shutDown();

private:
    void wireMetrics();

    Config m_config;
    // Declaration order is construction order: each part may use those above it.
    std::unique_ptr<Storage> m_storage;
    std::unique_ptr<WnsClient> m_wns;
    std::unique_ptr<WnsTokenPersistence> m_token;
    std::unique_ptr<DeviceLifecycle> m_devices;
    std::unique_ptr<RegistrationEndpoint> m_registration;
    std::unique_ptr<XmppComponent> m_xmpp;
    std::unique_ptr<ComponentLeadership> m_leadership; // with PostgreSQL only
    std::unique_ptr<ServerMetrics> m_metrics;
    std::unique_ptr<OperatorEndpoint> m_operatorEndpoint;
};

} // namespace uwpx

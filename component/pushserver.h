#pragma once

#include "config.h"
#include "metrics.h"

#include <QObject>

#include <memory>

namespace uwpx {

class DeviceLifecycle;
class RegistrationServer;
class RegistrationService;
class OperatorEndpoint;
class Storage;
class WnsClient;
class XmppComponent;

// The whole daemon in one object: opens the store, and wires it to the WNS
// client, the registration endpoint and the XMPP component. main() only
// parses the command line and runs the event loop.
class PushServer : public QObject {
    Q_OBJECT
public:
    explicit PushServer(const Config &config, QObject *parent = nullptr);
    ~PushServer() override;

    // Opens the store and starts listening; false with *error set otherwise.
    bool start(QString *error);

    // SIGHUP: picks up a renewed TLS certificate.
    void reload();

    quint16 registrationPort() const;
    quint16 metricsPort() const;
    Storage &storage() { return *m_storage; }
    XmppComponent &xmpp() { return *m_xmpp; }

private:
    void declareMetrics();
    void countEvents();
    QByteArray renderMetrics();
    QString tokenKey() const;

    Config m_config;
    std::unique_ptr<Storage> m_storage;
    std::unique_ptr<WnsClient> m_wns;
    std::unique_ptr<RegistrationService> m_registrationService;
    std::unique_ptr<RegistrationServer> m_registrationServer;
    std::unique_ptr<XmppComponent> m_xmpp;
    std::unique_ptr<OperatorEndpoint> m_operatorEndpoint;
    std::unique_ptr<DeviceLifecycle> m_devices;
    Metrics m_metrics;
};

} // namespace uwpx

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
class StoreCounts;
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

    // SIGHUP, with the configuration file read again: applies what the
    // running parts can take (log level, registration limits, TLS files,
    // WNS credentials, expire_days) and names in one log line what changed
    // but needs a restart. The TLS files are read again even if their names
    // did not change (a renewal); unusable ones leave the old in use.
    void reload(const Config &next);
    // SIGHUP with a configuration file that does not load: the rest stays as
    // it is, but the TLS files are read again all the same, so that a
    // renewal is not held up by a mistake elsewhere in the file.
    void reloadTls();

    // SIGTERM: stops taking registrations, answers the publishes already
    // accepted, closes the XMPP stream (another instance takes over at once),
    // then emits stopped(). At most some seconds.
    void shutdown();

    quint16 registrationPort() const;
    quint16 metricsPort() const;

Q_SIGNALS:
    // shutdown() is done: the process may exit.
    void stopped();

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
    std::unique_ptr<StoreCounts> m_counts;
    std::unique_ptr<OperatorEndpoint> m_operatorEndpoint;
};

} // namespace uwpx

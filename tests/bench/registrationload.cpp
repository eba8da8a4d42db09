#include "bench.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSslSocket>

namespace uwpx::bench {

struct RegistrationLoad::Client {
    int index = 0;
    QSslSocket *socket = nullptr;
    bool persistent = true;
    int iteration = 0;
    int device = -1;       // enroll: the device being registered
    bool accounts = false; // the next request is set_accounts
    bool inFlight = false;
    bool done = false;
    qint64 startedNs = 0; // of the current request (with its connection, if new)
    QByteArray buffer;
};

RegistrationLoad::RegistrationLoad(quint16 port, const QString &caFile, QObject *parent)
    : QObject(parent)
    , m_port(port) {
    m_tls = QSslConfiguration::defaultConfiguration();
    m_tls.setCaCertificates(QSslCertificate::fromPath(caFile, QSsl::Pem));
    m_tls.setProtocol(QSsl::TlsV1_2OrLater);
    m_clock.start();
}

RegistrationLoad::~RegistrationLoad() {
    for (auto &client : m_clients) {
        if (client->socket) {
            client->socket->disconnect(this);
            client->socket->abort();
            delete client->socket;
        }
    }
}

void RegistrationLoad::connectClient(Client *client) {
    if (client->socket) {
        client->socket->disconnect(this);
        client->socket->abort();
        client->socket->deleteLater();
    }
    client->buffer.clear();
    auto *socket = new QSslSocket(this);
    client->socket = socket;
    socket->setSslConfiguration(m_tls);
    connect(socket, &QSslSocket::encrypted, this, [this, client] { sendNext(client); });
    connect(socket, &QSslSocket::readyRead, this, [this, client] { onReadyRead(client); });
    connect(socket, &QSslSocket::errorOccurred, this,
            [this, client, socket](QAbstractSocket::SocketError) {
                if (socket != client->socket || m_stopping)
                    return;
                // The server closing an idle or finished connection is no error.
                if (socket->error() == QAbstractSocket::RemoteHostClosedError && !client->inFlight)
                    return;
                ++m_result->errors;
                if (m_result->errorSamples.size() < 5)
                    m_result->errorSamples << socket->errorString();
                client->inFlight = false;
                QTimer::singleShot(100, this, [this, client] {
                    if (!m_stopping)
                        connectClient(client);
                });
            });
    client->startedNs = m_clock.nsecsElapsed();
    socket->connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_port,
                                   QStringLiteral("localhost"));
}

void RegistrationLoad::sendNext(Client *client) {
    if (client->inFlight || client->done)
        return;
    if (m_stopping) {
        client->done = true;
        ++m_finishedClients;
        return;
    }
    QString device;
    if (m_deviceLimit > 0) {
        if (!client->accounts) {
            if (m_nextDevice >= m_deviceLimit) {
                client->done = true;
                ++m_finishedClients;
                return;
            }
            client->device = m_nextDevice++;
        }
        device = deviceId(client->device, 0xbe);
    } else {
        // A few devices per client, so most set_accounts refresh known accounts
        // and some add new ones, like clients restarting.
        device = deviceId(client->iteration / 2 % 50, 0x1000 + client->index);
    }
    QJsonObject request{{QStringLiteral("version"), 1}, {QStringLiteral("device_id"), device}};
    if (!client->accounts) {
        request.insert(QStringLiteral("action"), QStringLiteral("set_channel_uri"));
        request.insert(QStringLiteral("channel_uri"),
                       m_channelUri(m_deviceLimit > 0 ? client->device : client->index));
    } else {
        request.insert(QStringLiteral("action"), QStringLiteral("set_push_accounts"));
        QJsonArray accounts;
        for (int i = 0; i < m_accountsPerDevice; ++i)
            accounts.append(QJsonObject{
                {QStringLiteral("bare_jid"), QStringLiteral("user%1@example.org").arg(i)}});
        request.insert(QStringLiteral("accounts"), accounts);
    }
    client->inFlight = true;
    // A new connection's request counts from its connect (see connectClient).
    if (client->persistent)
        client->startedNs = m_clock.nsecsElapsed();
    client->socket->write(QJsonDocument(request).toJson(QJsonDocument::Compact) + '\0');
}

void RegistrationLoad::onReadyRead(Client *client) {
    client->buffer += client->socket->readAll();
    qsizetype end;
    while ((end = client->buffer.indexOf('\0')) >= 0) {
        const QByteArray message = client->buffer.left(end);
        client->buffer.remove(0, end + 1);
        if (!client->inFlight)
            continue;
        client->inFlight = false;
        const qint64 us = (m_clock.nsecsElapsed() - client->startedNs) / 1000;
        const QJsonObject response = QJsonDocument::fromJson(message).object();
        ++m_result->requests;
        m_result->latency.add(us);
        const bool wasAccounts = client->accounts;
        if (wasAccounts) {
            ++m_result->setAccounts;
            m_result->setAccountsLatency.add(us);
        }
        if (response.value(QStringLiteral("status")).toInt() != 1) {
            ++m_result->errors;
            if (m_result->errorSamples.size() < 5)
                m_result->errorSamples << QString::fromUtf8(message);
        } else if (wasAccounts && m_targets) {
            for (const QJsonValue &account : response.value(QStringLiteral("accounts")).toArray()) {
                const QJsonObject item = account.toObject();
                m_targets->append({item.value(QStringLiteral("node")).toString().toUtf8(),
                                   item.value(QStringLiteral("secret")).toString().toUtf8()});
            }
        }
        client->accounts = !client->accounts;
        ++client->iteration;
        if (client->persistent) {
            sendNext(client);
        } else if (m_stopping) {
            sendNext(client);
        } else {
            connectClient(client); // sendNext once encrypted
        }
        return;
    }
}

bool RegistrationLoad::enroll(int devices, int accountsPerDevice, int clients,
                              const std::function<QString(int)> &channelUri,
                              QList<PushTarget> *targets, Result *result) {
    m_result = result;
    m_targets = targets;
    m_channelUri = channelUri;
    m_accountsPerDevice = accountsPerDevice;
    m_deviceLimit = devices;
    m_nextDevice = 0;
    m_stopping = false;
    m_finishedClients = 0;
    m_clients.clear();
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < clients; ++i) {
        m_clients.push_back(std::make_unique<Client>());
        m_clients.back()->index = i;
        connectClient(m_clients.back().get());
    }
    const bool finished =
        waitFor([&] { return m_finishedClients == clients; }, 30000 + devices * 50);
    result->seconds = clock.elapsed() / 1000.0;
    m_stopping = true;
    m_targets = nullptr;
    m_result = nullptr;
    return finished && result->errors == 0 && targets->size() == devices * accountsPerDevice;
}

RegistrationLoad::Result RegistrationLoad::loop(int clients, bool persistent, int durationMs,
                                                const std::function<QString(int)> &channelUri) {
    Result result;
    m_result = &result;
    m_channelUri = channelUri;
    m_accountsPerDevice = 3;
    m_deviceLimit = 0;
    m_stopping = false;
    m_finishedClients = 0;
    for (auto &client : m_clients) {
        if (client->socket) {
            client->socket->disconnect(this);
            client->socket->abort();
            client->socket->deleteLater();
        }
    }
    m_clients.clear();
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < clients; ++i) {
        m_clients.push_back(std::make_unique<Client>());
        m_clients.back()->index = i;
        m_clients.back()->persistent = persistent;
        connectClient(m_clients.back().get());
    }
    waitFor([&] { return clock.elapsed() >= durationMs; }, durationMs + 1000);
    m_stopping = true;
    // Let the requests under way finish; they count.
    waitFor(
        [&] {
            for (const auto &client : m_clients)
                if (client->inFlight)
                    return false;
            return true;
        },
        30000);
    result.seconds = clock.elapsed() / 1000.0;
    m_result = nullptr;
    return result;
}

} // namespace uwpx::bench

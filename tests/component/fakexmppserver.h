#pragma once

#include "stanzareader.h"
#include "xmlelement.h"

#include <QList>
#include <QObject>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>

#include <memory>

namespace uwpx::test {

// Plays the operator's XMPP server on 127.0.0.1 for component tests: accepts
// the component's connection, sends a stream header with an id, checks the
// <handshake> digest against its secret and answers <handshake/> or a
// not-authorized stream error. Afterwards it records what the component sends
// and, unless told to stay silent, answers keepalive pings.
class FakeXmppServer : public QObject {
    Q_OBJECT
public:
    explicit FakeXmppServer(const QString &secret, QObject *parent = nullptr);
    ~FakeXmppServer() override;

    bool listen();
    quint16 port() const { return m_server.serverPort(); }

    // Stop answering keepalive pings (a server that died without closing TCP).
    void setSilent(bool silent) { m_silent = silent; }
    // Accept TCP but never send a stream header.
    void setMute(bool mute) { m_mute = mute; }
    // Send the stream header but never answer the handshake.
    void setStalling(bool stalling) { m_stalling = stalling; }
    void setSecret(const QString &secret) { m_secret = secret; }
    // Stop reading what the component sends (a server that hangs, or one
    // flooding us without reading our replies), or read again.
    void setReading(bool reading);
    // What the server has written that the component has not taken yet.
    qint64 unsentBytes() const { return m_socket ? m_socket->bytesToWrite() : 0; }
    // Another instance holds the component JID: a correct handshake is
    // refused with a `conflict` stream error, as Prosody refuses it.
    void setOccupied(bool occupied) { m_occupied = occupied; }

    int connectionCount() const { return m_connections; }
    int handshakeCount() const { return m_handshakes; }
    int pingCount() const { return m_pings; }
    int conflictCount() const { return m_conflicts; }
    bool hasClient() const { return m_socket != nullptr; }
    // Stanzas received from the component after its handshake, in order.
    const QList<XmlElement> &received() const { return m_received; }

    void sendRaw(const QByteArray &bytes);
    void send(const XmlElement &stanza);
    // Cuts the connection without a stream close (a crash, a dead network).
    void dropClient();

Q_SIGNALS:
    void clientConnected();
    void handshakeAccepted();
    void handshakeRejected();
    void conflictSent();
    void stanzaReceived(const uwpx::XmlElement &stanza);
    void clientGone();

private:
    void onNewConnection();
    void onStanza(const XmlElement &stanza);

    QTcpServer m_server;
    QString m_secret;
    QPointer<QTcpSocket> m_socket;
    std::unique_ptr<StanzaReader> m_reader;
    QString m_streamId;
    bool m_authenticated = false;
    bool m_silent = false;
    bool m_mute = false;
    bool m_stalling = false;
    bool m_occupied = false;
    bool m_reading = true;
    int m_conflicts = 0;
    int m_connections = 0;
    int m_handshakes = 0;
    int m_pings = 0;
    QList<XmlElement> m_received;
};

} // namespace uwpx::test

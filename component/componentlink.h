#pragma once

#include "componentrole.h"
#include "xmlelement.h"
#include "xmppsettings.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTcpSocket>
#include <QTimer>

#include <memory>

namespace uwpx {

class StanzaReader;

// The XEP-0114 link to the operator's XMPP server: connects
// to xmpp.host:port, opens a jabber:component:accept stream as the component
// JID, authenticates with <handshake/> and then carries stanzas both ways.
//
// It keeps itself up: any failure or loss reconnects after a capped,
// exponentially growing, jittered delay (reset by a good handshake), and a
// keepalive ping every keepaliveIntervalMs turns a silent server into a
// reconnect after two unanswered intervals. The handshake, from the TCP
// connect on, must be done within two intervals as well.
//
// Several instances may serve one component JID. Prosody admits one
// connection per component and refuses the others with a `conflict` stream
// error: such an instance is a standby, not a failure, and asks again every
// second or so, so that it takes over as soon as the active one is gone;
// or, when the instances share a lock (setStandbyWaits), waits to be told.
// ejabberd admits them all and spreads stanzas over them: all are active.
class ComponentLink : public QObject {
    Q_OBJECT
public:
    enum class State {
        Stopped,        // not started, or close() called
        Waiting,        // backing off before the next attempt
        Connecting,     // TCP connect in progress
        Opening,        // stream header sent, waiting for the server's
        Authenticating, // <handshake> sent, waiting for the empty one
        Connected,
    };
    Q_ENUM(State)
    using Role = ComponentRole;

    explicit ComponentLink(const XmppSettings &settings, QObject *parent = nullptr);
    ~ComponentLink() override;

    void start();
    // A standby asks at once instead of at its next interval: the instance
    // holding the component JID said it is leaving, or this one now holds
    // the instance lock.
    void takeOverNow();
    // Whether a standby waits for takeOverNow() instead of asking the server
    // again every second: instances sharing PostgreSQL settle among
    // themselves who holds the link, so the XMPP server is not asked (and
    // Prosody logs no error) while another instance holds it.
    void setStandbyWaits(bool waits) { m_standbyWaits = waits; }
    // Closes the stream politely, waits (a few seconds at most) until the
    // server has it and closed too, then stays down and emits `closed()`:
    // at a clean shutdown, so a standby can take over at once.
    void close();

    bool isConnected() const { return m_state == State::Connected; }
    State state() const { return m_state; }
    Role role() const { return m_role; }
    // How many times the link was (re)established after its first handshake.
    int reconnectCount() const { return m_reconnects; }
    // The delay before the next attempt, for tests and logs; 0 when not waiting.
    int currentBackoffMs() const { return m_state == State::Waiting ? m_lastDelayMs : 0; }

    // Sends a top-level stanza; false (and nothing sent) when not connected.
    bool send(const XmlElement &stanza);

Q_SIGNALS:
    void connected();
    // Once per change: a standby that asks again every second stays a standby
    // in between, so /health and the role metric do not flap.
    void roleChanged(uwpx::ComponentRole role);
    // close() is done.
    void closed();
    // An established link went down; a reconnect is already scheduled.
    void disconnected(const QString &reason);
    // An attempt failed before the handshake completed; a retry is scheduled.
    void attemptFailed(const QString &reason);
    // The server refused this connection with `conflict`: another instance
    // holds the component JID (Prosody). The link is a standby now.
    void conflict();
    void stanzaReceived(const uwpx::XmlElement &stanza);
    // A stanza skipped as too large or malformed (see StanzaReader).
    void stanzaRejected(const uwpx::XmlElement &stanza, const QString &condition,
                        const QString &reason);

private:
    void connectNow();
    void onConnected();
    void onReadyRead();
    void onSocketError();
    void onStreamOpened(const XmlElement &header);
    void onStanza(const XmlElement &stanza);
    void onKeepaliveTick();
    // Ends the current connection (sending a stream error first when
    // `streamError` is set) and schedules the next attempt.
    void drop(const QString &reason, const QString &streamError = {});
    void scheduleReconnect();
    void standBy();

    enum class Goodbye {
        Abort, // at once, nothing more written: the server refused us
        Close, // our stream's end (after `streamError`, if any), then TCP's
    };
    // The one way a connection ends, whatever comes next (a retry, standing
    // by, staying down): stops the link's timers and lets go of the socket and
    // the reader. A socket closing politely is cut off after a grace and
    // deleted once closed; it is returned for close() to watch, else null.
    QTcpSocket *endConnection(Goodbye goodbye, const QString &streamError = {});
    // Ends the connection politely and stays down; emits nothing.
    QTcpSocket *stayDown();
    void setRole(Role role);
    void writeRaw(const QByteArray &bytes);

    XmppSettings m_settings;
    State m_state = State::Stopped;
    Role m_role = Role::Disconnected;
    QTcpSocket *m_socket = nullptr;
    std::unique_ptr<StanzaReader> m_reader;
    QTimer m_retryTimer;
    QTimer m_keepaliveTimer;
    // Restarted by every whole stanza (or whitespace between them) once
    // connected: firing means the server has sent none for two keepalive
    // intervals, though it may have sent bytes. Before, started at the
    // connect and left running: the handshake's deadline.
    QTimer m_silenceTimer;
    int m_nextDelayMs = 0;
    int m_lastDelayMs = 0;
    int m_reconnects = 0;
    bool m_everConnected = false;
    bool m_standbyWaits = false;
    quint64 m_pingCounter = 0;
};

} // namespace uwpx

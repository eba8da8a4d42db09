#include "componentlink.h"

#include "stanzareader.h"
#include "xmpplog.h"
#include "xmppnamespaces.h"

#include <QCryptographicHash>
#include <QRandomGenerator>

#include <memory>

namespace uwpx {

namespace {

// A server that accepted TCP but never finishes a polite close is cut off.
constexpr int CloseGraceMs = 5000;

// Back-pressure: while this much of what we wrote waits to be sent (a server
// that stopped reading), nothing more is read from it, so it cannot make us
// queue replies without bound; and the socket buffers at most this much of
// what it sends, so TCP holds the rest back.
constexpr qint64 kMaxUnsentBytes = 1024 * 1024;
constexpr qint64 kReadBufferBytes = 256 * 1024;

// Where keepalive pings go: the server's own domain, taken to be the
// component JID's parent ("push.example.org" -> "example.org"). Any answer,
// even an error, proves the link alive.
QString pingTarget(const QString &componentJid) {
    const qsizetype dot = componentJid.indexOf(QLatin1Char('.'));
    if (dot < 0 || componentJid.indexOf(QLatin1Char('.'), dot + 1) < 0)
        return componentJid;
    return componentJid.mid(dot + 1);
}

} // namespace

ComponentLink::ComponentLink(const XmppSettings &settings, QObject *parent)
    : QObject(parent)
    , m_settings(settings) {
    m_settings.reconnectMinMs = qMax(1, m_settings.reconnectMinMs);
    m_settings.reconnectMaxMs = qMax(m_settings.reconnectMinMs, m_settings.reconnectMaxMs);
    m_settings.keepaliveIntervalMs = qMax(1, m_settings.keepaliveIntervalMs);
    m_nextDelayMs = m_settings.reconnectMinMs;

    m_retryTimer.setSingleShot(true);
    connect(&m_retryTimer, &QTimer::timeout, this, &ComponentLink::connectNow);
    m_keepaliveTimer.setInterval(m_settings.keepaliveIntervalMs);
    connect(&m_keepaliveTimer, &QTimer::timeout, this, &ComponentLink::onKeepaliveTick);
    m_silenceTimer.setSingleShot(true);
    m_silenceTimer.setInterval(2 * m_settings.keepaliveIntervalMs);
    connect(&m_silenceTimer, &QTimer::timeout, this, [this] {
        drop(m_state == State::Connected
                 ? QStringLiteral("no answer to keepalive pings for two intervals")
                 : QStringLiteral("the server did not complete the handshake in time"),
             QStringLiteral("connection-timeout"));
    });
}

ComponentLink::~ComponentLink() {
    endConnection(Goodbye::Abort);
}

void ComponentLink::start() {
    if (m_state != State::Stopped)
        return;
    connectNow();
}

void ComponentLink::takeOverNow() {
    if (m_role != Role::Standby || m_state != State::Waiting)
        return;
    m_retryTimer.stop();
    connectNow();
}

void ComponentLink::close() {
    // The end of our stream tells the server that this instance is gone: it
    // stops routing to us (ejabberd) or frees the component JID for a
    // standby (Prosody). Closed once the server closed too, or after a grace.
    const bool wasConnected = isConnected();
    if (QTcpSocket *closing = stayDown())
        connect(closing, &QObject::destroyed, this, &ComponentLink::closed);
    else
        QMetaObject::invokeMethod(this, &ComponentLink::closed, Qt::QueuedConnection);
    if (wasConnected)
        Q_EMIT disconnected(QStringLiteral("stopped"));
}

bool ComponentLink::send(const XmlElement &stanza) {
    if (!isConnected())
        return false;
    writeRaw(stanza.toXml(ns::component));
    return true;
}

void ComponentLink::connectNow() {
    m_state = State::Connecting;
    m_socket = new QTcpSocket(this);
    m_socket->setReadBufferSize(kReadBufferBytes);
    connect(m_socket, &QTcpSocket::connected, this, &ComponentLink::onConnected);
    connect(m_socket, &QTcpSocket::readyRead, this, &ComponentLink::onReadyRead);
    connect(m_socket, &QTcpSocket::bytesWritten, this, &ComponentLink::onReadyRead);
    connect(m_socket, &QTcpSocket::errorOccurred, this, &ComponentLink::onSocketError);
    m_reader = std::make_unique<StanzaReader>();
    connect(m_reader.get(), &StanzaReader::streamOpened, this, &ComponentLink::onStreamOpened);
    connect(m_reader.get(), &StanzaReader::stanzaReceived, this, &ComponentLink::onStanza);
    connect(m_reader.get(), &StanzaReader::stanzaRejected, this,
            [this](const XmlElement &stanza, const QString &condition, const QString &reason) {
                if (m_state != State::Connected)
                    return;
                m_silenceTimer.start(); // a whole stanza, if a refused one
                Q_EMIT stanzaRejected(stanza, condition, reason);
            });
    connect(m_reader.get(), &StanzaReader::streamErrorReceived, this,
            [this](const QString &condition, const QString &text) {
                if (condition == QLatin1String("conflict")) {
                    standBy(); // Prosody: another instance holds the component JID
                    Q_EMIT conflict();
                    return;
                }
                drop(QStringLiteral("stream error from the server: %1%2")
                         .arg(condition, text.isEmpty()
                                             ? QString()
                                             : QStringLiteral(" (") + text + QLatin1Char(')')));
            });
    connect(m_reader.get(), &StanzaReader::streamClosed, this,
            [this] { drop(QStringLiteral("the server closed the stream")); });
    connect(m_reader.get(), &StanzaReader::failed, this,
            [this](const QString &condition, const QString &reason) {
                drop(QStringLiteral("bad input from the server: ") + reason, condition);
            });
    m_silenceTimer.start();
    qCDebug(lcXmpp).noquote() << "connecting to" << m_settings.host << m_settings.port;
    m_socket->connectToHost(m_settings.host, m_settings.port);
}

void ComponentLink::onConnected() {
    m_state = State::Opening;
    // Replies are small and go out as publishes come in. With Nagle's
    // algorithm a reply written while the previous one is unacknowledged
    // waits for that ACK, which the server may delay by 40 ms when it has
    // nothing to send: the last publish of a burst was answered 40 ms late.
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    writeRaw(QByteArrayLiteral("<?xml version='1.0'?><stream:stream xmlns='") +
             ns::component.toUtf8() + QByteArrayLiteral("' xmlns:stream='") + ns::streams.toUtf8() +
             QByteArrayLiteral("' to='") + xml::escape(m_settings.componentJid).toUtf8() +
             QByteArrayLiteral("'>"));
}

void ComponentLink::onReadyRead() {
    if (!m_socket || m_socket->bytesToWrite() > kMaxUnsentBytes)
        return; // bytesWritten brings us back here once the server reads again
    const QByteArray bytes = m_socket->readAll();
    if (bytes.isEmpty())
        return;
    // The reader's signals may drop this connection (and replace m_reader)
    // while it is still parsing: keep it alive until addData returns.
    StanzaReader *reader = m_reader.get();
    if (reader && !reader->hasFailed())
        reader->addData(bytes);
    // Whitespace between stanzas proves the server alive; bytes inside a
    // stanza do not (each whole stanza does, in onStanza): a server stuck in
    // one that never ends is noticed like a silent one. Before the handshake
    // the timer is its deadline, which no byte extends.
    if (m_state == State::Connected && reader && reader == m_reader.get() &&
        reader->isBetweenStanzas())
        m_silenceTimer.start();
}

void ComponentLink::onSocketError() {
    if (!m_socket)
        return;
    drop(m_socket->errorString());
}

void ComponentLink::onStreamOpened(const XmlElement &header) {
    if (m_state != State::Opening)
        return;
    const QString streamId = header.attribute(QStringLiteral("id"));
    if (streamId.isEmpty()) {
        drop(QStringLiteral("the server's stream header has no id"), QStringLiteral("invalid-id"));
        return;
    }
    // XEP-0114 §3: lowercase hex SHA-1 of the stream id followed by the secret.
    const QByteArray digest =
        QCryptographicHash::hash((streamId + m_settings.secret).toUtf8(), QCryptographicHash::Sha1)
            .toHex();
    m_state = State::Authenticating;
    writeRaw(QByteArrayLiteral("<handshake>") + digest + QByteArrayLiteral("</handshake>"));
}

void ComponentLink::onStanza(const XmlElement &stanza) {
    if (m_state == State::Authenticating) {
        if (stanza.name() != QLatin1String("handshake")) {
            drop(QStringLiteral("expected <handshake/>, got <%1>").arg(stanza.name()),
                 QStringLiteral("not-authorized"));
            return;
        }
        m_state = State::Connected;
        m_silenceTimer.start(); // from the handshake's deadline to the keepalive's
        m_nextDelayMs = m_settings.reconnectMinMs;
        if (m_everConnected)
            ++m_reconnects;
        m_everConnected = true;
        m_keepaliveTimer.start();
        if (m_role == Role::Standby)
            qCInfo(lcXmpp).noquote() << "the component JID is free: taking over as the active "
                                        "instance";
        qCInfo(lcXmpp).noquote() << "component" << m_settings.componentJid << "connected to"
                                 << m_settings.host + QLatin1Char(':') +
                                        QString::number(m_settings.port);
        setRole(Role::Connected);
        Q_EMIT connected();
        return;
    }
    if (m_state == State::Connected) {
        m_silenceTimer.start(); // the server is alive
        Q_EMIT stanzaReceived(stanza);
    }
}

void ComponentLink::onKeepaliveTick() {
    if (!isConnected())
        return;
    XmlElement ping(QStringLiteral("iq"));
    ping.setAttribute(QStringLiteral("type"), QStringLiteral("get"))
        .setAttribute(QStringLiteral("id"), QStringLiteral("keepalive-%1").arg(++m_pingCounter))
        .setAttribute(QStringLiteral("from"), m_settings.componentJid)
        .setAttribute(QStringLiteral("to"), pingTarget(m_settings.componentJid));
    ping.appendChild(XmlElement(QStringLiteral("ping"), ns::ping));
    send(ping);
}

void ComponentLink::drop(const QString &reason, const QString &streamError) {
    if (m_state == State::Stopped || m_state == State::Waiting)
        return;
    const bool wasConnected = isConnected();
    endConnection(Goodbye::Close, streamError);
    scheduleReconnect();
    setRole(Role::Disconnected);
    if (wasConnected) {
        qCWarning(lcXmpp).noquote()
            << "component link lost:" << reason << "- reconnecting in" << m_lastDelayMs << "ms";
        Q_EMIT disconnected(reason);
    } else {
        qCWarning(lcXmpp).noquote()
            << "component connection failed:" << reason << "- retrying in" << m_lastDelayMs << "ms";
        Q_EMIT attemptFailed(reason);
    }
}

void ComponentLink::scheduleReconnect() {
    // Jitter keeps many instances (or one flapping server) from retrying in step.
    // Up to a quarter more than the base delay; at the cap, up to a fifth less.
    const int base = m_nextDelayMs;
    const int max = m_settings.reconnectMaxMs;
    QRandomGenerator *random = QRandomGenerator::global();
    m_lastDelayMs = base + int(random->bounded(base / 4 + 1));
    if (m_lastDelayMs > max)
        m_lastDelayMs = max - int(random->bounded(max / 5 + 1));
    m_nextDelayMs = int(qMin<qint64>(qint64(base) * 2, m_settings.reconnectMaxMs));
    m_state = State::Waiting;
    m_retryTimer.start(m_lastDelayMs);
}

// Another instance holds the component JID: ask again every second or so
// until it is free. Logged once per change of role, not per attempt.
void ComponentLink::standBy() {
    endConnection(Goodbye::Abort);
    const int retry = m_settings.standbyRetryMs;
    m_lastDelayMs = retry - retry / 5 + int(QRandomGenerator::global()->bounded(2 * retry / 5 + 1));
    m_nextDelayMs = m_settings.reconnectMinMs;
    m_state = State::Waiting;
    if (!m_standbyWaits)
        m_retryTimer.start(m_lastDelayMs);
    if (m_role != Role::Standby)
        qCInfo(lcXmpp).noquote() << "another instance is connected as" << m_settings.componentJid
                                 << (m_standbyWaits
                                         ? "- standing by until it lets go of the instance lock"
                                         : "- standing by, asking again every second");
    setRole(Role::Standby);
}

QTcpSocket *ComponentLink::endConnection(Goodbye goodbye, const QString &streamError) {
    m_retryTimer.stop();
    m_keepaliveTimer.stop();
    m_silenceTimer.stop();
    // The reader may be the caller (a signal from inside addData): deleted
    // later, and with this link at the latest.
    if (StanzaReader *reader = m_reader.release()) {
        reader->disconnect(this);
        reader->setParent(this);
        reader->deleteLater();
    }
    QTcpSocket *socket = std::exchange(m_socket, nullptr);
    if (!socket)
        return nullptr;
    socket->disconnect(this);
    // A peer that already closed gets nothing more written: the socket is
    // half gone and writing to it only trips Qt's notifier.
    const bool peerClosed = socket->error() == QAbstractSocket::RemoteHostClosedError;
    if (goodbye == Goodbye::Abort || peerClosed ||
        socket->state() != QAbstractSocket::ConnectedState) {
        socket->abort();
        socket->deleteLater();
        return nullptr;
    }
    if (!streamError.isEmpty())
        socket->write(QByteArrayLiteral("<stream:error><") + streamError.toUtf8() +
                      QByteArrayLiteral(" xmlns='") + ns::streamErrors.toUtf8() +
                      QByteArrayLiteral("'/></stream:error>"));
    if (m_state != State::Connecting) // our stream header is out
        socket->write("</stream:stream>");
    socket->disconnectFromHost();
    if (socket->state() == QAbstractSocket::UnconnectedState) {
        socket->deleteLater();
        return nullptr;
    }
    connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
    QTimer::singleShot(CloseGraceMs, socket, [socket] {
        socket->abort();
        socket->deleteLater();
    });
    return socket;
}

QTcpSocket *ComponentLink::stayDown() {
    if (m_state == State::Stopped)
        return nullptr;
    QTcpSocket *closing = endConnection(Goodbye::Close);
    m_state = State::Stopped;
    setRole(Role::Disconnected);
    return closing;
}

void ComponentLink::setRole(Role role) {
    if (m_role == role)
        return;
    m_role = role;
    Q_EMIT roleChanged(role);
}

void ComponentLink::writeRaw(const QByteArray &bytes) {
    if (m_socket)
        m_socket->write(bytes);
}

} // namespace uwpx

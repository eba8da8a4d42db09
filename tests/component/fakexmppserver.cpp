#include "fakexmppserver.h"

#include <QCryptographicHash>

namespace uwpx::test {

FakeXmppServer::FakeXmppServer(const QString &secret, QObject *parent)
    : QObject(parent)
    , m_secret(secret) {
    connect(&m_server, &QTcpServer::newConnection, this, &FakeXmppServer::onNewConnection);
}

FakeXmppServer::~FakeXmppServer() {
    if (m_socket)
        m_socket->abort();
}

bool FakeXmppServer::listen() {
    return m_server.listen(QHostAddress::LocalHost, 0);
}

void FakeXmppServer::sendRaw(const QByteArray &bytes) {
    if (m_socket)
        m_socket->write(bytes);
}

void FakeXmppServer::send(const XmlElement &stanza) {
    sendRaw(stanza.toXml(QStringLiteral("jabber:component:accept")));
}

void FakeXmppServer::setReading(bool reading) {
    m_reading = reading;
    if (reading && m_socket && m_reader)
        m_reader->addData(m_socket->readAll());
}

void FakeXmppServer::dropClient() {
    if (m_socket) {
        QTcpSocket *socket = m_socket;
        m_socket = nullptr;
        socket->disconnect(this);
        socket->abort();
        socket->deleteLater();
        Q_EMIT clientGone();
    }
}

void FakeXmppServer::onNewConnection() {
    while (QTcpSocket *socket = m_server.nextPendingConnection()) {
        // One component at a time, like a real component port.
        if (m_socket)
            dropClient();
        ++m_connections;
        m_socket = socket;
        m_authenticated = false;
        m_streamId = QStringLiteral("stream-%1").arg(m_connections);
        m_reader = std::make_unique<StanzaReader>();
        connect(m_reader.get(), &StanzaReader::streamOpened, this, [this](const XmlElement &) {
            if (m_mute)
                return;
            sendRaw(QByteArrayLiteral("<?xml version='1.0'?><stream:stream "
                                      "xmlns:stream='http://etherx.jabber.org/streams' "
                                      "xmlns='jabber:component:accept' from='push.example.org' "
                                      "id='") +
                    m_streamId.toUtf8() + "'>");
        });
        connect(m_reader.get(), &StanzaReader::stanzaReceived, this, &FakeXmppServer::onStanza);
        socket->setReadBufferSize(64 * 1024); // so that not reading pushes back on the peer
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] {
            if (socket == m_socket && m_reader && m_reading)
                m_reader->addData(socket->readAll());
        });
        connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
            if (socket == m_socket) {
                m_socket = nullptr;
                socket->deleteLater();
                Q_EMIT clientGone();
            }
        });
        Q_EMIT clientConnected();
    }
}

void FakeXmppServer::onStanza(const XmlElement &stanza) {
    if (!m_authenticated && m_stalling)
        return;
    if (!m_authenticated) {
        const QByteArray expected =
            QCryptographicHash::hash((m_streamId + m_secret).toUtf8(), QCryptographicHash::Sha1)
                .toHex();
        const bool right =
            stanza.name() == QLatin1String("handshake") && stanza.text().toUtf8() == expected;
        if (right && m_occupied) {
            // What Prosody 0.12 says (after checking the secret).
            ++m_conflicts;
            sendRaw("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                    "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Component already "
                    "connected</text></stream:error></stream:stream>");
            if (m_socket)
                m_socket->disconnectFromHost();
            Q_EMIT conflictSent();
            return;
        }
        if (right) {
            m_authenticated = true;
            ++m_handshakes;
            sendRaw("<handshake/>");
            Q_EMIT handshakeAccepted();
        } else {
            // What Prosody says to a wrong secret.
            sendRaw("<stream:error><not-authorized "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Invalid handshake</text>"
                    "</stream:error></stream:stream>");
            if (m_socket)
                m_socket->disconnectFromHost();
            Q_EMIT handshakeRejected();
        }
        return;
    }
    m_received.append(stanza);
    const XmlElement *child = stanza.firstChildElement();
    if (stanza.name() == QLatin1String("iq") &&
        stanza.attribute(QStringLiteral("type")) == QLatin1String("get") && child &&
        child->is(QStringLiteral("ping"), QStringLiteral("urn:xmpp:ping"))) {
        ++m_pings;
        if (!m_silent) {
            XmlElement pong(QStringLiteral("iq"));
            pong.setAttribute(QStringLiteral("type"), QStringLiteral("result"))
                .setAttribute(QStringLiteral("id"), stanza.attribute(QStringLiteral("id")))
                .setAttribute(QStringLiteral("from"), stanza.attribute(QStringLiteral("to")))
                .setAttribute(QStringLiteral("to"), stanza.attribute(QStringLiteral("from")));
            send(pong);
        }
    }
    Q_EMIT stanzaReceived(stanza);
}

} // namespace uwpx::test

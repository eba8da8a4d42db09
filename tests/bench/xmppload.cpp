#include "bench.h"

#include <QCryptographicHash>
#include <QRandomGenerator>
#include <QTcpSocket>

namespace uwpx::bench {

namespace {

// attribute='value' (or "value") of a start tag; empty when absent.
QByteArray attribute(const QByteArray &tag, const char *name) {
    const QByteArray key = QByteArray(" ") + name + '=';
    const qsizetype at = tag.indexOf(key);
    if (at < 0)
        return {};
    const qsizetype start = at + key.size() + 1;
    const char quote = tag.at(start - 1);
    return tag.mid(start, tag.indexOf(quote, start) - start);
}

// The publish Prosody sends (docs/xmpp-servers.md), with summary and secret.
QByteArray publishXml(const PushTarget &target, const QByteArray &secret, quint64 id) {
    return QByteArrayLiteral("<iq from='example.org' to='push.bench' type='set' id='p") +
           QByteArray::number(id) +
           QByteArrayLiteral(
               "'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='") +
           target.node +
           QByteArrayLiteral(
               "'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' "
               "type='submit'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
               "<field var='message-count'><value>1</value></field>"
               "<field var='last-message-sender'><value>juliet@capulet.example</value></field>"
               "<field var='last-message-body'><value>Wherefore art thou?</value></field></x>"
               "</notification></item></publish><publish-options><x xmlns='jabber:x:data' "
               "type='submit'><field var='FORM_TYPE'><value>"
               "http://jabber.org/protocol/pubsub#publish-options</value></field>"
               "<field var='secret'><value>") +
           secret + QByteArrayLiteral("</value></field></x></publish-options></pubsub></iq>");
}

} // namespace

XmppLoad::XmppLoad(const QString &secret, QObject *parent)
    : QObject(parent)
    , m_secret(secret) {
    connect(&m_server, &QTcpServer::newConnection, this, &XmppLoad::onNewConnection);
    m_clock.start();
}

XmppLoad::~XmppLoad() {
    if (m_socket)
        m_socket->abort();
}

bool XmppLoad::listen() {
    return m_server.listen(QHostAddress::LocalHost, 0);
}

void XmppLoad::onNewConnection() {
    while (QTcpSocket *socket = m_server.nextPendingConnection()) {
        if (m_socket) {
            m_socket->abort();
            m_socket->deleteLater();
            if (m_result)
                m_result->linkLost = true;
        }
        m_socket = socket;
        m_buffer.clear();
        m_stage = 0;
        m_ready = false;
        socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        connect(socket, &QTcpSocket::readyRead, this, &XmppLoad::onReadyRead);
        connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
            if (socket != m_socket)
                return;
            m_ready = false;
            if (m_result)
                m_result->linkLost = true;
        });
    }
}

void XmppLoad::onReadyRead() {
    if (!m_socket)
        return;
    m_buffer += m_socket->readAll();
    parse();
}

void XmppLoad::parse() {
    if (m_stage == 0) {
        const qsizetype at = m_buffer.indexOf("<stream:stream");
        const qsizetype end = at < 0 ? -1 : m_buffer.indexOf('>', at);
        if (end < 0)
            return;
        m_buffer.remove(0, end + 1);
        m_socket->write("<?xml version='1.0'?><stream:stream "
                        "xmlns:stream='http://etherx.jabber.org/streams' "
                        "xmlns='jabber:component:accept' from='push.bench' id='" +
                        m_streamId + "'>");
        m_stage = 1;
    }
    if (m_stage == 1) {
        const qsizetype end = m_buffer.indexOf("</handshake>");
        if (end < 0)
            return;
        const qsizetype start = m_buffer.indexOf("<handshake>") + 11;
        const QByteArray digest = m_buffer.mid(start, end - start);
        m_buffer.remove(0, end + 12);
        const QByteArray expected =
            QCryptographicHash::hash(QString::fromLatin1(m_streamId).toUtf8() + m_secret.toUtf8(),
                                     QCryptographicHash::Sha1)
                .toHex();
        if (digest != expected) {
            qWarning("component handshake with a wrong digest");
            m_socket->write("<stream:error><not-authorized "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
            m_socket->disconnectFromHost();
            return;
        }
        m_socket->write("<handshake/>");
        m_stage = 2;
        m_ready = true;
        m_readyAtMs = QDateTime::currentMSecsSinceEpoch();
    }
    // Top-level stanzas: replies to our publishes and the component's pings.
    qsizetype pos = 0;
    for (;;) {
        const qsizetype start = m_buffer.indexOf('<', pos);
        if (start < 0) {
            pos = m_buffer.size();
            break;
        }
        const qsizetype tagEnd = m_buffer.indexOf('>', start);
        if (tagEnd < 0) {
            pos = start;
            break;
        }
        if (m_buffer.at(start + 1) == '/') { // </stream:stream>
            pos = tagEnd + 1;
            continue;
        }
        qsizetype end;
        if (m_buffer.at(tagEnd - 1) == '/') {
            end = tagEnd + 1;
        } else {
            const qsizetype space = m_buffer.indexOf(' ', start);
            const QByteArray name = m_buffer.mid(start + 1, std::min(space, tagEnd) - start - 1);
            const qsizetype close = m_buffer.indexOf("</" + name + '>', tagEnd);
            if (close < 0) {
                pos = start;
                break;
            }
            end = close + name.size() + 3;
        }
        const QByteArray startTag = m_buffer.mid(start, tagEnd + 1 - start);
        if (startTag.startsWith("<iq"))
            handleIq(startTag, m_buffer.mid(start, end - start));
        pos = end;
    }
    m_buffer.remove(0, pos);
}

void XmppLoad::handleIq(const QByteArray &startTag, const QByteArray &whole) {
    const QByteArray type = attribute(startTag, "type");
    const QByteArray id = attribute(startTag, "id");
    if (type == "get" && whole.contains("urn:xmpp:ping")) {
        m_socket->write("<iq type='result' id='" + id + "' from='" + attribute(startTag, "to") +
                        "' to='" + attribute(startTag, "from") + "'/>");
        return;
    }
    if (!id.startsWith('p') || !m_result)
        return;
    bool ok = false;
    const quint64 seq = id.mid(1).toULongLong(&ok);
    if (!ok || seq >= m_sentAtNs.size() || m_sentAtNs[seq] < 0)
        return;
    const qint64 now = m_clock.nsecsElapsed();
    m_result->latency.add((now - m_sentAtNs[seq]) / 1000);
    m_sentAtNs[seq] = -1;
    m_lastReplyNs = now;
    ++m_result->answered;
    --m_outstanding;
    if (type == "result") {
        ++m_result->results;
    } else {
        // <error type='T'><condition xmlns=…/>
        const qsizetype at = whole.indexOf("<error ");
        const qsizetype tagEnd = whole.indexOf('>', at);
        const QByteArray errorType = attribute(whole.mid(at, tagEnd - at + 1), "type");
        const qsizetype cond = whole.indexOf('<', tagEnd);
        const QByteArray condition =
            whole.mid(cond + 1, whole.indexOf(' ', cond) - cond - 1).replace('/', "");
        m_result->errors[QString::fromLatin1(errorType + '/' + condition)] += 1;
    }
    if (m_onReply)
        m_onReply();
}

void XmppLoad::sendPublish(const PushTarget &target, bool wrongSecret) {
    const quint64 seq = m_sentAtNs.size();
    const qint64 now = m_clock.nsecsElapsed();
    if (m_firstSendNs < 0)
        m_firstSendNs = now;
    m_sentAtNs.push_back(now);
    ++m_outstanding;
    ++m_result->sent;
    m_socket->write(
        publishXml(target, wrongSecret ? QByteArrayLiteral("wrong") : target.secret, seq));
}

XmppLoad::Result XmppLoad::run(const QList<PushTarget> &targets, int rate, int durationMs,
                               int window, bool wrongSecret, bool random) {
    Result result;
    if (!m_ready || targets.isEmpty())
        return result;
    m_result = &result;
    m_sentAtNs.clear();
    m_sentAtNs.reserve(size_t(rate > 0 ? rate : 20000) * size_t(durationMs / 1000 + 1));
    m_outstanding = 0;
    m_firstSendNs = -1;
    m_lastReplyNs = 0;
    qsizetype next = 0;
    auto nextTarget = [&]() -> const PushTarget & {
        if (random)
            return targets.at(QRandomGenerator::global()->bounded(targets.size()));
        const PushTarget &target = targets.at(next);
        next = (next + 1) % targets.size();
        return target;
    };

    QElapsedTimer clock;
    clock.start();
    bool sending = true;
    QTimer ticker;
    if (rate > 0) {
        // Sends whatever the schedule owes every millisecond: a fixed offered
        // rate that does not slow down when replies do.
        ticker.setTimerType(Qt::PreciseTimer);
        ticker.setInterval(1);
        connect(&ticker, &QTimer::timeout, this, [&] {
            if (!sending || !m_ready)
                return;
            const qint64 due = qint64(double(rate) * double(clock.nsecsElapsed()) / 1e9);
            while (qint64(result.sent) < due)
                sendPublish(nextTarget(), wrongSecret);
        });
        ticker.start();
    } else {
        m_onReply = [&] {
            if (!sending || !m_ready)
                return;
            while (m_outstanding < quint64(window))
                sendPublish(nextTarget(), wrongSecret);
        };
        while (m_outstanding < quint64(window))
            sendPublish(nextTarget(), wrongSecret);
    }
    waitFor([&] { return clock.elapsed() >= durationMs || result.linkLost; }, durationMs + 1000);
    sending = false;
    ticker.stop();
    waitFor([&] { return m_outstanding == 0 || result.linkLost; }, 30000);
    m_onReply = nullptr;
    result.seconds = m_firstSendNs >= 0 ? double(m_lastReplyNs - m_firstSendNs) / 1e9 : 0;
    m_result = nullptr;
    return result;
}

XmppLoad::Result XmppLoad::sequential(const QList<PushTarget> &targets, int count,
                                      bool wrongSecret) {
    Result result;
    if (!m_ready || targets.isEmpty())
        return result;
    m_result = &result;
    m_sentAtNs.clear();
    m_outstanding = 0;
    m_firstSendNs = -1;
    for (int i = 0; i < count && m_ready; ++i) {
        sendPublish(targets.at(QRandomGenerator::global()->bounded(targets.size())), wrongSecret);
        if (!waitFor([&] { return m_outstanding == 0; }, 30000))
            break;
    }
    result.seconds = m_firstSendNs >= 0 ? double(m_lastReplyNs - m_firstSendNs) / 1e9 : 0;
    m_result = nullptr;
    return result;
}

} // namespace uwpx::bench

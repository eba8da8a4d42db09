#include "respclient.h"

#include <QDeadlineTimer>

namespace uwpx::pushctl {

namespace {

// A line of RESP (a type byte, a length or a status text) is short; a longer
// one is not Redis speaking.
constexpr qint64 kMaxLineBytes = 64 * 1024;

} // namespace

RespClient::RespClient(int timeoutMs)
    : m_timeoutMs(timeoutMs) {}

bool RespClient::connectTo(const QString &host, quint16 port, QString *error) {
    m_socket.connectToHost(host, port);
    if (!m_socket.waitForConnected(m_timeoutMs)) {
        *error = QStringLiteral("cannot connect to Redis at %1:%2: %3")
                     .arg(host)
                     .arg(port)
                     .arg(m_socket.errorString());
        return false;
    }
    return true;
}

std::optional<RespClient::Reply> RespClient::command(const QByteArrayList &arguments,
                                                     QString *error) {
    std::optional<QList<Reply>> replies = pipeline({arguments}, error);
    if (!replies)
        return std::nullopt;
    return replies->first();
}

std::optional<QList<RespClient::Reply>> RespClient::pipeline(const QList<QByteArrayList> &commands,
                                                             QString *error) {
    QByteArray request;
    for (const QByteArrayList &arguments : commands) {
        request += '*' + QByteArray::number(arguments.size()) + "\r\n";
        for (const QByteArray &argument : arguments)
            request += '$' + QByteArray::number(argument.size()) + "\r\n" + argument + "\r\n";
    }
    m_socket.write(request);
    QList<Reply> replies;
    replies.reserve(commands.size());
    for (qsizetype i = 0; i < commands.size(); ++i) {
        std::optional<Reply> reply = readReply(0, error);
        if (!reply) {
            m_socket.abort(); // the rest of the replies would be out of step
            return std::nullopt;
        }
        replies.append(std::move(*reply));
    }
    return replies;
}

std::optional<QByteArray> RespClient::readLine(QString *error) {
    QDeadlineTimer deadline(m_timeoutMs);
    for (;;) {
        if (m_socket.canReadLine()) {
            QByteArray line = m_socket.readLine(kMaxLineBytes + 2);
            if (!line.endsWith("\r\n")) {
                *error = QStringLiteral("Redis sent a malformed reply line");
                return std::nullopt;
            }
            line.chop(2);
            return line;
        }
        if (m_socket.bytesAvailable() > kMaxLineBytes) {
            *error = QStringLiteral("Redis sent a reply line over %1 bytes").arg(kMaxLineBytes);
            return std::nullopt;
        }
        if (!waitForMore(deadline, error))
            return std::nullopt;
    }
}

bool RespClient::waitForMore(const QDeadlineTimer &deadline, QString *error) {
    if (m_socket.state() == QAbstractSocket::ConnectedState &&
        m_socket.waitForReadyRead(int(deadline.remainingTime())))
        return true;
    *error = deadline.hasExpired()
                 ? QStringLiteral("Redis did not answer within %1 s").arg(m_timeoutMs / 1000)
                 : QStringLiteral("Redis closed the connection");
    return false;
}

std::optional<QByteArray> RespClient::readExactly(qint64 size, QString *error) {
    QDeadlineTimer deadline(m_timeoutMs);
    while (m_socket.bytesAvailable() < size) {
        if (!waitForMore(deadline, error))
            return std::nullopt;
    }
    // A copy of its own: what QTcpSocket hands out may share a whole chunk
    // of its read buffer, and the keys we keep would hold every chunk (400
    // MB for 25,000 keys, measured).
    const QByteArray data = m_socket.read(size);
    return QByteArray(data.constData(), data.size());
}

std::optional<RespClient::Reply> RespClient::readReply(int depth, QString *error) {
    const std::optional<QByteArray> line = readLine(error);
    if (!line)
        return std::nullopt;
    if (line->isEmpty()) {
        *error = QStringLiteral("Redis sent an empty reply line");
        return std::nullopt;
    }
    const char type = line->at(0);
    const QByteArray rest = line->mid(1);
    Reply reply;
    bool ok = false;
    switch (type) {
    case '+':
        reply.type = Reply::Status;
        reply.text = rest;
        return reply;
    case '-':
        *error = QStringLiteral("Redis answered: %1").arg(QString::fromUtf8(rest.left(200)));
        return std::nullopt;
    case ':':
        reply.type = Reply::Integer;
        reply.integer = rest.toLongLong(&ok);
        break;
    case '$': {
        const qint64 size = rest.toLongLong(&ok);
        if (!ok || size < -1 || size > kMaxBulkBytes) {
            ok = false;
            break;
        }
        if (size == -1) {
            reply.type = Reply::Nil;
            return reply;
        }
        std::optional<QByteArray> data = readExactly(size + 2, error);
        if (!data)
            return std::nullopt;
        if (!data->endsWith("\r\n")) {
            *error = QStringLiteral("Redis sent a malformed string");
            return std::nullopt;
        }
        data->chop(2);
        reply.type = Reply::Bulk;
        reply.text = *data;
        return reply;
    }
    case '*': {
        const qint64 count = rest.toLongLong(&ok);
        if (!ok || count < -1 || count > kMaxArrayItems || depth >= 2) {
            ok = false;
            break;
        }
        if (count == -1) {
            reply.type = Reply::Nil;
            return reply;
        }
        reply.type = Reply::List;
        for (qint64 i = 0; i < count; ++i) {
            std::optional<Reply> item = readReply(depth + 1, error);
            if (!item)
                return std::nullopt;
            reply.items.append(std::move(*item));
        }
        return reply;
    }
    default:
        break;
    }
    if (!ok) {
        *error = QStringLiteral("Redis sent a reply this tool does not understand (or one over "
                                "its limits)");
        return std::nullopt;
    }
    return reply;
}

} // namespace uwpx::pushctl

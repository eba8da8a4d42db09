#pragma once

#include <QByteArray>
#include <QByteArrayList>
#include <QDeadlineTimer>
#include <QString>
#include <QTcpSocket>

#include <optional>
#include <variant>

namespace uwpx::pushctl {

// Just enough of Redis's protocol (RESP2) to read the C++ push server's
// store: one command at a time, synchronously. The server is someone else's:
// every reply is bounded in size and in time, and anything unexpected is an
// error, never a hang or a crash.
class RespClient {
public:
    // A reply: a status or bulk string, an integer, nil, or an array of them
    // (the layout we read has no nested arrays beyond SCAN's two levels).
    struct Reply;
    using Array = QList<Reply>;
    struct Reply {
        enum Type { Status, Bulk, Integer, Nil, List } type = Nil;
        QByteArray text;
        qint64 integer = 0;
        Array items;
    };

    // Each reply must arrive within timeoutMs of the previous byte wanted.
    explicit RespClient(int timeoutMs = 10000);

    bool connectTo(const QString &host, quint16 port, QString *error);
    // nullopt on any failure (then *error says why, and the connection is
    // no longer usable); a Redis error reply ("-ERR ...") is a failure too.
    std::optional<Reply> command(const QByteArrayList &arguments, QString *error);
    // Several commands in one write, their replies in order: a round trip
    // for a whole batch instead of one per key.
    std::optional<QList<Reply>> pipeline(const QList<QByteArrayList> &commands, QString *error);

    // Bounds on what we accept from the server.
    static constexpr qint64 kMaxBulkBytes = 1 << 20;
    static constexpr qint64 kMaxArrayItems = 1 << 20;

private:
    std::optional<QByteArray> readLine(QString *error);
    std::optional<QByteArray> readExactly(qint64 size, QString *error);
    // Waits for more bytes until `deadline`; false, with why in *error, when
    // Redis closed the connection or did not answer in time.
    bool waitForMore(const QDeadlineTimer &deadline, QString *error);
    std::optional<Reply> readReply(int depth, QString *error);

    QTcpSocket m_socket;
    int m_timeoutMs;
};

} // namespace uwpx::pushctl

// RespClient against a "Redis" that is someone else's: replies over the
// limits, silence, a closed connection, garbage. Each must end in an error
// within the client's time bound, never a hang, a crash or a huge allocation.

#include "respclient.h"

#include <QElapsedTimer>
#include <QSemaphore>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QThread>

#include <memory>

using uwpx::pushctl::RespClient;

namespace {

// A server on its own thread (the client blocks its own) that answers every
// connection's first bytes with `reply`, then stays silent or closes.
class ScriptedServer : public QThread {
public:
    ScriptedServer(QByteArray reply, bool closeAfter)
        : m_reply(std::move(reply))
        , m_closeAfter(closeAfter) {
        start();
    }
    ~ScriptedServer() override {
        quit();
        wait();
    }
    quint16 port() {
        m_ready.acquire();
        return m_port;
    }

protected:
    void run() override {
        QTcpServer server;
        server.listen(QHostAddress::LocalHost, 0);
        m_port = server.serverPort();
        QObject::connect(&server, &QTcpServer::newConnection, [&] {
            QTcpSocket *socket = server.nextPendingConnection();
            QObject::connect(socket, &QTcpSocket::readyRead, socket, [this, socket] {
                socket->readAll();
                if (m_sent)
                    return;
                m_sent = true;
                socket->write(m_reply);
                socket->flush();
                if (m_closeAfter)
                    socket->disconnectFromHost();
            });
        });
        m_ready.release();
        exec();
    }

private:
    QByteArray m_reply;
    bool m_closeAfter;
    bool m_sent = false;
    quint16 m_port = 0;
    QSemaphore m_ready;
};

} // namespace

class TestRespClient : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readsWhatRedisSends() {
        ScriptedServer server("*2\r\n$1\r\n0\r\n*3\r\n$3\r\nabc\r\n$0\r\n\r\n$-1\r\n", false);
        RespClient client(2000);
        QString error;
        QVERIFY2(client.connectTo(QStringLiteral("127.0.0.1"), server.port(), &error),
                 qPrintable(error));
        const auto reply = client.command({"SCAN", "0"}, &error);
        QVERIFY2(reply.has_value(), qPrintable(error));
        QCOMPARE(reply->type, RespClient::Reply::List);
        QCOMPARE(reply->items.size(), 2);
        QCOMPARE(reply->items[0].text, QByteArray("0"));
        QCOMPARE(reply->items[1].items.size(), 3);
        QCOMPARE(reply->items[1].items[0].text, QByteArray("abc"));
        QCOMPARE(reply->items[1].items[1].text, QByteArray(""));
        QCOMPARE(reply->items[1].items[2].type, RespClient::Reply::Nil);
    }

    void pipelinesInOrder() {
        ScriptedServer server("+string\r\n:5\r\n$2\r\nab\r\n", false);
        RespClient client(2000);
        QString error;
        QVERIFY2(client.connectTo(QStringLiteral("127.0.0.1"), server.port(), &error),
                 qPrintable(error));
        const auto replies = client.pipeline({{"TYPE", "a"}, {"LLEN", "b"}, {"GET", "c"}}, &error);
        QVERIFY2(replies.has_value(), qPrintable(error));
        QCOMPARE(replies->size(), 3);
        QCOMPARE((*replies)[0].text, QByteArray("string"));
        QCOMPARE((*replies)[1].integer, 5);
        QCOMPARE((*replies)[2].text, QByteArray("ab"));
    }

    void refusesWhatIsNotRedis_data() {
        QTest::addColumn<QByteArray>("reply");
        QTest::addColumn<bool>("closeAfter");
        QTest::addColumn<QString>("expected");
        QTest::newRow("error reply") << QByteArray("-NOAUTH Authentication required.\r\n") << false
                                     << QStringLiteral("Redis answered: NOAUTH");
        QTest::newRow("bulk over the limit")
            << QByteArray("$") + QByteArray::number(RespClient::kMaxBulkBytes + 1) + "\r\n"
            << false << QStringLiteral("over its limits");
        QTest::newRow("array over the limit")
            << QByteArray("*") + QByteArray::number(RespClient::kMaxArrayItems + 1) + "\r\n"
            << false << QStringLiteral("over its limits");
        QTest::newRow("nested too deep")
            << QByteArray("*1\r\n*1\r\n*1\r\n:1\r\n") << false << QStringLiteral("over its limits");
        QTest::newRow("an HTTP server") << QByteArray("HTTP/1.1 400 Bad Request\r\n\r\n") << true
                                        << QStringLiteral("does not understand");
        QTest::newRow("endless line")
            << QByteArray(70000, 'x') << false << QStringLiteral("reply line over");
        QTest::newRow("closed mid-reply")
            << QByteArray("$10\r\nabc") << true << QStringLiteral("closed the connection");
        QTest::newRow("silent") << QByteArray() << false << QStringLiteral("did not answer within");
    }

    void refusesWhatIsNotRedis() {
        QFETCH(QByteArray, reply);
        QFETCH(bool, closeAfter);
        QFETCH(QString, expected);
        ScriptedServer server(reply, closeAfter);
        RespClient client(1000);
        QString error;
        QVERIFY2(client.connectTo(QStringLiteral("127.0.0.1"), server.port(), &error),
                 qPrintable(error));
        QElapsedTimer timer;
        timer.start();
        QVERIFY(!client.command({"TYPE", "x"}, &error).has_value());
        QVERIFY2(error.contains(expected), qPrintable(error));
        QVERIFY2(timer.elapsed() < 5000, "the client waited past its bound");
    }

    void unreachable() {
        QTcpServer closed;
        closed.listen(QHostAddress::LocalHost, 0);
        const quint16 port = closed.serverPort();
        closed.close();
        RespClient client(1000);
        QString error;
        QVERIFY(!client.connectTo(QStringLiteral("127.0.0.1"), port, &error));
        QVERIFY2(error.startsWith(QStringLiteral("cannot connect to Redis")), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestRespClient)
#include "tst_respclient.moc"

// The HTTP/1.1 response reader behind every WNS request: framing by
// Content-Length, chunks or the end of the connection, on input split and
// coalesced anyhow, and the malformed responses it must refuse.

#include "httpresponseparser.h"

#include <QTest>

using namespace uwpx;
using State = HttpResponseParser::State;

namespace {

// Feeds `bytes` in pieces of `step` bytes; returns the state after the last.
State feedInPieces(HttpResponseParser &parser, const QByteArray &bytes, int step,
                   QByteArray *left = nullptr) {
    QByteArray buffer;
    State state = State::Incomplete;
    for (qsizetype at = 0; at < bytes.size(); at += step) {
        buffer += bytes.mid(at, step);
        state = parser.feed(buffer);
        if (state != State::Incomplete)
            break;
    }
    if (left)
        *left = buffer;
    return state;
}

const QByteArray kDelivered = "HTTP/1.1 200 OK\r\n"
                              "X-WNS-Status: received\r\n"
                              "X-WNS-Msg-ID: 1A2B3C\r\n"
                              "Content-Length: 5\r\n"
                              "\r\n"
                              "hello";

} // namespace

class TestHttpResponseParser : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void framings_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("status");
        QTest::addColumn<bool>("keepAlive");
        QTest::newRow("content-length") << kDelivered << 200 << true;
        QTest::newRow("empty body")
            << QByteArray("HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n") << 410 << true;
        QTest::newRow("chunked") << QByteArray("HTTP/1.1 400 Bad Request\r\n"
                                               "Transfer-Encoding: chunked\r\n\r\n"
                                               "5;name=value\r\nhello\r\n"
                                               "A\r\n0123456789\r\n"
                                               "0\r\nX-Trailer: yes\r\n\r\n")
                                 << 400 << true;
        QTest::newRow("interim 100 skipped")
            << QByteArray("HTTP/1.1 100 Continue\r\n\r\n"
                          "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
            << 404 << true;
        QTest::newRow("204 has no body")
            << QByteArray("HTTP/1.1 204 No Content\r\n\r\n") << 204 << true;
        QTest::newRow("connection close")
            << QByteArray("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                          "Retry-After: 5\r\nContent-Length: 0\r\n\r\n")
            << 503 << false;
        QTest::newRow("HTTP/1.0 closes")
            << QByteArray("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n") << 200 << false;
        QTest::newRow("HTTP/1.0 keep-alive")
            << QByteArray("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
            << 200 << true;
        QTest::newRow("bare LF line ends")
            << QByteArray("HTTP/1.1 200 OK\nContent-Length: 2\n\nok") << 200 << true;
    }

    // Every way the bytes can arrive: whole, one at a time, in odd pieces.
    void framings() {
        QFETCH(QByteArray, bytes);
        QFETCH(int, status);
        QFETCH(bool, keepAlive);
        for (const int step : {int(bytes.size()), 1, 2, 7, 13}) {
            HttpResponseParser parser;
            QByteArray left;
            QCOMPARE(feedInPieces(parser, bytes, step, &left), State::Complete);
            QCOMPARE(parser.status(), status);
            QCOMPARE(parser.keepAlive(), keepAlive);
            QVERIFY(left.isEmpty());
        }
    }

    void headersAreKeptInOrder() {
        HttpResponseParser parser;
        QByteArray buffer = kDelivered;
        QCOMPARE(parser.feed(buffer), State::Complete);
        const HttpHeaders expected{
            {"X-WNS-Status", "received"}, {"X-WNS-Msg-ID", "1A2B3C"}, {"Content-Length", "5"}};
        QCOMPARE(parser.headers(), expected);
    }

    // Two answers in one read: the second stays for the next response.
    void coalescedResponsesAreTakenOneAtATime() {
        const QByteArray second = "HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n";
        QByteArray buffer = kDelivered + second;
        HttpResponseParser parser;
        QCOMPARE(parser.feed(buffer), State::Complete);
        QCOMPARE(parser.status(), 200);
        QCOMPARE(buffer, second);
        parser.reset();
        QVERIFY(!parser.hasStarted());
        QCOMPARE(parser.feed(buffer), State::Complete);
        QCOMPARE(parser.status(), 410);
        QVERIFY(buffer.isEmpty());
    }

    void aBodyWithoutLengthEndsWithTheConnection() {
        HttpResponseParser parser;
        QByteArray buffer = "HTTP/1.1 200 OK\r\nX-WNS-Status: dropped\r\n\r\nsome body";
        QCOMPARE(parser.feed(buffer), State::Incomplete);
        QVERIFY(!parser.keepAlive());
        QCOMPARE(parser.finishAtClose(), State::Complete);
        QCOMPARE(parser.status(), 200);
    }

    void closedEarly_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("error");
        QTest::newRow("nothing") << QByteArray() << "without a response";
        QTest::newRow("in the headers") << QByteArray("HTTP/1.1 200 OK\r\nX-WNS") << "middle";
        QTest::newRow("in the body") << QByteArray(kDelivered.chopped(2)) << "middle";
        QTest::newRow("in the chunks")
            << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
            << "middle";
    }

    void closedEarly() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, error);
        HttpResponseParser parser;
        QCOMPARE(parser.feed(bytes), State::Incomplete);
        QCOMPARE(parser.finishAtClose(), State::Error);
        QVERIFY2(parser.error().contains(error), qPrintable(parser.error()));
        QVERIFY(!parser.keepAlive());
    }

    void malformed_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::newRow("not HTTP") << QByteArray("SSH-2.0-OpenSSH_9.2\r\n");
        QTest::newRow("HTTP/2 preface") << QByteArray("HTTP/2 200\r\n\r\n");
        QTest::newRow("status not a number") << QByteArray("HTTP/1.1 2x0 OK\r\n\r\n");
        QTest::newRow("status too short") << QByteArray("HTTP/1.1 20 OK\r\n\r\n");
        QTest::newRow("header without a colon")
            << QByteArray("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n");
        QTest::newRow("obsolete folding")
            << QByteArray("HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n\r\n");
        QTest::newRow("conflicting lengths")
            << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        QTest::newRow("negative length")
            << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
        QTest::newRow("bad chunk size")
            << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        QTest::newRow("chunk without CRLF")
            << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n");
        QTest::newRow("header section over 64 KiB")
            << QByteArray("HTTP/1.1 200 OK\r\nX-Big: " + QByteArray(70000, 'a'));
    }

    void malformed() {
        QFETCH(QByteArray, bytes);
        HttpResponseParser parser;
        QCOMPARE(parser.feed(bytes), State::Error);
        QVERIFY(!parser.error().isEmpty());
        QVERIFY(!parser.keepAlive());
    }
};

QTEST_APPLESS_MAIN(TestHttpResponseParser)
#include "tst_httpresponseparser.moc"

// The pure parts of wns/: how one WNS answer maps to what the sender does,
// Retry-After parsing, and the channel URI policy.

#include "channelpolicy.h"
#include "wnsresponse.h"

#include <QTest>

using namespace uwpx;

Q_DECLARE_METATYPE(WnsResponse::Kind)

class TestWnsResponse : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void classify_data() {
        QTest::addColumn<int>("status");
        QTest::addColumn<HttpHeaders>("headers");
        QTest::addColumn<WnsResponse::Kind>("kind");
        using K = WnsResponse::Kind;
        QTest::newRow("200 no header") << 200 << HttpHeaders{} << K::Delivered;
        QTest::newRow("200 received")
            << 200 << HttpHeaders{{"X-WNS-Status", "received"}} << K::Delivered;
        QTest::newRow("200 dropped, lower-case name")
            << 200 << HttpHeaders{{"x-wns-status", "Dropped"}} << K::Dropped;
        QTest::newRow("200 both headers, throttled wins")
            << 200
            << HttpHeaders{{"X-WNS-Status", "received"},
                           {"X-WNS-NotificationStatus", "channelThrottled"}}
            << K::ChannelThrottled;
        QTest::newRow("401") << 401 << HttpHeaders{} << K::Unauthorized;
        QTest::newRow("404") << 404 << HttpHeaders{} << K::Gone;
        QTest::newRow("410") << 410 << HttpHeaders{} << K::Gone;
        QTest::newRow("400") << 400 << HttpHeaders{} << K::Permanent;
        QTest::newRow("403") << 403 << HttpHeaders{} << K::Permanent;
        QTest::newRow("405") << 405 << HttpHeaders{} << K::Permanent;
        QTest::newRow("413") << 413 << HttpHeaders{} << K::Permanent;
        QTest::newRow("302 is never followed") << 302 << HttpHeaders{} << K::Permanent;
        QTest::newRow("406") << 406 << HttpHeaders{} << K::Retry;
        QTest::newRow("429") << 429 << HttpHeaders{} << K::Retry;
        QTest::newRow("500") << 500 << HttpHeaders{} << K::Retry;
        QTest::newRow("503") << 503 << HttpHeaders{} << K::Retry;
        QTest::newRow("504") << 504 << HttpHeaders{} << K::Retry;
        QTest::newRow("network error") << 0 << HttpHeaders{} << K::Retry;
    }

    void classify() {
        QFETCH(int, status);
        QFETCH(HttpHeaders, headers);
        QFETCH(WnsResponse::Kind, kind);
        const WnsResponse r = classifyWnsResponse(status, headers, QStringLiteral("refused"),
                                                  QDateTime::currentDateTimeUtc());
        QCOMPARE(int(r.kind), int(kind));
        QCOMPARE(r.httpStatus, status);
        QVERIFY(!r.reason.isEmpty());
    }

    void retryAfter() {
        const QDateTime now(QDate(2015, 10, 21), QTime(7, 27, 0), Qt::UTC);
        QCOMPARE(parseRetryAfterMs("120", now), std::optional<qint64>(120000));
        QCOMPARE(parseRetryAfterMs(" 0 ", now), std::optional<qint64>(0));
        QCOMPARE(parseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", now),
                 std::optional<qint64>(60000));
        QCOMPARE(parseRetryAfterMs("Wed, 21 Oct 2015 07:00:00 GMT", now), std::optional<qint64>(0));
        QVERIFY(!parseRetryAfterMs("soon", now));
        QVERIFY(!parseRetryAfterMs("ab", now));
        // Longer than a day is a day, however long (found by fuzz_httpresponse).
        const std::optional<qint64> day(24 * 3600 * 1000);
        QCOMPARE(parseRetryAfterMs("9223372036854775807", now), day);
        QCOMPARE(parseRetryAfterMs("86401", now), day);
        QCOMPARE(parseRetryAfterMs("Fri, 31 Dec 9999 23:59:59 GMT", now), day);
        QVERIFY(!parseRetryAfterMs("", now));

        const WnsResponse r = classifyWnsResponse(503, {{"retry-after", "7"}}, {}, now);
        QCOMPARE(r.retryAfterMs, std::optional<qint64>(7000));
        const WnsResponse older =
            classifyWnsResponse(406, {{"X-WNS-CONTINUE-AFTER", "3"}}, {}, now);
        QCOMPARE(older.retryAfterMs, std::optional<qint64>(3000));
    }

    void diagnosticsAreLogged() {
        const WnsResponse r = classifyWnsResponse(400,
                                                  {{"X-WNS-Msg-ID", "1A2B"},
                                                   {"x-wns-debug-trace", "DB5SCH"},
                                                   {"MS-CV", "abc.0"},
                                                   {"X-WNS-Error-Description", "Invalid header"}},
                                                  {}, QDateTime::currentDateTimeUtc());
        const QString line = r.diagnostics.toLogString();
        QVERIFY(line.contains(QLatin1String("msg-id=1A2B")));
        QVERIFY(line.contains(QLatin1String("debug-trace=DB5SCH")));
        QVERIFY(line.contains(QLatin1String("ms-cv=abc.0")));
        QVERIFY(r.reason.contains(QLatin1String("Invalid header")));
    }

    void channelPolicy_data() {
        QTest::addColumn<QString>("uri");
        QTest::addColumn<bool>("accepted");
        QTest::newRow("wns") << QStringLiteral("https://db5p.notify.windows.com/?token=AwYAAAB")
                             << true;
        QTest::newRow("upper-case host")
            << QStringLiteral("https://DB5P.Notify.Windows.com/?token=x") << true;
        QTest::newRow("bare domain")
            << QStringLiteral("https://notify.windows.com/?token=x") << false;
        QTest::newRow("look-alike")
            << QStringLiteral("https://evilnotify.windows.com/?token=x") << false;
        QTest::newRow("suffix trick")
            << QStringLiteral("https://db5p.notify.windows.com.evil.org/?token=x") << false;
        QTest::newRow("device side")
            << QStringLiteral("https://db5p.wns.windows.com/?token=x") << false;
        QTest::newRow("http") << QStringLiteral("http://db5p.notify.windows.com/?token=x") << false;
        QTest::newRow("user info")
            << QStringLiteral("https://a@db5p.notify.windows.com/?token=x") << false;
        QTest::newRow("too long") << QStringLiteral("https://db5p.notify.windows.com/?token=") +
                                         QString(2048, u'a')
                                  << false;
        QTest::newRow("garbage") << QStringLiteral("not a url") << false;
    }

    void channelPolicy() {
        QFETCH(QString, uri);
        QFETCH(bool, accepted);
        QString why;
        QCOMPARE(isAcceptableChannelUri(uri, {QStringLiteral("*.notify.windows.com")}, &why),
                 accepted);
        QCOMPARE(why.isEmpty(), accepted);
    }
};

QTEST_GUILESS_MAIN(TestWnsResponse)
#include "tst_wnsresponse.moc"

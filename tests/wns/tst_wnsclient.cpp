// WnsClient against the fake WNS (tests/support/fakewns.h): token handling,
// the request WNS gets, every documented response, retries, coalescing.

#include "fakewns.h"
#include "payload.h"
#include "testpki.h"
#include "wnsclient.h"

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace uwpx;
using uwpx::test::FakeWns;

namespace {

// Characters that break naive form encoding, on purpose.
const QString kSid = QStringLiteral("ms-app://s-1-15-2-1234-5678");
const QString kSecret = QStringLiteral("s3cr+et&key=value/%20");
const QString kChannelSecret = QStringLiteral("CHANNELCAPABILITY");

// Every log line of the run, to prove no secret, token or channel capability
// is ever logged.
QStringList g_logs;
QtMessageHandler g_previousHandler = nullptr;

void captureMessages(QtMsgType type, const QMessageLogContext &context, const QString &message) {
    g_logs << message;
    if (g_previousHandler)
        g_previousHandler(type, context, message);
}

// Collects results in the order callbacks ran.
struct Results {
    QList<WnsResult> list;
    WnsClient::Done add() {
        return [this](const WnsResult &result) { list << result; };
    }
};

QString outcomeName(WnsResult::Outcome outcome) {
    switch (outcome) {
    case WnsResult::Outcome::Delivered:
        return QStringLiteral("Delivered");
    case WnsResult::Outcome::Gone:
        return QStringLiteral("Gone");
    case WnsResult::Outcome::Transient:
        return QStringLiteral("Transient");
    case WnsResult::Outcome::Permanent:
        return QStringLiteral("Permanent");
    }
    return {};
}

} // namespace

Q_DECLARE_METATYPE(WnsResult::Outcome)

class TestWnsClient : public QObject {
    Q_OBJECT

private:
    WnsSettings settings() const {
        WnsSettings s;
        s.packageSid = kSid;
        s.clientSecret = kSecret;
        s.tokenUrl = m_fake->tokenUrl();
        s.scope = QStringLiteral("notify.windows.com");
        s.channelHosts = {QStringLiteral("127.0.0.1")};
        s.caFile = m_pki.caCertificate;
        s.requestTimeoutMs = 3000;
        s.maxAttempts = 3;
        s.retryBaseDelayMs = 50;
        s.maxRetryDelayMs = 200;
        s.sendBudgetMs = 10000;
        return s;
    }

    WnsNotification note(const QString &channel, const QByteArray &payload = {},
                         const QString &coalesceKey = {}) const {
        WnsNotification n;
        n.channelUri = m_fake->channelUri(channel);
        n.payload =
            payload.isEmpty() ? payload::forPublish(2, QStringLiteral("acc"), 1, 0) : payload;
        n.coalesceKey = coalesceKey;
        n.deviceId = QStringLiteral("device-") + channel;
        return n;
    }

    QTemporaryDir m_dir;
    test::TestPki m_pki;
    std::unique_ptr<FakeWns> m_fake;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QString error;
        QVERIFY2(test::TestPki::create(m_dir.path(), &m_pki, &error), qPrintable(error));
        m_fake = std::make_unique<FakeWns>();
        QVERIFY2(m_fake->listen(m_pki.serverCertificate, m_pki.serverKey, 0, &error),
                 qPrintable(error));
        QLoggingCategory::setFilterRules(QStringLiteral("uwpx.wns.debug=true"));
        g_previousHandler = qInstallMessageHandler(captureMessages);
    }

    void init() {
        m_fake->reset();
        m_fake->setCredentials(kSid, kSecret, QStringLiteral("notify.windows.com"));
    }

    // Nothing logged in this test holds the client secret, a token or a
    // channel URI's capability part.
    void cleanup() {
        QStringList tokens;
        for (const FakeWns::Request &request : m_fake->channelRequests()) {
            const QByteArray authorization = request.header("Authorization");
            if (authorization.size() > 7)
                tokens << QString::fromLatin1(authorization.mid(7));
        }
        for (const QString &line : std::as_const(g_logs)) {
            QVERIFY2(!line.contains(kSecret), qPrintable(line));
            QVERIFY2(!line.contains(kChannelSecret), qPrintable(line));
            QVERIFY2(!line.contains(QLatin1String("/channel/")), qPrintable(line));
            for (const QString &token : std::as_const(tokens))
                QVERIFY2(!line.contains(token), qPrintable(line));
        }
        g_logs.clear();
    }

    void cleanupTestCase() {
        qInstallMessageHandler(g_previousHandler);
        m_fake.reset();
    }

    void firstSendFetchesTokenWithTheSpecForm() {
        WnsClient client(settings());
        QSignalSpy refreshed(&client, &WnsClient::tokenRefreshed);
        Results results;
        const QDateTime before = QDateTime::currentDateTimeUtc();
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Delivered"));
        QCOMPARE(results.list[0].httpStatus, 200);

        QCOMPARE(m_fake->tokenRequests().size(), 1);
        const FakeWns::Request token = m_fake->tokenRequests().first();
        QCOMPARE(token.method, QByteArray("POST"));
        QVERIFY(token.header("Content-Type").startsWith("application/x-www-form-urlencoded"));
        QHash<QString, QString> form;
        for (const QByteArray &pair : token.body.split('&')) {
            const QList<QByteArray> kv = pair.split('=');
            QCOMPARE(kv.size(), 2);
            QByteArray value = kv[1];
            QVERIFY2(!value.contains('+') && !value.contains('/') && !value.contains(':'),
                     value.constData());
            form.insert(QString::fromLatin1(kv[0]), QUrl::fromPercentEncoding(value));
        }
        QCOMPARE(form.size(), 4);
        QCOMPARE(form.value(QStringLiteral("grant_type")), QStringLiteral("client_credentials"));
        QCOMPARE(form.value(QStringLiteral("client_id")), kSid);
        QCOMPARE(form.value(QStringLiteral("client_secret")), kSecret);
        QCOMPARE(form.value(QStringLiteral("scope")), QStringLiteral("notify.windows.com"));

        // The owner gets the token to persist it, with its expiry.
        QCOMPARE(refreshed.size(), 1);
        const QString issued = refreshed[0][0].toString();
        QCOMPARE(m_fake->channelRequests().first().header("Authorization"),
                 "Bearer " + issued.toLatin1());
        const QDateTime expiresAt = refreshed[0][1].toDateTime();
        QVERIFY(expiresAt >= before.addSecs(86400 - 5));
        QVERIFY(expiresAt <= QDateTime::currentDateTimeUtc().addSecs(86400 + 5));
        QCOMPARE(m_fake->tokenRequests().size(), 1);
        QVERIFY(client.hasFreshToken());
    }

    void tokenVariants_data() {
        QTest::addColumn<QString>("tokenType");
        QTest::addColumn<bool>("expiresAsString");
        QTest::newRow("login.live.com: bearer, number") << QStringLiteral("bearer") << false;
        QTest::newRow("Entra ID: Bearer, string") << QStringLiteral("Bearer") << true;
        QTest::newRow("upper case") << QStringLiteral("BEARER") << true;
    }

    void tokenVariants() {
        QFETCH(QString, tokenType);
        QFETCH(bool, expiresAsString);
        m_fake->setTokenType(tokenType);
        m_fake->setTokenLifetime(3600, expiresAsString);
        WnsClient client(settings());
        QSignalSpy refreshed(&client, &WnsClient::tokenRefreshed);
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Delivered"));
        QCOMPARE(refreshed.size(), 1);
        const qint64 lifetime =
            QDateTime::currentDateTimeUtc().secsTo(refreshed[0][1].toDateTime());
        QVERIFY2(lifetime > 3590 && lifetime <= 3600, QByteArray::number(lifetime));
    }

    void tokenIsReused() {
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        client.send(note(QStringLiteral("b")), results.add());
        QTRY_COMPARE(results.list.size(), 2);
        QCOMPARE(outcomeName(results.list[1].outcome), QStringLiteral("Delivered"));
        QCOMPARE(m_fake->tokenRequests().size(), 1);
        QCOMPARE(m_fake->channelRequests().size(), 2);
        QCOMPARE(m_fake->channelRequests()[0].header("Authorization"),
                 m_fake->channelRequests()[1].header("Authorization"));
    }

    void tokenIsRefreshedBeforeExpiry() {
        m_fake->setTokenLifetime(1);
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Delivered"));
        // The client stops trusting the token ahead of its expiry…
        QTRY_VERIFY_WITH_TIMEOUT(!client.hasFreshToken(), 3000);
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 2);
        // …and fetches a new one instead of sending a dying one (no 401).
        QCOMPARE(outcomeName(results.list[1].outcome), QStringLiteral("Delivered"));
        QCOMPARE(m_fake->tokenRequests().size(), 2);
        QCOMPARE(m_fake->channelRequests().size(), 2); // no 401, no resend
        QVERIFY(m_fake->channelRequests()[0].header("Authorization") !=
                m_fake->channelRequests()[1].header("Authorization"));
    }

    void unauthorizedRefreshesOnceAndResendsOnce() {
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        m_fake->revokeTokens(); // as when WNS stops honouring yesterday's token
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 2);
        QCOMPARE(outcomeName(results.list[1].outcome), QStringLiteral("Delivered"));
        QCOMPARE(m_fake->tokenRequests().size(), 2);
        const QList<FakeWns::Request> sent = m_fake->channelRequests();
        QCOMPARE(sent.size(), 3); // first send, the 401, the one resend
        QCOMPARE(sent[1].header("Authorization"), sent[0].header("Authorization"));
        QVERIFY(sent[2].header("Authorization") != sent[1].header("Authorization"));
        QCOMPARE(sent[2].body, sent[1].body);
    }

    void unauthorizedTwiceIsNotRetriedAgain() {
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")),
                              {FakeWns::answer(401), FakeWns::answer(401), FakeWns::answer(401)});
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
        QCOMPARE(results.list[0].httpStatus, 401);
        QCOMPARE(m_fake->channelRequests().size(), 2);
        QCOMPARE(m_fake->tokenRequests().size(), 2);
        // Nothing else is on its way.
        QSignalSpy more(m_fake.get(), &FakeWns::channelRequestReceived);
        QVERIFY(!more.wait(500));
    }

    void badCredentialsBackOff() {
        m_fake->setCredentials(kSid, QStringLiteral("another-secret"));
        WnsClient client(settings());
        Results results;
        for (int i = 0; i < 5; ++i)
            client.send(note(QStringLiteral("c%1").arg(i)), results.add());
        QTRY_COMPARE(results.list.size(), 5);
        for (const WnsResult &result : std::as_const(results.list)) {
            QCOMPARE(outcomeName(result.outcome), QStringLiteral("Transient"));
            QVERIFY2(result.reason.startsWith(QLatin1String("WNS token unavailable:")),
                     qPrintable(result.reason));
            QVERIFY2(result.reason.contains(QLatin1String("credentials")),
                     qPrintable(result.reason));
            QVERIFY(!result.reason.contains(kSecret));
        }
        QCOMPARE(m_fake->tokenRequests().size(), 1); // one fetch for all five

        // During the back-off no new token request is made.
        client.send(note(QStringLiteral("later")), results.add());
        QTRY_COMPARE(results.list.size(), 6);
        QCOMPARE(outcomeName(results.list[5].outcome), QStringLiteral("Transient"));
        QVERIFY(results.list[5].reason.contains(QLatin1String("credentials")));
        QCOMPARE(m_fake->tokenRequests().size(), 1);
        QCOMPARE(m_fake->channelRequests().size(), 0);
        // Reported loudly.
        bool loud = false;
        for (const QString &line : std::as_const(g_logs))
            loud = loud || line.contains(QLatin1String("refused the credentials"));
        QVERIFY(loud);
    }

    // A token endpoint that misbehaves: an answer that never ends used to be
    // buffered whole (10 GB reached), one dripping a byte every 2 s kept the
    // fetch open for its idle timeout again and again, and a token with CR
    // LF in it was written into the notification's headers as it was.
    void aMisbehavingTokenEndpointIsBounded_data() {
        QTest::addColumn<int>("trouble");
        QTest::addColumn<QString>("why");
        QTest::newRow("endless answer")
            << int(FakeWns::TokenTrouble::Endless) << QStringLiteral("an answer over 64 KiB");
        QTest::newRow("dripping answer")
            << int(FakeWns::TokenTrouble::Dripping) << QStringLiteral("did not answer within");
        QTest::newRow("a header in the token")
            << int(FakeWns::TokenTrouble::HeaderInToken) << QStringLiteral("not a token");
    }
    void aMisbehavingTokenEndpointIsBounded() {
        QFETCH(int, trouble);
        QFETCH(QString, why);
        m_fake->setTokenTrouble(FakeWns::TokenTrouble(trouble));
        WnsSettings s = settings();
        s.requestTimeoutMs = 2000;
        WnsClient client(s);
        Results results;
        QElapsedTimer clock;
        clock.start();
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE_WITH_TIMEOUT(results.list.size(), 1, 10000);
        m_fake->setTokenTrouble(FakeWns::TokenTrouble::None);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
        QVERIFY2(results.list[0].reason.contains(why), qPrintable(results.list[0].reason));
        QVERIFY2(clock.elapsed() < s.requestTimeoutMs + 1000,
                 qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(m_fake->channelRequests().size(), 0); // no token went out
    }

    void tokenEndpointUnreachableIsTransient() {
        WnsSettings s = settings();
        s.tokenUrl = QUrl(QStringLiteral("https://127.0.0.1:1/accesstoken.srf"));
        WnsClient client(s);
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
        QVERIFY2(results.list[0].reason.startsWith(QLatin1String("WNS token unavailable:")),
                 qPrintable(results.list[0].reason));
        QCOMPARE(m_fake->channelRequests().size(), 0);
    }

    void statusHeader_data() {
        QTest::addColumn<QByteArray>("name");
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<WnsResult::Outcome>("outcome");
        QTest::addColumn<int>("dropped"); // then said so in the log
        QTest::newRow("received") << QByteArray("X-WNS-Status") << QByteArray("received")
                                  << WnsResult::Outcome::Delivered << 0;
        QTest::newRow("dropped") << QByteArray("X-WNS-Status") << QByteArray("dropped")
                                 << WnsResult::Outcome::Delivered << 1;
        QTest::newRow("older header, dropped")
            << QByteArray("X-WNS-NotificationStatus") << QByteArray("dropped")
            << WnsResult::Outcome::Delivered << 1;
        QTest::newRow("channelthrottled")
            << QByteArray("X-WNS-Status") << QByteArray("channelthrottled")
            << WnsResult::Outcome::Transient << 0;
        QTest::newRow("lower-case name, mixed-case value")
            << QByteArray("x-wns-notificationstatus") << QByteArray("ChannelThrottled")
            << WnsResult::Outcome::Transient << 0;
    }

    void statusHeader() {
        QFETCH(QByteArray, name);
        QFETCH(QByteArray, value);
        QFETCH(WnsResult::Outcome, outcome);
        QFETCH(int, dropped);
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")),
                              {FakeWns::answer(200, {{name, value}})});
        WnsClient client(settings());
        QSignalSpy droppedSpy(&client, &WnsClient::notificationDropped);
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), outcomeName(outcome));
        QCOMPARE(results.list[0].httpStatus, 200);
        QCOMPARE(g_logs.filter(QStringLiteral("accepted but dropped")).size(), dropped);
        QCOMPARE(droppedSpy.size(), dropped); // counted for the operator's metrics
        // A throttled channel is not hammered: no retry.
        QSignalSpy more(m_fake.get(), &FakeWns::channelRequestReceived);
        QVERIFY(!more.wait(300));
        QCOMPARE(m_fake->channelRequests().size(), 1);
    }

    void gone_data() {
        QTest::addColumn<int>("status");
        QTest::newRow("404") << 404;
        QTest::newRow("410") << 410;
    }

    void gone() {
        QFETCH(int, status);
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")), {FakeWns::answer(status)});
        WnsClient client(settings());
        QSignalSpy goneSpy(&client, &WnsClient::channelGone);
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Gone"));
        QCOMPARE(results.list[0].httpStatus, status);
        QCOMPARE(goneSpy.size(), 1);
        QCOMPARE(goneSpy[0][0].toString(), QStringLiteral("device-a"));
        // The channel that failed, so that only it suspends the device.
        QCOMPARE(goneSpy[0][1].toString(), m_fake->channelUri(QStringLiteral("a")));
        QCOMPARE(m_fake->channelRequests().size(), 1);
    }

    void transientIsRetried_data() {
        QTest::addColumn<int>("status");
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<int>("minimumGapMs");
        QTest::newRow("406 Retry-After") << 406 << QByteArray("Retry-After") << 1000;
        QTest::newRow("429 X-WNS-CONTINUE-AFTER")
            << 429 << QByteArray("X-WNS-CONTINUE-AFTER") << 1000;
        QTest::newRow("500 Retry-After") << 500 << QByteArray("Retry-After") << 1000;
        QTest::newRow("503 Retry-After") << 503 << QByteArray("Retry-After") << 1000;
        QTest::newRow("502 no header") << 502 << QByteArray() << 0;
    }

    void transientIsRetried() {
        QFETCH(int, status);
        QFETCH(QByteArray, header);
        QFETCH(int, minimumGapMs);
        FakeWns::Headers headers;
        if (!header.isEmpty())
            headers.append({header, "1"});
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")),
                              {FakeWns::answer(status, headers), FakeWns::answer(200)});
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE_WITH_TIMEOUT(results.list.size(), 1, 10000);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Delivered"));
        const QList<FakeWns::Request> sent = m_fake->channelRequests();
        QCOMPARE(sent.size(), 2);
        const qint64 gap = sent[1].receivedMs - sent[0].receivedMs;
        QVERIFY2(gap >= minimumGapMs, QByteArray::number(gap));
        if (minimumGapMs == 0) // backoff from the small test settings, not seconds
            QVERIFY2(gap < 1000, QByteArray::number(gap));
        QCOMPARE(sent[1].body, sent[0].body); // one retry
    }

    void retriesExhausted() {
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")),
                              QList<FakeWns::Answer>(5, FakeWns::answer(503)));
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
        QCOMPARE(results.list[0].httpStatus, 503);
        QCOMPARE(m_fake->channelRequests().size(), 3); // settings.maxAttempts
        QSignalSpy more(m_fake.get(), &FakeWns::channelRequestReceived);
        QVERIFY(!more.wait(500));
    }

    // WNS asking us to slow down is not WNS failing: the result says which,
    // so the XMPP side can answer resource-constraint for the one and
    // internal-server-error for the other.
    void saysWhenWnsThrottles_data() {
        QTest::addColumn<QList<FakeWns::Answer>>("answers");
        QTest::addColumn<QString>("outcome");
        QTest::addColumn<bool>("throttled");
        QTest::newRow("406 on every attempt")
            << QList<FakeWns::Answer>(3, FakeWns::answer(406)) << "Transient" << true;
        QTest::newRow("429 asking for more time than the budget")
            << QList<FakeWns::Answer>{FakeWns::answer(429, {{"Retry-After", "120"}})} << "Transient"
            << true;
        QTest::newRow("this channel throttled")
            << QList<FakeWns::Answer>{FakeWns::answer(200, {{"X-WNS-Status", "channelthrottled"}})}
            << "Transient" << true;
        QTest::newRow("503 on every attempt")
            << QList<FakeWns::Answer>(3, FakeWns::answer(503)) << "Transient" << false;
        QTest::newRow("429, then 503")
            << QList<FakeWns::Answer>{FakeWns::answer(429), FakeWns::answer(503),
                                      FakeWns::answer(503)}
            << "Transient" << false;
        QTest::newRow("403") << QList<FakeWns::Answer>{FakeWns::answer(403)} << "Permanent"
                             << false;
        QTest::newRow("200") << QList<FakeWns::Answer>{FakeWns::answer(200)} << "Delivered"
                             << false;
    }
    void saysWhenWnsThrottles() {
        QFETCH(QList<FakeWns::Answer>, answers);
        QFETCH(QString, outcome);
        QFETCH(bool, throttled);
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")), answers);
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE_WITH_TIMEOUT(results.list.size(), 1, 10000);
        QCOMPARE(outcomeName(results.list[0].outcome), outcome);
        QCOMPARE(results.list[0].throttled, throttled);
    }

    void retryAfterBeyondTheBudgetIsNotAwaited() {
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")),
                              {FakeWns::answer(503, {{"Retry-After", "120"}})});
        WnsClient client(settings());
        Results results;
        QElapsedTimer timer;
        timer.start();
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QVERIFY2(timer.elapsed() < 5000, QByteArray::number(timer.elapsed()));
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
        QCOMPARE(results.list[0].httpStatus, 503);
        QCOMPARE(m_fake->channelRequests().size(), 1);
    }

    void stalledRequestTimesOut() {
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")),
                              {FakeWns::stalled(), FakeWns::stalled()});
        WnsSettings s = settings();
        s.requestTimeoutMs = 500;
        s.maxAttempts = 2;
        WnsClient client(s);
        Results results;
        QElapsedTimer timer;
        timer.start();
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE_WITH_TIMEOUT(results.list.size(), 1, 8000);
        QVERIFY2(timer.elapsed() >= 1000, QByteArray::number(timer.elapsed()));
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
        QCOMPARE(results.list[0].httpStatus, 0);
        QVERIFY2(results.list[0].reason.contains(QLatin1String("no answer")),
                 qPrintable(results.list[0].reason));
        QCOMPARE(m_fake->channelRequests().size(), 2);
    }

    void sendBudgetBoundsEverything() {
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")), {FakeWns::stalled()});
        WnsSettings s = settings();
        s.requestTimeoutMs = 20000;
        s.sendBudgetMs = 1200;
        WnsClient client(s);
        Results results;
        QElapsedTimer timer;
        timer.start();
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE_WITH_TIMEOUT(results.list.size(), 1, 5000);
        QVERIFY2(timer.elapsed() >= 1100 && timer.elapsed() < 4000,
                 QByteArray::number(timer.elapsed()));
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
    }

    void permanent_data() {
        QTest::addColumn<int>("status");
        QTest::newRow("400") << 400;
        QTest::newRow("403") << 403;
        QTest::newRow("405") << 405;
        QTest::newRow("413") << 413;
    }

    void permanent() {
        QFETCH(int, status);
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")),
                              {FakeWns::answer(status, {{"X-WNS-Error-Description", "the why"},
                                                        {"X-WNS-Debug-Trace", "TRACE-1"},
                                                        {"MS-CV", "cv.1"}})});
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Permanent"));
        QCOMPARE(results.list[0].httpStatus, status);
        QCOMPARE(m_fake->channelRequests().size(), 1);
        // Logged with what Microsoft support asks for.
        bool logged = false;
        for (const QString &line : std::as_const(g_logs))
            logged = logged || (line.contains(QLatin1String("the why")) &&
                                line.contains(QLatin1String("TRACE-1")) &&
                                line.contains(QLatin1String("cv.1")) &&
                                line.contains(QLatin1String("msg-id=")));
        QVERIFY(logged);
        if (status == 403) {
            QVERIFY(results.list[0].reason.contains(QLatin1String("another app")));
        }
    }

    void refusedChannelMakesNoRequest_data() {
        QTest::addColumn<QString>("uri");
        QTest::addColumn<int>("payloadSize");
        QTest::newRow("host outside channel_hosts")
            << QStringLiteral("https://localhost:%1/channel/a") << 10;
        QTest::newRow("http") << QStringLiteral("http://127.0.0.1:%1/channel/a") << 10;
        QTest::newRow("user info") << QStringLiteral("https://u:p@127.0.0.1:%1/channel/a") << 10;
        QTest::newRow("payload too large")
            << QStringLiteral("https://127.0.0.1:%1/channel/a") << 5001;
    }

    void refusedChannelMakesNoRequest() {
        QFETCH(QString, uri);
        QFETCH(int, payloadSize);
        WnsClient client(settings());
        Results results;
        WnsNotification n = note(QStringLiteral("a"), QByteArray(payloadSize, 'x'));
        n.channelUri = uri.arg(m_fake->port());
        client.send(n, results.add());
        QCOMPARE(results.list.size(), 0); // never inside send()
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Permanent"));
        QCOMPARE(results.list[0].httpStatus, 0);
        QVERIFY(!results.list[0].reason.isEmpty());
        QCOMPARE(m_fake->channelRequests().size(), 0);
        QCOMPARE(m_fake->tokenRequests().size(), 0);
    }

    void aBurstForOneKeyBecomesOneFollowUp() {
        const QByteArray path = FakeWns::channelPath(QStringLiteral("a"));
        m_fake->scriptChannel(path, {FakeWns::stalled()});
        WnsClient client(settings());
        QSignalSpy received(m_fake.get(), &FakeWns::channelRequestReceived);
        Results results;
        const QString key = QStringLiteral("device-a");
        client.send(
            note(QStringLiteral("a"), payload::forPublish(2, QStringLiteral("x"), 0, 0), key),
            results.add());
        QVERIFY(received.wait());
        for (int i = 1; i < 10; ++i)
            client.send(
                note(QStringLiteral("a"), payload::forPublish(2, QStringLiteral("x"), i, 0), key),
                results.add());
        QCOMPARE(m_fake->stalledCount(), 1); // the other 9 wait behind it
        m_fake->releaseStalled();
        QTRY_COMPARE(results.list.size(), 10);
        for (const WnsResult &result : std::as_const(results.list))
            QCOMPARE(outcomeName(result.outcome), QStringLiteral("Delivered"));
        const QList<FakeWns::Request> sent = m_fake->channelRequests(path);
        QCOMPARE(sent.size(), 2);
        QCOMPARE(sent[0].body, payload::forPublish(2, QStringLiteral("x"), 0, 0));
        QCOMPARE(sent[1].body, payload::forPublish(2, QStringLiteral("x"), 9, 0)); // the latest
    }

    // Each request holds a connection until WNS answers (no pipelining), so
    // with WNS's latency the connections per host bound the throughput: Qt's
    // manager alone would stop at 6.
    void connectionsPerHostBoundRequestsInFlight() {
        WnsSettings s = settings();
        s.connectionsPerHost = 14;
        for (int i = 0; i < s.connectionsPerHost; ++i)
            m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("p%1").arg(i)),
                                  {FakeWns::stalled()});
        WnsClient client(s);
        Results results;
        const int sends = 40;
        for (int i = 0; i < sends; ++i)
            client.send(note(QStringLiteral("p%1").arg(i), {}, QStringLiteral("device-%1").arg(i)),
                        results.add());
        QTRY_COMPARE(m_fake->stalledCount(), s.connectionsPerHost);
        QCOMPARE(m_fake->channelRequests().size(), s.connectionsPerHost); // the rest wait
        QVERIFY(results.list.isEmpty());
        m_fake->releaseStalled();
        QTRY_COMPARE_WITH_TIMEOUT(results.list.size(), sends, 20000);
        for (const WnsResult &result : std::as_const(results.list))
            QCOMPARE(outcomeName(result.outcome), QStringLiteral("Delivered"));
        QCOMPARE(m_fake->channelRequests().size(), sends);
    }

    void connectionsAreReused() {
        WnsClient client(settings());
        Results results;
        for (int i = 0; i < 5; ++i) {
            client.send(note(QStringLiteral("r%1").arg(i)), results.add());
            QTRY_COMPARE(results.list.size(), i + 1);
            QCOMPARE(outcomeName(results.list[i].outcome), QStringLiteral("Delivered"));
        }
        const QList<FakeWns::Request> sent = m_fake->channelRequests();
        QCOMPARE(sent.size(), 5);
        for (const FakeWns::Request &request : sent)
            QCOMPARE(request.connection, sent[0].connection);
    }

    // Servers close idle keep-alive connections; a request written just as
    // that happens goes out again on a fresh connection, not to the caller
    // as a failure.
    void aConnectionClosedByTheServerIsReplaced() {
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QVERIFY(m_fake->closeIdleConnections() >= 1);
        client.send(note(QStringLiteral("a")), results.add()); // before we see the close
        QTRY_COMPARE(results.list.size(), 2);
        QCOMPARE(outcomeName(results.list[1].outcome), QStringLiteral("Delivered"));
        const QList<FakeWns::Request> sent = m_fake->channelRequests();
        QCOMPARE(sent.size(), 2);
        QVERIFY(sent[1].connection != sent[0].connection); // no retry: 2 sends, 2 requests
    }

    // The bearer token goes only to a server that proves it is the host
    // named in the channel URI, by a certificate we trust.
    void anUntrustedServerGetsNothing() {
        WnsSettings s = settings();
        s.caFile.clear(); // the system's CAs only: the fake's test CA is not among them
        s.maxAttempts = 1;
        WnsClient client(s);
        client.restoreToken(QStringLiteral("stored-token"),
                            QDateTime::currentDateTimeUtc().addSecs(3600));
        Results results;
        client.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Transient"));
        QCOMPARE(results.list[0].httpStatus, 0);
        QVERIFY2(results.list[0].reason.contains(QLatin1String("certificate"), Qt::CaseInsensitive),
                 qPrintable(results.list[0].reason));
        QCOMPARE(m_fake->channelRequests().size(), 0);
    }

    void concurrentSendsShareOneTokenFetch() {
        WnsClient client(settings());
        Results results;
        for (int i = 0; i < 100; ++i)
            client.send(note(QStringLiteral("c%1").arg(i)), results.add());
        QTRY_COMPARE_WITH_TIMEOUT(results.list.size(), 100, 20000);
        for (const WnsResult &result : std::as_const(results.list))
            QCOMPARE(outcomeName(result.outcome), QStringLiteral("Delivered"));
        QCOMPARE(m_fake->tokenRequests().size(), 1);
        QCOMPARE(m_fake->channelRequests().size(), 100);
    }

    void requestCarriesExactlyTheSpecHeaders() {
        WnsClient client(settings());
        QSignalSpy refreshed(&client, &WnsClient::tokenRefreshed);
        Results results;
        WnsNotification n = note(QStringLiteral("a"), payload::forTestPush(2));
        // A channel URI in WNS's own shape, used as given. (QUrl writes
        // percent-encodings in upper case, "%2b" as "%2B": the same URI to any
        // HTTP server, so that is the one normalisation allowed here.)
        n.channelUri = m_fake->baseUrl().toString() + QStringLiteral("/?token=AwYAAAD%2bCH%3d") +
                       kChannelSecret;
        client.send(n, results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Delivered"));
        const FakeWns::Request r = m_fake->channelRequests().first();
        QCOMPARE(r.method, QByteArray("POST"));
        QCOMPARE(r.httpVersion, QByteArray("HTTP/1.1"));
        QCOMPARE(r.path.toUpper(),
                 ("/?token=AwYAAAD%2bCH%3d" + kChannelSecret.toLatin1()).toUpper());
        QCOMPARE(QByteArray::fromPercentEncoding(r.path),
                 "/?token=AwYAAAD+CH=" + kChannelSecret.toLatin1());
        QCOMPARE(r.body, QByteArray(R"({"version":2,"action":"test_push"})"));
        const QList<QPair<QByteArray, QByteArray>> expected{
            {"Authorization", "Bearer " + refreshed[0][0].toString().toLatin1()},
            {"X-WNS-Type", "wns/raw"},
            {"Content-Type", "application/octet-stream"},
            {"Content-Length", QByteArray::number(r.body.size())},
            {"X-WNS-Cache-Policy", "cache"},
            {"X-WNS-RequestForStatus", "true"},
            {"X-WNS-PRIORITY", "1"}, // WnsNotification's default: High
        };
        for (const auto &[name, value] : expected) {
            QCOMPARE(r.headerCount(name), 1);
            QCOMPARE(r.header(name), value);
        }
        QCOMPARE(r.headerCount("Expect"), 0);
        QCOMPARE(r.headerCount("Transfer-Encoding"), 0);
        QCOMPARE(r.headerCount("Upgrade"), 0); // no h2c
        QCOMPARE(r.headerCount("HTTP2-Settings"), 0);
    }

    void priorityIsTheNotifications() {
        WnsClient client(settings());
        Results results;
        WnsNotification n = note(QStringLiteral("a"));
        n.priority = WnsPriority::Medium;
        client.send(n, results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Delivered"));
        QCOMPARE(m_fake->channelRequests().first().header("X-WNS-PRIORITY"), QByteArray("2"));
    }

    void payloadBytesAreExactlyTheSpecOnes() {
        const QByteArray v2 = payload::forPublish(2, QStringLiteral("acc-1"), 3, 1);
        QCOMPARE(v2, QByteArray(R"({"version":2,"action":"push","account_id":"acc-1",)"
                                R"("message_count":3,)"
                                R"("pending_subscription_count":1})"));
        const QByteArray v1 = payload::forPublish(1, QStringLiteral("ab12"), 0, 2);
        QCOMPARE(v1, QByteArray(R"({"version":1,"action":"push","account":"ab12",)"
                                R"("message_count":0,)"
                                R"("pending_subscription_count":2})"));
        QCOMPARE(payload::forTestPush(1), QByteArray(R"({"version":1,"action":"test_push"})"));
        QCOMPARE(payload::forTestPush(2), QByteArray(R"({"version":2,"action":"test_push"})"));

        // Only the spec's keys: no body, no sender, even for awkward ids.
        const QString awkward = QStringLiteral("a\"b\\c\u00e9\n");
        const QJsonObject parsed =
            QJsonDocument::fromJson(payload::forPublish(2, awkward, 7, 8)).object();
        QCOMPARE(parsed.keys(), (QStringList{QStringLiteral("account_id"), QStringLiteral("action"),
                                             QStringLiteral("message_count"),
                                             QStringLiteral("pending_subscription_count"),
                                             QStringLiteral("version")}));
        QCOMPARE(parsed.value(QLatin1String("account_id")).toString(), awkward);
        QCOMPARE(
            QJsonDocument::fromJson(v1).object().keys(),
            (QStringList{QStringLiteral("account"), QStringLiteral("action"),
                         QStringLiteral("message_count"),
                         QStringLiteral("pending_subscription_count"), QStringLiteral("version")}));
        QCOMPARE(QJsonDocument::fromJson(payload::forTestPush(2)).object().keys(),
                 (QStringList{QStringLiteral("action"), QStringLiteral("version")}));

        // And WNS gets those bytes unchanged.
        WnsClient client(settings());
        Results results;
        client.send(note(QStringLiteral("a"), v1), results.add());
        client.send(note(QStringLiteral("b"), v2), results.add());
        QTRY_COMPARE(results.list.size(), 2);
        QCOMPARE(m_fake->channelRequests(FakeWns::channelPath(QStringLiteral("a"))).first().body,
                 v1);
        QCOMPARE(m_fake->channelRequests(FakeWns::channelPath(QStringLiteral("b"))).first().body,
                 v2);
    }

    void restoredTokenIsUsedWithoutAFetch() {
        QString token;
        QDateTime expiresAt;
        {
            WnsClient first(settings());
            connect(&first, &WnsClient::tokenRefreshed, this,
                    [&](const QString &t, const QDateTime &e) {
                        token = t;
                        expiresAt = e;
                    });
            Results results;
            first.send(note(QStringLiteral("a")), results.add());
            QTRY_COMPARE(results.list.size(), 1);
        }
        QVERIFY(!token.isEmpty());
        WnsClient second(settings());
        second.restoreToken(token, expiresAt);
        QVERIFY(second.hasFreshToken());
        Results results;
        second.send(note(QStringLiteral("a")), results.add());
        QTRY_COMPARE(results.list.size(), 1);
        QCOMPARE(outcomeName(results.list[0].outcome), QStringLiteral("Delivered"));
        QCOMPARE(m_fake->tokenRequests().size(), 1); // the first client's, none since

        // An expired one is not even tried.
        WnsClient third(settings());
        third.restoreToken(token, QDateTime::currentDateTimeUtc().addSecs(-10));
        QVERIFY(!third.hasFreshToken());
    }

    void destroyingTheClientResolvesPendingSends() {
        m_fake->scriptChannel(FakeWns::channelPath(QStringLiteral("a")), {FakeWns::stalled()});
        QSignalSpy received(m_fake.get(), &FakeWns::channelRequestReceived);
        Results results;
        {
            WnsClient client(settings());
            client.send(note(QStringLiteral("a"), {}, QStringLiteral("k")), results.add());
            QVERIFY(received.wait());
            client.send(note(QStringLiteral("a"), {}, QStringLiteral("k")), results.add());
            WnsNotification refused = note(QStringLiteral("b"));
            refused.channelUri = QStringLiteral("https://example.org/");
            client.send(refused, results.add());
            QCOMPARE(results.list.size(), 0);
        }
        QCOMPARE(results.list.size(), 3);
        int transient = 0;
        for (const WnsResult &result : std::as_const(results.list))
            transient += result.outcome == WnsResult::Outcome::Transient ? 1 : 0;
        QCOMPARE(transient, 2);
    }
};

QTEST_GUILESS_MAIN(TestWnsClient)
#include "tst_wnsclient.moc"

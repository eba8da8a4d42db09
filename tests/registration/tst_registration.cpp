// The registration endpoint over a real TLS socket (docs/protocol.md): every message
// kind in v1 and v2, several requests on one connection, and bad input of
// every kind answered with a clear error while the server keeps serving.

#include "config.h"
#include "fakewns.h"
#include "pushserver.h"
#include "registrationclient.h"
#include "storageconnection.h"
#include "storageresults.h"
#include "testconfig.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

using namespace uwpx;
using namespace uwpx::test;

namespace {

const QString kDevice =
    QStringLiteral("5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b");
const QString kChannel = QStringLiteral("https://127.0.0.1/?token=AwYAAAD");

QJsonObject message(int version, const QString &action, const QJsonObject &extra = {},
                    const QString &deviceId = kDevice) {
    QJsonObject object = extra;
    object.insert(QStringLiteral("version"), version);
    object.insert(QStringLiteral("action"), action);
    object.insert(QStringLiteral("device_id"), deviceId);
    return object;
}

QJsonObject setChannel(int version, const QString &deviceId = kDevice) {
    return message(version, QStringLiteral("set_channel_uri"),
                   {{QStringLiteral("channel_uri"), kChannel}}, deviceId);
}

// What every released UWPX client sends; the design notes called it set_accounts.
const QString kSetAccounts = QStringLiteral("set_push_accounts");

QJsonObject setV1Accounts(const QStringList &jids, const QString &deviceId = kDevice,
                          const QString &action = kSetAccounts) {
    QJsonArray accounts;
    for (const QString &jid : jids)
        accounts.append(QJsonObject{{QStringLiteral("bare_jid"), jid}});
    return message(1, action, {{QStringLiteral("accounts"), accounts}}, deviceId);
}

QJsonObject setV2Accounts(const QStringList &ids, const QString &deviceId = kDevice,
                          const QString &action = kSetAccounts) {
    QJsonArray accounts;
    for (const QString &id : ids)
        accounts.append(QJsonObject{{QStringLiteral("account_id"), id}});
    return message(2, action, {{QStringLiteral("accounts"), accounts}}, deviceId);
}

bool isSuccess(const QJsonObject &response, int version) {
    return response.value(QStringLiteral("action")).toString() == QStringLiteral("response") &&
           response.value(QStringLiteral("status")).toInt(-1) == 1 &&
           response.value(QStringLiteral("version")).toInt(-1) == version;
}

} // namespace

class RegistrationTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    FakeWns m_wns;
    std::unique_ptr<PushServer> m_server;
    QString m_ca;
    StorageSettings m_storageSettings;
    std::unique_ptr<StorageConnection> m_stored;

    // What the server stored, read through a connection of our own.
    StorageConnection &stored() {
        if (!m_stored) {
            QString error;
            m_stored = StorageConnection::open(m_storageSettings, &error);
            if (!m_stored)
                qFatal("cannot open the server's store: %s", qPrintable(error));
        }
        return *m_stored;
    }

    std::unique_ptr<RegistrationClient> connectClient() {
        auto client = std::make_unique<RegistrationClient>();
        if (!client->connectTo(m_server->registrationPort(), m_ca))
            return nullptr;
        return client;
    }

    // A connected client whose device's channel is `name` on the fake WNS.
    std::unique_ptr<RegistrationClient> clientOnFakeChannel(int version, const QString &device,
                                                            const QString &name) {
        auto client = connectClient();
        if (!client ||
            !isSuccess(client->request(message(
                           version, QStringLiteral("set_channel_uri"),
                           {{QStringLiteral("channel_uri"), m_wns.channelUri(name)}}, device)),
                       version))
            return nullptr;
        return client;
    }

    // A fresh client can still register: the server keeps serving.
    void verifyServerStillServes() {
        auto other = connectClient();
        QVERIFY(other);
        QVERIFY(isSuccess(other->request(setChannel(2, QStringLiteral("0123456789abcdef"))), 2));
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QString error;
        QVERIFY2(startFakeWns(m_wns, m_dir.path(), &error), qPrintable(error));
        const QString path = writeConfig(
            m_dir.path(), {{QStringLiteral("registration/idle_timeout"), QStringLiteral("2")},
                           {QStringLiteral("wns/token_url"), m_wns.tokenUrl().toString()}});
        QVERIFY(!path.isEmpty());
        m_ca = m_dir.filePath(QStringLiteral("ca.pem"));
        Config config;
        QStringList errors, warnings;
        QVERIFY2(Config::load(path, &config, &errors, &warnings), qPrintable(errors.join('\n')));
        m_storageSettings = config.storage;
        m_server = std::make_unique<PushServer>(config);
        QVERIFY2(m_server->start(&error), qPrintable(error));
        QVERIFY(m_server->registrationPort() != 0);
    }

    void cleanupTestCase() {
        m_stored.reset();
        m_server.reset();
    }

    void registersV1Accounts() {
        auto client = connectClient();
        QVERIFY(client);
        QVERIFY(isSuccess(client->request(setChannel(1)), 1));

        const QStringList jids{QStringLiteral("someClient@xmpp.uwpx.org"),
                               QStringLiteral("other@example.org")};
        const QJsonObject response = client->request(setV1Accounts(jids));
        QVERIFY2(isSuccess(response, 1), QJsonDocument(response).toJson());
        QCOMPARE(response.value(QStringLiteral("push_bare_jid")).toString(),
                 QStringLiteral("push.localhost"));
        const QJsonArray accounts = response.value(QStringLiteral("accounts")).toArray();
        QCOMPARE(accounts.size(), 2);
        for (int i = 0; i < 2; ++i) {
            const QJsonObject account = accounts[i].toObject();
            QCOMPARE(account.value(QStringLiteral("bare_jid")).toString(), jids[i]);
            QVERIFY(account.value(QStringLiteral("node")).toString().size() >= 12);
            QVERIFY(account.value(QStringLiteral("secret")).toString().size() >= 22);
        }

        // The store knows the account by its hashed key and JID domain only.
        PushTarget target;
        const QString node = accounts[0].toObject().value(QStringLiteral("node")).toString();
        QCOMPARE(test::findByNode(stored(), node, &target), StorageStatus::Ok);
        QCOMPARE(target.domain, QStringLiteral("xmpp.uwpx.org"));
        QCOMPARE(target.protocolVersion, 1);
        QCOMPARE(
            target.accountKey,
            QString::fromLatin1(QCryptographicHash::hash(
                                    (kDevice + QStringLiteral("someclient@xmpp.uwpx.org")).toUtf8(),
                                    QCryptographicHash::Sha256)
                                    .toHex()));

        // Registering the same accounts again (case of the JID aside) keeps
        // node and secret; dropping one removes it.
        const QJsonObject again =
            client->request(setV1Accounts({QStringLiteral("SomeClient@XMPP.uwpx.org")}));
        QVERIFY(isSuccess(again, 1));
        const QJsonObject kept = again.value(QStringLiteral("accounts")).toArray()[0].toObject();
        QCOMPARE(kept.value(QStringLiteral("node")),
                 accounts[0].toObject().value(QStringLiteral("node")));
        QCOMPARE(kept.value(QStringLiteral("secret")),
                 accounts[0].toObject().value(QStringLiteral("secret")));
        const QString dropped = accounts[1].toObject().value(QStringLiteral("node")).toString();
        QCOMPARE(test::findByNode(stored(), dropped, &target), StorageStatus::NotFound);
    }

    void registersV2Accounts() {
        auto client = connectClient();
        QVERIFY(client);
        const QString device = QStringLiteral("AABBCCDDEEFF00112233");
        QVERIFY(isSuccess(client->request(setChannel(2, device)), 2));
        const QJsonObject response = client->request(
            setV2Accounts({QStringLiteral("acc-1"), QStringLiteral("acc-2")}, device.toLower()));
        QVERIFY2(isSuccess(response, 2), QJsonDocument(response).toJson());
        QCOMPARE(response.value(QStringLiteral("push_bare_jid")).toString(),
                 QStringLiteral("push.localhost"));
        const QJsonArray accounts = response.value(QStringLiteral("accounts")).toArray();
        QCOMPARE(accounts.size(), 2);
        const QJsonObject first = accounts[0].toObject();
        QCOMPARE(first.value(QStringLiteral("account_id")).toString(), QStringLiteral("acc-1"));
        QCOMPARE(first.value(QStringLiteral("success")).toBool(), true);
        QVERIFY(!first.value(QStringLiteral("node")).toString().isEmpty());
        QVERIFY(first.value(QStringLiteral("node")) !=
                accounts[1].toObject().value(QStringLiteral("node")));

        PushTarget target;
        QCOMPARE(
            test::findByNode(stored(), first.value(QStringLiteral("node")).toString(), &target),
            StorageStatus::Ok);
        QCOMPARE(target.accountKey, QStringLiteral("acc-1"));
        QVERIFY(target.domain.isEmpty()); // learned from the first publish
        QCOMPARE(target.deviceId, device.toLower());
    }

    void acceptsTheDesignNotesActionName() {
        auto client = connectClient();
        QVERIFY(client);
        const QString device = QStringLiteral("5eed5eed5eed5eed");
        QVERIFY(isSuccess(client->request(setChannel(2, device)), 2));
        const QJsonObject v2 = client->request(
            setV2Accounts({QStringLiteral("a")}, device, QStringLiteral("set_accounts")));
        QVERIFY2(isSuccess(v2, 2), QJsonDocument(v2).toJson());
        // The same device under the client's name: the same account, the same node.
        const QJsonObject again = client->request(setV2Accounts({QStringLiteral("a")}, device));
        QVERIFY(isSuccess(again, 2));
        QCOMPARE(again.value(QStringLiteral("accounts")).toArray()[0].toObject()["node"],
                 v2.value(QStringLiteral("accounts")).toArray()[0].toObject()["node"]);
        const QJsonObject v1 = client->request(setV1Accounts(
            {QStringLiteral("a@example.org")}, device, QStringLiteral("set_accounts")));
        QVERIFY2(isSuccess(v1, 1), QJsonDocument(v1).toJson());
        QCOMPARE(v1.value(QStringLiteral("accounts")).toArray().size(), 1);
    }

    void answersPipelinedRequestsInOrder() {
        auto client = connectClient();
        QVERIFY(client);
        const QString device = QStringLiteral("feedfacefeedface");
        QByteArray batch;
        batch += QJsonDocument(setChannel(1, device)).toJson(QJsonDocument::Compact) + '\0';
        batch += QJsonDocument(setV2Accounts({QStringLiteral("x")}, device))
                     .toJson(QJsonDocument::Compact) +
                 '\0';
        batch += "{broken\0"_qba;
        batch += QJsonDocument(setV1Accounts({QStringLiteral("a@b.c")}, device))
                     .toJson(QJsonDocument::Compact) +
                 '\0';
        client->sendRaw(batch);
        QVERIFY(isSuccess(client->receive(), 1));
        const QJsonObject second = client->receive();
        QVERIFY(isSuccess(second, 2));
        QVERIFY(second.contains(QStringLiteral("accounts")));
        const QJsonObject third = client->receive();
        QCOMPARE(third.value(QStringLiteral("status")).toInt(-1), 0);
        const QJsonObject fourth = client->receive();
        QVERIFY(isSuccess(fourth, 1));
        QVERIFY(fourth.value(QStringLiteral("accounts"))
                    .toArray()[0]
                    .toObject()
                    .contains(QStringLiteral("bare_jid")));
    }

    void sendsATestPushThroughWns_data() {
        QTest::addColumn<int>("version");
        QTest::newRow("v1") << 1;
        QTest::newRow("v2") << 2;
    }

    void sendsATestPushThroughWns() {
        QFETCH(int, version);
        const QString name = QStringLiteral("test-push-v%1").arg(version);
        const QString device = QStringLiteral("7e57%1").arg(version, 16, 10, QLatin1Char('0'));
        auto client = clientOnFakeChannel(version, device, name);
        QVERIFY(client);
        const QJsonObject response =
            client->request(message(version, QStringLiteral("request_test_push"), {}, device));
        QVERIFY2(isSuccess(response, version), QJsonDocument(response).toJson());
        const auto requests = m_wns.channelRequests(FakeWns::channelPath(name));
        QCOMPARE(requests.size(), 1);
        QCOMPARE(requests[0].body, QByteArray("{\"version\":") + QByteArray::number(version) +
                                       ",\"action\":\"test_push\"}");
        QCOMPARE(requests[0].header("X-WNS-Type"), QByteArray("wns/raw"));
    }

    // A test push that meets 410 suspends the device: its accounts stay, no
    // further test push goes to the dead channel, and a new channel resumes it.
    void reportsAGoneChannelAndSuspendsTheDevice() {
        const QString name = QStringLiteral("gone");
        const QString device = QStringLiteral("60e060e060e060e0");
        m_wns.scriptChannel(FakeWns::channelPath(name), {FakeWns::answer(410)});
        auto client = clientOnFakeChannel(2, device, name);
        QVERIFY(client);
        const QJsonObject accounts = client->request(setV2Accounts({QStringLiteral("a")}, device));
        QVERIFY2(isSuccess(accounts, 2), QJsonDocument(accounts).toJson());
        const QJsonObject response =
            client->request(message(2, QStringLiteral("request_test_push"), {}, device));
        QCOMPARE(response.value(QStringLiteral("status")).toInt(-1), 0);
        QVERIFY2(
            response.value(QStringLiteral("error")).toString().contains(QStringLiteral("expired")),
            qPrintable(response.value(QStringLiteral("error")).toString()));
        QTRY_VERIFY(stored().channelUri(device).isOk() &&
                    stored().channelUri(device).value().suspended);
        const QString node = accounts.value(QStringLiteral("accounts"))
                                 .toArray()
                                 .first()
                                 .toObject()
                                 .value(QStringLiteral("node"))
                                 .toString();
        PushTarget target;
        QCOMPARE(test::findByNode(stored(), node, &target), StorageStatus::Ok);
        QVERIFY(target.suspended);

        const QJsonObject again =
            client->request(message(2, QStringLiteral("request_test_push"), {}, device));
        QCOMPARE(again.value(QStringLiteral("status")).toInt(-1), 0);
        QCOMPARE(m_wns.channelRequests(FakeWns::channelPath(name)).size(), 1);

        const QString fresh = name + QStringLiteral("-new");
        QVERIFY(isSuccess(client->request(message(
                              2, QStringLiteral("set_channel_uri"),
                              {{QStringLiteral("channel_uri"), m_wns.channelUri(fresh)}}, device)),
                          2));
        // (Its next publish wakes the new channel: tst_publish, tests/client.)
        QVERIFY(!test::valueOf(stored().channelUri(device)).suspended);
        QCOMPARE(test::findByNode(stored(), node, &target), StorageStatus::Ok);
        QCOMPARE(target.channelUri, m_wns.channelUri(fresh));
    }

    void reportsARefusedTestPush() {
        const QString name = QStringLiteral("forbidden");
        const QString device = QStringLiteral("f0bdf0bdf0bdf0bd");
        m_wns.scriptChannel(FakeWns::channelPath(name), {FakeWns::answer(403)});
        auto client = clientOnFakeChannel(2, device, name);
        QVERIFY(client);
        const QJsonObject response =
            client->request(message(2, QStringLiteral("request_test_push"), {}, device));
        QCOMPARE(response.value(QStringLiteral("status")).toInt(-1), 0);
        QVERIFY(response.value(QStringLiteral("error")).toString().contains(QStringLiteral("WNS")));
        // A refused push is no reason to forget the device.
        QVERIFY(stored().channelUri(device).isOk());
    }

    // A database that fails is the server's trouble, not the client's: every
    // action answers "try again later", never a wrong "Device id unknown.".
    void answersTryLaterWhileTheDatabaseFails() {
        const QString device = QStringLiteral("db0fa11edb0fa11e");
        auto client = clientOnFakeChannel(2, device, QStringLiteral("db-fails"));
        QVERIFY(client);
        auto renameDevices = [this](const char *from, const char *to) {
            {
                QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"),
                                                            QStringLiteral("saboteur"));
                db.setDatabaseName(m_storageSettings.path);
                QVERIFY(db.open());
                QSqlQuery query(db);
                QVERIFY2(query.exec(QStringLiteral("ALTER TABLE %1 RENAME TO %2")
                                        .arg(QLatin1String(from), QLatin1String(to))),
                         qPrintable(query.lastError().text()));
            }
            QSqlDatabase::removeDatabase(QStringLiteral("saboteur"));
        };
        renameDevices("devices", "devices_away");
        for (const QJsonObject &request :
             {message(2, QStringLiteral("request_test_push"), {}, device),
              setV2Accounts({QStringLiteral("a")}, device), setChannel(2, device)}) {
            const QJsonObject response = client->request(request);
            QCOMPARE(response.value(QStringLiteral("status")).toInt(-1), 0);
            QVERIFY2(response.value(QStringLiteral("error"))
                         .toString()
                         .contains(QStringLiteral("try again later")),
                     qPrintable(response.value(QStringLiteral("error")).toString()));
        }
        renameDevices("devices_away", "devices");
        QVERIFY(isSuccess(client->request(setV2Accounts({QStringLiteral("a")}, device)), 2));
    }

    void keepsResponseOrderWhileWnsIsSlow() {
        const QString name = QStringLiteral("slow");
        const QString device = QStringLiteral("5105510551055105");
        auto client = clientOnFakeChannel(2, device, name);
        QVERIFY(client);
        m_wns.scriptChannel(FakeWns::channelPath(name), {FakeWns::stalled()});
        QSignalSpy received(&m_wns, &FakeWns::channelRequestReceived);
        client->sendRaw(QJsonDocument(message(1, QStringLiteral("request_test_push"), {}, device))
                            .toJson(QJsonDocument::Compact) +
                        '\0' +
                        QJsonDocument(setV2Accounts({QStringLiteral("later")}, device))
                            .toJson(QJsonDocument::Compact) +
                        '\0');
        QVERIFY(received.wait());
        // While WNS holds the test push, the later request waits its turn.
        QVERIFY(client->receive(300).isEmpty());
        m_wns.releaseStalled();
        QVERIFY(isSuccess(client->receive(), 1));
        const QJsonObject second = client->receive();
        QVERIFY(isSuccess(second, 2));
        QVERIFY(second.contains(QStringLiteral("accounts")));
    }

    void answersALongPipelineInFull() {
        // Far more bytes than the server reads ahead: it must pause and
        // resume, not stall or drop anything.
        auto client = connectClient();
        QVERIFY(client);
        constexpr int kRequests = 200;
        const QString longChannel = kChannel + QString(1900, QLatin1Char('x'));
        QByteArray batch;
        for (int i = 0; i < kRequests; ++i)
            batch += QJsonDocument(message(2, QStringLiteral("set_channel_uri"),
                                           {{QStringLiteral("channel_uri"), longChannel}},
                                           QStringLiteral("ab%1").arg(i, 14, 16, QLatin1Char('0'))))
                         .toJson(QJsonDocument::Compact) +
                     '\0';
        QVERIFY(batch.size() > 4 * 64 * 1024);
        client->sendRaw(batch);
        for (int i = 0; i < kRequests; ++i)
            QVERIFY2(isSuccess(client->receive(), 2), qPrintable(QString::number(i)));
    }

    void refusesBadRequests_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("version");
        QTest::addColumn<QString>("error");

        auto json = [](const QJsonObject &object) {
            return QJsonDocument(object).toJson(QJsonDocument::Compact);
        };
        auto withChannel = [&](const QJsonValue &uri) {
            return json(message(2, QStringLiteral("set_channel_uri"),
                                {{QStringLiteral("channel_uri"), uri}}));
        };
        QJsonArray tooMany;
        for (int i = 0; i < 101; ++i)
            tooMany.append(QJsonObject{{QStringLiteral("account_id"), QString::number(i)}});

        QTest::newRow("malformed JSON")
            << "{\"version\": 2, \"action\":"_qba << 2 << "Invalid JSON";
        QTest::newRow("empty message") << QByteArray() << 2 << "Invalid JSON";
        QTest::newRow("not an object") << "[1, 2, 3]"_qba << 2 << "JSON object";
        QTest::newRow("no version")
            << json({{"action", "set_channel_uri"}, {"device_id", kDevice}}) << 2 << "version";
        QTest::newRow("version as string")
            << json({{"version", "2"}, {"action", "set_channel_uri"}, {"device_id", kDevice}}) << 2
            << "version";
        QTest::newRow("unknown version")
            << json(message(3, QStringLiteral("set_channel_uri"))) << 3 << "version";
        QTest::newRow("no action")
            << json({{"version", 1}, {"device_id", kDevice}}) << 1 << "action";
        QTest::newRow("action not a string")
            << json({{"version", 1}, {"action", 7}, {"device_id", kDevice}}) << 1 << "action";
        QTest::newRow("unknown action")
            << json(message(2, QStringLiteral("set_everything"))) << 2 << "Unknown action";
        QTest::newRow("no device_id")
            << json({{"version", 2}, {"action", "set_channel_uri"}}) << 2 << "device_id";
        QTest::newRow("device_id not hex") << json(message(2, QStringLiteral("set_channel_uri"), {},
                                                           QStringLiteral("xyz0123456789abcdef")))
                                           << 2 << "device_id";
        QTest::newRow("device_id too short") << json(message(2, QStringLiteral("set_channel_uri"),
                                                             {}, QStringLiteral("0123456789abcde")))
                                             << 2 << "device_id";
        QTest::newRow("device_id too long") << json(message(2, QStringLiteral("set_channel_uri"),
                                                            {}, QString(129, QLatin1Char('a'))))
                                            << 2 << "device_id";
        QTest::newRow("device_id with a trailing newline")
            << json(message(2, QStringLiteral("set_channel_uri"), {},
                            QStringLiteral("0123456789abcdef\n")))
            << 2 << "device_id";
        QTest::newRow("device_id a number")
            << json({{"version", 2}, {"action", "set_channel_uri"}, {"device_id", 1234}}) << 2
            << "device_id";
        QTest::newRow("no channel_uri")
            << json(message(2, QStringLiteral("set_channel_uri"))) << 2 << "channel_uri";
        QTest::newRow("channel_uri not a string") << withChannel(42) << 2 << "channel_uri";
        QTest::newRow("http channel_uri")
            << withChannel(QStringLiteral("http://127.0.0.1/?token=a")) << 2 << "https";
        QTest::newRow("foreign channel host")
            << withChannel(QStringLiteral("https://evil.example.com/?token=a")) << 2
            << "not a WNS notification host";
        QTest::newRow("look-alike channel host")
            << withChannel(QStringLiteral("https://127.0.0.1.evil.example/?token=a")) << 2
            << "not a WNS notification host";
        QTest::newRow("ms-app channel_uri")
            << withChannel(QStringLiteral("ms-app://s-1-15-2-3598129719")) << 2 << "https";
        QTest::newRow("channel_uri too long")
            << withChannel(QStringLiteral("https://127.0.0.1/?token=") +
                           QString(2100, QLatin1Char('a')))
            << 2 << "2048";
        QTest::newRow("accounts not an array")
            << json(message(2, kSetAccounts, {{QStringLiteral("accounts"), "x"}})) << 2
            << "accounts";
        QTest::newRow("too many accounts")
            << json(message(2, kSetAccounts, {{QStringLiteral("accounts"), tooMany}})) << 2
            << "Too many accounts";
        QTest::newRow("v1 account without bare_jid")
            << json(message(
                   1, kSetAccounts,
                   {{QStringLiteral("accounts"), QJsonArray{QJsonObject{{"account_id", "x"}}}}}))
            << 1 << "bare_jid";
        QTest::newRow("v1 full JID")
            << json(setV1Accounts({QStringLiteral("a@b.org/phone")})) << 1 << "bare_jid";
        // Its domain would be read as victim.org (the fuzzer found it).
        QTest::newRow("v1 JID with a slash in its local part")
            << json(setV1Accounts({QStringLiteral("victim.org/x@example.org")})) << 1 << "bare_jid";
        QTest::newRow("v1 JID without local part")
            << json(setV1Accounts({QStringLiteral("b.org")})) << 1 << "bare_jid";
        QTest::newRow("v2 empty account_id")
            << json(setV2Accounts({QString()})) << 2 << "account_id";
        QTest::newRow("v2 account_id a number")
            << json(message(
                   2, kSetAccounts,
                   {{QStringLiteral("accounts"), QJsonArray{QJsonObject{{"account_id", 5}}}}}))
            << 2 << "account_id";
        QTest::newRow("accounts for an unknown device")
            << json(setV2Accounts({QStringLiteral("a")}, QStringLiteral("0000000000000000"))) << 2
            << "Device id unknown.";
        QTest::newRow("test push for an unknown device")
            << json(message(1, QStringLiteral("request_test_push"), {},
                            QStringLiteral("0000000000000000")))
            << 1 << "Device id unknown.";
    }

    void refusesBadRequests() {
        QFETCH(QByteArray, bytes);
        QFETCH(int, version);
        QFETCH(QString, error);
        auto client = connectClient();
        QVERIFY(client);
        client->sendRaw(bytes + '\0');
        const QJsonObject response = client->receive();
        QCOMPARE(response.value(QStringLiteral("action")).toString(), QStringLiteral("response"));
        QCOMPARE(response.value(QStringLiteral("status")).toInt(-1), 0);
        QCOMPARE(response.value(QStringLiteral("version")).toInt(-1), version);
        QVERIFY2(response.value(QStringLiteral("error")).toString().contains(error),
                 qPrintable(response.value(QStringLiteral("error")).toString()));
        // Not a framing problem: the same connection keeps working.
        QVERIFY(isSuccess(client->request(setChannel(1)), 1));
    }

    void closesOnOversizedMessage() {
        auto client = connectClient();
        QVERIFY(client);
        client->sendRaw(QByteArray(64 * 1024 + 10, 'a'));
        const QJsonObject response = client->receive();
        QCOMPARE(response.value(QStringLiteral("status")).toInt(-1), 0);
        QVERIFY(
            response.value(QStringLiteral("error")).toString().contains(QStringLiteral("64 KiB")));
        QVERIFY(client->waitForDisconnect());
        verifyServerStillServes();
    }

    void closesOnInvalidUtf8() {
        auto client = connectClient();
        QVERIFY(client);
        client->sendRaw("{\"version\":2,\"action\":\"set_channel_uri\",\"x\":\"\xff\xfe\"}\0"_qba);
        const QJsonObject response = client->receive();
        QCOMPARE(response.value(QStringLiteral("status")).toInt(-1), 0);
        QVERIFY(
            response.value(QStringLiteral("error")).toString().contains(QStringLiteral("UTF-8")));
        QVERIFY(client->waitForDisconnect());
        verifyServerStillServes();
    }

    void closesIdleAndSlowClients() {
        auto idle = connectClient();
        auto slow = connectClient();
        QVERIFY(idle && slow);
        // The slow client never finishes its message; others are served meanwhile.
        slow->sendRaw("{\"version\": 2, ");
        verifyServerStillServes();
        // idle_timeout is 2 s in this test's configuration.
        QVERIFY(idle->waitForDisconnect(10000));
        QVERIFY(slow->waitForDisconnect(10000));
        verifyServerStillServes();
    }

    void refusesPlainTcp() {
        QTcpSocket plain;
        plain.connectToHost(QStringLiteral("127.0.0.1"), m_server->registrationPort());
        QVERIFY(plain.waitForConnected(5000));
        plain.write(QJsonDocument(setChannel(2)).toJson(QJsonDocument::Compact) + '\0');
        QSignalSpy disconnected(&plain, &QTcpSocket::disconnected);
        QVERIFY(disconnected.wait(10000));
        verifyServerStillServes();
    }
};

QTEST_GUILESS_MAIN(RegistrationTest)
#include "tst_registration.moc"

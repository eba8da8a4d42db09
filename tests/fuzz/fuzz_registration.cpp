// Fuzzes what a UWPX client sends to the registration endpoint: the bytes of
// one TLS connection. Mirrors RegistrationConnection's framing (messages end
// at a NUL, at most 64 KiB, UTF-8 only), runs each message through
// registration::parseRequest, and builds the answer RegistrationService would
// (with a fixed node and secret instead of the store's): every answer, framed,
// must parse back as the JSON object it was, echoing the client's ids exactly.

#include "fuzzsupport.h"
#include "identity.h"
#include "registrationconnection.h"
#include "registrationprotocol.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QStringDecoder>

using namespace uwpx;
using namespace uwpx::registration;
using fuzz::check;

namespace {

const QStringList kChannelHosts{QStringLiteral("*.notify.windows.com")};
const QString kComponentJid = QStringLiteral("push.example.org");

// registrationconnection.cpp's isValidUtf8 (file-local there).
bool isValidUtf8(const QByteArray &bytes) {
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString text = decoder.decode(bytes);
    return !decoder.hasError();
}

// What the client reads: the framed answer must be one JSON object and its NUL.
QJsonObject readAnswer(const QByteArray &json) {
    const QByteArray framed = frame(json);
    check(framed.endsWith('\0') && framed.count('\0') == 1, "an answer carries one NUL, at its end",
          framed);
    check(framed.size() % kClientReadSize != 0, "an answer is never a multiple of 4096 bytes",
          framed);
    check(isValidUtf8(framed), "an answer is UTF-8", framed);
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(framed.chopped(1), &error);
    check(error.error == QJsonParseError::NoError && document.isObject(),
          "an answer parses as a JSON object", framed);
    const QJsonObject answer = document.object();
    check(answer.value(QLatin1String("action")) == QLatin1String("response"),
          "an answer is a response", framed);
    return answer;
}

void checkError(int version, const QString &error) {
    const QJsonObject answer = readAnswer(errorResponse(version, error));
    check(answer.value(QLatin1String("status")) == 0, "an error answer has status 0");
    check(answer.value(QLatin1String("version")) == version, "an error answer echoes the version");
    check(answer.value(QLatin1String("error")).toString() == error,
          "an error answer carries its reason unchanged", error.toUtf8());
}

void checkParsed(const Request &request, const QByteArray &message) {
    static const QRegularExpression lowerHex(QStringLiteral("^[0-9a-f]{16,128}$"));
    check(request.version == 1 || request.version == 2, "a parsed request is version 1 or 2",
          message);
    check(lowerHex.match(request.deviceId).hasMatch(), "a parsed device id is lowercase hex",
          message);
    QJsonObject extra;
    switch (request.action) {
    case Action::SetChannelUri:
        check(!request.channelUri.isEmpty() && request.channelUri.size() <= 2048,
              "a parsed channel URI has 1 to 2048 characters", message);
        break;
    case Action::RequestTestPush:
        break;
    case Action::SetAccounts: {
        check(request.accounts.size() <= kMaxAccounts, "at most 100 accounts", message);
        QJsonArray accounts;
        for (const RequestedAccount &account : request.accounts) {
            QJsonObject item{
                {QStringLiteral("node"), QStringLiteral("aGVsbG8td29ybGQh")},
                {QStringLiteral("secret"), QStringLiteral("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")}};
            if (request.version == 1) {
                // The domain stored for the account is what its publishes
                // must come from.
                const QString &jid = account.bareJid;
                check(jidDomain(jid) == jid.mid(jid.indexOf(QLatin1Char('@')) + 1).toLower(),
                      "a v1 account's domain is what follows its @", message);
                check(accountKeyForBareJid(request.deviceId, account.bareJid).size() == 64,
                      "a v1 account key is a SHA-256", message);
                item.insert(QStringLiteral("bare_jid"), account.bareJid);
            } else {
                check(!account.accountId.isEmpty() &&
                          account.accountId.size() <= kMaxAccountIdLength,
                      "a v2 account id has 1 to 1024 characters", message);
                item.insert(QStringLiteral("account_id"), account.accountId);
                item.insert(QStringLiteral("success"), true);
            }
            accounts.append(item);
        }
        extra = {{QStringLiteral("push_bare_jid"), kComponentJid},
                 {QStringLiteral("accounts"), accounts}};
        break;
    }
    }

    const QJsonObject answer = readAnswer(successResponse(request.version, extra));
    check(answer.value(QLatin1String("status")) == 1, "a success answer has status 1", message);
    check(answer.value(QLatin1String("version")) == request.version,
          "a success answer echoes the version", message);
    if (request.action != Action::SetAccounts)
        return;
    // UWPX matches answered accounts by their id, exactly: an id that comes
    // back changed switches push off for that account.
    const QJsonArray accounts = answer.value(QLatin1String("accounts")).toArray();
    check(accounts.size() == request.accounts.size(), "every account is answered", message);
    for (qsizetype i = 0; i < accounts.size(); ++i) {
        const QJsonObject item = accounts.at(i).toObject();
        const bool same =
            request.version == 1
                ? item.value(QLatin1String("bare_jid")).toString() == request.accounts[i].bareJid
                : item.value(QLatin1String("account_id")).toString() ==
                      request.accounts[i].accountId;
        check(same, "an account comes back exactly as the client sent it", message);
    }
}

void handle(const QByteArray &message) {
    Request request;
    QString error;
    if (parseRequest(message, kChannelHosts, &request, &error))
        checkParsed(request, message);
    else
        checkError(request.version, error);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz::initQt(argc, argv);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const QByteArray bytes =
        QByteArray::fromRawData(reinterpret_cast<const char *>(data), qsizetype(size));
    // frame() on anything: the message, its NUL, and a space only where needed.
    const bool padded = (bytes.size() + 1) % kClientReadSize == 0;
    check(frame(bytes) == bytes + (padded ? QByteArray(" \0", 2) : QByteArray(1, '\0')),
          "frame() adds a NUL, and a space only where a multiple of 4096 bytes would end");

    // RegistrationConnection: one message per NUL, in order; a message over
    // the limit, invalid UTF-8 or unterminated bytes over the limit end the
    // connection with an error answer.
    const QString tooLong = QStringLiteral("Message too long: the limit is 64 KiB.");
    const QString notUtf8 = QStringLiteral("Invalid message: not UTF-8.");
    for (qsizetype at = 0; at < bytes.size();) {
        const qsizetype end = bytes.indexOf('\0', at);
        const qsizetype length = (end < 0 ? bytes.size() : end) - at;
        if (length > RegistrationConnection::kMaxMessageSize) {
            checkError(2, tooLong);
            break;
        }
        if (end < 0)
            break; // waits for the rest
        const QByteArray message = bytes.mid(at, length);
        at = end + 1;
        if (!isValidUtf8(message)) {
            checkError(2, notUtf8);
            break;
        }
        handle(message);
    }
    return 0;
}

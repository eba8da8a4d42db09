#include "fakewns.h"

#include <QTimer>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QUrlQuery>

namespace uwpx::test {

namespace {

constexpr qsizetype kMaxHead = 64 * 1024;
constexpr qsizetype kMaxBody = 1024 * 1024;
constexpr qsizetype kMaxNotification = 5000;
const QByteArray kTokenPath = QByteArrayLiteral("/accesstoken.srf");
const QByteArray kControlPrefix = QByteArrayLiteral("/_control/");

QByteArray reasonPhrase(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Request Entity Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

QHash<QString, QString> parseForm(const QByteArray &body) {
    QHash<QString, QString> form;
    for (const QByteArray &pair : body.split('&')) {
        if (pair.isEmpty())
            continue;
        const qsizetype eq = pair.indexOf('=');
        QByteArray name = eq < 0 ? pair : pair.left(eq);
        QByteArray value = eq < 0 ? QByteArray() : pair.mid(eq + 1);
        name.replace('+', ' ');
        value.replace('+', ' ');
        form.insert(QUrl::fromPercentEncoding(name), QUrl::fromPercentEncoding(value));
    }
    return form;
}

QByteArray randomId(int bytes) {
    QByteArray raw(bytes, Qt::Uninitialized);
    for (char &c : raw)
        c = char(QRandomGenerator::global()->bounded(256));
    return raw.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

QByteArray json(const QJsonObject &object) {
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

} // namespace

QByteArray FakeWns::Request::header(const QByteArray &name) const {
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    }
    return {};
}

int FakeWns::Request::headerCount(const QByteArray &name) const {
    int count = 0;
    for (const auto &pair : headers)
        count += pair.first.compare(name, Qt::CaseInsensitive) == 0 ? 1 : 0;
    return count;
}

FakeWns::FakeWns(QObject *parent)
    : QObject(parent)
    , m_server(new QSslServer(this)) {
    m_clock.start();
    connect(m_server, &QTcpServer::pendingConnectionAvailable, this, &FakeWns::onNewConnection);
}

FakeWns::~FakeWns() = default;

bool FakeWns::listen(const QString &certificateFile, const QString &keyFile, quint16 port,
                     QString *error) {
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(certificateFile, QSsl::Pem);
    QFile keyIn(keyFile);
    if (chain.isEmpty() || !keyIn.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read %1 or %2").arg(certificateFile, keyFile);
        return false;
    }
    const QByteArray keyPem = keyIn.readAll();
    QSslKey privateKey(keyPem, QSsl::Ec, QSsl::Pem);
    if (privateKey.isNull())
        privateKey = QSslKey(keyPem, QSsl::Rsa, QSsl::Pem);
    if (privateKey.isNull()) {
        if (error)
            *error = QStringLiteral("cannot read the private key %1").arg(keyFile);
        return false;
    }
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setLocalCertificateChain(chain);
    tls.setPrivateKey(privateKey);
    tls.setPeerVerifyMode(QSslSocket::VerifyNone);
    m_server->setSslConfiguration(tls);
    if (!m_server->listen(QHostAddress::LocalHost, port)) {
        if (error)
            *error = m_server->errorString();
        return false;
    }
    return true;
}

quint16 FakeWns::port() const {
    return m_server->serverPort();
}

QUrl FakeWns::baseUrl() const {
    return QUrl(QStringLiteral("https://127.0.0.1:%1").arg(port()));
}

QUrl FakeWns::tokenUrl() const {
    QUrl url = baseUrl();
    url.setPath(QString::fromLatin1(kTokenPath));
    return url;
}

QByteArray FakeWns::channelPath(const QString &name) {
    return "/channel/" + QUrl::toPercentEncoding(name);
}

QString FakeWns::channelUri(const QString &name) const {
    return baseUrl().toString() + QString::fromLatin1(channelPath(name));
}

void FakeWns::setCredentials(const QString &clientId, const QString &clientSecret,
                             const QString &scope) {
    m_clientId = clientId;
    m_clientSecret = clientSecret;
    m_scope = scope;
}

void FakeWns::setTokenLifetime(int seconds, bool asString) {
    m_tokenLifetime = seconds;
    m_lifetimeAsString = asString;
}

void FakeWns::revokeTokens() {
    m_tokens.clear();
}

void FakeWns::setControlApiEnabled(bool enabled) {
    m_control = enabled;
}

void FakeWns::scriptChannel(const QByteArray &path, const QList<Answer> &answers) {
    std::deque<Answer> &script = m_scripts[path];
    script.insert(script.end(), answers.begin(), answers.end());
}

FakeWns::Answer FakeWns::answer(int status, const Headers &headers) {
    Answer a;
    a.status = status;
    a.headers = headers;
    return a;
}

FakeWns::Answer FakeWns::stalled() {
    Answer a;
    a.stall = true;
    return a;
}

int FakeWns::stalledCount() const {
    int count = 0;
    for (const QPointer<QSslSocket> &socket : m_stalled)
        count += socket ? 1 : 0;
    return count;
}

QList<FakeWns::Request> FakeWns::channelRequests(const QByteArray &path) const {
    QList<Request> matching;
    for (const Request &request : m_channelRequests) {
        if (request.path == path)
            matching << request;
    }
    return matching;
}

int FakeWns::closeIdleConnections() {
    int closed = 0;
    for (QSslSocket *socket : m_connectionIds.keys()) {
        if (isStalled(socket) || socket->state() != QAbstractSocket::ConnectedState)
            continue;
        socket->disconnectFromHost();
        ++closed;
    }
    return closed;
}

void FakeWns::reset() {
    m_tokens.clear();
    m_tokensIssued = 0;
    m_tokenLifetime = 86400;
    m_lifetimeAsString = false;
    m_tokenType = QStringLiteral("bearer");
    m_scripts.clear();
    m_channelRequests.clear();
    m_tokenRequests.clear();
    const QList<QPointer<QSslSocket>> stalledSockets = m_stalled;
    m_stalled.clear();
    for (const QPointer<QSslSocket> &socket : stalledSockets) {
        if (socket)
            socket->abort();
    }
}

void FakeWns::releaseStalled(int status) {
    const QList<QPointer<QSslSocket>> stalledSockets = m_stalled;
    m_stalled.clear();
    const Headers headers =
        status == 200 ? Headers{{"X-WNS-Status", "received"}} : Headers{{"X-WNS-Msg-ID", "late"}};
    for (const QPointer<QSslSocket> &socket : stalledSockets) {
        if (!socket || socket->state() != QAbstractSocket::ConnectedState)
            continue;
        write(socket, {status, headers, {}}, false);
        process(socket); // requests that queued behind the stalled one
    }
}

bool FakeWns::isStalled(QSslSocket *socket) const {
    for (const QPointer<QSslSocket> &stalledSocket : m_stalled) {
        if (stalledSocket == socket)
            return true;
    }
    return false;
}

void FakeWns::onNewConnection() {
    while (m_server->hasPendingConnections()) {
        auto *socket = qobject_cast<QSslSocket *>(m_server->nextPendingConnection());
        if (!socket)
            continue;
        m_connectionIds.insert(socket, ++m_connections);
        connect(socket, &QSslSocket::readyRead, this, [this, socket] { process(socket); });
        connect(socket, &QSslSocket::disconnected, this, [this, socket] {
            m_buffers.remove(socket);
            m_connectionIds.remove(socket);
            socket->deleteLater();
        });
        if (socket->bytesAvailable() > 0)
            process(socket);
    }
}

void FakeWns::process(QSslSocket *socket) {
    QByteArray &buffer = m_buffers[socket];
    buffer += socket->readAll();
    // HTTP/1.1 answers in order: nothing after a stalled request is answered
    // before it.
    while (!isStalled(socket) && socket->state() == QAbstractSocket::ConnectedState) {
        const qsizetype headEnd = buffer.indexOf("\r\n\r\n");
        if (headEnd < 0) {
            if (buffer.size() > kMaxHead)
                write(socket, {400, {}, "header too large"}, true);
            return;
        }
        const QList<QByteArray> lines = buffer.left(headEnd).split('\n');
        const QList<QByteArray> requestLine = lines.value(0).trimmed().split(' ');
        Request request;
        request.connection = m_connectionIds.value(socket);
        request.method = requestLine.value(0);
        request.path = requestLine.value(1);
        request.httpVersion = requestLine.value(2);
        bool hasLength = false;
        qsizetype length = 0;
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QByteArray line = lines.at(i).trimmed();
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0)
                continue;
            request.headers.append({line.left(colon).trimmed(), line.mid(colon + 1).trimmed()});
        }
        if (requestLine.size() != 3 || !requestLine.at(2).startsWith("HTTP/1.")) {
            write(socket, {400, {}, "bad request line"}, true);
            return;
        }
        if (!request.header("Transfer-Encoding").isEmpty()) {
            // WNS documents Content-Length bodies; the client must not chunk.
            write(socket, {411, {}, "chunked bodies are not accepted"}, true);
            return;
        }
        if (request.headerCount("Content-Length") > 0) {
            length = request.header("Content-Length").toLongLong(&hasLength);
            if (!hasLength || length < 0 || length > kMaxBody) {
                write(socket, {400, {}, "bad Content-Length"}, true);
                return;
            }
        }
        if (buffer.size() < headEnd + 4 + length)
            return; // the rest of the body is on its way
        request.body = buffer.mid(headEnd + 4, length);
        buffer.remove(0, headEnd + 4 + length);
        request.receivedMs = m_clock.elapsed();
        handle(socket, request);
    }
}

void FakeWns::handle(QSslSocket *socket, const Request &request) {
    const bool close = request.header("Connection").compare("close", Qt::CaseInsensitive) == 0;
    if (request.path.startsWith(kControlPrefix) && m_control) {
        write(socket, handleControl(request), close);
        return;
    }
    if (request.path == kTokenPath || request.path.startsWith(kTokenPath + '?')) {
        m_tokenRequests << request;
        Q_EMIT tokenRequestReceived();
        if (m_tokenTrouble == TokenTrouble::Endless || m_tokenTrouble == TokenTrouble::Dripping) {
            misbehave(socket);
            return;
        }
        write(socket, handleToken(request), close);
        return;
    }
    m_channelRequests << request;
    const std::optional<Response> response = handleChannel(socket, request);
    if (response)
        write(socket, *response, close);
    Q_EMIT channelRequestReceived(request.path);
}

FakeWns::Response FakeWns::handleToken(const Request &request) {
    const Headers jsonType{{"Content-Type", "application/json"}};
    if (request.method != "POST")
        return {405, jsonType,
                json({{QStringLiteral("error"), QStringLiteral("invalid_request")}})};
    const QHash<QString, QString> form = parseForm(request.body);
    const auto refuse = [&](const QString &error, const QString &description) {
        return Response{400, jsonType,
                        json({{QStringLiteral("error"), error},
                              {QStringLiteral("error_description"), description}})};
    };
    if (!request.header("Content-Type").startsWith("application/x-www-form-urlencoded"))
        return refuse(QStringLiteral("invalid_request"),
                      QStringLiteral("The request body must be form-encoded."));
    if (form.value(QStringLiteral("grant_type")) != QLatin1String("client_credentials"))
        return refuse(QStringLiteral("unsupported_grant_type"),
                      QStringLiteral("The provided value for the input parameter 'grant_type' "
                                     "is not valid."));
    if (form.value(QStringLiteral("client_id")) != m_clientId ||
        form.value(QStringLiteral("client_secret")) != m_clientSecret)
        return refuse(QStringLiteral("invalid_client"),
                      QStringLiteral("The client does not exist or is not enabled for consumers."));
    if (form.value(QStringLiteral("scope")) != m_scope)
        return refuse(QStringLiteral("invalid_scope"),
                      QStringLiteral("The provided value for the input parameter 'scope' is not "
                                     "valid."));

    const QByteArray token =
        m_tokenTrouble == TokenTrouble::HeaderInToken ? "abc\r\nX-Injected: yes" : randomId(48);
    m_tokens.insert(token, m_clock.elapsed() + qint64(m_tokenLifetime) * 1000);
    ++m_tokensIssued;
    QJsonObject reply{{QStringLiteral("token_type"), m_tokenType},
                      {QStringLiteral("access_token"), QString::fromLatin1(token)}};
    reply.insert(QStringLiteral("expires_in"), m_lifetimeAsString
                                                   ? QJsonValue(QString::number(m_tokenLifetime))
                                                   : QJsonValue(m_tokenLifetime));
    Q_EMIT tokenIssued();
    return {200, jsonType, json(reply)};
}

bool FakeWns::tokenValid(const QByteArray &authorization) const {
    if (!authorization.startsWith("Bearer "))
        return false;
    const auto it = m_tokens.constFind(authorization.mid(7));
    return it != m_tokens.constEnd() && it.value() > m_clock.elapsed();
}

std::optional<FakeWns::Response> FakeWns::handleChannel(QSslSocket *socket,
                                                        const Request &request) {
    const QByteArray msgId = randomId(8);
    const auto fail = [&](int status, const QByteArray &description) {
        return Response{
            status, {{"X-WNS-Error-Description", description}, {"X-WNS-Msg-ID", msgId}}, {}};
    };
    if (request.method != "POST")
        return fail(405, "Only POST is allowed");
    if (!tokenValid(request.header("Authorization")))
        return Response{401,
                        {{"WWW-Authenticate", "Bearer error=\"invalid_token\""},
                         {"X-WNS-Error-Description", "Token expired or invalid"},
                         {"X-WNS-Msg-ID", msgId}},
                        {}};
    if (request.header("X-WNS-Type") != "wns/raw")
        return fail(400, "X-WNS-Type must be wns/raw");
    if (request.header("Content-Type") != "application/octet-stream")
        return fail(400, "Content-Type must be application/octet-stream for wns/raw");
    if (request.headerCount("Content-Length") != 1)
        return fail(400, "Content-Length is required");
    if (request.body.isEmpty())
        return fail(400, "The notification body is empty");
    if (request.body.size() > kMaxNotification)
        return fail(413, "The notification payload exceeds 5000 bytes");
    // "WNS notification priorities": 1 (high) to 4 (very low); absent means
    // the type's default, which for raw is 3 (low).
    if (const int priorities = request.headerCount("X-WNS-PRIORITY"); priorities > 0) {
        bool ok = false;
        const int priority = request.header("X-WNS-PRIORITY").trimmed().toInt(&ok);
        if (priorities > 1 || !ok || priority < 1 || priority > 4)
            return fail(400, "X-WNS-PRIORITY must be 1, 2, 3 or 4");
    }

    auto script = m_scripts.find(request.path);
    if (script != m_scripts.end() && !script->empty()) {
        const Answer next = script->front();
        script->pop_front();
        if (next.stall) {
            m_stalled << QPointer<QSslSocket>(socket);
            return std::nullopt;
        }
        Headers headers = next.headers;
        headers.append({"X-WNS-Msg-ID", msgId});
        return Response{next.status, headers, {}};
    }
    return Response{200,
                    {{"X-WNS-Status", "received"},
                     {"X-WNS-DeviceConnectionStatus", "connected"},
                     {"X-WNS-Msg-ID", msgId}},
                    {}};
}

FakeWns::Response FakeWns::handleControl(const Request &request) {
    const Headers jsonType{{"Content-Type", "application/json"}};
    const QUrl url(QString::fromLatin1(request.path));
    const QUrlQuery query(url);
    const QString what = url.path().mid(kControlPrefix.size());
    const auto ok = [&] { return Response{200, jsonType, json({{QStringLiteral("ok"), true}})}; };
    const auto bad = [&](const QString &why) {
        return Response{400, jsonType, json({{QStringLiteral("error"), why}})};
    };

    if (request.method == "GET" && what == QLatin1String("requests")) {
        QJsonArray list;
        for (const Request &r : std::as_const(m_channelRequests)) {
            QJsonObject headers;
            for (const auto &[name, value] : r.headers)
                headers.insert(QString::fromLatin1(name), QString::fromLatin1(value));
            list.append(QJsonObject{{QStringLiteral("method"), QString::fromLatin1(r.method)},
                                    {QStringLiteral("path"), QString::fromLatin1(r.path)},
                                    {QStringLiteral("headers"), headers},
                                    {QStringLiteral("body"), QString::fromUtf8(r.body)},
                                    {QStringLiteral("received_ms"), r.receivedMs}});
        }
        return {200, jsonType, QJsonDocument(list).toJson(QJsonDocument::Compact)};
    }
    if (request.method == "GET" && what == QLatin1String("tokens")) {
        return {200, jsonType,
                json({{QStringLiteral("issued"), m_tokensIssued},
                      {QStringLiteral("requests"), int(m_tokenRequests.size())}})};
    }
    if (request.method != "POST")
        return bad(QStringLiteral("unknown control request"));
    if (what == QLatin1String("reset")) {
        reset();
        return ok();
    }
    if (what == QLatin1String("revoke")) {
        revokeTokens();
        return ok();
    }
    if (what == QLatin1String("release")) {
        bool statusOk = false;
        const int status = query.queryItemValue(QStringLiteral("status")).toInt(&statusOk);
        if (!statusOk || status < 200 || status > 599)
            return bad(QStringLiteral("need status=<code>"));
        releaseStalled(status);
        return ok();
    }
    if (what == QLatin1String("channel")) {
        const QString path = query.queryItemValue(QStringLiteral("path"), QUrl::FullyDecoded);
        bool statusOk = false;
        Answer a;
        a.stall = query.queryItemValue(QStringLiteral("stall")) == QLatin1String("1");
        a.status = query.queryItemValue(QStringLiteral("status")).toInt(&statusOk);
        if (path.isEmpty() || !path.startsWith(QLatin1Char('/')) || (!statusOk && !a.stall))
            return bad(QStringLiteral("need path=/… and status=<code> (or stall=1)"));
        const QString retryAfter = query.queryItemValue(QStringLiteral("retry_after"));
        if (!retryAfter.isEmpty())
            a.headers.append({"Retry-After", retryAfter.toLatin1()});
        const QString wnsStatus = query.queryItemValue(QStringLiteral("wns_status"));
        if (!wnsStatus.isEmpty())
            a.headers.append({"X-WNS-Status", wnsStatus.toLatin1()});
        const int repeat = std::clamp(query.hasQueryItem(QStringLiteral("repeat"))
                                          ? query.queryItemValue(QStringLiteral("repeat")).toInt()
                                          : 1,
                                      1, 1000);
        scriptChannel(path.toLatin1(), QList<Answer>(repeat, a));
        return ok();
    }
    return bad(QStringLiteral("unknown control request"));
}

void FakeWns::misbehave(QSslSocket *socket) {
    socket->write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "Content-Length: 1000000000000\r\n\r\n{\"access_token\":\"");
    auto *timer = new QTimer(socket);
    if (m_tokenTrouble == TokenTrouble::Dripping) {
        connect(timer, &QTimer::timeout, socket, [socket] { socket->write("a"); });
        timer->start(1000);
        return;
    }
    // As fast as the client takes it.
    const QByteArray chunk(1024 * 1024, 'a');
    connect(socket, &QSslSocket::encryptedBytesWritten, socket, [socket, chunk] {
        if (socket->bytesToWrite() + socket->encryptedBytesToWrite() < chunk.size())
            socket->write(chunk);
    });
    socket->write(chunk);
}

void FakeWns::write(QSslSocket *socket, const Response &response, bool close) {
    QByteArray out = "HTTP/1.1 " + QByteArray::number(response.status) + ' ' +
                     reasonPhrase(response.status) + "\r\n";
    for (const auto &[name, value] : response.headers)
        out += name + ": " + value + "\r\n";
    out += "Content-Length: " + QByteArray::number(response.body.size()) + "\r\n";
    if (close)
        out += "Connection: close\r\n";
    out += "\r\n" + response.body;
    socket->write(out);
    if (close)
        socket->disconnectFromHost();
}

} // namespace uwpx::test

#pragma once

// A local stand-in for Windows Push Notification Services (docs/protocol.md), for tests.
//
// One HTTPS server (QSslServer + a small HTTP/1.1 parser: keep-alive,
// Content-Length bodies, no chunking) at https://127.0.0.1:<port> offering:
//
// - POST /accesstoken.srf — the OAuth client-credentials token endpoint. Checks
//   the form (grant_type=client_credentials, client_id, client_secret, scope)
//   against setCredentials(); answers {"token_type":"bearer","access_token":…,
//   "expires_in":N} (N a number, or a string with setTokenLifetime(n, true)),
//   or 400 {"error":"invalid_client",…} like login.live.com.
// - any other path (e.g. "/?token=abc", "/channel/<name>") — a channel. Checks
//   POST, "Authorization: Bearer <issued, unexpired, unrevoked token>" (else
//   401), X-WNS-Type: wns/raw and Content-Type: application/octet-stream (else
//   400), X-WNS-PRIORITY 1..4 if present (else 400), a Content-Length and a
//   body of 1..5000 bytes (413 when larger). Every
//   request is recorded (channelRequests()). A valid one is answered from the
//   channel's script (scriptChannel(): status, extra headers, or stall = never
//   answer until releaseStalled()), and with 200 + X-WNS-Status: received once
//   the script is used up.
// - /_control/… (only with setControlApiEnabled(true), as the fake-wns
//   executable does) — plain JSON control for out-of-process tests:
//     GET  /_control/requests  -> [{"method","path","headers":{name:value},
//                                    "body","received_ms"}] of channel requests
//     GET  /_control/tokens    -> {"issued":N,"requests":M}
//     POST /_control/channel?path=<path>&status=<code>[&repeat=n]
//          [&retry_after=s][&wns_status=received|dropped|channelthrottled]
//          [&stall=1]          -> appends n answers to that channel's script
//     POST /_control/release?status=<code> -> answers every stalled request
//     POST /_control/revoke    -> revokes every issued token
//     POST /_control/reset     -> forgets requests, scripts and tokens
//
// Tests wait on the signals (QSignalSpy::wait, QTRY_COMPARE), never sleep.

#include <QByteArray>
#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QObject>
#include <QPair>
#include <QPointer>
#include <QUrl>

#include <deque>
#include <optional>

class QSslServer;
class QSslSocket;

namespace uwpx::test {

class FakeWns : public QObject {
    Q_OBJECT
public:
    using Headers = QList<QPair<QByteArray, QByteArray>>;

    struct Request {
        QByteArray method;
        QByteArray path;        // request target as sent, with the query
        QByteArray httpVersion; // "HTTP/1.1"
        Headers headers;        // in the order received, names as sent
        QByteArray body;
        qint64 receivedMs = 0; // on a monotonic clock started with the fake
        int connection = 0;    // which TCP connection carried it, numbered from 1

        // Case-insensitive; empty when absent.
        QByteArray header(const QByteArray &name) const;
        // How many times the header appears (case-insensitive).
        int headerCount(const QByteArray &name) const;
    };

    struct Answer {
        int status = 200;
        Headers headers;    // e.g. {"Retry-After", "1"}, {"X-WNS-Status", "dropped"}
        bool stall = false; // keep the request unanswered until releaseStalled()
    };

    explicit FakeWns(QObject *parent = nullptr);
    ~FakeWns() override;

    // Listens on 127.0.0.1 (port 0 = any free port).
    bool listen(const QString &certificateFile, const QString &keyFile, quint16 port = 0,
                QString *error = nullptr);
    quint16 port() const;
    QUrl baseUrl() const;  // https://127.0.0.1:<port>
    QUrl tokenUrl() const; // …/accesstoken.srf
    // https://127.0.0.1:<port>/channel/<name>
    QString channelUri(const QString &name) const;
    static QByteArray channelPath(const QString &name);

    void setCredentials(const QString &clientId, const QString &clientSecret,
                        const QString &scope = QStringLiteral("notify.windows.com"));
    void setTokenLifetime(int seconds, bool asString = false);
    // "bearer" like login.live.com; Entra ID sends "Bearer".
    void setTokenType(const QString &type) { m_tokenType = type; }

    // A token endpoint gone wrong, for the hostile-input tests: an answer
    // that never ends (1 MiB after 1 MiB), one that drips a byte a second,
    // or a token with CR LF and a header of its own in it.
    enum class TokenTrouble { None, Endless, Dripping, HeaderInToken };
    void setTokenTrouble(TokenTrouble trouble) { m_tokenTrouble = trouble; }
    void revokeTokens();
    void setControlApiEnabled(bool enabled);

    // Appends answers for requests to `path` (as channelPath() or "/?token=…").
    void scriptChannel(const QByteArray &path, const QList<Answer> &answers);
    static Answer answer(int status, const Headers &headers = {});
    static Answer stalled();
    // Answers every stalled request: 200 received, or `status` (a late 410, say).
    void releaseStalled(int status = 200);

    QList<Request> channelRequests() const { return m_channelRequests; }
    QList<Request> channelRequests(const QByteArray &path) const;
    QList<Request> tokenRequests() const { return m_tokenRequests; }
    int tokensIssued() const { return m_tokensIssued; }
    int stalledCount() const;

    // Forgets requests, scripts, tokens and stalled requests.
    void reset();

    // Closes every connection without a stalled request, as servers close
    // idle keep-alive connections; returns how many.
    int closeIdleConnections();

Q_SIGNALS:
    void channelRequestReceived(const QByteArray &path);
    void tokenRequestReceived();
    void tokenIssued();

private:
    struct Response {
        int status = 200;
        Headers headers;
        QByteArray body;
    };

    void onNewConnection();
    void process(QSslSocket *socket);
    bool isStalled(QSslSocket *socket) const;
    void handle(QSslSocket *socket, const Request &request);
    Response handleToken(const Request &request);
    void misbehave(QSslSocket *socket);
    std::optional<Response> handleChannel(QSslSocket *socket, const Request &request);
    Response handleControl(const Request &request);
    bool tokenValid(const QByteArray &authorization) const;
    void write(QSslSocket *socket, const Response &response, bool close);

    QSslServer *m_server = nullptr;
    QElapsedTimer m_clock;
    QString m_clientId = QStringLiteral("ms-app://s-1-15-2-test");
    QString m_clientSecret = QStringLiteral("test-secret");
    QString m_scope = QStringLiteral("notify.windows.com");
    int m_tokenLifetime = 86400;
    bool m_lifetimeAsString = false;
    QString m_tokenType = QStringLiteral("bearer");
    TokenTrouble m_tokenTrouble = TokenTrouble::None;
    bool m_control = false;
    QHash<QByteArray, qint64> m_tokens; // token -> expiry on m_clock
    int m_tokensIssued = 0;
    QHash<QByteArray, std::deque<Answer>> m_scripts;
    QList<Request> m_channelRequests;
    QList<Request> m_tokenRequests;
    QHash<QSslSocket *, QByteArray> m_buffers;
    QHash<QSslSocket *, int> m_connectionIds;
    int m_connections = 0;
    QList<QPointer<QSslSocket>> m_stalled;
};

} // namespace uwpx::test

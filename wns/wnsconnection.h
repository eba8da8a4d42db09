#pragma once

#include "httpresponseparser.h"

#include <QObject>
#include <QSslConfiguration>
#include <QTimer>

#include <functional>

class QSslSocket;

namespace uwpx {

// What one HTTP request came to: a status with its header fields, or status
// 0 and why no response came.
struct HttpResult {
    int status = 0;
    HttpHeaders headers;
    QString error;
};

// One keep-alive HTTPS connection to one WNS host, carrying one request at a
// time: WNS documents HTTP/1.1 without pipelining, so a connection waits for
// each answer. It connects on demand, verifies the server against the given
// TLS configuration (peer and host name), and closes after a minute without
// requests. A request that meets a connection the server had closed while
// idle is sent once more on a fresh one, as browsers do: a raw notification
// sent twice only wakes the device twice.
//
// Why not QNetworkAccessManager: it costs a reply object, a delegate in its
// own thread and dozens of signal connections per request, and stops at six
// connections per host; this is a socket and a parser.
class WnsConnection : public QObject {
    Q_OBJECT
public:
    using Done = std::function<void(const HttpResult &)>;

    WnsConnection(const QString &host, quint16 port, const QSslConfiguration &tls,
                  QObject *parent = nullptr);
    ~WnsConnection() override;

    // Whether a request is under way (its `done` not called yet).
    bool isBusy() const { return bool(m_done); }
    bool isConnected() const;

    // `request` is a complete HTTP/1.1 message. `done` is called once, from
    // the event loop (never inside send()), unless abort() comes first.
    void send(const QByteArray &request, int timeoutMs, Done done);
    // Forgets the request under way and drops the connection it may be half
    // written to.
    void abort();

private:
    void start();
    void onReadyRead();
    void onClosed();
    void onTimeout();
    void complete(HttpResult result, bool keepConnection);
    void dropSocket();
    // A request is out and its answer (or failure) not yet known.
    bool awaitingAnswer() const { return m_done && !m_answered; }

    const QString m_host;
    const quint16 m_port;
    const QSslConfiguration m_tls;
    QSslSocket *m_socket = nullptr; // a child; replaced for each TCP connection
    QTimer m_timer;                 // the request's timeout, or the idle close
    HttpResponseParser m_parser;
    QByteArray m_received;
    QByteArray m_request;
    int m_timeoutMs = 0;
    Done m_done;             // until the answer is delivered
    bool m_answered = false; // the answer is known, its delivery queued
    quint64 m_sequence = 0;  // which send() a queued completion belongs to
    bool m_reused = false;   // the request went out on a connection used before
    bool m_resent = false;   // ... and was sent once more on a fresh one
};

} // namespace uwpx

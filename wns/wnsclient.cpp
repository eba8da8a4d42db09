#include "wnsclient.h"

#include "channelpolicy.h"
#include "deadlinequeue.h"
#include "identity.h"
#include "wnsconnectionpool.h"
#include "wnslog.h"
#include "wnsresponse.h"
#include "wnstoken.h"

#include <QHash>
#include <QNetworkAccessManager>
#include <QRandomGenerator>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTimer>

#include <algorithm>
#include <optional>
#include <vector>

namespace uwpx {

namespace {

constexpr qsizetype kMaxPayloadBytes = 5000;
// A retry is only worth starting with at least this much of the budget left.
constexpr qint64 kMinAttemptMs = 250;

WnsResult makeResult(WnsResult::Outcome outcome, int httpStatus, const QString &reason,
                     bool throttled = false) {
    WnsResult result;
    result.outcome = outcome;
    result.httpStatus = httpStatus;
    result.reason = reason;
    result.throttled = throttled;
    return result;
}

QSslConfiguration tlsConfiguration(const WnsSettings &settings) {
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setProtocol(QSsl::TlsV1_2OrLater);
    tls.setPeerVerifyMode(QSslSocket::VerifyPeer);
    if (!settings.caFile.isEmpty()) {
        const QList<QSslCertificate> extra = QSslCertificate::fromPath(settings.caFile, QSsl::Pem);
        if (extra.isEmpty())
            qCWarning(lcWns).noquote()
                << "wns.ca_file" << settings.caFile << "holds no PEM certificate";
        // Setting the list explicitly turns off on-demand loading of the
        // system roots, so they are added here too.
        tls.setCaCertificates(QSslConfiguration::systemCaCertificates() + extra);
    }
    return tls;
}

// One notification on its way, possibly standing for several coalesced sends.
// Its budget counts from the first send() it stands for. (In this file's own
// namespace: storage/ has a Job of its own, and both end up in one program.)
struct Job {
    WnsNotification notification;
    std::vector<WnsClient::Done> waiters;
    int transientFailures = 0;
    bool reauthorized = false; // the one 401 refresh has been used
    QString token;             // the token the current attempt carries
    quint64 request = 0;       // the current attempt's ticket in the pool, 0 when none
};

} // namespace

class WnsClient::Private {
public:
    Private(WnsClient *q, const WnsSettings &settings)
        : q(q)
        , settings(settings)
        , tls(tlsConfiguration(settings))
        , tokens(settings, &tokenNetwork, tls)
        , pool(tls, settings.connectionsPerHost, settings.requestTimeoutMs) {
        QObject::connect(&tokens, &WnsTokenProvider::tokenRefreshed, q, &WnsClient::tokenRefreshed);
    }

    void send(const WnsNotification &notification, Done done);
    void shutdown();

    Job *find(quint64 id) { return jobs.find(id); }
    quint64 addJob(const WnsNotification &notification, Done done);
    void start(quint64 id);
    void requestToken(quint64 id);
    void post(quint64 id, Job *job, const QString &token);
    void onReply(quint64 id, const HttpResult &http, qint64 elapsedMs);
    void budgetSpent(quint64 id, Job job);
    void retryOrGiveUp(quint64 id, Job *job, const WnsResponse &response);
    void finish(quint64 id, const WnsResult &result);
    void settle(quint64 id, Job job, const WnsResult &result);
    void resolveSoon(Done done, const WnsResult &result);

    WnsClient *q;
    const WnsSettings settings;
    const QSslConfiguration tls;
    // Tokens are fetched once a day: Qt's HTTP stack is fine for that.
    QNetworkAccessManager tokenNetwork;
    WnsTokenProvider tokens; // after `tokenNetwork`, which it uses
    WnsConnectionPool pool;

    // Every job gets the same budget from its creation, settings.sendBudgetMs.
    DeadlineQueue<Job> jobs{settings.sendBudgetMs,
                            [this](quint64 id, Job job) { budgetSpent(id, std::move(job)); }};
    QHash<QString, quint64> inFlight;  // coalesce key -> job being sent
    QHash<QString, quint64> followUps; // coalesce key -> job waiting for it
    // Results decided without any request, handed out from the event loop so
    // callers never see their callback run inside send().
    std::vector<std::pair<Done, WnsResult>> immediate;
};

void WnsClient::Private::resolveSoon(Done done, const WnsResult &result) {
    immediate.emplace_back(std::move(done), result);
    if (immediate.size() > 1)
        return; // a flush is already queued
    QMetaObject::invokeMethod(
        q,
        [this] {
            std::vector<std::pair<Done, WnsResult>> ready;
            ready.swap(immediate);
            for (auto &[done, result] : ready)
                done(result);
        },
        Qt::QueuedConnection);
}

void WnsClient::Private::send(const WnsNotification &notification, Done done) {
    QString why;
    if (!isAcceptableChannelUri(notification.channelUri, settings.channelHosts, &why)) {
        // Never send the bearer token to a host a client named.
        qCWarning(lcWns).noquote()
            << "not sending to device" << deviceForLog(notification.deviceId) << "-" << why;
        resolveSoon(std::move(done), makeResult(WnsResult::Outcome::Permanent, 0, why));
        return;
    }
    if (notification.payload.isEmpty() || notification.payload.size() > kMaxPayloadBytes) {
        resolveSoon(std::move(done),
                    makeResult(WnsResult::Outcome::Permanent, 0,
                               QStringLiteral("notification payload must be 1 to %1 bytes, not %2")
                                   .arg(kMaxPayloadBytes)
                                   .arg(notification.payload.size())));
        return;
    }

    const QString &key = notification.coalesceKey;
    if (!key.isEmpty() && inFlight.contains(key)) {
        // One follow-up per key carries the latest payload for everyone who
        // asked while the first was under way.
        if (Job *followUp = find(followUps.value(key))) {
            followUp->notification = notification;
            followUp->waiters.push_back(std::move(done));
        } else {
            followUps.insert(key, addJob(notification, std::move(done)));
        }
        return;
    }
    const quint64 id = addJob(notification, std::move(done));
    if (!key.isEmpty())
        inFlight.insert(key, id);
    start(id);
}

quint64 WnsClient::Private::addJob(const WnsNotification &notification, Done done) {
    Job job;
    job.notification = notification;
    job.waiters.push_back(std::move(done));
    return jobs.add(std::move(job));
}

void WnsClient::Private::start(quint64 id) {
    if (!find(id))
        return;
    if (jobs.remainingMs(id) < kMinAttemptMs) {
        finish(id, makeResult(WnsResult::Outcome::Transient, 0,
                              QStringLiteral("no time left to send the notification")));
        return;
    }
    requestToken(id);
}

void WnsClient::Private::budgetSpent(quint64 id, Job job) {
    qCWarning(lcWns).noquote() << "giving up on device" << deviceForLog(job.notification.deviceId)
                               << "after" << settings.sendBudgetMs << "ms";
    settle(id, std::move(job),
           makeResult(WnsResult::Outcome::Transient, 0,
                      QStringLiteral("WNS did not accept the notification within %1 s")
                          .arg(settings.sendBudgetMs / 1000.0)));
}

void WnsClient::Private::requestToken(quint64 id) {
    tokens.withToken([this, id](const QString &token, const QString &error) {
        Job *job = find(id);
        if (!job)
            return; // resolved meanwhile (deadline)
        if (!error.isEmpty()) {
            finish(id, makeResult(WnsResult::Outcome::Transient, 0, error));
            return;
        }
        post(id, job, token);
    });
}

void WnsClient::Private::post(quint64 id, Job *job, const QString &token) {
    job->token = token;
    // The URI as WNS gave it to the device (QUrl only upper-cases percent
    // escapes). Taken apart here, per attempt: a coalesced follow-up may
    // carry a newer channel URI than the job it followed.
    const QUrl url = QUrl::fromEncoded(job->notification.channelUri.toUtf8(), QUrl::StrictMode);
    QByteArray target =
        url.toEncoded(QUrl::RemoveScheme | QUrl::RemoveAuthority | QUrl::RemoveFragment);
    if (!target.startsWith('/'))
        target.prepend('/');
    const QByteArray &payload = job->notification.payload;

    // HTTP/1.1 as WNS documents it: a Content-Length, no chunking, no
    // Expect: 100-continue, no upgrade to HTTP/2.
    QByteArray request;
    request.reserve(512 + payload.size());
    request += "POST " + target + " HTTP/1.1\r\n";
    request += "Host: " + url.authority(QUrl::FullyEncoded).toLatin1() + "\r\n";
    request += "Authorization: Bearer " + token.toUtf8() + "\r\n";
    request += "X-WNS-Type: wns/raw\r\n";
    request += "Content-Type: application/octet-stream\r\n";
    request += "Content-Length: " + QByteArray::number(payload.size()) + "\r\n";
    // Raw notifications are not cached by default; this keeps the latest one
    // for a device that is briefly offline.
    request += "X-WNS-Cache-Policy: cache\r\n";
    request += "X-WNS-RequestForStatus: true\r\n";
    request += "X-WNS-PRIORITY: " + QByteArray::number(int(job->notification.priority)) + "\r\n";
    request += "User-Agent: uwpx-push-server/" UWPX_VERSION "\r\n";
    request += "\r\n";
    request += payload;

    job->request = pool.send(
        url.host(), quint16(url.port(443)), request,
        [this, id](const HttpResult &http, qint64 elapsedMs) { onReply(id, http, elapsedMs); });
}

void WnsClient::Private::onReply(quint64 id, const HttpResult &http, qint64 elapsedMs) {
    Job *job = find(id);
    if (!job || !job->request)
        return;
    job->request = 0;

    const int status = http.status;
    Q_EMIT q->requestFinished(status, elapsedMs);
    const WnsResponse response =
        classifyWnsResponse(status, http.headers, http.error, QDateTime::currentDateTimeUtc());
    const QString device = deviceForLog(job->notification.deviceId);
    const QString where = channelForLog(job->notification.channelUri);
    const QString diagnostics = response.diagnostics.toLogString();
    const QString description =
        QString::fromLatin1(response.diagnostics.errorDescription.left(200));
    using Kind = WnsResponse::Kind;
    using Outcome = WnsResult::Outcome;

    switch (response.kind) {
    case Kind::Delivered:
        qCDebug(lcWns).noquote() << "delivered to device" << device << diagnostics;
        finish(id, makeResult(Outcome::Delivered, status, response.reason));
        return;
    case Kind::Dropped:
        qCInfo(lcWns).noquote() << "WNS accepted but dropped the notification for device" << device
                                << "on" << where << "-" << diagnostics;
        Q_EMIT q->notificationDropped();
        finish(id, makeResult(Outcome::Delivered, status, response.reason));
        return;
    case Kind::ChannelThrottled:
        // Retrying soon would only meet the same throttle: the caller tries later.
        qCInfo(lcWns).noquote() << "WNS throttles the channel of device" << device << "on" << where
                                << "-" << diagnostics;
        finish(id, makeResult(Outcome::Transient, status, response.reason, response.throttled));
        return;
    case Kind::Unauthorized:
        if (!job->reauthorized) {
            // Tokens expire daily; one fresh token and one resend, never more.
            job->reauthorized = true;
            qCInfo(lcWns).noquote()
                << "WNS rejected the access token; fetching a new one -" << diagnostics;
            tokens.invalidate(job->token);
            requestToken(id);
            return;
        }
        qCWarning(lcWns).noquote() << "WNS rejected a freshly fetched access token for device"
                                   << device << "on" << where << "-" << diagnostics;
        finish(id, makeResult(Outcome::Transient, status,
                              QStringLiteral("WNS rejected the access token again after a "
                                             "refresh (HTTP 401)")));
        return;
    case Kind::Gone: {
        qCInfo(lcWns).noquote() << "WNS reports the channel of device" << device << "on" << where
                                << QStringLiteral("gone (HTTP %1) -").arg(status) << diagnostics;
        finish(id, makeResult(Outcome::Gone, status, response.reason));
        return;
    }
    case Kind::Permanent:
        if (status == 403) {
            qCCritical(lcWns).noquote()
                << "CONFIGURATION ERROR: WNS answered 403 for device" << device << "on" << where
                << "- the channel belongs to another app than wns.package_sid; description:"
                << description << "-" << diagnostics;
        } else {
            qCWarning(lcWns).noquote()
                << "WNS refused the notification for device" << device << "on" << where
                << QStringLiteral("(HTTP %1) description:").arg(status) << description << "-"
                << diagnostics;
        }
        finish(id, makeResult(Outcome::Permanent, status, response.reason));
        return;
    case Kind::Retry:
        retryOrGiveUp(id, job, response);
        return;
    }
}

void WnsClient::Private::retryOrGiveUp(quint64 id, Job *job, const WnsResponse &response) {
    const QString device = deviceForLog(job->notification.deviceId);
    const QString diagnostics = response.diagnostics.toLogString();
    ++job->transientFailures;
    if (job->transientFailures >= settings.maxAttempts) {
        qCWarning(lcWns).noquote()
            << "giving up on device" << device << "after" << job->transientFailures
            << "attempts:" << response.reason << "-" << diagnostics;
        finish(id, makeResult(WnsResult::Outcome::Transient, response.httpStatus,
                              QStringLiteral("%1 (after %2 attempts)")
                                  .arg(response.reason)
                                  .arg(job->transientFailures),
                              response.throttled));
        return;
    }

    // Exponential backoff with jitter (so many senders do not return in step),
    // never shorter than what WNS asked for.
    const qint64 base =
        std::min<qint64>(settings.maxRetryDelayMs, qint64(settings.retryBaseDelayMs)
                                                       << std::min(job->transientFailures - 1, 20));
    qint64 delay = base / 2 + QRandomGenerator::global()->bounded(base / 2 + 1);
    if (response.retryAfterMs)
        delay = std::max(delay, *response.retryAfterMs);
    if (delay + kMinAttemptMs > jobs.remainingMs(id)) {
        qCWarning(lcWns).noquote() << "not retrying device" << device << "- WNS asked to wait"
                                   << delay << "ms:" << response.reason << "-" << diagnostics;
        finish(
            id,
            makeResult(
                WnsResult::Outcome::Transient, response.httpStatus,
                QStringLiteral("%1; retry in %2 s").arg(response.reason).arg((delay + 999) / 1000),
                response.throttled));
        return;
    }
    qCInfo(lcWns).noquote() << response.reason << "for device" << device << "- retrying in" << delay
                            << "ms -" << diagnostics;
    QTimer::singleShot(static_cast<int>(delay), Qt::PreciseTimer, q, [this, id] {
        // Retry-After is a lower bound: hence the precise timer.
        if (find(id))
            requestToken(id);
    });
}

void WnsClient::Private::finish(quint64 id, const WnsResult &result) {
    if (std::optional<Job> job = jobs.take(id))
        settle(id, std::move(*job), result);
}

// `job` has left the queue: its waiters are answered here and nowhere else.
void WnsClient::Private::settle(quint64 id, Job job, const WnsResult &result) {
    if (job.request) // it ended before its answer came
        pool.cancel(job.request);

    // The follow-up starts before any callback runs: a callback may destroy
    // the client, after which nothing here may be touched.
    const QString key = job.notification.coalesceKey;
    if (!key.isEmpty() && followUps.value(key) == id)
        followUps.remove(key); // its budget ran out behind the job in flight
    if (!key.isEmpty() && inFlight.value(key) == id) {
        inFlight.remove(key);
        if (followUps.contains(key)) {
            const quint64 next = followUps.take(key);
            inFlight.insert(key, next);
            start(next);
        }
    }
    if (result.outcome == WnsResult::Outcome::Gone)
        Q_EMIT q->channelGone(job.notification.deviceId, job.notification.channelUri);
    for (Done &done : job.waiters)
        done(result);
}

void WnsClient::Private::shutdown() {
    const WnsResult result = makeResult(WnsResult::Outcome::Transient, 0,
                                        QStringLiteral("the push server is shutting down"));
    std::vector<Job> pending = jobs.takeAll();
    for (const Job &job : pending) {
        if (job.request)
            pool.cancel(job.request); // drops any answer on its way
    }
    inFlight.clear();
    followUps.clear();
    std::vector<std::pair<Done, WnsResult>> ready;
    ready.swap(immediate);
    for (auto &[done, decided] : ready)
        done(decided);
    for (Job &job : pending) {
        for (Done &done : job.waiters)
            done(result);
    }
}

WnsClient::WnsClient(const WnsSettings &settings, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this, settings)) {}

WnsClient::~WnsClient() {
    d->shutdown();
}

void WnsClient::send(const WnsNotification &notification, Done done) {
    d->send(notification, std::move(done));
}

void WnsClient::restoreToken(const QString &accessToken, const QDateTime &expiresAt) {
    d->tokens.restore(accessToken, expiresAt);
}

void WnsClient::obtainToken(std::function<void(const QString &error)> done) {
    d->tokens.withToken(
        [done = std::move(done)](const QString &, const QString &error) { done(error); });
}

bool WnsClient::setCredentials(const WnsSettings &settings) {
    return d->tokens.setCredentials(settings);
}

bool WnsClient::hasFreshToken() const {
    return d->tokens.hasFreshToken();
}

} // namespace uwpx

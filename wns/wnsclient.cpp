#include "wnsclient.h"

#include "channelpolicy.h"
#include "wnslog.h"
#include "wnsresponse.h"
#include "wnstoken.h"

#include <QElapsedTimer>
#include <QHash>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QRandomGenerator>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTimer>

#include <algorithm>
#include <deque>
#include <map>
#include <vector>

namespace uwpx {

namespace {

constexpr qsizetype kMaxPayloadBytes = 5000;
// QNetworkAccessManager opens at most this many HTTP/1.1 connections per host
// and queues the rest (fixed in Qt 6.4); more come from more managers.
constexpr int kConnectionsPerManager = 6;
// A retry is only worth starting with at least this much of the budget left.
constexpr qint64 kMinAttemptMs = 250;

WnsResult makeResult(WnsResult::Outcome outcome, int httpStatus, const QString &reason) {
    WnsResult result;
    result.outcome = outcome;
    result.httpStatus = httpStatus;
    result.reason = reason;
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

} // namespace

// One notification on its way, possibly standing for several coalesced sends.
struct Job {
    quint64 id = 0;
    WnsNotification notification;
    std::vector<WnsClient::Completion> waiters;
    QElapsedTimer age; // since the first send() it stands for: the budget counts from there
    int transientFailures = 0;
    bool reauthorized = false; // the one 401 refresh has been used
    QString token;             // the token the current attempt carries
    QPointer<QNetworkReply> reply;
    QString lane;               // the host it goes to (see HostLane)
    int manager = -1;           // index of the manager carrying `reply`
    QElapsedTimer attemptClock; // the current HTTP request, for the latency figures
};

// The requests to one WNS host (scheme, host and port, as connections are
// pooled): WNS forbids pipelining, so each request in flight holds one
// connection, and with WNS's latency the number of connections, not the CPU,
// bounds how many notifications per second reach that host.
struct HostLane {
    std::deque<quint64> waiting; // jobs with a token, waiting for a connection
    std::vector<int> active;     // requests in flight per manager
    int total = 0;
};

class WnsClient::Private {
public:
    Private(WnsClient *q, const WnsSettings &settings)
        : q(q)
        , settings(settings)
        , tls(tlsConfiguration(settings))
        , managers(makeManagers(settings))
        , tokens(settings, managers.front().get(), tls) {
        QObject::connect(&tokens, &WnsTokenProvider::tokenRefreshed, q, &WnsClient::tokenRefreshed);
        budgetTimer.setSingleShot(true);
        QObject::connect(&budgetTimer, &QTimer::timeout, q, [this] { expireBudgets(); });
    }

    static std::vector<std::unique_ptr<QNetworkAccessManager>>
    makeManagers(const WnsSettings &settings) {
        const int count = std::max(1, (settings.connectionsPerHost + kConnectionsPerManager - 1) /
                                          kConnectionsPerManager);
        std::vector<std::unique_ptr<QNetworkAccessManager>> managers;
        for (int i = 0; i < count; ++i)
            managers.push_back(std::make_unique<QNetworkAccessManager>());
        return managers;
    }

    void send(const WnsNotification &notification, Completion done);
    void shutdown();

    Job *find(quint64 id) {
        const auto it = jobs.find(id);
        return it == jobs.end() ? nullptr : it->second.get();
    }
    quint64 addJob(const WnsNotification &notification, Completion done);
    void start(quint64 id);
    void requestToken(quint64 id);
    void post(Job *job, const QString &token);
    void dispatch(const QString &laneKey);
    void postNow(Job *job, const QString &laneKey, HostLane &lane, int manager);
    void releaseConnection(Job *job);
    void onReply(quint64 id);
    void expireBudgets();
    void retryOrGiveUp(Job *job, const WnsResponse &response);
    void finish(quint64 id, const WnsResult &result);
    void resolveSoon(Completion done, const WnsResult &result);

    WnsClient *q;
    const WnsSettings settings;
    const QSslConfiguration tls;
    // Keep connections alive across requests; the first also fetches tokens.
    std::vector<std::unique_ptr<QNetworkAccessManager>> managers;
    WnsTokenProvider tokens; // after `managers`, which it uses

    // Ordered by id, which is also the order their budgets run out in (every
    // job gets the same budget from its creation): one timer serves them all.
    std::map<quint64, std::unique_ptr<Job>> jobs;
    QTimer budgetTimer;
    QHash<QString, HostLane> lanes;
    QHash<QString, quint64> inFlight;  // coalesce key -> job being sent
    QHash<QString, quint64> followUps; // coalesce key -> job waiting for it
    quint64 nextId = 1;
    // Results decided without any request, handed out from the event loop so
    // callers never see their callback run inside send().
    std::vector<std::pair<Completion, WnsResult>> immediate;
    Stats stats;
};

void WnsClient::Private::resolveSoon(Completion done, const WnsResult &result) {
    immediate.emplace_back(std::move(done), result);
    if (immediate.size() > 1)
        return; // a flush is already queued
    QMetaObject::invokeMethod(
        q,
        [this] {
            std::vector<std::pair<Completion, WnsResult>> ready;
            ready.swap(immediate);
            for (auto &[done, result] : ready)
                done(result);
        },
        Qt::QueuedConnection);
}

void WnsClient::Private::send(const WnsNotification &notification, Completion done) {
    QString why;
    if (!isAcceptableChannelUri(notification.channelUri, settings.channelHosts, &why)) {
        // Never send the bearer token to a host a client named.
        qCWarning(lcWns).noquote()
            << "not sending to device" << deviceForLog(notification.deviceId) << "-" << why;
        ++stats.permanent;
        resolveSoon(std::move(done), makeResult(WnsResult::Outcome::Permanent, 0, why));
        return;
    }
    if (notification.payload.isEmpty() || notification.payload.size() > kMaxPayloadBytes) {
        ++stats.permanent;
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
            ++stats.coalesced;
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

quint64 WnsClient::Private::addJob(const WnsNotification &notification, Completion done) {
    auto job = std::make_unique<Job>();
    job->id = nextId++;
    job->notification = notification;
    job->waiters.push_back(std::move(done));
    job->age.start();
    const quint64 id = job->id;
    jobs.emplace(id, std::move(job));
    if (!budgetTimer.isActive())
        budgetTimer.start(settings.sendBudgetMs);
    return id;
}

void WnsClient::Private::start(quint64 id) {
    Job *job = find(id);
    if (!job)
        return;
    if (settings.sendBudgetMs - job->age.elapsed() < kMinAttemptMs) {
        finish(id, makeResult(WnsResult::Outcome::Transient, 0,
                              QStringLiteral("no time left to send the notification")));
        return;
    }
    requestToken(id);
}

void WnsClient::Private::expireBudgets() {
    const QPointer<WnsClient> alive(q);
    while (alive && !jobs.empty()) {
        Job *oldest = jobs.begin()->second.get();
        const qint64 left = settings.sendBudgetMs - oldest->age.elapsed();
        if (left > 0) {
            budgetTimer.start(static_cast<int>(left));
            return;
        }
        qCWarning(lcWns).noquote()
            << "giving up on device" << deviceForLog(oldest->notification.deviceId) << "after"
            << settings.sendBudgetMs << "ms";
        finish(oldest->id,
               makeResult(WnsResult::Outcome::Transient, 0,
                          QStringLiteral("WNS did not accept the notification within %1 s")
                              .arg(settings.sendBudgetMs / 1000.0)));
    }
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
        post(job, token);
    });
}

void WnsClient::Private::post(Job *job, const QString &token) {
    job->token = token;
    const QUrl url = QUrl::fromEncoded(job->notification.channelUri.toUtf8(), QUrl::StrictMode);
    const QString laneKey = url.scheme() + QLatin1String("://") + url.host() + QLatin1Char(':') +
                            QString::number(url.port(443));
    lanes[laneKey].waiting.push_back(job->id);
    dispatch(laneKey);
}

// Starts waiting requests while the lane has free connections, filling the
// first manager before the next so a light load keeps few connections open.
void WnsClient::Private::dispatch(const QString &laneKey) {
    const auto it = lanes.find(laneKey);
    if (it == lanes.end())
        return;
    HostLane &lane = *it;
    lane.active.resize(managers.size());
    while (lane.total < settings.connectionsPerHost && !lane.waiting.empty()) {
        Job *job = find(lane.waiting.front());
        lane.waiting.pop_front();
        if (!job)
            continue; // ran out of budget while waiting
        const auto free = std::find_if(lane.active.begin(), lane.active.end(),
                                       [](int n) { return n < kConnectionsPerManager; });
        postNow(job, laneKey, lane, int(free - lane.active.begin()));
    }
    if (lane.total == 0 && lane.waiting.empty())
        lanes.erase(it);
}

void WnsClient::Private::postNow(Job *job, const QString &laneKey, HostLane &lane, int manager) {
    const WnsNotification &n = job->notification;
    // fromEncoded keeps the URI exactly as WNS gave it to the device.
    QNetworkRequest request(QUrl::fromEncoded(n.channelUri.toUtf8(), QUrl::StrictMode));
    request.setRawHeader("Authorization", "Bearer " + job->token.toUtf8());
    request.setRawHeader("X-WNS-Type", "wns/raw");
    request.setHeader(QNetworkRequest::ContentTypeHeader,
                      QByteArrayLiteral("application/octet-stream"));
    request.setHeader(QNetworkRequest::ContentLengthHeader, n.payload.size());
    // Raw notifications are not cached by default; this keeps the latest one
    // for a device that is briefly offline.
    request.setRawHeader("X-WNS-Cache-Policy", "cache");
    request.setRawHeader("X-WNS-RequestForStatus", "true");
    request.setHeader(QNetworkRequest::UserAgentHeader,
                      QByteArrayLiteral("uwpx-push-server/" UWPX_VERSION));
    // WNS documents HTTP/1.1 only.
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    // A redirect would carry the bearer token to wherever it points.
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    request.setTransferTimeout(settings.requestTimeoutMs);
    request.setSslConfiguration(tls);

    ++lane.active[manager];
    ++lane.total;
    job->manager = manager;
    job->lane = laneKey;
    job->attemptClock.start();
    job->reply = managers[manager]->post(request, n.payload);
    const quint64 id = job->id;
    QObject::connect(job->reply, &QNetworkReply::finished, q, [this, id] { onReply(id); });
}

// Gives the job's connection to the next request waiting for that host.
void WnsClient::Private::releaseConnection(Job *job) {
    if (job->manager < 0)
        return;
    const auto it = lanes.find(job->lane);
    if (it != lanes.end()) {
        --it->active[job->manager];
        --it->total;
    }
    job->manager = -1;
    dispatch(job->lane);
}

void WnsClient::Private::onReply(quint64 id) {
    Job *job = find(id);
    if (!job || !job->reply)
        return;
    QNetworkReply *reply = job->reply;
    job->reply = nullptr;
    reply->deleteLater();
    releaseConnection(job);

    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    Q_EMIT q->requestFinished(status, job->attemptClock.elapsed());
    QString transportError;
    if (status == 0) {
        transportError =
            (reply->error() == QNetworkReply::OperationCanceledError ||
             reply->error() == QNetworkReply::TimeoutError)
                ? QStringLiteral("no answer within %1 ms").arg(settings.requestTimeoutMs)
                : reply->errorString();
    }
    const WnsResponse response = classifyWnsResponse(
        status, reply->rawHeaderPairs(), transportError, QDateTime::currentDateTimeUtc());
    const QString device = deviceForLog(job->notification.deviceId);
    const QString where = channelForLog(job->notification.channelUri);
    const QString diagnostics = response.diagnostics.toLogString();
    const QString description =
        QString::fromLatin1(response.diagnostics.errorDescription.left(200));
    using Kind = WnsResponse::Kind;
    using Outcome = WnsResult::Outcome;

    switch (response.kind) {
    case Kind::Delivered:
        ++stats.delivered;
        qCDebug(lcWns).noquote() << "delivered to device" << device << diagnostics;
        finish(id, makeResult(Outcome::Delivered, status, response.reason));
        return;
    case Kind::Dropped:
        ++stats.dropped;
        qCInfo(lcWns).noquote() << "WNS accepted but dropped the notification for device" << device
                                << "on" << where << "-" << diagnostics;
        finish(id, makeResult(Outcome::Delivered, status, response.reason));
        return;
    case Kind::ChannelThrottled:
        // Retrying soon would only meet the same throttle: the caller tries later.
        qCInfo(lcWns).noquote() << "WNS throttles the channel of device" << device << "on" << where
                                << "-" << diagnostics;
        finish(id, makeResult(Outcome::Transient, status, response.reason));
        return;
    case Kind::Unauthorized:
        ++stats.unauthorized;
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
        retryOrGiveUp(job, response);
        return;
    }
}

void WnsClient::Private::retryOrGiveUp(Job *job, const WnsResponse &response) {
    const quint64 id = job->id;
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
                                  .arg(job->transientFailures)));
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
    if (job->age.elapsed() + delay + kMinAttemptMs > settings.sendBudgetMs) {
        qCWarning(lcWns).noquote() << "not retrying device" << device << "- WNS asked to wait"
                                   << delay << "ms:" << response.reason << "-" << diagnostics;
        finish(id, makeResult(WnsResult::Outcome::Transient, response.httpStatus,
                              QStringLiteral("%1; retry in %2 s")
                                  .arg(response.reason)
                                  .arg((delay + 999) / 1000)));
        return;
    }
    ++stats.retries;
    qCInfo(lcWns).noquote() << response.reason << "for device" << device << "- retrying in" << delay
                            << "ms -" << diagnostics;
    QTimer::singleShot(static_cast<int>(delay), Qt::PreciseTimer, q, [this, id] {
        // Retry-After is a lower bound: hence the precise timer.
        if (find(id))
            requestToken(id);
    });
}

void WnsClient::Private::finish(quint64 id, const WnsResult &result) {
    const auto it = jobs.find(id);
    if (it == jobs.end())
        return;
    std::unique_ptr<Job> job = std::move(it->second);
    jobs.erase(it);
    if (QNetworkReply *reply = job->reply) {
        reply->disconnect(q);
        reply->abort();
        reply->deleteLater();
    }
    releaseConnection(job.get());

    switch (result.outcome) {
    case WnsResult::Outcome::Delivered:
        break; // counted in onReply(), which tells received from dropped
    case WnsResult::Outcome::Gone:
        ++stats.gone;
        break;
    case WnsResult::Outcome::Transient:
        ++stats.transient;
        break;
    case WnsResult::Outcome::Permanent:
        ++stats.permanent;
        break;
    }

    // The follow-up starts before any callback runs: a callback may destroy
    // the client, after which nothing here may be touched.
    const QString key = job->notification.coalesceKey;
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
        Q_EMIT q->channelGone(job->notification.deviceId);
    for (Completion &done : job->waiters)
        done(result);
}

void WnsClient::Private::shutdown() {
    const WnsResult result = makeResult(WnsResult::Outcome::Transient, 0,
                                        QStringLiteral("the push server is shutting down"));
    std::map<quint64, std::unique_ptr<Job>> pending;
    pending.swap(jobs);
    budgetTimer.stop();
    lanes.clear();
    inFlight.clear();
    followUps.clear();
    std::vector<std::pair<Completion, WnsResult>> ready;
    ready.swap(immediate);
    for (auto &[id, job] : pending) {
        if (QNetworkReply *reply = job->reply) {
            reply->disconnect(q);
            reply->abort();
            delete reply;
        }
    }
    for (auto &[done, decided] : ready)
        done(decided);
    for (auto &[id, job] : pending) {
        for (Completion &done : job->waiters)
            done(result);
    }
}

WnsClient::WnsClient(const WnsSettings &settings, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this, settings)) {}

WnsClient::~WnsClient() {
    d->shutdown();
}

void WnsClient::send(const WnsNotification &notification, Completion done) {
    d->send(notification, std::move(done));
}

void WnsClient::restoreToken(const QString &accessToken, const QDateTime &expiresAt) {
    d->tokens.restore(accessToken, expiresAt);
}

WnsClient::Stats WnsClient::stats() const {
    return d->stats;
}

int WnsClient::tokenFetches() const {
    return d->tokens.fetches();
}

bool WnsClient::hasFreshToken() const {
    return d->tokens.hasFreshToken();
}

} // namespace uwpx

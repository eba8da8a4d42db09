#include "wnstoken.h"

#include "wnslog.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QUrl>

#include <algorithm>

namespace uwpx {

namespace {

constexpr qint64 kMaxCredentialBackoffMs = 30 * 60 * 1000;
constexpr qint64 kFirstTransientBackoffMs = 1000;
constexpr qint64 kMaxTransientBackoffMs = 60 * 1000;
constexpr qint64 kMaxRefreshMarginMs = 5 * 60 * 1000;
// A token answer is a few hundred bytes (login.live.com) to a few KiB (an
// Entra ID JWT); anything past this is not one.
constexpr qint64 kMaxAnswerBytes = 64 * 1024;
constexpr qsizetype kMaxTokenLength = 8 * 1024;

// A token goes into an HTTP header as it is: only the visible ASCII that
// OAuth tokens are made of, nothing that could end the header line.
bool isUsableToken(const QString &token) {
    if (token.isEmpty() || token.size() > kMaxTokenLength)
        return false;
    return std::all_of(token.cbegin(), token.cend(),
                       [](QChar c) { return c.unicode() > 0x20 && c.unicode() < 0x7f; });
}

QByteArray formField(const char *name, const QString &value) {
    // application/x-www-form-urlencoded: everything but unreserved characters
    // is percent-encoded, so secrets with '+', '&' or '=' survive.
    return QByteArray(name) + '=' + QUrl::toPercentEncoding(value);
}

// Refresh ahead of expiry: a tenth of the lifetime, at most five minutes, so a
// token is never presented in its last moments.
QDateTime refreshTimeFor(const QDateTime &expiresAt) {
    const qint64 lifetimeMs = QDateTime::currentDateTimeUtc().msecsTo(expiresAt);
    return expiresAt.addMSecs(-std::min(kMaxRefreshMarginMs, std::max<qint64>(0, lifetimeMs / 10)));
}

// Reads expires_in as sent by login.live.com (number) or Entra ID (string).
std::optional<qint64> expiresInSeconds(const QJsonValue &value) {
    if (value.isDouble()) {
        const double seconds = value.toDouble();
        if (seconds > 0 && seconds < 1e9)
            return static_cast<qint64>(seconds);
        return std::nullopt;
    }
    if (value.isString()) {
        bool ok = false;
        const qint64 seconds = value.toString().trimmed().toLongLong(&ok);
        if (ok && seconds > 0)
            return seconds;
    }
    return std::nullopt;
}

// The token endpoint's own words (OAuth "error" and "error_description"),
// which never echo the secret; cut short in case of a surprise.
QString endpointError(const QByteArray &body) {
    const QJsonObject object = QJsonDocument::fromJson(body).object();
    QString error = object.value(QLatin1String("error")).toString().left(100);
    const QString description = object.value(QLatin1String("error_description")).toString();
    if (!description.isEmpty())
        error += (error.isEmpty() ? QString() : QStringLiteral(": ")) + description.left(200);
    return error;
}

} // namespace

WnsTokenProvider::WnsTokenProvider(const WnsSettings &settings, QNetworkAccessManager *network,
                                   const QSslConfiguration &tls, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_network(network)
    , m_tls(tls)
    , m_nextCredentialBackoffMs(settings.tokenBackoffMs)
    , m_nextTransientBackoffMs(kFirstTransientBackoffMs) {
    m_deadline.setSingleShot(true);
    connect(&m_deadline, &QTimer::timeout, this, [this] {
        if (!m_reply)
            return;
        m_timedOut = true;
        m_reply->abort();
    });
}

WnsTokenProvider::~WnsTokenProvider() {
    // Waiters belong to the client, which resolves its sends itself on
    // destruction; the reply must not call back into a half-destroyed object.
    if (m_reply) {
        m_reply->disconnect(this);
        m_reply->abort();
        delete m_reply;
    }
}

bool WnsTokenProvider::hasFreshToken() const {
    return !m_token.isEmpty() && QDateTime::currentDateTimeUtc() < m_refreshAt;
}

void WnsTokenProvider::withToken(Done done) {
    if (hasFreshToken()) {
        done(m_token, QString());
        return;
    }
    if (m_failedAt && !m_failedAt->hasExpired(m_backoffMs)) {
        const qint64 left = (m_backoffMs - m_failedAt->elapsed() + 999) / 1000;
        done(QString(), QStringLiteral("%1 (next attempt in %2 s)").arg(m_lastError).arg(left));
        return;
    }
    m_waiters.push_back(std::move(done));
    if (!m_reply)
        startFetch();
}

void WnsTokenProvider::invalidate(const QString &token) {
    if (!token.isEmpty() && token == m_token)
        m_token.clear();
}

bool WnsTokenProvider::setCredentials(const WnsSettings &settings) {
    if (settings.packageSid == m_settings.packageSid &&
        settings.clientSecret == m_settings.clientSecret &&
        settings.tokenUrl == m_settings.tokenUrl && settings.scope == m_settings.scope)
        return false;
    m_settings.packageSid = settings.packageSid;
    m_settings.clientSecret = settings.clientSecret;
    m_settings.tokenUrl = settings.tokenUrl;
    m_settings.scope = settings.scope;
    m_token.clear();
    m_refreshAt = QDateTime();
    m_failedAt.reset();
    m_lastError.clear();
    m_nextCredentialBackoffMs = m_settings.tokenBackoffMs;
    m_nextTransientBackoffMs = kFirstTransientBackoffMs;
    return true;
}

void WnsTokenProvider::restore(const QString &token, const QDateTime &expiresAt) {
    if (!isUsableToken(token) || !expiresAt.isValid())
        return;
    const QDateTime refreshAt = refreshTimeFor(expiresAt.toUTC());
    if (refreshAt <= QDateTime::currentDateTimeUtc())
        return; // too old to be worth trying
    m_token = token;
    m_refreshAt = refreshAt;
    qCInfo(lcWns).noquote() << "using the stored WNS access token until"
                            << m_refreshAt.toString(Qt::ISODate);
}

void WnsTokenProvider::startFetch() {
    QNetworkRequest request(m_settings.tokenUrl);
    request.setHeader(QNetworkRequest::ContentTypeHeader,
                      QByteArrayLiteral("application/x-www-form-urlencoded"));
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    // A redirect would carry the client secret to wherever it points.
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    request.setTransferTimeout(m_settings.requestTimeoutMs);
    request.setSslConfiguration(m_tls);
    const QByteArray form = formField("grant_type", QStringLiteral("client_credentials")) + '&' +
                            formField("client_id", m_settings.packageSid) + '&' +
                            formField("client_secret", m_settings.clientSecret) + '&' +
                            formField("scope", m_settings.scope);
    qCDebug(lcWns).noquote() << "requesting a WNS access token from" << m_settings.tokenUrl.host();
    m_answerTooLarge = false;
    m_timedOut = false;
    m_reply = m_network->post(request, form);
    connect(m_reply, &QNetworkReply::finished, this, &WnsTokenProvider::onFetchFinished);
    // Bounded in size and in time as a whole: the transfer timeout above only
    // notices silence, not an endpoint that drips a byte now and then.
    connect(m_reply, &QNetworkReply::downloadProgress, this, [this](qint64 received, qint64) {
        if (received > kMaxAnswerBytes && m_reply) {
            m_answerTooLarge = true;
            m_reply->abort();
        }
    });
    m_deadline.start(m_settings.requestTimeoutMs);
}

void WnsTokenProvider::onFetchFinished() {
    QNetworkReply *reply = m_reply;
    m_reply = nullptr;
    m_deadline.stop();
    if (!reply)
        return;
    reply->deleteLater();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QByteArray body = reply->read(kMaxAnswerBytes);
    const QString endpoint = m_settings.tokenUrl.host();

    if (m_answerTooLarge || m_timedOut) {
        fail(QStringLiteral("WNS token unavailable: the token endpoint %1 %2")
                 .arg(endpoint,
                      m_answerTooLarge
                          ? QStringLiteral("sent an answer over %1 KiB").arg(kMaxAnswerBytes / 1024)
                          : QStringLiteral("did not answer within %1 s")
                                .arg(m_settings.requestTimeoutMs / 1000.0)),
             false);
        return;
    }
    if (status == 0) {
        fail(QStringLiteral("WNS token unavailable: the token endpoint %1 could not be reached: %2")
                 .arg(endpoint, reply->errorString()),
             false);
        return;
    }
    if (status == 400 || status == 401) {
        const QString said = endpointError(body);
        fail(QStringLiteral("WNS token unavailable: the token endpoint %1 refused the "
                            "credentials (HTTP %2%3); check wns.package_sid, wns.client_secret "
                            "and wns.scope")
                 .arg(endpoint)
                 .arg(status)
                 .arg(said.isEmpty() ? QString() : QStringLiteral(" ") + said),
             true);
        return;
    }
    if (status != 200) {
        fail(QStringLiteral("WNS token unavailable: the token endpoint %1 answered HTTP %2")
                 .arg(endpoint)
                 .arg(status),
             false);
        return;
    }

    const QJsonObject object = QJsonDocument::fromJson(body).object();
    const QString type = object.value(QLatin1String("token_type")).toString();
    const QString token = object.value(QLatin1String("access_token")).toString();
    const std::optional<qint64> expiresIn =
        expiresInSeconds(object.value(QLatin1String("expires_in")));
    if (type.compare(QLatin1String("bearer"), Qt::CaseInsensitive) != 0 || token.isEmpty() ||
        !expiresIn) {
        fail(QStringLiteral("WNS token unavailable: the token endpoint %1 sent a reply without "
                            "a bearer access_token and expires_in")
                 .arg(endpoint),
             false);
        return;
    }
    if (!isUsableToken(token)) {
        fail(QStringLiteral("WNS token unavailable: the token endpoint %1 sent an access_token "
                            "that is not a token (control characters, spaces or over 8 KiB)")
                 .arg(endpoint),
             false);
        return;
    }
    adopt(token, QDateTime::currentDateTimeUtc().addSecs(*expiresIn));
}

void WnsTokenProvider::adopt(const QString &token, const QDateTime &expiresAt) {
    m_token = token;
    m_refreshAt = refreshTimeFor(expiresAt);
    m_failedAt.reset();
    m_lastError.clear();
    m_nextCredentialBackoffMs = m_settings.tokenBackoffMs;
    m_nextTransientBackoffMs = kFirstTransientBackoffMs;
    qCInfo(lcWns).noquote() << "got a WNS access token valid until"
                            << expiresAt.toString(Qt::ISODate);
    Q_EMIT tokenRefreshed(token, expiresAt);
    resolveWaiters(token, QString());
}

void WnsTokenProvider::fail(const QString &error, bool credentialProblem) {
    m_lastError = error;
    m_failedAt.emplace();
    m_failedAt->start();
    if (credentialProblem) {
        m_backoffMs = m_nextCredentialBackoffMs;
        m_nextCredentialBackoffMs = std::min(kMaxCredentialBackoffMs, m_backoffMs * 2);
        qCCritical(lcWns).noquote()
            << error << QStringLiteral("- no new token request for %1 s").arg(m_backoffMs / 1000);
    } else {
        m_backoffMs = m_nextTransientBackoffMs;
        m_nextTransientBackoffMs = std::min(kMaxTransientBackoffMs, m_backoffMs * 2);
        qCWarning(lcWns).noquote() << error
                                   << QStringLiteral("- next token request in %1 s at the earliest")
                                          .arg((m_backoffMs + 999) / 1000);
    }
    resolveWaiters(QString(), error);
}

void WnsTokenProvider::resolveWaiters(const QString &token, const QString &error) {
    // A waiter may call withToken() again; it must see the new state, and
    // not be resolved twice.
    std::vector<Done> waiters;
    waiters.swap(m_waiters);
    for (Done &waiter : waiters)
        waiter(token, error);
}

} // namespace uwpx

#include "pushpublisher.h"

#include "credentials.h"
#include "payload.h"
#include "storage.h"
#include "xmpplog.h"

#include <QPointer>
#include <QTimer>

namespace uwpx {

namespace {

constexpr int MaxIdleWindows = 1024;

PublishVerdict verdictFor(const WnsResult &result) {
    switch (result.outcome) {
    case WnsResult::Outcome::Delivered:
        return {PublishOutcome::Delivered, false, result.reason};
    case WnsResult::Outcome::Gone:
        return {PublishOutcome::Gone, false, result.reason};
    case WnsResult::Outcome::Transient:
        return {PublishOutcome::Transient, result.throttled, result.reason};
    case WnsResult::Outcome::Permanent:
        // Our credentials or request are wrong, not the user's registration.
        // Any error type but `wait` makes ejabberd delete the registration at
        // once (Prosody after 16), so a fault on our side is answered `wait`
        // and fixed by the operator, who sees it in the log.
        qCWarning(lcXmpp) << "WNS refused a notification permanently:" << result.reason;
        return {PublishOutcome::Transient, false, result.reason};
    }
    return {PublishOutcome::Transient, false, result.reason};
}

} // namespace

PushPublisher::Options PushPublisher::Options::from(const XmppSettings &settings) {
    Options options;
    options.publishTimeoutMs = settings.publishTimeoutMs;
    return options;
}

PushPublisher::PushPublisher(Storage &storage, WnsClient &wns, const Options &options,
                             QObject *parent)
    : PushPublisher(
          storage,
          [client = QPointer<WnsClient>(&wns)](const WnsNotification &notification,
                                               WnsClient::Done done) {
              if (client)
                  client->send(notification, std::move(done));
              else
                  done(WnsResult{WnsResult::Outcome::Transient, 0,
                                 QStringLiteral("WNS client is shutting down")});
          },
          options, parent) {}

PushPublisher::PushPublisher(Storage &storage, Sender sender, const Options &options,
                             QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_sender(std::move(sender))
    , m_options(options)
    , m_waiting(options.publishTimeoutMs, [](quint64, WaitingPublish due) {
        qCInfo(lcXmpp).noquote() << "publish to" << shortNode(due.node)
                                 << "timed out waiting for WNS; answered wait";
        due.done({PublishOutcome::Transient, false, QStringLiteral("WNS did not answer in time")});
    }) {
    m_clock.start();
}

PushPublisher::~PushPublisher() = default;

void PushPublisher::publish(const PublishRequest &request, Done done) {
    // The store answers within its timeout, far inside the publish timeout.
    m_storage.findByNode(request.node,
                         [self = QPointer<PushPublisher>(this), request,
                          done = std::move(done)](const StorageResult<PushTarget> &found) mutable {
                             if (self)
                                 self->publishTo(request, found, std::move(done));
                         });
}

void PushPublisher::publishTo(const PublishRequest &request, const StorageResult<PushTarget> &found,
                              Done done) {
    if (std::optional<PublishVerdict> refusal = authorize(request, found)) {
        qCDebug(lcXmpp).noquote() << "publish to" << shortNode(request.node) << "from"
                                  << request.senderDomain << "refused:" << refusal->reason;
        done(*refusal);
        return;
    }
    const PushTarget &target = found.value();

    WnsNotification notification{
        target.channelUri,
        payload::forPublish(target.protocolVersion, target.accountKey, request.messageCount,
                            request.pendingSubscriptionCount),
        target.node, target.deviceId,
        request.announcesOnlySubscriptions ? WnsPriority::Medium : WnsPriority::High};

    // A trailing send needs no such report: the send that opened its window did it.
    done = [self = QPointer<PushPublisher>(this), deviceId = target.deviceId,
            refreshedAt = target.deviceRefreshedAt,
            done = std::move(done)](const PublishVerdict &verdict) {
        if (self && verdict.outcome == PublishOutcome::Delivered)
            Q_EMIT self->deviceReached(deviceId, refreshedAt);
        done(verdict);
    };
    if (m_options.rateWindowMs <= 0) {
        send(notification, std::move(done));
        return;
    }
    const qint64 now = m_clock.elapsed();
    NodeWindow &window = m_windows[request.node];
    if (now < window.endsAtMs) {
        // Inside the window: fold into the trailing send, answer `result` now
        // (the device will be woken, just a little later).
        window.trailing = notification;
        if (!window.trailingPending) {
            window.trailingPending = true;
            QTimer::singleShot(int(window.endsAtMs - now), this,
                               [this, node = request.node] { flushTrailing(node); });
        }
        done({PublishOutcome::Coalesced, false, QStringLiteral("rate limited")});
        return;
    }
    window.endsAtMs = now + m_options.rateWindowMs;
    pruneWindows();
    send(notification, std::move(done));
}

std::optional<PublishVerdict> PushPublisher::authorize(const PublishRequest &request,
                                                       const StorageResult<PushTarget> &found) {
    if (found.isNotFound())
        return PublishVerdict{PublishOutcome::UnknownNode, false, QStringLiteral("unknown node")};
    if (found.isFailed())
        return PublishVerdict{PublishOutcome::Transient, false, QStringLiteral("storage failed")};
    const PushTarget &target = found.value();

    // Compare secrets without an early exit, and before anything else about
    // the account can be learned from our answers.
    if (request.secret.isEmpty() || !credentials::constantTimeEquals(request.secret, target.secret))
        return PublishVerdict{PublishOutcome::Forbidden, false,
                              request.secret.isEmpty() ? QStringLiteral("no secret")
                                                       : QStringLiteral("wrong secret")};

    if (target.domain.isEmpty()) {
        // A v2 account learns its domain from its first accepted publish. Not
        // storing it is not fatal: the secret was right, and the next publish
        // tries again.
        m_storage.learnDomain(request.node, request.senderDomain);
    } else if (target.domain.compare(request.senderDomain, Qt::CaseInsensitive) != 0) {
        return PublishVerdict{PublishOutcome::Forbidden, false,
                              QStringLiteral("sender domain is not the account's")};
    }
    // Checked after the secret, so that only the account's own server learns it.
    if (target.suspended)
        return PublishVerdict{
            PublishOutcome::Suspended, false,
            QStringLiteral("the device's channel is gone; waiting for a new one")};
    return std::nullopt;
}

void PushPublisher::send(const WnsNotification &notification, Done done) {
    const QString node = notification.coalesceKey;
    const quint64 ticket = m_waiting.add({std::move(done), node});
    m_sender(notification, [self = QPointer<PushPublisher>(this), ticket,
                            node](const WnsResult &result) {
        std::optional<WaitingPublish> waiting = self ? self->m_waiting.take(ticket) : std::nullopt;
        if (!waiting) {
            qCDebug(lcXmpp).noquote()
                << "late WNS verdict for" << shortNode(node) << "ignored:" << result.reason;
            return;
        }
        waiting->done(verdictFor(result));
    });
}

void PushPublisher::answerWaitingNow(const QString &reason) {
    for (WaitingPublish &waiting : m_waiting.takeAll())
        waiting.done({PublishOutcome::Transient, false, reason});
}

void PushPublisher::flushTrailing(const QString &node) {
    auto it = m_windows.find(node);
    if (it == m_windows.end() || !it->trailingPending)
        return;
    it->trailingPending = false;
    it->endsAtMs = m_clock.elapsed() + m_options.rateWindowMs;
    const WnsNotification notification = std::exchange(it->trailing, {});
    // No publish waits for this send: its verdict is only logged.
    m_sender(notification, [node](const WnsResult &result) {
        qCDebug(lcXmpp).noquote() << "trailing send to" << shortNode(node) << "ended"
                                  << publishOutcomeName(verdictFor(result).outcome);
    });
}

void PushPublisher::pruneWindows() {
    if (m_windows.size() <= MaxIdleWindows)
        return;
    // A window ends rateWindowMs after it opened, so scanning once per window
    // keeps the map within about two windows' worth of nodes; scanning on
    // every publish cost O(nodes) each once more than MaxIdleWindows were busy.
    const qint64 now = m_clock.elapsed();
    if (now < m_nextPruneMs)
        return;
    m_nextPruneMs = now + m_options.rateWindowMs;
    for (auto it = m_windows.begin(); it != m_windows.end();) {
        if (!it->trailingPending && it->endsAtMs <= now)
            it = m_windows.erase(it);
        else
            ++it;
    }
}

} // namespace uwpx

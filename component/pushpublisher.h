#pragma once

#include "deadlinequeue.h"
#include "publishoutcome.h"
#include "publishrequest.h"
#include "storagerecords.h"
#include "storageresult.h"
#include "wnsclient.h"
#include "xmppsettings.h"

#include <QElapsedTimer>
#include <QHash>
#include <QObject>

#include <functional>

namespace uwpx {

class Storage;

struct PublishVerdict {
    PublishOutcome outcome = PublishOutcome::Transient;
    bool throttled = false; // Transient because WNS throttles: resource-constraint
    QString reason;         // for the log
};

// The publish path after parsing: node and secret against Storage, then one
// WNS raw notification, then a verdict — always within the publish timeout,
// since ejabberd gives up at 32 s and Prosody never does.
//
// Rate limit: at most one WNS send per node per rate window. Publishes inside
// the window are answered at once as Coalesced and fold into one trailing send
// at the window's end carrying the latest counts (a device only needs waking).
class PushPublisher : public QObject {
    Q_OBJECT
public:
    using Done = std::function<void(const PublishVerdict &)>;
    // How notifications leave; WnsClient::send in production, a script in tests.
    using Sender = std::function<void(const WnsNotification &, WnsClient::Done)>;

    struct Options {
        int publishTimeoutMs = 25000;
        int rateWindowMs = 1000; // 0: no rate limit

        static Options from(const XmppSettings &settings);
    };

    PushPublisher(Storage &storage, WnsClient &wns, const Options &options,
                  QObject *parent = nullptr);
    PushPublisher(Storage &storage, Sender sender, const Options &options,
                  QObject *parent = nullptr);
    ~PushPublisher() override;

    // `done` is called exactly once, within options.publishTimeoutMs (not
    // after this object is destroyed).
    void publish(const PublishRequest &request, Done done);

    // Answers every publish still waiting for WNS now, `wait`: at shutdown,
    // so none is left unanswered.
    void answerWaitingNow(const QString &reason);

Q_SIGNALS:
    // WNS accepted a publish's notification for this device, which the store
    // last saw refreshed at `refreshedAt` (see DeviceLifecycle).
    void deviceReached(const QString &deviceId, const QDateTime &refreshedAt);

private:
    struct NodeWindow {
        qint64 endsAtMs = 0;
        bool trailingPending = false;
        WnsNotification trailing;
    };

    // A publish waiting for WNS, answered `wait` if WNS is slower than the
    // publish timeout.
    struct WaitingPublish {
        Done done;
        QString node;
    };

    void publishTo(const PublishRequest &request, const StorageResult<PushTarget> &found,
                   Done done);
    std::optional<PublishVerdict> authorize(const PublishRequest &request,
                                            const StorageResult<PushTarget> &found);
    void send(const WnsNotification &notification, Done done);
    void flushTrailing(const QString &node);
    void pruneWindows();

    Storage &m_storage;
    Sender m_sender;
    Options m_options;
    QElapsedTimer m_clock;
    QHash<QString, NodeWindow> m_windows;
    qint64 m_nextPruneMs = 0;
    // Whichever comes first, WNS's verdict, the publish timeout or shutdown,
    // takes the publish out and answers it.
    DeadlineQueue<WaitingPublish> m_waiting;
};

} // namespace uwpx

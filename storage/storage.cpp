#include "storage.h"

#include "deadlinequeue.h"
#include "dialect.h"
#include "storageconnection.h"
#include "storagelistener.h"
#include "storagelog.h"
#include "storageworkers.h"

#include <QElapsedTimer>
#include <QMetaObject>
#include <QThread>
#include <QTimer>

#include <atomic>
#include <mutex>
#include <type_traits>
#include <vector>

namespace uwpx {

namespace {

// While nothing else runs, the database is asked this often whether it
// still answers and takes writes, for /health.
constexpr int kProbeIntervalMs = 5000;

template<typename T> Outcome outcomeOf(const Storage::Done<T> &done, StorageResult<T> result) {
    Outcome outcome;
    outcome.failed = result.isFailed();
    outcome.error = result.error();
    outcome.deliver = [done, result = std::move(result)] {
        if (done)
            done(result);
    };
    return outcome;
}

} // namespace

class Storage::Private {
public:
    Private(Storage *q, const StorageSettings &settings)
        : q(q)
        , settings(settings)
        , mailbox(std::make_shared<StorageMailbox>())
        , workers(settings,
                  Dialect::find(settings.driver) && Dialect::find(settings.driver)->oneWriter,
                  mailbox, [this](std::vector<Answer> answers) {
                      for (auto &[id, kind, outcome] : answers)
                          complete(id, kind, std::move(outcome));
                  }) {
        mailbox->receiver = q;
        clock.start();
        probeTimer.setInterval(kProbeIntervalMs);
        QObject::connect(&probeTimer, &QTimer::timeout, q, [this] { probe(); });
        probeTimer.start();
    }

    void stop();

    // (The parameters do not take part in deducing T: callers name it.)
    template<typename T = std::monostate>
    void submit(Kind kind, std::type_identity_t<Done<T>> done,
                std::type_identity_t<std::function<StorageResult<T>(StorageConnection &)>> work);
    void submitLookup(const QString &node, Done<PushTarget> done);
    void enqueue(Job job, std::function<void(const QString &)> fail);

    // The event loop's side of an operation the workers have.
    struct Pending {
        Kind kind = Kind::Read;
        std::function<void(const QString &)> fail;
        std::shared_ptr<std::atomic_bool> abandoned;
    };

    void complete(quint64 id, Kind kind, Outcome outcome);
    void expire(Pending due);
    void probe();
    void setWorking(Kind kind, bool working, const QString &why);

    Storage *q;
    const StorageSettings settings;
    const std::shared_ptr<StorageMailbox> mailbox;
    StorageWorkers workers;
    // Each with an event loop and a StorageListener (see listen()).
    std::vector<std::unique_ptr<QThread>> listeners;

    // The event loop's side. Each operation is answered once: by its outcome
    // or, if that is later than settings.timeoutMs, by its deadline. Tickets
    // are the jobs' ids, in the order they were queued.
    DeadlineQueue<Pending> pending{settings.timeoutMs,
                                   [this](quint64, Pending due) { expire(std::move(due)); }};
    QElapsedTimer clock;
    QTimer probeTimer;
    qint64 lastAnswerMs = 0;
    bool readsWork = true;
    bool writesWork = true;
};

template<typename T>
void Storage::Private::submit(
    Kind kind, std::type_identity_t<Done<T>> done,
    std::type_identity_t<std::function<StorageResult<T>(StorageConnection &)>> work) {
    Job job;
    job.kind = kind;
    job.run = [done, work = std::move(work)](StorageConnection *connection,
                                             const QString &unavailable) {
        return outcomeOf(done,
                         connection ? work(*connection) : StorageResult<T>::failed(unavailable));
    };
    enqueue(std::move(job), [done](const QString &error) {
        if (done)
            done(StorageResult<T>::failed(error));
    });
}

void Storage::Private::submitLookup(const QString &node, Done<PushTarget> done) {
    Job job;
    job.node = node;
    job.answerLookup = [done](const StorageResult<PushTarget> &result) {
        return outcomeOf(done, result);
    };
    enqueue(std::move(job),
            [done](const QString &error) { done(StorageResult<PushTarget>::failed(error)); });
}

void Storage::Private::enqueue(Job job, std::function<void(const QString &)> fail) {
    job.abandoned = std::make_shared<std::atomic_bool>(false);
    // Known to the event loop before a worker can answer it.
    const quint64 id = pending.add(Pending{job.kind, fail, job.abandoned});
    job.id = id;
    if (!workers.enqueue(std::move(job))) {
        pending.take(id);
        // Answered from the event loop, like every result: never inside the call.
        QMetaObject::invokeMethod(
            q, [fail] { fail(QStringLiteral("too many database operations are waiting")); },
            Qt::QueuedConnection);
        return;
    }
}

void Storage::Private::stop() {
    {
        const std::lock_guard lock(mailbox->mutex);
        mailbox->receiver = nullptr;
    }
    for (const auto &listener : listeners) {
        listener->quit();
        listener->wait();
    }
    workers.stop();
    // What still waits goes unanswered: no result is delivered once Storage
    // is destroyed (storage.h).
    pending.takeAll();
}

void Storage::Private::complete(quint64 id, Kind kind, Outcome outcome) {
    lastAnswerMs = clock.elapsed();
    setWorking(kind, !outcome.failed, outcome.error);
    if (!pending.take(id))
        return; // answered already, when its deadline passed
    outcome.deliver();
}

void Storage::Private::expire(Pending due) {
    *due.abandoned = true;
    const QString why =
        QStringLiteral("the database did not answer within %1 ms").arg(settings.timeoutMs);
    setWorking(due.kind, false, why);
    due.fail(why);
}

// Traffic keeps isAvailable() current; while there is none, or while writes
// fail and only reads come, a write probe finds out.
void Storage::Private::probe() {
    const bool quiet = clock.elapsed() - lastAnswerMs >= kProbeIntervalMs && pending.isEmpty();
    if (!quiet && writesWork)
        return;
    submit<>(Kind::Write, {},
             [](StorageConnection &connection) { return connection.checkWritable(); });
}

void Storage::Private::setWorking(Kind kind, bool working, const QString &why) {
    const bool before = readsWork && writesWork;
    (kind == Kind::Read ? readsWork : writesWork) = working;
    const bool now = readsWork && writesWork;
    if (before == now)
        return;
    if (now)
        qCInfo(lcStorage) << "the database answers again";
    else
        qCWarning(lcStorage).noquote() << "the database is unavailable:" << why;
}

std::unique_ptr<Storage> Storage::open(const StorageSettings &settings, QString *error) {
    {
        // Schema upgrades and the write check happen once, before serving.
        auto connection = StorageConnection::open(settings, error);
        if (!connection)
            return nullptr;
        const StorageResult<> writable = connection->checkWritable();
        if (writable.isFailed()) {
            *error = QStringLiteral("the %1 database does not take writes: %2")
                         .arg(settings.driver, writable.error());
            return nullptr;
        }
    }
    std::unique_ptr<Storage> storage(new Storage(settings));
    storage->d->workers.start();
    return storage;
}

Storage::Storage(const StorageSettings &settings)
    : d(std::make_unique<Private>(this, settings)) {}

Storage::~Storage() {
    d->stop();
}

int Storage::latestSchemaVersion() {
    return StorageConnection::latestSchemaVersion();
}

bool Storage::isAvailable() const {
    return d->readsWork && d->writesWork;
}

void Storage::setChannelUri(const QString &deviceId, const QString &channelUri, int protocolVersion,
                            Done<bool> done) {
    d->submit<bool>(Kind::Write, std::move(done), [=](StorageConnection &c) {
        return c.setChannelUri(deviceId, channelUri, protocolVersion);
    });
}

void Storage::setAccounts(const QString &deviceId, int protocolVersion,
                          const QList<AccountSpec> &accounts,
                          Done<QList<AccountCredentials>> done) {
    d->submit<QList<AccountCredentials>>(Kind::Write, std::move(done), [=](StorageConnection &c) {
        return c.setAccounts(deviceId, protocolVersion, accounts);
    });
}

void Storage::findByNode(const QString &node, Done<PushTarget> done) {
    d->submitLookup(node, std::move(done));
}

void Storage::channelUri(const QString &deviceId, Done<DeviceChannel> done) {
    d->submit<DeviceChannel>(Kind::Read, std::move(done),
                             [=](StorageConnection &c) { return c.channelUri(deviceId); });
}

void Storage::learnDomain(const QString &node, const QString &domain, Done<> done) {
    d->submit<>(Kind::Write, std::move(done),
                [=](StorageConnection &c) { return c.learnDomain(node, domain); });
}

void Storage::refreshDevice(const QString &deviceId, Done<> done) {
    d->submit<>(Kind::Write, std::move(done),
                [=](StorageConnection &c) { return c.refreshDevice(deviceId); });
}

void Storage::suspendDevice(const QString &deviceId, const QString &channelUri, Done<bool> done) {
    d->submit<bool>(Kind::Write, std::move(done),
                    [=](StorageConnection &c) { return c.suspendDevice(deviceId, channelUri); });
}

void Storage::removeDevicesNotUpdatedSince(const QDateTime &cutoff, Done<int> done) {
    d->submit<int>(Kind::Write, std::move(done),
                   [=](StorageConnection &c) { return c.removeDevicesNotUpdatedSince(cutoff); });
}

void Storage::loadToken(const QString &key, Done<StoredToken> done) {
    d->submit<StoredToken>(Kind::Read, std::move(done),
                           [=](StorageConnection &c) { return c.loadToken(key); });
}

void Storage::saveToken(const QString &key, const StoredToken &token, Done<> done) {
    d->submit<>(Kind::Write, std::move(done),
                [=](StorageConnection &c) { return c.saveToken(key, token); });
}

void Storage::notify(const QString &channel, const QString &payload, Done<> done) {
    d->submit<>(Kind::Write, std::move(done),
                [=](StorageConnection &c) { return c.notify(channel, payload); });
}

void Storage::listen(const QString &channel) {
    const Dialect *dialect = Dialect::find(d->settings.driver);
    if (!dialect || !dialect->shared)
        return; // nobody else to hear from
    auto thread = std::make_unique<QThread>();
    auto *listener = new StorageListener(d->settings, channel, d->mailbox, kProbeIntervalMs);
    listener->moveToThread(thread.get());
    connect(thread.get(), &QThread::started, listener, [listener] { listener->start(); });
    connect(thread.get(), &QThread::finished, listener, &QObject::deleteLater);
    thread->start();
    d->listeners.push_back(std::move(thread));
}

void Storage::deviceCount(Done<qint64> done) {
    d->submit<qint64>(Kind::Read, std::move(done),
                      [](StorageConnection &c) { return c.deviceCount(); });
}

void Storage::accountCount(Done<qint64> done) {
    d->submit<qint64>(Kind::Read, std::move(done),
                      [](StorageConnection &c) { return c.accountCount(); });
}

void Storage::suspendedDeviceCount(Done<qint64> done) {
    d->submit<qint64>(Kind::Read, std::move(done),
                      [](StorageConnection &c) { return c.suspendedDeviceCount(); });
}

} // namespace uwpx

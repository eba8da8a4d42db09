#include "storage.h"

#include "dialect.h"
#include "reconnectpolicy.h"
#include "storageconnection.h"
#include "storagelistener.h"
#include "storagelog.h"

#include <QElapsedTimer>
#include <QMetaObject>
#include <QPointer>
#include <QScopeGuard>
#include <QThread>
#include <QTimer>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

namespace uwpx {

namespace {

// Lookups that wait together are asked in one statement of up to this many.
constexpr int kMaxBatch = 64;
// Jobs waiting for a worker at most; more fail at once. A hung database
// fills the queue at the publish rate until the deadlines empty it again.
constexpr size_t kMaxQueued = 20000;
// While nothing else runs, the database is asked this often whether it
// still answers and takes writes, for /health.
constexpr int kProbeIntervalMs = 5000;
// How long shutting down waits for a worker stuck in a hung database.
constexpr int kStopGraceMs = 2000;

// Reads and writes fail apart (a held SQLite write lock, a read-only
// database): the store is available when both work.
enum class Kind { Read, Write };

// What a worker hands back to the event loop: how to tell the caller, and
// whether the database failed (for isAvailable()).
struct Outcome {
    std::function<void()> deliver;
    bool failed = false;
    QString error;
};

// One queued operation. A lookup names its node and is asked together with
// the lookups waiting next to it; anything else runs on its own. `run` gets
// no connection, and why, when the worker has none.
struct Job {
    quint64 id = 0;
    Kind kind = Kind::Read;
    QString node; // lookups only
    std::function<Outcome(const StorageResult<PushTarget> &)> answerLookup;
    std::function<Outcome(StorageConnection *, const QString &unavailable)> run;
    std::shared_ptr<std::atomic_bool> abandoned; // its deadline passed: skip it
};

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
        , oneWriter(Dialect::find(settings.driver) && Dialect::find(settings.driver)->oneWriter)
        , mailbox(std::make_shared<StorageMailbox>()) {
        mailbox->receiver = q;
        clock.start();
        deadlineTimer.setSingleShot(true);
        QObject::connect(&deadlineTimer, &QTimer::timeout, q, [this] { expire(); });
        probeTimer.setInterval(kProbeIntervalMs);
        QObject::connect(&probeTimer, &QTimer::timeout, q, [this] { probe(); });
        probeTimer.start();
    }

    void start();
    void stop();

    // (The parameters do not take part in deducing T: callers name it.)
    template<typename T = std::monostate>
    void submit(Kind kind, std::type_identity_t<Done<T>> done,
                std::type_identity_t<std::function<StorageResult<T>(StorageConnection &)>> work);
    void submitLookup(const QString &node, Done<PushTarget> done);
    void enqueue(Job job, std::function<void(const QString &)> fail);
    void complete(quint64 id, Kind kind, Outcome outcome);
    void expire();
    void probe();
    void setWorking(Kind kind, bool working, const QString &why);

    void work();                 // a worker thread's loop
    std::vector<Job> takeJobs(); // blocks; empty when stopping
    void post(std::vector<std::tuple<quint64, Kind, Outcome>> outcomes);

    Storage *q;
    const StorageSettings settings;
    // SQLite has one write lock per file: writes of ours at once would only
    // queue in its busy handler and miss their deadlines under load.
    const bool oneWriter;
    const std::shared_ptr<StorageMailbox> mailbox;

    // Shared with the workers, under `mutex`.
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Job> lookups;
    std::deque<Job> reads;
    std::deque<Job> writes;
    bool writing = false; // a worker runs a write (see Dialect::oneWriter)
    bool stopping = false;
    int running = 0; // workers that have not finished their loop
    std::condition_variable finished;
    std::vector<std::thread> workers;
    // Each with an event loop and a StorageListener (see listen()).
    std::vector<std::unique_ptr<QThread>> listeners;

    // The event loop's side.
    struct Pending {
        Kind kind = Kind::Read;
        qint64 deadlineMs = 0;
        std::function<void(const QString &)> fail;
        std::shared_ptr<std::atomic_bool> abandoned;
    };
    std::map<quint64, Pending>
        pending; // by id: every job has the same timeout, so also by deadline
    quint64 nextId = 1;
    QElapsedTimer clock;
    QTimer deadlineTimer;
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
    job.id = nextId++;
    job.abandoned = std::make_shared<std::atomic_bool>(false);
    {
        const std::lock_guard lock(mutex);
        if (lookups.size() + reads.size() + writes.size() >= kMaxQueued) {
            // Answered from the event loop, like every result: never inside the call.
            QMetaObject::invokeMethod(
                q, [fail] { fail(QStringLiteral("too many database operations are waiting")); },
                Qt::QueuedConnection);
            return;
        }
        pending.emplace(job.id, Pending{job.kind, clock.elapsed() + settings.timeoutMs,
                                        std::move(fail), job.abandoned});
        std::deque<Job> &queue = !job.node.isNull()        ? lookups
                                 : job.kind == Kind::Write ? writes
                                                           : reads;
        queue.push_back(std::move(job));
    }
    wake.notify_one();
    if (!deadlineTimer.isActive())
        deadlineTimer.start(settings.timeoutMs);
}

void Storage::Private::complete(quint64 id, Kind kind, Outcome outcome) {
    lastAnswerMs = clock.elapsed();
    setWorking(kind, !outcome.failed, outcome.error);
    const auto it = pending.find(id);
    if (it == pending.end())
        return; // answered already, when its deadline passed
    pending.erase(it);
    outcome.deliver();
}

void Storage::Private::expire() {
    const QPointer<Storage> alive(q);
    const qint64 now = clock.elapsed();
    while (alive && !pending.empty()) {
        auto oldest = pending.begin();
        if (oldest->second.deadlineMs > now) {
            deadlineTimer.start(int(oldest->second.deadlineMs - now));
            return;
        }
        Pending due = std::move(oldest->second);
        pending.erase(oldest);
        *due.abandoned = true;
        const QString why =
            QStringLiteral("the database did not answer within %1 ms").arg(settings.timeoutMs);
        setWorking(due.kind, false, why);
        due.fail(why);
    }
}

// Traffic keeps isAvailable() current; while there is none, or while writes
// fail and only reads come, a write probe finds out.
void Storage::Private::probe() {
    const bool quiet = clock.elapsed() - lastAnswerMs >= kProbeIntervalMs && pending.empty();
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
    Q_EMIT q->availabilityChanged(now);
}

void Storage::Private::start() {
    const int count = std::max(1, settings.connections);
    running = count;
    for (int i = 0; i < count; ++i)
        workers.emplace_back([this] { work(); });
}

// Waits for the workers; one stuck in a database that stopped answering is
// left behind (it can only be interrupted by the database), and finds no
// receiver for its outcome when it comes back.
void Storage::Private::stop() {
    {
        const std::lock_guard lock(mailbox->mutex);
        mailbox->receiver = nullptr;
    }
    for (const auto &listener : listeners) {
        listener->quit();
        listener->wait();
    }
    std::unique_lock lock(mutex);
    stopping = true;
    wake.notify_all();
    const bool allFinished = finished.wait_for(lock, std::chrono::milliseconds(kStopGraceMs),
                                               [this] { return running == 0; });
    lock.unlock();
    if (!allFinished)
        qCWarning(lcStorage) << "a database operation is still hung; stopping without it";
    for (std::thread &worker : workers) {
        if (allFinished)
            worker.join();
        else
            worker.detach();
    }
}

std::vector<Job> Storage::Private::takeJobs() {
    std::unique_lock lock(mutex);
    // A write waits while another runs where the database has one writer.
    const auto mayWrite = [this] { return !writes.empty() && !(oneWriter && writing); };
    wake.wait(lock, [&] { return stopping || !lookups.empty() || !reads.empty() || mayWrite(); });
    std::vector<Job> jobs;
    if (stopping)
        return jobs;
    // The oldest first, so that no kind starves another.
    std::deque<Job> *oldest = nullptr;
    for (std::deque<Job> *queue : {&lookups, &reads, mayWrite() ? &writes : nullptr}) {
        if (queue && !queue->empty() && (!oldest || queue->front().id < oldest->front().id))
            oldest = queue;
    }
    if (oldest == &lookups) {
        while (!lookups.empty() && jobs.size() < size_t(kMaxBatch)) {
            jobs.push_back(std::move(lookups.front()));
            lookups.pop_front();
        }
        return jobs;
    }
    writing = writing || oldest == &writes;
    jobs.push_back(std::move(oldest->front()));
    oldest->pop_front();
    return jobs;
}

void Storage::Private::post(std::vector<std::tuple<quint64, Kind, Outcome>> outcomes) {
    const std::lock_guard lock(mailbox->mutex);
    if (!mailbox->receiver)
        return;
    QMetaObject::invokeMethod(
        mailbox->receiver,
        [this, outcomes = std::move(outcomes)]() mutable {
            for (auto &[id, kind, outcome] : outcomes)
                complete(id, kind, std::move(outcome));
        },
        Qt::QueuedConnection);
}

void Storage::Private::work() {
    // Both only ever touched on this thread, as Qt SQL requires.
    std::unique_ptr<StorageConnection> connection;
    ReconnectPolicy reconnect; // a worker that cannot connect tries again
    QString unavailable;
    const auto mailboxKeptAlive = mailbox;
    for (;;) {
        std::vector<Job> jobs = takeJobs();
        if (jobs.empty())
            break;
        // However it ends below, a write taken ends this worker's turn to write.
        const bool write = jobs.front().node.isNull() && jobs.front().kind == Kind::Write;
        const auto endOfTurn = qScopeGuard([this, write] {
            if (!write)
                return;
            {
                const std::lock_guard lock(mutex);
                writing = false;
            }
            wake.notify_all();
        });
        std::erase_if(jobs, [](const Job &job) { return job.abandoned->load(); });
        if (jobs.empty())
            continue;
        if (!connection && reconnect.mayTry()) {
            connection = StorageConnection::open(settings, &unavailable);
            if (connection) {
                reconnect.succeeded();
            } else {
                reconnect.failed();
                qCWarning(lcStorage).noquote() << "cannot connect to the database:" << unavailable;
            }
        }
        const QString why = unavailable;
        std::vector<std::tuple<quint64, Kind, Outcome>> outcomes;
        if (!jobs.front().node.isNull()) {
            StorageResult<QHash<QString, PushTarget>> found =
                StorageResult<QHash<QString, PushTarget>>::failed(why);
            if (connection) {
                QStringList nodes;
                for (const Job &job : jobs)
                    nodes << job.node;
                found = connection->findByNodes(nodes);
            }
            for (const Job &job : jobs) {
                StorageResult<PushTarget> result = StorageResult<PushTarget>::notFound();
                if (found.isFailed())
                    result = StorageResult<PushTarget>::failed(found.error());
                else if (const auto target = found->constFind(job.node); target != found->cend())
                    result = StorageResult<PushTarget>::ok(*target);
                outcomes.emplace_back(job.id, Kind::Read, job.answerLookup(result));
            }
        } else {
            const Job &job = jobs.front();
            outcomes.emplace_back(job.id, job.kind, job.run(connection.get(), why));
        }
        post(std::move(outcomes));
    }
    connection.reset();
    const std::lock_guard lock(mutex);
    if (--running == 0)
        finished.notify_all();
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
    storage->d->start();
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

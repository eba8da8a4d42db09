#include "storageworkers.h"

#include "reconnectpolicy.h"
#include "storage.h"
#include "storageconnection.h"
#include "storagelistener.h"
#include "storagelog.h"

#include <QHash>
#include <QMetaObject>
#include <QScopeGuard>

#include <algorithm>
#include <chrono>

namespace uwpx {

namespace {

// Lookups that wait together are asked in one statement of up to this many.
constexpr int kMaxBatch = 64;
// Jobs waiting for a worker at most; more fail at once. A hung database
// fills the queue at the publish rate until the deadlines empty it again.
constexpr size_t kMaxQueued = 20000;
// How long shutting down waits for a worker stuck in a hung database.
constexpr int kStopGraceMs = 2000;

} // namespace

StorageWorkers::StorageWorkers(const StorageSettings &settings, bool oneWriter,
                               std::shared_ptr<StorageMailbox> mailbox,
                               std::function<void(std::vector<Answer>)> answer)
    : m_settings(settings)
    , oneWriter(oneWriter)
    , mailbox(std::move(mailbox))
    , m_answer(std::move(answer)) {}

bool StorageWorkers::enqueue(Job job) {
    {
        const std::lock_guard lock(mutex);
        if (lookups.size() + reads.size() + writes.size() >= kMaxQueued)
            return false;
        std::deque<Job> &queue = !job.node.isNull()        ? lookups
                                 : job.kind == Kind::Write ? writes
                                                           : reads;
        queue.push_back(std::move(job));
    }
    wake.notify_one();
    return true;
}

void StorageWorkers::start() {
    const int count = std::max(1, m_settings.connections);
    running = count;
    for (int i = 0; i < count; ++i)
        workers.emplace_back([this] { work(); });
}

void StorageWorkers::stop() {
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

std::vector<Job> StorageWorkers::takeJobs() {
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

void StorageWorkers::post(std::vector<Answer> outcomes) {
    const std::lock_guard lock(mailbox->mutex);
    if (!mailbox->receiver)
        return;
    QMetaObject::invokeMethod(
        mailbox->receiver,
        [this, outcomes = std::move(outcomes)]() mutable { m_answer(std::move(outcomes)); },
        Qt::QueuedConnection);
}

void StorageWorkers::work() {
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
            connection = StorageConnection::open(m_settings, &unavailable);
            if (connection) {
                reconnect.succeeded();
            } else {
                reconnect.failed();
                qCWarning(lcStorage).noquote() << "cannot connect to the database:" << unavailable;
            }
        }
        const QString why = unavailable;
        std::vector<Answer> outcomes;
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

} // namespace uwpx

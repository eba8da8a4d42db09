#pragma once

#include "storagerecords.h"
#include "storageresult.h"
#include "storagesettings.h"

#include <QString>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

namespace uwpx {

class StorageConnection;
struct StorageMailbox;

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

// A worker's answer to one job, for the event loop.
using Answer = std::tuple<quint64, Kind, Outcome>;

// The worker pool behind Storage: `[storage] connections` threads, each with a
// connection of its own (Qt SQL connections are per thread), taking jobs from
// three queues (lookups, asked in batches; reads; writes, one at a time where
// the database has one writer) oldest first. Their answers go through the
// mailbox to `answer`, on the receiver's event loop. Deadlines are the
// caller's: a job whose `abandoned` is set is skipped.
class StorageWorkers {
public:
    StorageWorkers(const StorageSettings &settings, bool oneWriter,
                   std::shared_ptr<StorageMailbox> mailbox,
                   std::function<void(std::vector<Answer>)> answer);

    void start();
    // Waits for the workers; one stuck in a database that stopped answering is
    // left behind (it can only be interrupted by the database), and finds no
    // receiver for its outcome when it comes back.
    void stop();
    // False when too many jobs wait already: the job is not taken.
    bool enqueue(Job job);

private:
    void work();                 // a worker thread's loop
    std::vector<Job> takeJobs(); // blocks; empty when stopping
    void post(std::vector<Answer> outcomes);

    const StorageSettings m_settings;
    // SQLite has one write lock per file: writes of ours at once would only
    // queue in its busy handler and miss their deadlines under load.
    const bool oneWriter;
    const std::shared_ptr<StorageMailbox> mailbox;
    const std::function<void(std::vector<Answer>)> m_answer;

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
};

} // namespace uwpx

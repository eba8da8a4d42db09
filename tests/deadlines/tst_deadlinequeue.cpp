// DeadlineQueue: deadlines come due in the order they were set, each waiting
// operation leaves the queue once (taken, expired or taken at shutdown), and
// an expiry may destroy the queue's owner.

#include "deadlinequeue.h"

#include <QElapsedTimer>
#include <QTest>

#include <algorithm>
#include <memory>
#include <vector>

using namespace uwpx;

namespace {

constexpr int kTimeoutMs = 50;
// How long a test waits for what should happen within kTimeoutMs.
constexpr int kPatienceMs = 5000;

using Ticket = DeadlineQueue<int>::Ticket;

// What expired, in the order it did.
struct Recorder {
    std::vector<Ticket> tickets;
    std::vector<int> values;
};

} // namespace

class TestDeadlineQueue : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void dueInOrderNeverEarly() {
        Recorder expired;
        QElapsedTimer sinceAdd;
        std::vector<qint64> waited;
        DeadlineQueue<int> queue(kTimeoutMs, [&](Ticket ticket, int value) {
            expired.tickets.push_back(ticket);
            expired.values.push_back(value);
            waited.push_back(sinceAdd.elapsed());
        });
        sinceAdd.start();
        std::vector<Ticket> added;
        for (int i = 0; i < 1000; ++i)
            added.push_back(queue.add(i));
        QCOMPARE(queue.size(), qsizetype(1000));
        QVERIFY(added.front() != 0);
        QVERIFY(std::is_sorted(added.begin(), added.end()));

        QVERIFY(QTest::qWaitFor([&] { return queue.isEmpty(); }, kPatienceMs));
        QCOMPARE(expired.tickets, added);
        QCOMPARE(expired.values.front(), 0);
        QCOMPARE(expired.values.back(), 999);
        // (Less one for the clocks' whole milliseconds.)
        for (const qint64 ms : waited)
            QVERIFY2(ms >= kTimeoutMs - 1, qPrintable(QString::number(ms)));
    }

    void laterAddsWaitTheirOwnTimeout() {
        Recorder expired;
        QElapsedTimer clock;
        std::vector<qint64> dueAfter;
        DeadlineQueue<int> queue(kTimeoutMs, [&](Ticket, int value) {
            expired.values.push_back(value);
            dueAfter.push_back(clock.elapsed());
        });
        clock.start();
        queue.add(1);
        // Added while the first waits: due a timeout after its own add, not
        // when the timer next fires for the first.
        QVERIFY(QTest::qWaitFor([&] { return clock.elapsed() >= kTimeoutMs / 2; }, kPatienceMs));
        const qint64 secondAddedAt = clock.elapsed();
        queue.add(2);
        QVERIFY(QTest::qWaitFor([&] { return expired.values.size() == 2; }, kPatienceMs));
        QCOMPARE(expired.values, (std::vector<int>{1, 2}));
        QVERIFY(dueAfter[1] >= secondAddedAt + kTimeoutMs - 1);

        // Once empty, the next add starts the timer afresh.
        const qint64 thirdAddedAt = clock.elapsed();
        queue.add(3);
        QVERIFY(QTest::qWaitFor([&] { return expired.values.size() == 3; }, kPatienceMs));
        QVERIFY(dueAfter[2] >= thirdAddedAt + kTimeoutMs - 1);
    }

    void takeBeforeExpiry() {
        Recorder expired;
        DeadlineQueue<int> queue(kTimeoutMs, [&](Ticket ticket, int value) {
            expired.tickets.push_back(ticket);
            expired.values.push_back(value);
        });
        const Ticket first = queue.add(1);
        const Ticket second = queue.add(2);
        QVERIFY(queue.find(first));
        *queue.find(first) = 10;
        QCOMPARE(queue.take(first), std::optional<int>(10));
        QCOMPARE(queue.take(first), std::nullopt);
        QVERIFY(!queue.find(first));
        QCOMPARE(queue.size(), qsizetype(1));

        // The second still expires; the first, answered, never does.
        QVERIFY(QTest::qWaitFor([&] { return !expired.tickets.empty(); }, kPatienceMs));
        QCOMPARE(expired.tickets, std::vector<Ticket>{second});
        QCOMPARE(expired.values, std::vector<int>{2});
        QCOMPARE(queue.take(second), std::nullopt);
    }

    void takeAfterExpiry() {
        bool expired = false;
        DeadlineQueue<QString> queue(kTimeoutMs, [&](Ticket, const QString &value) {
            QCOMPARE(value, QStringLiteral("late"));
            expired = true;
        });
        const Ticket ticket = queue.add(QStringLiteral("late"));
        QVERIFY(QTest::qWaitFor([&] { return expired; }, kPatienceMs));
        QVERIFY(!queue.find(ticket));
        QCOMPARE(queue.take(ticket), std::nullopt);
        QVERIFY(queue.isEmpty());
    }

    void takeAllAnswersTheRestInOrder() {
        Recorder expired;
        DeadlineQueue<int> queue(kTimeoutMs,
                                 [&](Ticket, int value) { expired.values.push_back(value); });
        const Ticket first = queue.add(1);
        const Ticket second = queue.add(2);
        const Ticket third = queue.add(3);
        QCOMPARE(queue.take(second), std::optional<int>(2));
        QCOMPARE(queue.takeAll(), (std::vector<int>{1, 3}));
        QVERIFY(queue.isEmpty());
        QCOMPARE(queue.take(first), std::nullopt);
        QCOMPARE(queue.take(third), std::nullopt);

        // Only what is added afterwards expires: the taken ones are gone.
        queue.add(4);
        QVERIFY(QTest::qWaitFor([&] { return !expired.values.empty(); }, kPatienceMs));
        QCOMPARE(expired.values, std::vector<int>{4});
    }

    void expiryMayDestroyTheOwner() {
        struct Owner {
            explicit Owner(std::vector<int> &seen)
                : queue(kTimeoutMs, [this, &seen](Ticket, std::unique_ptr<int> value) {
                    seen.push_back(*value);
                    delete this;
                }) {}
            DeadlineQueue<std::unique_ptr<int>> queue;
        };
        std::vector<int> seen;
        auto *owner = new Owner(seen);
        // Both due at once: the second goes with the owner, unanswered.
        owner->queue.add(std::make_unique<int>(1));
        owner->queue.add(std::make_unique<int>(2));

        // A second queue, started after, tells when the first's deadlines are past.
        bool later = false;
        DeadlineQueue<int> witness(kTimeoutMs, [&](Ticket, int) { later = true; });
        witness.add(0);
        QVERIFY(QTest::qWaitFor([&] { return later; }, kPatienceMs));
        QCOMPARE(seen, std::vector<int>{1});
    }

    void expiryMayUseTheQueue() {
        std::unique_ptr<DeadlineQueue<int>> queue;
        std::vector<int> expired;
        Ticket third = 0;
        queue = std::make_unique<DeadlineQueue<int>>(kTimeoutMs, [&](Ticket, int value) {
            expired.push_back(value);
            if (value == 1) {
                // Answering one expiry may answer a later operation, or add one.
                QCOMPARE(queue->take(third), std::optional<int>(3));
                queue->add(4);
            }
        });
        queue->add(1);
        queue->add(2);
        third = queue->add(3);
        QVERIFY(QTest::qWaitFor([&] { return expired.size() == 3; }, kPatienceMs));
        QCOMPARE(expired, (std::vector<int>{1, 2, 4}));
        QVERIFY(queue->isEmpty());
    }

    void expiryMayTakeAll() {
        std::unique_ptr<DeadlineQueue<int>> queue;
        std::vector<int> expired;
        std::vector<int> atShutdown;
        queue = std::make_unique<DeadlineQueue<int>>(kTimeoutMs, [&](Ticket, int value) {
            expired.push_back(value);
            atShutdown = queue->takeAll();
        });
        queue->add(1);
        queue->add(2);
        queue->add(3);
        QVERIFY(QTest::qWaitFor([&] { return !expired.empty(); }, kPatienceMs));
        QCOMPARE(expired, std::vector<int>{1});
        QCOMPARE(atShutdown, (std::vector<int>{2, 3}));
        QVERIFY(queue->isEmpty());
    }

    void remainingTime() {
        DeadlineQueue<int> queue(kTimeoutMs, [](Ticket, int) {});
        QCOMPARE(queue.timeoutMs(), kTimeoutMs);
        QCOMPARE(queue.remainingMs(12345), qint64(0));
        const Ticket ticket = queue.add(1);
        QElapsedTimer clock;
        clock.start();
        const qint64 atFirst = queue.remainingMs(ticket);
        QVERIFY(atFirst > 0 && atFirst <= kTimeoutMs);
        QVERIFY(QTest::qWaitFor([&] { return clock.elapsed() >= kTimeoutMs / 2; }, kPatienceMs));
        // (Plus one for the clocks' whole milliseconds.)
        const qint64 later = queue.remainingMs(ticket);
        QVERIFY2(later <= kTimeoutMs - kTimeoutMs / 2 + 1, qPrintable(QString::number(later)));
        QVERIFY(later < atFirst);
        QCOMPARE(queue.take(ticket), std::optional<int>(1));
        QCOMPARE(queue.remainingMs(ticket), qint64(0));
    }
};

QTEST_GUILESS_MAIN(TestDeadlineQueue)
#include "tst_deadlinequeue.moc"

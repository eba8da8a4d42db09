#pragma once

#include <QElapsedTimer>
#include <QPointer>
#include <QTimer>
#include <QtGlobal>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace uwpx {

// What DeadlineQueue<T> needs whatever T is: the clock deadlines are read
// from and the one single-shot timer that wakes for the oldest of them.
class DeadlineTimer {
public:
    DeadlineTimer(const DeadlineTimer &) = delete;
    DeadlineTimer &operator=(const DeadlineTimer &) = delete;

    int timeoutMs() const { return m_timeoutMs; }

protected:
    // `wake` runs on the timer's thread when the timer fires.
    DeadlineTimer(int timeoutMs, std::function<void()> wake);
    ~DeadlineTimer();

    qint64 nowMs() const;
    // A full timeout from now, unless the timer already runs for an older deadline.
    void startIfIdle();
    void wakeIn(qint64 ms);
    void stop();
    // Null once this object is gone: an expiry callback may have destroyed it.
    QPointer<QObject> aliveToken() { return &m_timer; }

private:
    const int m_timeoutMs;
    QElapsedTimer m_clock;
    QTimer m_timer;
};

// Operations waiting for an answer, each with the same time limit: their
// deadlines come due in the order they were added, so one timer serves them
// all (a timer per operation made the event loop's timer list thousands long).
// Each operation leaves the queue once, which is what makes it answered
// exactly once: by its owner's take() when its result comes, by `expired` when
// its deadline passes, or by takeAll() at shutdown; whichever comes later finds
// it gone. Lives on one thread, that of its owner's event loop.
template<typename T> class DeadlineQueue : private DeadlineTimer {
public:
    using Ticket = quint64; // never 0, so 0 can stand for "none"
    // Called with the operation already removed. It may destroy the queue's
    // owner and the queue with it: nothing of the queue is touched after that.
    using Expired = std::function<void(Ticket, T)>;

    DeadlineQueue(int timeoutMs, Expired expired)
        : DeadlineTimer(timeoutMs, [this] { expireDue(); })
        , m_expired(std::move(expired)) {}

    using DeadlineTimer::timeoutMs;

    // The operation's deadline is timeoutMs() from now.
    Ticket add(T value) {
        const Ticket ticket = m_nextTicket++;
        m_waiting.emplace(ticket, Waiting{nowMs() + timeoutMs(), std::move(value)});
        startIfIdle();
        return ticket;
    }

    // Null once the operation has left the queue; valid until it does.
    T *find(Ticket ticket) {
        const auto it = m_waiting.find(ticket);
        return it == m_waiting.end() ? nullptr : &it->second.value;
    }

    // The operation, answered before its deadline; nullopt if it had expired
    // or was taken already.
    std::optional<T> take(Ticket ticket) {
        const auto it = m_waiting.find(ticket);
        if (it == m_waiting.end())
            return std::nullopt;
        std::optional<T> value(std::move(it->second.value));
        m_waiting.erase(it);
        if (m_waiting.empty())
            stop();
        return value;
    }

    // Every waiting operation, oldest first, for answering at shutdown.
    std::vector<T> takeAll() {
        std::map<Ticket, Waiting> waiting;
        waiting.swap(m_waiting);
        stop();
        std::vector<T> values;
        values.reserve(waiting.size());
        for (auto &[ticket, entry] : waiting)
            values.push_back(std::move(entry.value));
        return values;
    }

    // How long until the operation's deadline; 0 once it passed or the
    // operation left the queue.
    qint64 remainingMs(Ticket ticket) const {
        const auto it = m_waiting.find(ticket);
        return it == m_waiting.end() ? 0 : std::max<qint64>(0, it->second.dueAtMs - nowMs());
    }

    bool isEmpty() const { return m_waiting.empty(); }
    qsizetype size() const { return qsizetype(m_waiting.size()); }

private:
    struct Waiting {
        qint64 dueAtMs = 0;
        T value;
    };

    void expireDue() {
        const QPointer<QObject> alive = aliveToken();
        // A copy: the callback may destroy the queue, and the original with it.
        const Expired expired = m_expired;
        while (!m_waiting.empty()) {
            const auto oldest = m_waiting.begin();
            // The timer may fire a little early (Qt's coarse timers do).
            if (const qint64 left = oldest->second.dueAtMs - nowMs(); left > 0) {
                wakeIn(left);
                return;
            }
            const Ticket ticket = oldest->first;
            T due = std::move(oldest->second.value);
            m_waiting.erase(oldest);
            expired(ticket, std::move(due));
            if (!alive)
                return;
        }
    }

    const Expired m_expired;
    // By ticket, which is also the order of the deadlines.
    std::map<Ticket, Waiting> m_waiting;
    Ticket m_nextTicket = 1;
};

} // namespace uwpx
